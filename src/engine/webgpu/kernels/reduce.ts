/**
 * Reduction of the middle axis of x viewed as [outer, r, inner] → [outer, inner].
 *
 * Two kernels: when r is large and there are few outputs (typically inner = 1, a row sum), one
 * 256-thread workgroup per output strides over r and finishes with a shared-memory tree; otherwise
 * one thread per output loops over r (reads are coalesced across `inner`). The identity (0, −inf,
 * +inf) travels as bits in the uniform block because WGSL cannot spell infinities as constants.
 */

import type { ReduceOp, Storage } from '../../backend.js';
import type { WebGPUBackend } from '../backend.js';
import { FLAT_WG, GRID_BUILTINS, Params, grid, paramsWgsl } from '../wgsl.js';

const WG = 256;

const COMBINE: Record<ReduceOp, string> = { sum: 'a + b', max: 'max(a, b)', min: 'min(a, b)' };
const IDENTITY: Record<ReduceOp, number> = { sum: 0, max: -Infinity, min: Infinity };

export function reduce(be: WebGPUBackend, op: ReduceOp, x: Storage, outer: number, r: number,
  inner: number): Storage {
  const combine = COMBINE[op];
  if (combine === undefined) throw new Error(`reduce: unknown op '${String(op)}'`);
  if (x.length !== outer * r * inner) {
    throw new Error(`reduce: expected ${outer}·${r}·${inner} = ${outer * r * inner} elements, got ${x.length}`);
  }
  const nOut = outer * inner;
  const out = be.alloc(nOut);
  const p = new Params().u32(outer).u32(r).u32(inner).f32(IDENTITY[op]).buffer();
  const fn = `fn combine(a: f32, b: f32) -> f32 { return ${combine}; }`;
  const decls = `${paramsWgsl(2, 4)}
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read_write> Y: array<f32>;
${fn}`;
  if (r >= 128 && (inner === 1 || nOut <= 8192)) {
    be.dispatch(`reduce_tree_${op}`, () => `${decls}
var<workgroup> S: array<f32, ${WG}>;
@compute @workgroup_size(${WG}) fn main(${GRID_BUILTINS}) {
  let o = ${FLAT_WG};
  let inner = pu(2u);
  let r = pu(1u);
  if (o >= pu(0u) * inner) { return; }
  let base = (o / inner) * r * inner + o % inner;
  var acc = pf(3u);
  for (var j = lid; j < r; j += ${WG}u) { acc = combine(acc, X[base + j * inner]); }
  S[lid] = acc;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { S[lid] = combine(S[lid], S[lid + s]); }
    workgroupBarrier();
  }
  if (lid == 0u) { Y[o] = S[0]; }
}`, [x, out], ['read', 'read_write'], p, grid(nOut));
  } else {
    be.dispatch(`reduce_loop_${op}`, () => `${decls}
@compute @workgroup_size(${WG}) fn main(${GRID_BUILTINS}) {
  let t = ${FLAT_WG} * ${WG}u + lid;
  let inner = pu(2u);
  let r = pu(1u);
  if (t >= pu(0u) * inner) { return; }
  let base = (t / inner) * r * inner + t % inner;
  var acc = pf(3u);
  for (var j = 0u; j < r; j++) { acc = combine(acc, X[base + j * inner]); }
  Y[t] = acc;
}`, [x, out], ['read', 'read_write'], p, grid(Math.ceil(nOut / WG)));
  }
  return out;
}
