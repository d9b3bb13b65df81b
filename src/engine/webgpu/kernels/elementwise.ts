/**
 * Elementwise WebGPU kernels: fill, unary, broadcasting binary and where.
 *
 * Broadcasting: the shapes are collapsed first (size-1 output dims dropped, adjacent dims merged
 * where every input is contiguous across them), so a plain same-shape op becomes rank 1 and most
 * broadcasts rank 2–3. The kernel is generated per (op, collapsed rank, input count); dims and
 * per-input element strides (0 = broadcast) travel in the uniform block.
 */

import type { BinaryOp, Storage, UnaryOp } from '../../backend.js';
import type { WebGPUBackend } from '../backend.js';
import { FLAT_WG, GRID_BUILTINS, MATH_WGSL, Params, grid, paramsWgsl } from '../wgsl.js';

const WG = 256;

/** Runtime (not const-evaluated) special values: a WGSL const expression may not overflow. */
export const SPECIALS_WGSL = `
fn inf_(x: f32) -> f32 { return bitcast<f32>(0x7f800000u | (bitcast<u32>(x) & 0u)); }
fn nan_(x: f32) -> f32 { return bitcast<f32>(0x7fc00000u | (bitcast<u32>(x) & 0u)); }
fn log_(x: f32) -> f32 {
  if (x == 0.0) { return -inf_(x); }
  if (x < 0.0) { return nan_(x); }
  return plog(x);
}
fn pow_(x: f32, y: f32) -> f32 {
  if (y == 0.0) { return 1.0; }
  if (y == 1.0) { return x; }
  if (y == 2.0) { return x * x; }
  let ax = abs(x);
  var r: f32;
  if (ax == 0.0) { r = select(inf_(x), 0.0, y > 0.0); } else { r = exp(y * plog(ax)); }
  if (x < 0.0) {
    if (fract(y) != 0.0) { return nan_(x); }
    if (fract(y * 0.5) != 0.0) { return -r; }
  }
  return r;
}
`;

const UNARY: Record<UnaryOp, string> = {
  neg: '-x', exp: 'exp(x)', log: 'log_(x)', sqrt: 'sqrt(x)', rsqrt: 'inverseSqrt(x)', tanh: 'tanh_(x)',
  softplus: 'softplus_(x)', gelu: 'gelu_(x)', relu: 'max(x, 0.0)', sigmoid: 'sigmoid_(x)', abs: 'abs(x)',
  square: 'x * x', recip: '1.0 / x', sin: 'sincos_(x).x', cos: 'sincos_(x).y',
  isfinite: 'select(0.0, 1.0, isfinite_(x))', sign: 'sign(x)',
};

const BINARY: Record<BinaryOp, string> = {
  add: 'a + b', sub: 'a - b', mul: 'a * b', div: 'a / b', max: 'max(a, b)', min: 'min(a, b)',
  pow: 'pow_(a, b)', gt: 'select(0.0, 1.0, a > b)', ge: 'select(0.0, 1.0, a >= b)',
  lt: 'select(0.0, 1.0, a < b)', le: 'select(0.0, 1.0, a <= b)', eq: 'select(0.0, 1.0, a == b)',
  ne: 'select(0.0, 1.0, a != b)', geluGrad: 'b * geluGrad_(a)',
};

export function fill(be: WebGPUBackend, n: number, value: number): Storage {
  const out = be.alloc(n);
  const p = new Params().u32(n).f32(value);
  be.dispatch('fill', () => `${paramsWgsl(1, 2)}
@group(0) @binding(0) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(${WG}) fn main(${GRID_BUILTINS}) {
  let i = ${FLAT_WG} * ${WG}u + lid;
  if (i < pu(0u)) { y[i] = pf(1u); }
}`, [out], ['read_write'], p.buffer(), grid(Math.ceil(n / WG)));
  return out;
}

export function unary(be: WebGPUBackend, op: UnaryOp, x: Storage): Storage {
  const expr = UNARY[op];
  if (expr === undefined) throw new Error(`unary: unknown op '${String(op)}'`);
  const n = x.length;
  const out = be.alloc(n);
  be.dispatch(`unary_${op}`, () => `${paramsWgsl(2, 1)}${MATH_WGSL}${SPECIALS_WGSL}
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read_write> Y: array<f32>;
@compute @workgroup_size(${WG}) fn main(${GRID_BUILTINS}) {
  let i = ${FLAT_WG} * ${WG}u + lid;
  if (i >= pu(0u)) { return; }
  let x = X[i];
  Y[i] = ${expr};
}`, [x, out], ['read', 'read_write'], new Params().u32(n).buffer(), grid(Math.ceil(n / WG)));
  return out;
}

