/**
 * Reduction of the middle axis of x viewed as [outer, r, inner] → [outer, inner].
 *
 * Column sums (inner ≥ 16, r ≥ 256: bias gradients) read 64 adjacent columns per workgroup over a
 * chunk of ~64 rows, then sum the chunks in a second pass. Otherwise two kernels: when r is large and there are few outputs (typically inner = 1, a row sum), one
 * 256-thread workgroup per (output, chunk of r) strides over its chunk and finishes with a
 * shared-memory tree; with several chunks (r ≥ 16384: a global-norm sum over all parameters) the
 * [outputs, chunks] partials are reduced again, so a single long sum uses the whole GPU; otherwise
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
  const fn = `fn combine(a: f32, b: f32) -> f32 { return ${combine}; }`;
  const decls = (words: number): string => `${paramsWgsl(2, words)}
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read_write> Y: array<f32>;
${fn}`;
  if (inner >= 16 && r >= 256 && Math.ceil(inner / 64) * outer <= 65535) {
    // Column sums (a bias gradient: [rows, features] → [features]): 64 adjacent columns per
    // workgroup, 4 row lanes, so every row read is one contiguous run; rows split into chunks
    // for parallelism, the [chunks, outputs] partials summed by a second (coalesced) pass.
    // Chunks of ~64 rows: 16 loads per lane and enough workgroups in flight to cover memory
    // latency (12,288 rows × 128 columns: 384 workgroups); the chunk sums then take the tree path.
    const groups = Math.ceil(inner / 64) * outer;
    const chunks = Math.min(1024, Math.ceil(r / 64));
    const len = Math.ceil(r / chunks);
    const part = be.alloc(chunks * nOut);
    const p = new Params().u32(outer).u32(r).u32(inner).f32(IDENTITY[op]).u32(Math.ceil(inner / 64)).u32(len).buffer();
    be.dispatch(`reduce_cols_${op}`, () => `${decls(6)}
var<workgroup> S: array<f32, ${WG}>;
@compute @workgroup_size(${WG}) fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let inner = pu(2u);
  let r = pu(1u);
  let cg = pu(4u);
  let o = wid.x / cg;
  let col = (wid.x % cg) * 64u + lid % 64u;
  let lane = lid / 64u;
  let j0 = wid.y * pu(5u);
  let j1 = min(r, j0 + pu(5u));
  var acc = pf(3u);
  if (col < inner) {
    let base = o * r * inner + col;
    for (var j = j0 + lane; j < j1; j += 4u) { acc = combine(acc, X[base + j * inner]); }
  }
  S[lid] = acc;
  workgroupBarrier();
  if (lid < 64u && col < inner) {
    Y[wid.y * pu(0u) * inner + o * inner + col] = combine(combine(S[lid], S[lid + 64u]), combine(S[lid + 128u], S[lid + 192u]));
  }
}`, [x, part], ['read', 'read_write'], p, [groups, chunks, 1]);
    if (chunks === 1) return part;
    const out = reduce(be, op, part, 1, chunks, nOut);
    be.free(part);
    return out;
  }
  if (r >= 128 && (inner === 1 || nOut <= 8192)) {
    const chunks = r >= 16384 && nOut <= 4096 ? Math.min(1024, Math.ceil(r / 4096)) : 1;
    const len = Math.ceil(r / chunks);
    const part = be.alloc(nOut * chunks);
    const p = new Params().u32(outer).u32(r).u32(inner).f32(IDENTITY[op]).u32(chunks).u32(len).buffer();
    be.dispatch(`reduce_tree_${op}`, () => `${decls(6)}
var<workgroup> S: array<f32, ${WG}>;
@compute @workgroup_size(${WG}) fn main(${GRID_BUILTINS}) {
  let w = ${FLAT_WG};
  let inner = pu(2u);
  let r = pu(1u);
  let chunks = pu(4u);
  if (w >= pu(0u) * inner * chunks) { return; }
  let o = w / chunks;
  let j0 = (w % chunks) * pu(5u);
  let j1 = min(r, j0 + pu(5u));
  let base = (o / inner) * r * inner + o % inner;
  var acc = pf(3u);
  for (var j = j0 + lid; j < j1; j += ${WG}u) { acc = combine(acc, X[base + j * inner]); }
  S[lid] = acc;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { S[lid] = combine(S[lid], S[lid + s]); }
    workgroupBarrier();
  }
  if (lid == 0u) { Y[w] = S[0]; }
}`, [x, part], ['read', 'read_write'], p, grid(nOut * chunks));
    if (chunks === 1) return part;
    const out = reduce(be, op, part, nOut, chunks, 1);
    be.free(part);
    return out;
  } else {
    const out = be.alloc(nOut);
    const p = new Params().u32(outer).u32(r).u32(inner).f32(IDENTITY[op]).buffer();
    be.dispatch(`reduce_loop_${op}`, () => `${decls(4)}
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
    return out;
  }
}

/**
 * out[t] = Σ_i xs[t][i]² over the first ns[t] elements. Up to `group` tensors share a dispatch (one
 * binding each, as the device's storage-buffer limit allows): workgroup j reduces tensor j of the
 * group (256 lanes stride over it, then a tree in workgroup memory) into slot t of one output.
 */
export function sumSquares(be: WebGPUBackend, xs: readonly Storage[], ns: readonly number[]): Storage {
  if (xs.length !== ns.length) throw new Error(`sumSquares: expected ${xs.length} lengths, got ${ns.length}`);
  for (let t = 0; t < xs.length; t++) {
    if (ns[t]! > xs[t]!.length) throw new Error(`sumSquares: expected at most ${xs[t]!.length} elements in tensor ${t}, got ${ns[t]}`);
  }
  const out = be.alloc(xs.length);
  const group = Math.max(1, Math.min(8, be.limits.maxStorageBuffersPerShaderStage - 1));
  for (let t0 = 0; t0 < xs.length; t0 += group) {
    const k = Math.min(group, xs.length - t0);
    const prm = new Params().u32(t0);
    for (let j = 0; j < k; j++) prm.u32(ns[t0 + j]!);
    let decl = '';
    let cases = '';
    for (let j = 0; j < k; j++) {
      decl += `@group(0) @binding(${j}) var<storage, read> X${j}: array<f32>;\n`;
      cases += `    case ${j}u: { for (var i = lid; i < n; i += 256u) { let x = X${j}[i]; acc += x * x; } }\n`;
    }
    be.dispatch(`sumSquares${k}`, () => `${paramsWgsl(k + 1, k + 1)}${decl}@group(0) @binding(${k}) var<storage, read_write> OUT: array<f32>;
var<workgroup> T: array<f32, 256>;
@compute @workgroup_size(256) fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let j = wid.x;
  let n = pu(1u + j);
  var acc = 0.0;
  switch (j) {
${cases}    default: {}
  }
  T[lid] = acc;
  workgroupBarrier();
  for (var w = 128u; w > 0u; w = w / 2u) {
    if (lid < w) { T[lid] += T[lid + w]; }
    workgroupBarrier();
  }
  if (lid == 0u) { OUT[pu(0u) + j] = T[0]; }
}`, [...xs.slice(t0, t0 + k), out], [...Array<'read'>(k).fill('read'), 'read_write'], prm.buffer(), [k, 1, 1]);
  }
  return out;
}
