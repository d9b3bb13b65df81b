/**
 * Fused row kernels over x [rows, cols]: layer norm forward/backward and (log-)softmax.
 *
 * One workgroup per row (W threads, W = cols rounded up to a power of two in [32, 256]) with
 * shared-memory tree reductions; the variance is the two-pass Σ(x − mean)² (no E[x²] − mean²
 * cancellation). dgamma/dbeta need a sum over rows: pass 1 writes per-chunk partial sums
 * [chunks, cols] (one thread per column, looping over the chunk's rows), pass 2 reduces chunks.
 */

import type { Storage } from '../../backend.js';
import type { WebGPUBackend } from '../backend.js';
import { FLAT_WG, GRID_BUILTINS, MATH_WGSL, Params, grid, paramsWgsl } from '../wgsl.js';
import { sumLayersInto } from './matmul.js';

function rowWorkgroup(cols: number): number {
  let w = 32;
  while (w < cols && w < 256) w *= 2;
  return w;
}

/** Shared-memory sums for a workgroup of W threads (call from uniform control flow). */
function treeWgsl(W: number): string {
  return `var<workgroup> S: array<vec2<f32>, ${W}>;
fn wsum2(v: vec2<f32>, lid: u32) -> vec2<f32> {
  S[lid] = v;
  workgroupBarrier();
  for (var s = ${W / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { S[lid] = S[lid] + S[lid + s]; }
    workgroupBarrier();
  }
  let r = S[0];
  workgroupBarrier();
  return r;
}
fn wmax(v: f32, lid: u32) -> f32 {
  S[lid] = vec2<f32>(v, 0.0);
  workgroupBarrier();
  for (var s = ${W / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { S[lid].x = max(S[lid].x, S[lid + s].x); }
    workgroupBarrier();
  }
  let r = S[0].x;
  workgroupBarrier();
  return r;
}
`;
}

export function layerNorm(be: WebGPUBackend, x: Storage, gamma: Storage, beta: Storage, rows: number,
  cols: number, eps: number): { y: Storage; mean: Storage; rstd: Storage } {
  if (x.length !== rows * cols) throw new Error(`layerNorm: expected x of ${rows}·${cols} elements, got ${x.length}`);
  const y = be.alloc(rows * cols);
  const mean = be.alloc(rows);
  const rstd = be.alloc(rows);
  if (cols === 0) return { y, mean, rstd };
  const W = rowWorkgroup(cols);
  const p = new Params().u32(rows).u32(cols).f32(eps).buffer();
  be.dispatch(`layerNorm_${W}`, () => `${paramsWgsl(6, 3)}${treeWgsl(W)}
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read> Bt: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;
@group(0) @binding(4) var<storage, read_write> Mean: array<f32>;
@group(0) @binding(5) var<storage, read_write> Rstd: array<f32>;
@compute @workgroup_size(${W}) fn main(${GRID_BUILTINS}) {
  let row = ${FLAT_WG};
  if (row >= pu(0u)) { return; }
  let cols = pu(1u);
  let base = row * cols;
  var s = 0.0;
  for (var j = lid; j < cols; j += ${W}u) { s += X[base + j]; }
  let mu = wsum2(vec2<f32>(s, 0.0), lid).x / f32(cols);
  var q = 0.0;
  for (var j = lid; j < cols; j += ${W}u) { let d = X[base + j] - mu; q += d * d; }
  let rs = inverseSqrt(wsum2(vec2<f32>(q, 0.0), lid).x / f32(cols) + pf(2u));
  for (var j = lid; j < cols; j += ${W}u) { Y[base + j] = (X[base + j] - mu) * rs * G[j] + Bt[j]; }
  if (lid == 0u) { Mean[row] = mu; Rstd[row] = rs; }
}`, [x, gamma, beta, y, mean, rstd], ['read', 'read', 'read', 'read_write', 'read_write', 'read_write'], p,
  grid(rows));
  return { y, mean, rstd };
}

