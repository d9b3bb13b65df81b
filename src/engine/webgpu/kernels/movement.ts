/**
 * Data movement kernels: strided gather/write (permute, slice, expand, concat), row gather and
 * its gradient scatterAdd.
 *
 * scatterAdd has no float atomics in WGSL: one thread per output (v, d) loops over all n indices
 * (O(V·D·n) reads of idx, fine for embedding tables of moderate size; deterministic order).
 */

import type { Storage } from '../../backend.js';
import type { WebGPUBackend } from '../backend.js';
import { FLAT_WG, GRID_BUILTINS, Params, grid, paramsWgsl } from '../wgsl.js';

const WG = 256;

/** Drops size-1 dims and merges dims that are contiguous with each other in the view. */
function collapseView(shape: readonly number[], strides: readonly number[]): { dims: number[]; st: number[] } {
  const dims: number[] = [];
  const st: number[] = [];
  for (let d = 0; d < shape.length; d++) {
    const size = shape[d]!;
    if (size === 1) continue;
    const last = dims.length - 1;
    if (last >= 0 && st[last] === strides[d]! * size) {
      dims[last] = dims[last]! * size;
      st[last] = strides[d]!;
    } else {
      dims.push(size);
      st.push(strides[d]!);
    }
  }
  return { dims, st };
}

/** Uniform words: [n, offset, dims…, strides…]; WGSL computing `src` (the view index) from `i`. */
function viewIndex(op: string, shape: readonly number[], strides: readonly number[], offset: number):
  { p: ArrayBuffer; R: number; n: number; code: string; words: number } {
  if (shape.length !== strides.length) {
    throw new Error(`${op}: expected as many strides as dims, got shape [${shape.join(', ')}] and strides [${strides.join(', ')}]`);
  }
  const { dims, st } = collapseView(shape, strides);
  const n = shape.reduce((a, b) => a * b, 1);
  const R = dims.length;
  const p = new Params().u32(n).i32(offset);
  for (const d of dims) p.u32(d);
  for (const s of st) p.i32(s);
  let code = '  var rem = i;\n  var src = pi(1u);\n';
  for (let d = R - 1; d >= 0; d--) {
    code += `  { let c = rem % pu(${2 + d}u); rem = rem / pu(${2 + d}u); src += i32(c) * pi(${2 + R + d}u); }\n`;
  }
  return { p: p.buffer(), R, n, code, words: 2 + 2 * R };
}

export function strided(be: WebGPUBackend, x: Storage, shape: readonly number[], strides: readonly number[],
  offset: number): Storage {
  const v = viewIndex('strided', shape, strides, offset);
  const out = be.alloc(v.n);
  be.dispatch(`strided_r${v.R}`, () => `${paramsWgsl(2, v.words)}
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read_write> Y: array<f32>;
@compute @workgroup_size(${WG}) fn main(${GRID_BUILTINS}) {
  let i = ${FLAT_WG} * ${WG}u + lid;
  if (i >= pu(0u)) { return; }
${v.code}
  Y[i] = X[u32(src)];
}`, [x, out], ['read', 'read_write'], v.p, grid(Math.ceil(v.n / WG)));
  return out;
}

export function stridedWrite(be: WebGPUBackend, dst: Storage, src: Storage, shape: readonly number[],
  strides: readonly number[], offset: number): void {
  const v = viewIndex('stridedWrite', shape, strides, offset);
  if (src.length !== v.n) throw new Error(`stridedWrite: expected src of ${v.n} elements, got ${src.length}`);
  be.dispatch(`stridedWrite_r${v.R}`, () => `${paramsWgsl(2, v.words)}
@group(0) @binding(0) var<storage, read> S: array<f32>;
@group(0) @binding(1) var<storage, read_write> D: array<f32>;
@compute @workgroup_size(${WG}) fn main(${GRID_BUILTINS}) {
  let i = ${FLAT_WG} * ${WG}u + lid;
  if (i >= pu(0u)) { return; }
${v.code}
  D[u32(src)] = S[i];
}`, [src, dst], ['read', 'read_write'], v.p, grid(Math.ceil(v.n / WG)));
}

/** out[i, d] = table[idx[i], d]; indices outside [0, V) give 0. */
export function gather(be: WebGPUBackend, table: Storage, V: number, D: number, idx: Storage, n: number): Storage {
  const out = be.alloc(n * D);
  const p = new Params().u32(n * D).u32(D).u32(V).buffer();
  be.dispatch('gather', () => `${paramsWgsl(3, 3)}
@group(0) @binding(0) var<storage, read> T: array<f32>;
@group(0) @binding(1) var<storage, read> I: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
@compute @workgroup_size(${WG}) fn main(${GRID_BUILTINS}) {
  let t = ${FLAT_WG} * ${WG}u + lid;
  if (t >= pu(0u)) { return; }
  let D = pu(1u);
  let row = i32(I[t / D]);
  if (row < 0 || row >= i32(pu(2u))) { Y[t] = 0.0; return; }
  Y[t] = T[u32(row) * D + t % D];
}`, [table, idx, out], ['read', 'read', 'read_write'], p, grid(Math.ceil((n * D) / WG)));
  return out;
}

/** out[v, d] = Σ_{i : idx[i] = v} g[i, d]. */
export function scatterAdd(be: WebGPUBackend, g: Storage, idx: Storage, n: number, V: number, D: number): Storage {
  const out = be.alloc(V * D);
  const p = new Params().u32(V * D).u32(D).u32(n).buffer();
  be.dispatch('scatterAdd', () => `${paramsWgsl(3, 3)}
@group(0) @binding(0) var<storage, read> G: array<f32>;
@group(0) @binding(1) var<storage, read> I: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
@compute @workgroup_size(${WG}) fn main(${GRID_BUILTINS}) {
  let t = ${FLAT_WG} * ${WG}u + lid;
  if (t >= pu(0u)) { return; }
  let D = pu(1u);
  let v = f32(t / D);
  let d = t % D;
  var acc = 0.0;
  for (var i = 0u; i < pu(2u); i++) {
    if (I[i] == v) { acc += G[i * D + d]; }
  }
  Y[t] = acc;
}`, [g, idx, out], ['read', 'read', 'read_write'], p, grid(Math.ceil((V * D) / WG)));
  return out;
}
