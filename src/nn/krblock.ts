/**
 * Kernel Regression Block (model.md §4.1), pre-norm. Test tokens attend to context only; context
 * attends to context; LN1, the attention module (projections and biases), LN2 and the FFN are
 * shared by both streams, and both attention calls read the block-input (normalised) context.
 */
import * as E from '../engine/ops.js';
import type { Tensor } from '../engine/tensor.js';
import { Rng } from '../engine/random.js';
import { attend, attendProjected, projectKeys, type AttentionGroup, type AttentionOptions } from './attention.js';
import { biasSpecs, type BiasSpec } from './bias.js';
import { dense, denseSpecs, layerNorm, layerNormSpecs, mlp, mlpSpecs, type Activation } from './layers.js';
import type { ParamSpec, Params } from './params.js';

export interface KRBlockConfig {
  embedDim: number;
  heads: number;
  headDim: number;
  ffn: readonly number[];
  activation: Activation;
  eps: number;
  /** Bias groups by name. */
  biases: readonly { name: string; bias: BiasSpec }[];
  attention: AttentionOptions;
}

export function krBlockSpecs(name: string, c: KRBlockConfig, rng: Rng): ParamSpec[] {
  const inner = c.heads * c.headDim;
  return [
    ...layerNormSpecs(`${name}.ln1`, c.embedDim),
    ...denseSpecs(`${name}.attn.q`, c.embedDim, inner, rng),
    ...denseSpecs(`${name}.attn.k`, c.embedDim, inner, rng),
    ...denseSpecs(`${name}.attn.v`, c.embedDim, inner, rng),
    ...denseSpecs(`${name}.attn.out`, inner, c.embedDim, rng),
    ...c.biases.flatMap((g) => biasSpecs(`${name}.attn.bias_${g.name}`, g.bias, c.heads)),
    ...layerNormSpecs(`${name}.ln2`, c.embedDim),
    ...mlpSpecs(`${name}.ffn`, c.embedDim, c.ffn, rng),
  ];
}

/** Coordinates of each bias group for the test and context points. */
export interface BlockCoords {
  test: ReadonlyMap<string, Tensor>;
  ctx: ReadonlyMap<string, Tensor>;
}

function groups(c: KRBlockConfig, q: ReadonlyMap<string, Tensor>, k: ReadonlyMap<string, Tensor>): AttentionGroup[] {
  return c.biases.map((g) => ({ name: g.name, bias: g.bias, cq: q.get(g.name)!, ck: k.get(g.name)! }));
}

/** x + FFN(LN2(x)), the sum taken in the FFN's last kernel. */
function residualFfn(p: Params, name: string, c: KRBlockConfig, x: Tensor): Tensor {
  return mlp(p, `${name}.ffn`, c.ffn.length, c.activation, layerNorm(p, `${name}.ln2`, x, c.eps), x);
}

/** The context stream's update and the projected context keys/values the test stream reads. */
export interface ContextStep {
  k: Tensor;
  kv: { k: Tensor; v: Tensor };
}

/** Context → context half of a block: returns the next context stream and this block's K, V. */
export function krBlockContext(p: Params, name: string, c: KRBlockConfig, k: Tensor, mask: Tensor | null, coords: BlockCoords): ContextStep {
  return E.tidy(() => {
    const kn = layerNorm(p, `${name}.ln1`, k, c.eps);
    const kv = projectKeys(p, `${name}.attn`, kn, c.heads);
    const k1 = attend(p, `${name}.attn`, kn, kv, mask, groups(c, coords.ctx, coords.ctx), c.attention, undefined, k);
    return { k: residualFfn(p, name, c, k1), kv };
  });
}

/**
 * Only the projected context keys/values of a block: what the last block's context step leaves for
 * the test step (after the last block nothing reads the updated context tokens, so their attention
 * and FFN would be wasted work).
 */
export function krBlockKeys(p: Params, name: string, c: KRBlockConfig, k: Tensor): { k: Tensor; v: Tensor } {
  return E.tidy(() => projectKeys(p, `${name}.attn`, layerNorm(p, `${name}.ln1`, k, c.eps), c.heads));
}

/**
 * Test → context half of a block, given that block's projected context keys/values. With
 * `queryRows`, q is one token [B, 1, E] shared by that many test rows (a model whose test tokens
 * embed no coordinates, before its first block): LN1 and the query projection run once, the
 * attention takes q·k_j once per key (op.ts `queryRows`), and the rows part at the attention
 * output, which depends on each row's coordinates through the biases. Either way the result is
 * [B, rows, E].
 */
export function krBlockTest(p: Params, name: string, c: KRBlockConfig, q: Tensor, kv: { k: Tensor; v: Tensor },
  mask: Tensor | null, coords: BlockCoords, queryRows?: number): Tensor {
  return E.tidy(() => {
    const qn = layerNorm(p, `${name}.ln1`, q, c.eps);
    // A shared query token is broadcast by the sum, so it is a separate add; otherwise it is fused.
    const q1 = queryRows === undefined
      ? attend(p, `${name}.attn`, qn, kv, mask, groups(c, coords.test, coords.ctx), c.attention, undefined, q)
      : E.add(q, attend(p, `${name}.attn`, qn, kv, mask, groups(c, coords.test, coords.ctx), c.attention, queryRows));
    return residualFfn(p, name, c, q1);
  });
}

/**
 * The context step and the test step of one block in one pass, for training: `x` holds each batch
 * element's Nc context tokens followed by its test tokens ([B, Nc + Nt, E]). Layer norms, the query
 * and output projections and the FFN are row-wise, and both kinds of query attend to the same
 * context keys with the same mask and bias parameters, so one call each over all rows gives exactly
 * the rows of `krBlockContext` and `krBlockTest` (up to the summation order of weight gradients):
 * half the kernels, and no gradient sums for weights used twice.
 * `coords.test` holds the coordinates of all rows (context then test), `coords.ctx` the context's.
 */
export function krBlockJoint(p: Params, name: string, c: KRBlockConfig, x: Tensor, Nc: number, mask: Tensor | null,
  coords: BlockCoords): Tensor {
  return E.tidy(() => {
    const [B, , Em] = x.shape as [number, number, number];
    const xn = layerNorm(p, `${name}.ln1`, x, c.eps);
    // The query projection before the key slice: in the backward (reverse order) the slice's
    // gradient of xn then exists when the query projection's runs, which adds it in its own kernel.
    const qp = dense(p, `${name}.attn.q`, xn);
    const kv = projectKeys(p, `${name}.attn`, E.slice(xn, [0, 0, 0], [B, Nc, Em]), c.heads);
    const x1 = attendProjected(p, `${name}.attn`, qp, kv, mask, groups(c, coords.test, coords.ctx), c.attention, undefined, x);
    return residualFfn(p, name, c, x1);
  });
}
