/**
 * Translation-equivariant attention and block (TE-TNP, baselines.md §2; Ashman et al. 2024).
 * The per-head logits q_h(i)·k_h(j)/√d of every pair, together with the coordinate difference
 * z_i − z_j, go through a pairwise MLP that gives the pair's final logit per head; keys with mask
 * 0 are excluded; softmax over keys; values mixed per head; output projection. Locations enter
 * only as differences, so a common shift of all z leaves the output unchanged. The pairwise
 * tensors [B, Q, K, width] are built for a chunk of query rows at a time (rows are independent:
 * exact), each chunk checkpointed (nn/checkpoint.ts), so a training step holds one chunk's pairwise
 * intermediates, not all of them: the time is the spec's O(Q·K) pairwise MLP, the memory bounded.
 */
import * as E from '../engine/ops.js';
import { noGrad } from '../engine/tensor.js';
import type { Tensor } from '../engine/tensor.js';
import { Rng } from '../engine/random.js';
import { mergeHeads, splitHeads } from './attention.js';
import { checkpoint, paramsUnder, withParams } from './checkpoint.js';
import { dense, denseSpecs, layerNorm, layerNormSpecs, mlp, mlpSpecs, type Activation } from './layers.js';
import type { ParamSpec, Params } from './params.js';

export interface TeBlockConfig {
  embedDim: number;
  heads: number;
  headDim: number;
  /** Coordinate dims Dz. */
  coordDims: number;
  pairMlp: readonly number[];
  ffn: readonly number[];
  activation: Activation;
  eps: number;
  /** Budget of one chunk's widest pairwise tensor, in elements (default PAIR_CHUNK_ELEMENTS). */
  pairChunkElements?: number;
}

/** Default budget of a pairwise chunk: 2^23 floats (32 MiB) for the widest [B, rows, K, width]. */
export const PAIR_CHUNK_ELEMENTS = 1 << 23;

/** One TE block: LN (shared by both inputs), attention (q, k, v, out, pairwise MLP), LN2, FFN. */
export function teBlockSpecs(name: string, c: TeBlockConfig, rng: Rng): ParamSpec[] {
  const inner = c.heads * c.headDim;
  return [
    ...layerNormSpecs(`${name}.ln1`, c.embedDim),
    ...denseSpecs(`${name}.attn.q`, c.embedDim, inner, rng),
    ...denseSpecs(`${name}.attn.k`, c.embedDim, inner, rng),
    ...denseSpecs(`${name}.attn.v`, c.embedDim, inner, rng),
    ...denseSpecs(`${name}.attn.out`, inner, c.embedDim, rng),
    ...mlpSpecs(`${name}.attn.pair`, c.heads + c.coordDims, [...c.pairMlp, c.heads], rng),
    ...layerNormSpecs(`${name}.ln2`, c.embedDim),
    ...mlpSpecs(`${name}.ffn`, c.embedDim, c.ffn, rng),
  ];
}

/**
 * Softmax over the last axis of scores [B, H, Q, K] restricted to keys with mask 1 ([B, K]); a row
 * with no valid key gives weights 0.
 */
export function maskedSoftmax(s: Tensor, mask: Tensor | null): Tensor {
  return E.tidy(() => {
    const [B, , , K] = s.shape as [number, number, number, number];
    if (!mask) return E.softmax(s);
    const valid = E.broadcastTo(E.reshape(mask, [B, 1, 1, K]), s.shape);
    const safe = E.where(valid, s, -1e30);
    const m = noGrad(() => E.max(safe, -1, true));
    const pexp = E.mul(E.exp(E.sub(safe, m)), valid);
    const l = E.sum(pexp, -1, true);
    return E.div(pexp, E.where(E.gt(l, 0), l, 1));
  });
}

/**
 * TE attention of queries a [B, Q, E] (at za [B, Q, Dz]) over keys/values b [B, K, E] (at zb
 * [B, K, Dz]) with key mask [B, K] (or null); returns [B, Q, E].
 */