export function layerNormBackward(be: WebGPUBackend, dy: Storage, x: Storage, gamma: Storage, mean: Storage,
  rstd: Storage, rows: number, cols: number, acc: Storage | null = null): { dx: Storage; dgamma: Storage; dbeta: Storage } {
  if (acc && acc.length < rows * cols) throw new Error(`layerNormBackward: expected acc of ${rows * cols} elements, got ${acc.length}`);
  const dx = be.alloc(rows * cols);
  if (cols === 0) return { dx, dgamma: be.alloc(0), dbeta: be.alloc(0) };
  if (rows === 0) return { dx, dgamma: be.fill(cols, 0), dbeta: be.fill(cols, 0) };
  const W = rowWorkgroup(cols);
  const p = new Params().u32(rows).u32(cols).buffer();
  // With `acc`, dx also gets the gradient x collected elsewhere (binding 6).
  const bindings = acc ? [dy, x, gamma, mean, rstd, dx, acc] : [dy, x, gamma, mean, rstd, dx];
  be.dispatch(`layerNormBackward_${W}${acc ? 'a' : ''}`, () => `${paramsWgsl(acc ? 7 : 6, 2)}${treeWgsl(W)}
@group(0) @binding(0) var<storage, read> DY: array<f32>;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> G: array<f32>;
@group(0) @binding(3) var<storage, read> Mean: array<f32>;
@group(0) @binding(4) var<storage, read> Rstd: array<f32>;
@group(0) @binding(5) var<storage, read_write> DX: array<f32>;
${acc ? '@group(0) @binding(6) var<storage, read> ACC: array<f32>;\n' : ''}@compute @workgroup_size(${W}) fn main(${GRID_BUILTINS}) {
  let row = ${FLAT_WG};
  if (row >= pu(0u)) { return; }
  let cols = pu(1u);
  let base = row * cols;
  let mu = Mean[row];
  let rs = Rstd[row];
  var s = vec2<f32>(0.0);
  for (var j = lid; j < cols; j += ${W}u) {
    let g = DY[base + j] * G[j];
    s += vec2<f32>(g, g * (X[base + j] - mu) * rs);
  }
  let m = wsum2(s, lid) / f32(cols);
  for (var j = lid; j < cols; j += ${W}u) {
    let xh = (X[base + j] - mu) * rs;
    DX[base + j] = rs * (DY[base + j] * G[j] - m.x - xh * m.y)${acc ? ' + ACC[base + j]' : ''};
  }
}`, bindings, bindings.map((b) => (b === dx ? 'read_write' : 'read')), p, grid(rows));

  // dgamma = Σ_rows dy·x̂, dbeta = Σ_rows dy: per-chunk partials, then both sums over the chunks
  // in one dispatch (the split-K sum's kernel; two reductions took four dispatches). About 256
  // chunks: enough workgroups for the partials, a short loop for the sum.
  const rowsPerChunk = Math.max(16, Math.ceil(rows / 256));
  const chunks = Math.ceil(rows / rowsPerChunk);
  const pg = be.alloc(chunks * cols);
  const pb = be.alloc(chunks * cols);
  const pp = new Params().u32(rows).u32(cols).u32(rowsPerChunk).buffer();
  be.dispatch('layerNormParamGrad', () => `${paramsWgsl(6, 3)}
@group(0) @binding(0) var<storage, read> DY: array<f32>;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> Mean: array<f32>;
@group(0) @binding(3) var<storage, read> Rstd: array<f32>;
@group(0) @binding(4) var<storage, read_write> PG: array<f32>;
@group(0) @binding(5) var<storage, read_write> PB: array<f32>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let rows = pu(0u); let cols = pu(1u); let per = pu(2u);
  let c = wid.x * 256u + lid;
  if (c >= cols) { return; }
  let r0 = wid.y * per;
  let r1 = min(rows, r0 + per);
  var sg = 0.0;
  var sb = 0.0;
  for (var r = r0; r < r1; r++) {
    let d = DY[r * cols + c];
    sg += d * (X[r * cols + c] - Mean[r]) * Rstd[r];
    sb += d;
  }
  PG[wid.y * cols + c] = sg;
  PB[wid.y * cols + c] = sb;
}`, [dy, x, mean, rstd, pg, pb], ['read', 'read', 'read', 'read', 'read_write', 'read_write'], pp,
  [Math.ceil(cols / 256), chunks, 1]);
  if (chunks === 1) return { dx, dgamma: pg, dbeta: pb };
  const dgamma = be.alloc(cols);
  const dbeta = be.alloc(cols);
  sumLayersInto(be, pg, pb, chunks, cols, cols, dgamma, dbeta);
  be.free(pg);
  be.free(pb);
  return { dx, dgamma, dbeta };
}

export function softmax(be: WebGPUBackend, x: Storage, rows: number, cols: number, log: boolean): Storage {
  const name = log ? 'logSoftmax' : 'softmax';
  if (x.length !== rows * cols) throw new Error(`${name}: expected x of ${rows}·${cols} elements, got ${x.length}`);
  const y = be.alloc(rows * cols);
  if (cols === 0) return y;
  const W = rowWorkgroup(cols);
  const write = log ? 'X[base + j] - mx - ls' : 'exp(X[base + j] - mx) * inv';
  be.dispatch(`${name}_${W}`, () => `${paramsWgsl(2, 2)}${MATH_WGSL}${treeWgsl(W)}
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read_write> Y: array<f32>;
@compute @workgroup_size(${W}) fn main(${GRID_BUILTINS}) {
  let row = ${FLAT_WG};
  if (row >= pu(0u)) { return; }
  let cols = pu(1u);
  let base = row * cols;
  var m = X[base];
  for (var j = lid; j < cols; j += ${W}u) { m = max(m, X[base + j]); }
  let mx = wmax(m, lid);
  var s = 0.0;
  for (var j = lid; j < cols; j += ${W}u) { s += exp(X[base + j] - mx); }
  let tot = wsum2(vec2<f32>(s, 0.0), lid).x;
  let inv = 1.0 / tot;
  let ls = plog(tot);
  for (var j = lid; j < cols; j += ${W}u) { Y[base + j] = ${write}; }
}`, [x, y], ['read', 'read_write'], new Params().u32(rows).u32(cols).buffer(), grid(rows));
  return y;
}