/** Collapsed broadcast geometry: output dims and per-input strides (0 = broadcast). */
export interface Broadcast {
  dims: number[];
  strides: number[][];
  size: number;
}

/** Collapses `outShape` and the input shapes (all of the same rank) for a broadcasting kernel. */
export function collapseBroadcast(op: string, inShapes: readonly (readonly number[])[],
  outShape: readonly number[]): Broadcast {
  const rank = outShape.length;
  const full: number[][] = inShapes.map((shape, k) => {
    if (shape.length !== rank) {
      throw new Error(`${op}: expected input ${k} of rank ${rank}, got shape [${shape.join(', ')}]`);
    }
    const st = new Array<number>(rank).fill(0);
    let acc = 1;
    for (let d = rank - 1; d >= 0; d--) {
      const s = shape[d]!;
      if (s !== outShape[d] && s !== 1) {
        throw new Error(`${op}: input ${k} shape [${shape.join(', ')}] does not broadcast to [${outShape.join(', ')}]`);
      }
      st[d] = s === 1 ? 0 : acc;
      acc *= s;
    }
    return st;
  });
  const dims: number[] = [];
  const strides: number[][] = inShapes.map(() => []);
  for (let d = 0; d < rank; d++) {
    const size = outShape[d]!;
    if (size === 1) continue;
    const last = dims.length - 1;
    if (last >= 0 && full.every((st, k) => strides[k]![last] === st[d]! * size)) {
      dims[last] = dims[last]! * size;
      full.forEach((st, k) => { strides[k]![last] = st[d]!; });
    } else {
      dims.push(size);
      full.forEach((st, k) => strides[k]!.push(st[d]!));
    }
  }
  return { dims, strides, size: outShape.reduce((a, b) => a * b, 1) };
}

/**
 * Generic broadcasting kernel over `inputs` (read as `v0, v1, …` in `expr`).
 * Uniform words: [n, dims…, strides of input 0…, strides of input 1…].
 */
function broadcastOp(be: WebGPUBackend, name: string, expr: string, inputs: readonly Storage[],
  shapes: readonly (readonly number[])[], outShape: readonly number[]): Storage {
  const bc = collapseBroadcast(name, shapes, outShape);
  const out = be.alloc(bc.size);
  const R = bc.dims.length;
  const k = inputs.length;
  const p = new Params().u32(bc.size);
  for (const d of bc.dims) p.u32(d);
  for (const st of bc.strides) for (const s of st) p.u32(s);
  const wgsl = (): string => {
    const decls = inputs.map((_, j) => `@group(0) @binding(${j}) var<storage, read> I${j}: array<f32>;`).join('\n');
    let body = `  var rem = i;\n${inputs.map((_, j) => `  var o${j} = 0u;`).join('\n')}\n`;
    for (let d = R - 1; d >= 0; d--) {
      body += `  { let c = rem % pu(${1 + d}u); rem = rem / pu(${1 + d}u);\n`;
      body += inputs.map((_, j) => `    o${j} += c * pu(${1 + R + j * R + d}u);`).join('\n') + ' }\n';
    }
    body += inputs.map((_, j) => `  let v${j} = I${j}[o${j}];`).join('\n');
    return `${paramsWgsl(k + 1, 1 + R + k * R)}${MATH_WGSL}${SPECIALS_WGSL}
${decls}
@group(0) @binding(${k}) var<storage, read_write> Y: array<f32>;
@compute @workgroup_size(${WG}) fn main(${GRID_BUILTINS}) {
  let i = ${FLAT_WG} * ${WG}u + lid;
  if (i >= pu(0u)) { return; }
${body}
  Y[i] = ${expr};
}`;
  };
  be.dispatch(`bcast_${name}_r${R}`, wgsl, [...inputs, out], [...inputs.map(() => 'read' as const), 'read_write'],
    p.buffer(), grid(Math.ceil(bc.size / WG)));
  return out;
}

export function binary(be: WebGPUBackend, op: BinaryOp, a: Storage, aShape: readonly number[], b: Storage,
  bShape: readonly number[], outShape: readonly number[]): Storage {
  const expr = BINARY[op];
  if (expr === undefined) throw new Error(`binary: unknown op '${String(op)}'`);
  const vexpr = expr.replace(/\ba\b/g, 'v0').replace(/\bb\b/g, 'v1');
  return broadcastOp(be, op, vexpr, [a, b], [aShape, bShape], outShape);
}

export function where(be: WebGPUBackend, cond: Storage, cShape: readonly number[], a: Storage,
  aShape: readonly number[], b: Storage, bShape: readonly number[], outShape: readonly number[]): Storage {
  return broadcastOp(be, 'where', 'select(v2, v1, v0 != 0.0)', [cond, a, b], [cShape, aShape, bShape], outShape);
}