export function teAttention(p: Params, name: string, c: TeBlockConfig, a: Tensor, b: Tensor, za: Tensor, zb: Tensor,
  mask: Tensor | null): Tensor {
  return E.tidy(() => {
    const [B, Q] = a.shape as [number, number];
    const K = b.shape[1]!;
    const H = c.heads;
    const k = splitHeads(dense(p, `${name}.k`, b), H);
    const v = splitHeads(dense(p, `${name}.v`, b), H);
    const width = Math.max(H + c.coordDims, ...c.pairMlp, c.embedDim);
    const rows = Math.max(1, Math.floor((c.pairChunkElements ?? PAIR_CHUNK_ELEMENTS) / (B * K * width)));
    if (rows >= Q) return teQueries(p, name, c, a, za, zb, k, v, mask);
    // Query rows in chunks, each a checkpoint over its inputs: the query side's parameters, the
    // chunk's rows and locations, and the shared keys, values and key locations.
    const own = paramsUnder(p, [`${name}.q.`, `${name}.out.`, `${name}.pair.`]);
    const outs: Tensor[] = [];
    for (let q0 = 0; q0 < Q; q0 += rows) {
      const n = Math.min(rows, Q - q0);
      const ac = E.slice(a, [0, q0, 0], [B, n, a.shape[2]!]);
      const zc = E.slice(za, [0, q0, 0], [B, n, c.coordDims]);
      outs.push(checkpoint([ac, zc, zb, k, v, ...(mask ? [mask] : []), ...own.values], (xs) => {
        const pc = withParams(p, own.names, xs.slice(xs.length - own.values.length));
        return teQueries(pc, name, c, xs[0]!, xs[1]!, xs[2]!, xs[3]!, xs[4]!, mask ? xs[5]! : null);
      }));
    }
    return E.concat(outs, 1);
  });
}

/** TE attention of query rows a [B, Q, E] at za over split keys k, values v [B, H, K, d] at zb. */
function teQueries(p: Params, name: string, c: TeBlockConfig, a: Tensor, za: Tensor, zb: Tensor, k: Tensor, v: Tensor,
  mask: Tensor | null): Tensor {
  return E.tidy(() => {
    const [B, Q] = a.shape as [number, number];
    const K = zb.shape[1]!;
    const q = splitHeads(dense(p, `${name}.q`, a), c.heads);
    const logits = E.mul(E.matmul(q, k, { transB: true }), 1 / Math.sqrt(c.headDim)); // [B, H, Q, K]
    const dz = E.sub(E.reshape(za, [B, Q, 1, c.coordDims]), E.reshape(zb, [B, 1, K, c.coordDims]));
    const pair = E.concat([E.transpose(logits, [0, 2, 3, 1]), dz], 3); // [B, Q, K, H + Dz]
    const s = E.transpose(mlp(p, `${name}.pair`, c.pairMlp.length + 1, c.activation, pair), [0, 3, 1, 2]);
    return dense(p, `${name}.out`, mergeHeads(E.matmul(maskedSoftmax(s, mask), v)));
  });
}

/** a + TEAttn(LN(a), LN(b)); then + FFN(LN2(·)). Pre-norm; LN1 is shared by a and b. */
export function teBlock(p: Params, name: string, c: TeBlockConfig, a: Tensor, b: Tensor, za: Tensor, zb: Tensor,
  mask: Tensor | null): Tensor {
  return E.tidy(() => {
    const an = layerNorm(p, `${name}.ln1`, a, c.eps);
    const bn = layerNorm(p, `${name}.ln1`, b, c.eps);
    const a1 = E.add(a, teAttention(p, `${name}.attn`, c, an, bn, za, zb, mask));
    return E.add(a1, mlp(p, `${name}.ffn`, c.ffn.length, c.activation, layerNorm(p, `${name}.ln2`, a1, c.eps)));
  });
}
