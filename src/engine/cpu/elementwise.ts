/**
 * Elementwise loops of the CPU backend (unary, binary with broadcasting, where), one tight loop per
 * op. A single loop calling a per-op closure (`f(a[i], b[i])`) sees every op's closure at one call
 * site, so V8 cannot inline it and pays a call per element: on the TE-TNP pairwise MLP (hundreds of
 * millions of ReLU, comparison and product elements a training step) that was most of the step.
 * Here each op has its own loop, broadcasting runs whole rows of the innermost (collapsed) axis,
 * and the results are the same float64-computed values rounded to float32 as before.
 */
import type { BinaryOp, UnaryOp } from '../backend.js';

/** Strides of `shape` (aligned to `out` rank) with 0 on broadcast axes. */
export function bstrides(shape: readonly number[], out: readonly number[]): number[] {
  const st = new Array<number>(out.length);
  let s = 1;
  for (let i = out.length - 1; i >= 0; i--) {
    st[i] = shape[i] === 1 && out[i] !== 1 ? 0 : s;
    s *= shape[i]!;
  }
  return st;
}

/**
 * Merges adjacent axes of `shape` that every operand walks contiguously (stride[d-1] =
 * stride[d]·shape[d], 0 = 0 for broadcast axes) and drops size-1 axes, so the innermost axis is as
 * long as possible. Returns the collapsed shape and strides (at least one axis).
 */
export function collapse(shape: readonly number[], strides: readonly (readonly number[])[]): { shape: number[]; strides: number[][] } {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    const n = shape[d]!;
    if (n === 1) continue;
    const last = outShape.length - 1;
    if (last >= 0 && strides.every((st, k) => outStrides[k]![last] === st[d]! * n)) {
      outShape[last] = outShape[last]! * n;
      for (let k = 0; k < strides.length; k++) outStrides[k]![last] = strides[k]![d]!;
    } else {
      outShape.push(n);
      for (let k = 0; k < strides.length; k++) outStrides[k]!.push(strides[k]![d]!);
    }
  }
  if (outShape.length === 0) {
    outShape.push(1);
    for (const s of outStrides) s.push(0);
  }
  return { shape: outShape, strides: outStrides };
}

/**
 * Calls row(outOffset, offsets..., ) for every row of the innermost axis of `shape` (collapsed
 * first); `row` gets the output offset (rows are contiguous in the output) and each operand's
 * offset; the innermost length and strides are returned to the caller through `collapse`.
 */
function forEachRow(shape: readonly number[], strides: number[][], row: (o: number, offs: Int32Array | number[]) => void): void {
  const r = shape.length;
  const inner = shape[r - 1]!;
  let rows = 1;
  for (let d = 0; d < r - 1; d++) rows *= shape[d]!;
  const idx = new Array<number>(r).fill(0);
  const offs = strides.map(() => 0);
  for (let i = 0; i < rows; i++) {
    row(i * inner, offs);
    for (let d = r - 2; d >= 0; d--) {
      idx[d]!++;
      for (let k = 0; k < offs.length; k++) offs[k]! += strides[k]![d]!;
      if (idx[d]! < shape[d]!) break;
      for (let k = 0; k < offs.length; k++) offs[k]! -= strides[k]![d]! * shape[d]!;
      idx[d] = 0;
    }
  }
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

export function geluGrad(x: number, dy: number): number {
  const u = SQRT_2_OVER_PI * (x + 0.044715 * x * x * x);
  const t = Math.tanh(u);
  const du = SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x);
  return dy * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du);
}

/** o[i] = op(x[i]) for i < n. */
export function unaryLoop(op: UnaryOp, x: Float32Array, o: Float32Array, n: number): void {
  switch (op) {
    case 'neg': for (let i = 0; i < n; i++) o[i] = -x[i]!; return;
    case 'exp': for (let i = 0; i < n; i++) o[i] = Math.exp(x[i]!); return;
    case 'log': for (let i = 0; i < n; i++) o[i] = Math.log(x[i]!); return;
    case 'sqrt': for (let i = 0; i < n; i++) o[i] = Math.sqrt(x[i]!); return;
    case 'rsqrt': for (let i = 0; i < n; i++) o[i] = 1 / Math.sqrt(x[i]!); return;
    case 'tanh': for (let i = 0; i < n; i++) o[i] = Math.tanh(x[i]!); return;
    case 'softplus':
      for (let i = 0; i < n; i++) { const v = x[i]!; o[i] = Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v))); }
      return;
    case 'gelu':
      for (let i = 0; i < n; i++) { const v = x[i]!; o[i] = 0.5 * v * (1 + Math.tanh(SQRT_2_OVER_PI * (v + 0.044715 * v * v * v))); }
      return;
    case 'relu': for (let i = 0; i < n; i++) { const v = x[i]!; o[i] = v > 0 ? v : 0; } return;
    case 'sigmoid':
      for (let i = 0; i < n; i++) { const v = x[i]!; o[i] = v >= 0 ? 1 / (1 + Math.exp(-v)) : Math.exp(v) / (1 + Math.exp(v)); }
      return;
    case 'abs': for (let i = 0; i < n; i++) o[i] = Math.abs(x[i]!); return;
    case 'square': for (let i = 0; i < n; i++) { const v = x[i]!; o[i] = v * v; } return;
    case 'recip': for (let i = 0; i < n; i++) o[i] = 1 / x[i]!; return;
    case 'sin': for (let i = 0; i < n; i++) o[i] = Math.sin(x[i]!); return;
    case 'cos': for (let i = 0; i < n; i++) o[i] = Math.cos(x[i]!); return;
    case 'isfinite': for (let i = 0; i < n; i++) o[i] = Number.isFinite(x[i]!) ? 1 : 0; return;
    case 'sign': for (let i = 0; i < n; i++) { const v = x[i]!; o[i] = v > 0 ? 1 : v < 0 ? -1 : 0; } return;
  }
}

