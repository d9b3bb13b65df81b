/**
 * Multi-head attention with distance biases (model.md §4.2), split into a key side (projections
 * of the context, reusable across test chunks) and a query side. The inner attention is either
 * Biased Scan Attention (kernels/bsa, never materialising [Q, K]) or a dense reference built from
 * engine ops (the `dense` path: only_embed ablation and tests).
 */
import * as E from '../engine/ops.js';
import { noGrad } from '../engine/tensor.js';
import type { Tensor } from '../engine/tensor.js';
import type { Precision } from '../kernels/bsa/desc.js';
import { biasedScanAttention, type ScanGroup } from '../kernels/bsa/op.js';
import type { BiasSpec } from './bias.js';
import { denseBias } from './bias.js';
import { dense } from './layers.js';
import { get, type Params } from './params.js';

export interface AttentionGroup {
  /** Group name ('x', 's', 't'): parameters live at `${attn}.bias_${name}`. */
  name: string;
  bias: BiasSpec;
  /** Query coordinates [B, Q, M] and key coordinates [B, K, M]. */
  cq: Tensor;
  ck: Tensor;
}

export interface AttentionOptions {
  heads: number;
  headDim: number;
  kind: 'scan' | 'dense';
  tileQ?: number;
  tileK?: number;
  /** Scan attention's forward precision on WebGPU (kernels/bsa/op.ts ScanOptions). */
  precision?: Precision;
}

/** [B, N, H·d] → [B, H, N, d]. */
export function splitHeads(x: Tensor, heads: number): Tensor {
  return E.tidy(() => {
    const [B, N, W] = x.shape as [number, number, number];
    return E.transpose(E.reshape(x, [B, N, heads, W / heads]), [0, 2, 1, 3]);
  });
}

/** [B, H, N, d] → [B, N, H·d]. */
export function mergeHeads(x: Tensor): Tensor {
  return E.tidy(() => {
    const [B, H, N, d] = x.shape as [number, number, number, number];
    return E.reshape(E.transpose(x, [0, 2, 1, 3]), [B, N, H * d]);
  });
}

/** [B, N, H·d] → [B, N, H, d] (a view: no copy). */
function headsView(x: Tensor, heads: number): Tensor {
  const [B, N, W] = x.shape as [number, number, number];
  return E.reshape(x, [B, N, heads, W / heads]);
}

/**
 * Projected keys and values [B, K, H, d] of a key stream [B, K, E]: the projections reshaped, no
 * transpose (the scan kernels read this layout, 'bnhd'; the dense path transposes).
 */
export function projectKeys(p: Params, name: string, keys: Tensor, heads: number): { k: Tensor; v: Tensor } {
  return E.tidy(() => ({
    k: headsView(dense(p, `${name}.k`, keys), heads),
    v: headsView(dense(p, `${name}.v`, keys), heads),
  }));
}

/**
 * Attention of queries [B, Q, E] over projected keys/values [B, K, H, d] with key mask [B, K]
 * (1 = valid) and biases; returns [B, Q, E], plus `residual` [B, Q, E] if given (added in the
 * output projection's kernel). With `queryRows`, `queries` is one token [B, 1, E] shared by that
 * many query rows, which differ only by their coordinates (op.ts ScanOptions).
 */
export function attend(p: Params, name: string, queries: Tensor, kv: { k: Tensor; v: Tensor }, mask: Tensor | null,
  groups: readonly AttentionGroup[], opts: AttentionOptions, queryRows?: number, residual?: Tensor): Tensor {
  return E.tidy(() => attendProjected(p, name, dense(p, `${name}.q`, queries), kv, mask, groups, opts, queryRows, residual));
}

/** `attend` after the query projection: `qp` [B, Q, H·d] (or [B, 1, H·d] with `queryRows`). */
export function attendProjected(p: Params, name: string, qp: Tensor, kv: { k: Tensor; v: Tensor }, mask: Tensor | null,
  groups: readonly AttentionGroup[], opts: AttentionOptions, queryRows?: number, residual?: Tensor): Tensor {
  return E.tidy(() => {
    if (opts.kind === 'scan') {
      const o = biasedScanAttention(headsView(qp, opts.heads), kv.k, kv.v, mask, groups.map((g): ScanGroup => toScanGroup(p, name, g)),
        { tileQ: opts.tileQ, tileK: opts.tileK, precision: opts.precision, layout: 'bnhd', queryRows });
      const [B, Q, H, dv] = o.shape as [number, number, number, number];
      return dense(p, `${name}.out`, E.reshape(o, [B, Q, H * dv]), { residual });
    }
    const t = (x: Tensor): Tensor => E.transpose(x, [0, 2, 1, 3]);
    const q = queryRows === undefined ? qp : E.broadcastTo(qp, [qp.shape[0]!, queryRows, qp.shape[2]!]);
    const o = denseAttention(p, name, splitHeads(q, opts.heads), t(kv.k), t(kv.v), mask, groups, opts);
    return dense(p, `${name}.out`, mergeHeads(o), { residual });
  });
}

function toScanGroup(p: Params, name: string, g: AttentionGroup): ScanGroup {
  const base = `${name}.bias_${g.name}`;
  return {
    family: g.bias.family === 'exponential' ? 'exp' : g.bias.family,
    distance: g.bias.distance === 'great-circle' ? 'greatCircle' : 'euclidean',
    cq: g.cq,
    ck: g.ck,
    a: get(p, `${base}.a`),
    b: g.bias.family === 'scalar' ? undefined : get(p, `${base}.b`),
    c: g.bias.family === 'tisa' ? get(p, `${base}.c`) : undefined,
  };
}

/**
 * Dense biased softmax attention with the scan semantics: masked keys and non-finite distances
 * excluded, a row with no valid key gives 0. Materialises [B, H, Q, K].
 */
export function denseAttention(p: Params, name: string, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | null,
  groups: readonly AttentionGroup[], opts: AttentionOptions): Tensor {
  return E.tidy(() => {
    const [B, H, Q, d] = q.shape as [number, number, number, number];
    const K = k.shape[2]!;
    let s = E.mul(E.matmul(q, k, { transB: true }), 1 / Math.sqrt(d));
    for (const g of groups) s = E.add(s, denseBias(p, `${name}.bias_${g.name}`, g.bias, opts.heads, g.cq, g.ck));
    let valid = E.isfinite(s);
    if (mask) valid = E.mul(valid, E.reshape(mask, [B, 1, 1, K]));
    const safe = E.where(valid, s, -1e30);
    const m = noGrad(() => E.max(safe, -1, true)); // shift only; the output does not depend on it
    const pexp = E.mul(E.exp(E.sub(safe, m)), valid);
    const l = E.sum(pexp, -1, true);
    const w = E.div(pexp, E.where(E.gt(l, 0), l, 1));
    void H; void Q;
    return E.matmul(w, v);
  });
}