/**
 * o[oo + i] = op(a[ao + i·sa], b[bo + i·sb]) for i < n (strides 0 broadcast an operand).
 * `max`/`min` propagate a NaN of `a` (as the per-element version did).
 */
export function binaryRow(op: BinaryOp, o: Float32Array, oo: number, a: Float32Array, ao: number, sa: number,
  b: Float32Array, bo: number, sb: number, n: number): void {
  let ia = ao;
  let ib = bo;
  const end = oo + n;
  switch (op) {
    case 'add': for (let i = oo; i < end; i++, ia += sa, ib += sb) o[i] = a[ia]! + b[ib]!; return;
    case 'sub': for (let i = oo; i < end; i++, ia += sa, ib += sb) o[i] = a[ia]! - b[ib]!; return;
    case 'mul': for (let i = oo; i < end; i++, ia += sa, ib += sb) o[i] = a[ia]! * b[ib]!; return;
    case 'div': for (let i = oo; i < end; i++, ia += sa, ib += sb) o[i] = a[ia]! / b[ib]!; return;
    case 'max':
      for (let i = oo; i < end; i++, ia += sa, ib += sb) { const x = a[ia]!, y = b[ib]!; o[i] = x >= y || x !== x ? x : y; }
      return;
    case 'min':
      for (let i = oo; i < end; i++, ia += sa, ib += sb) { const x = a[ia]!, y = b[ib]!; o[i] = x <= y || x !== x ? x : y; }
      return;
    case 'pow': for (let i = oo; i < end; i++, ia += sa, ib += sb) o[i] = Math.pow(a[ia]!, b[ib]!); return;
    case 'gt': for (let i = oo; i < end; i++, ia += sa, ib += sb) o[i] = a[ia]! > b[ib]! ? 1 : 0; return;
    case 'ge': for (let i = oo; i < end; i++, ia += sa, ib += sb) o[i] = a[ia]! >= b[ib]! ? 1 : 0; return;
    case 'lt': for (let i = oo; i < end; i++, ia += sa, ib += sb) o[i] = a[ia]! < b[ib]! ? 1 : 0; return;
    case 'le': for (let i = oo; i < end; i++, ia += sa, ib += sb) o[i] = a[ia]! <= b[ib]! ? 1 : 0; return;
    case 'eq': for (let i = oo; i < end; i++, ia += sa, ib += sb) o[i] = a[ia]! === b[ib]! ? 1 : 0; return;
    case 'ne': for (let i = oo; i < end; i++, ia += sa, ib += sb) o[i] = a[ia]! !== b[ib]! ? 1 : 0; return;
    case 'geluGrad': for (let i = oo; i < end; i++, ia += sa, ib += sb) o[i] = geluGrad(a[ia]!, b[ib]!); return;
  }
}

/** Broadcasting binary op into `o` (length = product of outShape). */
export function binaryBroadcast(op: BinaryOp, o: Float32Array, a: Float32Array, aShape: readonly number[], b: Float32Array,
  bShape: readonly number[], outShape: readonly number[]): void {
  const n = o.length;
  if (n === 0) return;
  if (a.length === n && b.length === n) return binaryRow(op, o, 0, a, 0, 1, b, 0, 1, n);
  if (b.length === 1) return binaryRow(op, o, 0, a, 0, 1, b, 0, 0, n);
  if (a.length === 1) return binaryRow(op, o, 0, a, 0, 0, b, 0, 1, n);
  const c = collapse(outShape, [bstrides(aShape, outShape), bstrides(bShape, outShape)]);
  const r = c.shape.length;
  const inner = c.shape[r - 1]!;
  const sa = c.strides[0]![r - 1]!;
  const sb = c.strides[1]![r - 1]!;
  forEachRow(c.shape, c.strides, (oo, offs) => binaryRow(op, o, oo, a, offs[0]!, sa, b, offs[1]!, sb, inner));
}

/** o = cond ≠ 0 ? a : b with broadcasting. */
export function whereBroadcast(o: Float32Array, cv: Float32Array, cShape: readonly number[], av: Float32Array, aShape: readonly number[],
  bv: Float32Array, bShape: readonly number[], outShape: readonly number[]): void {
  if (o.length === 0) return;
  const c = collapse(outShape, [bstrides(cShape, outShape), bstrides(aShape, outShape), bstrides(bShape, outShape)]);
  const r = c.shape.length;
  const inner = c.shape[r - 1]!;
  const sc = c.strides[0]![r - 1]!;
  const sa = c.strides[1]![r - 1]!;
  const sb = c.strides[2]![r - 1]!;
  forEachRow(c.shape, c.strides, (oo, offs) => {
    let ic = offs[0]!, ia = offs[1]!, ib = offs[2]!;
    const end = oo + inner;
    for (let i = oo; i < end; i++, ic += sc, ia += sa, ib += sb) o[i] = cv[ic] !== 0 ? av[ia]! : bv[ib]!;
  });
}
