/**
 * Differentiable tensor ops on any backend: shapes, broadcasting, validation and gradients live
 * here once. Every op borrows its inputs and returns a new tensor the caller owns. Errors read
 * "op: expected X, got Y".
 */

import type { Backend, BinaryOp, ReduceOp, UnaryOp } from './backend.js';
import { Rng } from './random.js';
import {
  Folded, Tensor, ShapeError, makeValueAndGrad, needsGrad, record, save, shapeSize, tidy,
} from './tensor.js';

// ---------------------------------------------------------------- default backend

let current: Backend | null = null;

/** Sets the backend that creation functions use when none is given. */
export function setBackend(b: Backend): void {
  current = b;
}

export function getBackend(): Backend {
  if (!current) throw new Error('engine: no backend set; call setBackend(await createCpu()) or a webgpu loader first');
  return current;
}

// ---------------------------------------------------------------- creation

export function tensor(data: ArrayLike<number>, shape?: readonly number[], backend: Backend = getBackend()): Tensor {
  const arr = data instanceof Float32Array ? data : Float32Array.from(data);
  const sh = shape ?? [arr.length];
  if (shapeSize(sh) !== arr.length) {
    throw new ShapeError(`tensor: expected ${shapeSize(sh)} values for shape [${sh.join(', ')}], got ${arr.length}`);
  }
  return Tensor.fromStorage(backend, backend.upload(arr), sh);
}

export function scalar(v: number, backend: Backend = getBackend()): Tensor {
  return Tensor.fromStorage(backend, backend.fill(1, v), []);
}

export function full(shape: readonly number[], v: number, backend: Backend = getBackend()): Tensor {
  return Tensor.fromStorage(backend, backend.fill(shapeSize(shape), v), shape);
}

export function zeros(shape: readonly number[], backend: Backend = getBackend()): Tensor {
  return full(shape, 0, backend);
}

export function ones(shape: readonly number[], backend: Backend = getBackend()): Tensor {
  return full(shape, 1, backend);
}

export function zerosLike(t: Tensor): Tensor {
  return full(t.shape, 0, t.backend);
}

export function onesLike(t: Tensor): Tensor {
  return full(t.shape, 1, t.backend);
}

/** Uniform in (0, 1) from the counter-based generator; `rng` advances by the size. */
export function randomUniform(shape: readonly number[], rng: Rng, backend: Backend = getBackend()): Tensor {
  const n = shapeSize(shape);
  const { key, offset } = rng.take(n);
  return Tensor.fromStorage(backend, backend.random('uniform', n, key, offset), shape);
}

/** Standard normal from the counter-based generator; `rng` advances by the size. */
export function randomNormal(shape: readonly number[], rng: Rng, backend: Backend = getBackend()): Tensor {
  const n = shapeSize(shape);
  const { key, offset } = rng.take(n);
  return Tensor.fromStorage(backend, backend.random('normal', n, key, offset), shape);
}

/** A copy of t on another backend (reads back; not for hot paths). */
export async function toBackend(t: Tensor, backend: Backend): Promise<Tensor> {
  return tensor(await t.data(), t.shape, backend);
}

// ---------------------------------------------------------------- helpers

function fmt(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

function sameBackend(op: string, ...ts: Tensor[]): Backend {
  const b = ts[0]!.backend;
  for (const t of ts) {
    t.storage(op);
    if (t.backend !== b) throw new Error(`${op}: expected tensors on one backend, got ${b.kind} and ${t.backend.kind}`);
  }
  return b;
}

function wrap(b: Backend, s: import('./backend.js').Storage, shape: readonly number[]): Tensor {
  return Tensor.fromStorage(b, s, shape);
}

/** Numpy broadcasting of two shapes; throws naming the op. */
export function broadcastShapes(op: string, a: readonly number[], b: readonly number[]): number[] {
  const r = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    const da = a[a.length - r + i] ?? 1;
    const db = b[b.length - r + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new ShapeError(`${op}: shapes ${fmt(a)} and ${fmt(b)} cannot be broadcast together`);
    }
    out.push(da === 1 ? db : da);
  }
  return out;
}

function padShape(shape: readonly number[], rank: number): number[] {
  return [...new Array<number>(rank - shape.length).fill(1), ...shape];
}

type TensorOrNumber = Tensor | number;

function asTensor(x: TensorOrNumber, like: Tensor): Tensor {
  return typeof x === 'number' ? scalar(x, like.backend) : x;
}

function normAxes(op: string, axes: number | readonly number[] | undefined, rank: number): number[] {
  const list = axes === undefined ? [...Array(rank).keys()] : typeof axes === 'number' ? [axes] : [...axes];
  const out = list.map((a) => {
    const ax = a < 0 ? a + rank : a;
    if (!Number.isInteger(ax) || ax < 0 || ax >= rank) throw new ShapeError(`${op}: axis ${a} out of range for rank ${rank}`);
    return ax;
  });
  return [...new Set(out)].sort((x, y) => x - y);
}

// ---------------------------------------------------------------- shape ops

export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  x.storage('reshape');
  const s = [...shape];
  const neg = s.indexOf(-1);
  if (neg >= 0) {
    const rest = s.reduce((p, d, i) => (i === neg ? p : p * d), 1);
    s[neg] = rest === 0 ? 0 : x.size / rest;
  }
  if (shapeSize(s) !== x.size) throw new ShapeError(`reshape: cannot reshape ${fmt(x.shape)} (${x.size} values) to ${fmt(shape)}`);
  const y = x.alias(s);
  if (needsGrad([x])) record([x], [y], ([g]) => [reshape(g!, x.shape)]);
  return y;
}

function contiguousStrides(shape: readonly number[]): number[] {
  const st = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) { st[i] = s; s *= shape[i]!; }
  return st;
}

/** Permutes axes (default: reverse). */
export function transpose(x: Tensor, perm?: readonly number[]): Tensor {
  const b = sameBackend('transpose', x);
  const r = x.rank;
  const p = perm ? [...perm] : [...Array(r).keys()].reverse();
  if (p.length !== r || [...p].sort((a, c) => a - c).some((v, i) => v !== i)) {
    throw new ShapeError(`transpose: expected a permutation of ${r} axes, got [${p.join(', ')}]`);
  }
  const st = contiguousStrides(x.shape);
  const shape = p.map((i) => x.shape[i]!);
  const y = wrap(b, b.strided(x.storage(), shape, p.map((i) => st[i]!), 0), shape);
  if (needsGrad([x])) {
    const inv = new Array<number>(r);
    p.forEach((v, i) => { inv[v] = i; });
    record([x], [y], ([g]) => [transpose(g!, inv)]);
  }
  return y;
}

/** Swaps the last two axes. */
export function mT(x: Tensor): Tensor {
  if (x.rank < 2) throw new ShapeError(`mT: expected rank >= 2, got ${fmt(x.shape)}`);
  const p = [...Array(x.rank).keys()];
  [p[x.rank - 2], p[x.rank - 1]] = [p[x.rank - 1]!, p[x.rank - 2]!];
  return transpose(x, p);
}

/** Slice of `sizes` starting at `starts` (size −1 = to the end). */
export function slice(x: Tensor, starts: readonly number[], sizes: readonly number[]): Tensor {
  const b = sameBackend('slice', x);
  if (starts.length !== x.rank || sizes.length !== x.rank) {
    throw new ShapeError(`slice: expected ${x.rank} starts and sizes for shape ${fmt(x.shape)}, got ${starts.length} and ${sizes.length}`);
  }
  const shape = sizes.map((s, i) => (s < 0 ? x.shape[i]! - starts[i]! : s));
  shape.forEach((s, i) => {
    if (starts[i]! < 0 || starts[i]! + s > x.shape[i]!) {
      throw new ShapeError(`slice: range [${starts[i]}, ${starts[i]! + s}) out of bounds for axis ${i} of ${fmt(x.shape)}`);
    }
  });
  const st = contiguousStrides(x.shape);
  const offset = starts.reduce((o, s, i) => o + s * st[i]!, 0);
  const y = wrap(b, b.strided(x.storage(), shape, st, offset), shape);
  if (needsGrad([x])) {
    record([x], [y], ([g]) => {
      const z = zeros(x.shape, b);
      b.stridedWrite(z.storage(), g!.storage(), shape, st, offset);
      return [z];
    });
  }
  return y;
}

/** Concatenates along an axis. */
export function concat(xs: readonly Tensor[], axis: number): Tensor {
  if (xs.length === 0) throw new ShapeError('concat: expected at least one tensor, got none');
  const b = sameBackend('concat', ...xs);
  const r = xs[0]!.rank;
  const ax = axis < 0 ? axis + r : axis;
  for (const t of xs) {
    if (t.rank !== r || t.shape.some((d, i) => i !== ax && d !== xs[0]!.shape[i])) {
      throw new ShapeError(`concat: shapes ${xs.map((t) => fmt(t.shape)).join(', ')} differ outside axis ${axis}`);
    }
  }
  const shape = [...xs[0]!.shape];
  shape[ax] = xs.reduce((s, t) => s + t.shape[ax]!, 0);
  const out = b.alloc(shapeSize(shape));
  const st = contiguousStrides(shape);
  let off = 0;
  const offsets: number[] = [];
  for (const t of xs) {
    offsets.push(off);
    if (t.size > 0) b.stridedWrite(out, t.storage(), t.shape, st, off * st[ax]!);
    off += t.shape[ax]!;
  }
  const y = wrap(b, out, shape);
  if (needsGrad(xs)) {
    record(xs, [y], ([g]) => xs.map((t, i) => {
      const starts = new Array<number>(r).fill(0);
      starts[ax] = offsets[i]!;
      return slice(g!, starts, t.shape);
    }));
  }
  return y;
}

/** Stacks tensors of equal shape along a new axis. */
export function stack(xs: readonly Tensor[], axis = 0): Tensor {
  return tidy(() => concat(xs.map((t) => {
    const s = [...t.shape];
    s.splice(axis < 0 ? axis + t.rank + 1 : axis, 0, 1);
    return reshape(t, s);
  }), axis));
}

/** Broadcasts to a shape (a copy). */
export function broadcastTo(x: Tensor, shape: readonly number[]): Tensor {
  const b = sameBackend('broadcastTo', x);
  const out = broadcastShapes('broadcastTo', x.shape, shape);
  if (out.some((d, i) => d !== shape[i])) throw new ShapeError(`broadcastTo: cannot broadcast ${fmt(x.shape)} to ${fmt(shape)}`);
  const xs = padShape(x.shape, shape.length);
  const st = contiguousStrides(xs).map((s, i) => (xs[i] === 1 ? 0 : s));
  const y = wrap(b, b.strided(x.storage(), shape, st, 0), shape);
  if (needsGrad([x])) record([x], [y], ([g]) => [sumTo(g!, x.shape)]);
  return y;
}

/** Sums a broadcast gradient back to `shape`. */
export function sumTo(g: Tensor, shape: readonly number[]): Tensor {
  if (g.shape.length === shape.length && g.shape.every((d, i) => d === shape[i])) return g.alias(g.shape);
  const r = g.rank;
  const ps = padShape(shape, r);
  const axes: number[] = [];
  for (let i = 0; i < r; i++) if (ps[i] === 1 && g.shape[i] !== 1) axes.push(i);
  return tidy(() => reshape(axes.length ? sum(g, axes, true) : g, shape));
}

/** Rows of a [V, D] table at integer indices (float-coded), result [...idx.shape, D]. */
export function gather(table: Tensor, idx: Tensor): Tensor {
  const b = sameBackend('gather', table, idx);
  if (table.rank !== 2) throw new ShapeError(`gather: expected a [V, D] table, got ${fmt(table.shape)}`);
  const [V, D] = table.shape as [number, number];
  const y = wrap(b, b.gather(table.storage(), V, D, idx.storage(), idx.size), [...idx.shape, D]);
  if (needsGrad([table])) {
    const si = save(idx);
    record([table, null], [y], ([g]) => [wrap(b, b.scatterAdd(g!.storage(), si.storage(), si.size, V, D), [V, D]), null]);
  }
  return y;
}

// ---------------------------------------------------------------- elementwise

function unaryRaw(op: UnaryOp, x: Tensor): Tensor {
  const b = sameBackend(op, x);
  return wrap(b, b.unary(op, x.storage()), x.shape);
}

function binaryRaw(op: BinaryOp, a: Tensor, c: Tensor): Tensor {
  const b = sameBackend(op, a, c);
  const shape = broadcastShapes(op, a.shape, c.shape);
  const r = shape.length;
  return wrap(b, b.binary(op, a.storage(), padShape(a.shape, r), c.storage(), padShape(c.shape, r), shape), shape);
}

function unary(op: UnaryOp, x: Tensor, grad?: (g: Tensor, x: Tensor, y: Tensor) => Tensor): Tensor {
  const y = unaryRaw(op, x);
  if (grad && needsGrad([x])) {
    const sx = save(x);
    const sy = save(y);
    record([x], [y], ([g]) => [grad(g!, sx, sy)]);
  }
  return y;
}

export const neg = (x: Tensor) => unary('neg', x, (g) => unaryRaw('neg', g));
export const exp = (x: Tensor) => unary('exp', x, (g, _x, y) => binaryRaw('mul', g, y));
export const log = (x: Tensor) => unary('log', x, (g, x) => binaryRaw('div', g, x));
export const sqrt = (x: Tensor) => unary('sqrt', x, (g, _x, y) => tidy(() => binaryRaw('div', binaryRaw('mul', g, scalar(0.5, x.backend)), y)));
export const rsqrt = (x: Tensor) => unary('rsqrt', x, (g, x, y) => tidy(() => binaryRaw('mul', g, binaryRaw('div', binaryRaw('mul', y, scalar(-0.5, x.backend)), x))));
export const tanh = (x: Tensor) => unary('tanh', x, (g, _x, y) => tidy(() => binaryRaw('mul', g, binaryRaw('sub', scalar(1, x.backend), binaryRaw('mul', y, y)))));
export const sigmoid = (x: Tensor) => unary('sigmoid', x, (g, _x, y) => tidy(() => binaryRaw('mul', g, binaryRaw('mul', y, binaryRaw('sub', scalar(1, x.backend), y)))));
export const softplus = (x: Tensor) => unary('softplus', x, (g, x) => tidy(() => binaryRaw('mul', g, unaryRaw('sigmoid', x))));
export const gelu = (x: Tensor) => unary('gelu', x, (g, x) => binaryRaw('geluGrad', x, g));
export const relu = (x: Tensor) => unary('relu', x, (g, x) => tidy(() => binaryRaw('mul', g, binaryRaw('gt', x, scalar(0, x.backend)))));
export const abs = (x: Tensor) => unary('abs', x, (g, x) => tidy(() => binaryRaw('mul', g, unaryRaw('sign', x))));
export const square = (x: Tensor) => unary('square', x, (g, x) => tidy(() => binaryRaw('mul', g, binaryRaw('mul', x, scalar(2, x.backend)))));
export const recip = (x: Tensor) => unary('recip', x, (g, _x, y) => tidy(() => binaryRaw('mul', g, unaryRaw('neg', binaryRaw('mul', y, y)))));
export const sin = (x: Tensor) => unary('sin', x, (g, x) => tidy(() => binaryRaw('mul', g, unaryRaw('cos', x))));
export const cos = (x: Tensor) => unary('cos', x, (g, x) => tidy(() => binaryRaw('mul', g, unaryRaw('neg', unaryRaw('sin', x)))));
/** 1 where finite, 0 where NaN or ±∞ (no gradient). */
export const isfinite = (x: Tensor) => unary('isfinite', x);
export const sign = (x: Tensor) => unary('sign', x);

function binary(op: BinaryOp, a0: TensorOrNumber, c0: TensorOrNumber,
  grad?: (g: Tensor, a: Tensor, c: Tensor, y: Tensor) => [Tensor | null, Tensor | null]): Tensor {
  const like = a0 instanceof Tensor ? a0 : (c0 as Tensor);
  if (!(like instanceof Tensor)) throw new Error(`${op}: expected at least one tensor argument`);
  return tidy(() => {
    const a = asTensor(a0, like);
    const c = asTensor(c0, like);
    const y = binaryRaw(op, a, c);
    if (grad && needsGrad([a, c])) {
      const sa = save(a);
      const sc = save(c);
      const sy = save(y);
      record([a, c], [y], ([g]) => {
        const [ga, gc] = grad(g!, sa, sc, sy);
        return [ga && sumTo(ga, sa.shape), gc && sumTo(gc, sc.shape)];
      });
    }
    return y;
  });
}

export const add = (a: TensorOrNumber, b: TensorOrNumber) => binary('add', a, b, (g) => [g, g]);
export const sub = (a: TensorOrNumber, b: TensorOrNumber) => binary('sub', a, b, (g) => [g, unaryRaw('neg', g)]);
export const mul = (a: TensorOrNumber, b: TensorOrNumber) => binary('mul', a, b, (g, a, c) => [binaryRaw('mul', g, c), binaryRaw('mul', g, a)]);
export const div = (a: TensorOrNumber, b: TensorOrNumber) => binary('div', a, b, (g, _a, c, y) =>
  [binaryRaw('div', g, c), unaryRaw('neg', binaryRaw('div', binaryRaw('mul', g, y), c))]);
export const pow = (a: TensorOrNumber, b: TensorOrNumber) => binary('pow', a, b, (g, a, c, y) => [
  binaryRaw('mul', g, binaryRaw('mul', c, binaryRaw('pow', a, binaryRaw('sub', c, scalar(1, a.backend))))),
  binaryRaw('mul', g, binaryRaw('mul', y, unaryRaw('log', a))),
]);
/** Elementwise maximum; the gradient goes to the larger input (to `a` on ties). */
export const maximum = (a: TensorOrNumber, b: TensorOrNumber) => binary('max', a, b, (g, a, c) => {
  const m = binaryRaw('ge', a, c);
  return [binaryRaw('mul', g, m), binaryRaw('mul', g, binaryRaw('sub', scalar(1, a.backend), m))];
});
export const minimum = (a: TensorOrNumber, b: TensorOrNumber) => binary('min', a, b, (g, a, c) => {
  const m = binaryRaw('le', a, c);
  return [binaryRaw('mul', g, m), binaryRaw('mul', g, binaryRaw('sub', scalar(1, a.backend), m))];
});
export const gt = (a: TensorOrNumber, b: TensorOrNumber) => binary('gt', a, b);
export const ge = (a: TensorOrNumber, b: TensorOrNumber) => binary('ge', a, b);
export const lt = (a: TensorOrNumber, b: TensorOrNumber) => binary('lt', a, b);
export const le = (a: TensorOrNumber, b: TensorOrNumber) => binary('le', a, b);
export const eq = (a: TensorOrNumber, b: TensorOrNumber) => binary('eq', a, b);
export const ne = (a: TensorOrNumber, b: TensorOrNumber) => binary('ne', a, b);

/** out = cond != 0 ? a : b, with broadcasting. No gradient flows to cond. */
export function where(cond: Tensor, a0: TensorOrNumber, c0: TensorOrNumber): Tensor {
  return tidy(() => {
    const a = asTensor(a0, cond);
    const c = asTensor(c0, cond);
    const b = sameBackend('where', cond, a, c);
    const shape = broadcastShapes('where', broadcastShapes('where', cond.shape, a.shape), c.shape);
    const r = shape.length;
    const y = wrap(b, b.where(cond.storage(), padShape(cond.shape, r), a.storage(), padShape(a.shape, r),
      c.storage(), padShape(c.shape, r), shape), shape);
    if (needsGrad([a, c])) {
      const sc = save(cond);
      const ash = a.shape;
      const csh = c.shape;
      record([null, a, c], [y], ([g]) => {
        const z = scalar(0, b);
        return [null, sumTo(where(sc, g!, z), ash), sumTo(where(sc, z, g!), csh)];
      });
    }
    return y;
  });
}

// ---------------------------------------------------------------- reductions

function reduceRaw(op: ReduceOp, x: Tensor, axes: number[]): { y: Tensor; keptShape: number[] } {
  const b = sameBackend(op, x);
  // Reduce one maximal run of adjacent axes at a time, from the last.
  let cur = x.alias(x.shape);
  let shape = [...x.shape];
  const runs: [number, number][] = [];
  for (const a of axes) {
    const last = runs[runs.length - 1];
    if (last && last[1] === a) last[1] = a + 1;
    else runs.push([a, a + 1]);
  }
  for (let i = runs.length - 1; i >= 0; i--) {
    const [s, e] = runs[i]!;
    const outer = shape.slice(0, s).reduce((p, d) => p * d, 1);
    const r = shape.slice(s, e).reduce((p, d) => p * d, 1);
    const inner = shape.slice(e).reduce((p, d) => p * d, 1);
    if (r === 0 && op !== 'sum') throw new ShapeError(`${op}: cannot reduce an empty axis of ${fmt(x.shape)}`);
    const st = b.reduce(op, cur.storage(), outer, r, inner);
    const next = [...shape.slice(0, s), ...new Array<number>(e - s).fill(1), ...shape.slice(e)];
    cur.dispose();
    cur = wrap(b, st, next);
    shape = next;
  }
  return { y: cur, keptShape: shape };
}

function dropAxes(shape: readonly number[], axes: number[]): number[] {
  return shape.filter((_, i) => !axes.includes(i));
}

export function sum(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  const ax = normAxes('sum', axes, x.rank);
  const { y, keptShape } = reduceRaw('sum', x, ax);
  const out = keepDims ? y : reshapeRaw(y, dropAxes(x.shape, ax));
  if (needsGrad([x])) record([x], [out], ([g]) => [broadcastTo(reshapeRaw(g!, keptShape, false), x.shape)]);
  return out;
}

export function mean(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  const ax = normAxes('mean', axes, x.rank);
  const n = ax.reduce((p, a) => p * x.shape[a]!, 1);
  return tidy(() => div(sum(x, ax, keepDims), n));
}

/** Maximum over axes; the gradient is shared equally among tied maxima. */
export function max(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  const ax = normAxes('max', axes, x.rank);
  const { y, keptShape } = reduceRaw('max', x, ax);
  const out = keepDims ? y : reshapeRaw(y, dropAxes(x.shape, ax));
  if (needsGrad([x])) {
    const sx = save(x);
    const sy = save(out);
    record([x], [out], ([g]) => {
      const yk = reshapeRaw(sy, keptShape, false);
      const m = binaryRaw('eq', sx, yk);
      const cnt = reduceRaw('sum', m, ax).y;
      return [binaryRaw('mul', m, binaryRaw('div', reshapeRaw(g!, keptShape, false), cnt))];
    });
  }
  return out;
}

export function min(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  return tidy(() => neg(max(neg(x), axes, keepDims)));
}

/** Alias with a new shape; consumes `t` when `consume` (no gradient recorded). */
function reshapeRaw(t: Tensor, shape: readonly number[], consume = true): Tensor {
  const y = t.alias(shape);
  if (consume) t.dispose();
  return y;
}

// ---------------------------------------------------------------- linear algebra

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
}

/**
 * Batched matrix product op(a) · op(b) over the last two axes, broadcasting leading axes.
 * a: [..., m, k] (or [..., k, m] with transA), b: [..., k, n] (or [..., n, k] with transB).
 */
export function matmul(a: Tensor, c: Tensor, opts: MatmulOptions = {}): Tensor {
  const b = sameBackend('matmul', a, c);
  const { transA = false, transB = false } = opts;
  if (a.rank < 2 || c.rank < 2) throw new ShapeError(`matmul: expected rank >= 2 operands, got ${fmt(a.shape)} and ${fmt(c.shape)}`);
  const m = a.shape[a.rank - (transA ? 1 : 2)]!;
  const k = a.shape[a.rank - (transA ? 2 : 1)]!;
  const k2 = c.shape[c.rank - (transB ? 1 : 2)]!;
  const n = c.shape[c.rank - (transB ? 2 : 1)]!;
  if (k !== k2) {
    throw new ShapeError(`matmul: inner dimensions differ: ${fmt(a.shape)}${transA ? 'ᵀ' : ''} · ${fmt(c.shape)}${transB ? 'ᵀ' : ''} (${k} vs ${k2})`);
  }
  const ba = a.shape.slice(0, -2);
  const bc = c.shape.slice(0, -2);
  const batchShape = broadcastShapes('matmul', ba, bc);
  const batch = shapeSize(batchShape);
  const outShape = [...batchShape, m, n];
  const y = tidy(() => {
    // Operands whose batch dims are neither full nor all-1 are expanded first.
    const prep = (t: Tensor, tb: number[]): [Tensor, number] => {
      const sz = shapeSize(tb);
      if (sz === batch) return [t.alias(t.shape), t.shape[t.rank - 1]! * t.shape[t.rank - 2]!];
      if (sz === 1) return [t.alias(t.shape), 0];
      const e = broadcastTo(t, [...batchShape, ...t.shape.slice(-2)]);
      return [e, t.shape[t.rank - 1]! * t.shape[t.rank - 2]!];
    };
    const [ea, sa] = prep(a, ba);
    const [ec, sc] = prep(c, bc);
    return wrap(b, b.matmul(ea.storage(), ec.storage(), { batch, m, k, n, transA, transB, strideA: sa, strideB: sc }), outShape);
  });
  if (needsGrad([a, c])) {
    const sa = save(a);
    const sc = save(c);
    record([a, c], [y], ([g]) => {
      // dA = g · op(B)ᵀ (arranged to A's storage layout), dB = op(A)ᵀ · g.
      const ga = transA ? matmul(sc, g!, { transA: transB, transB: true }) : matmul(g!, sc, { transB: !transB });
      const gc = transB ? matmul(g!, sa, { transA: true, transB: transA }) : matmul(sa, g!, { transA: !transA });
      return [sumTo(ga, sa.shape), sumTo(gc, sc.shape)];
    });
  }
  return y;
}

/** Fused extras of `linear`. */
export interface LinearOptions {
  /** [m, n] added to the output: a residual connection (its gradient is the output's). */
  residual?: Tensor;
  /** Activation of x·w + b, fused where the backend can (`matmulGelu`); not with a residual. */
  act?: 'gelu';
}

/**
 * A dense layer's product over the last axis: x [..., k] · w [k, n] + b [n] → [..., n] in one
 * kernel (the bias is added in the matmul's epilogue; the leading axes are rows), plus `residual`
 * [..., n], or through `act`. Gradients: dz = g (or g·gelu'(z) with z = x·w + b), dx = dz·wᵀ,
 * dw = xᵀ·dz, db = Σ_rows dz, d residual = g. No reshape op stands between x and the product, so
 * when x already has a gradient (a residual stream) the backward adds dx to it in the product's
 * epilogue (tensor.ts Folded).
 */
export function linear(x: Tensor, w: Tensor, bias: Tensor, opts: LinearOptions = {}): Tensor {
  const b = sameBackend('linear', x, w, bias);
  if (x.rank < 1 || w.rank !== 2 || bias.rank !== 1 || x.shape[x.rank - 1] !== w.shape[0] || bias.shape[0] !== w.shape[1]) {
    throw new ShapeError(`linear: expected x [..., k], w [k, n], b [n], got ${fmt(x.shape)}, ${fmt(w.shape)}, ${fmt(bias.shape)}`);
  }
  const k = w.shape[0]!;
  const n = w.shape[1]!;
  const m = k === 0 ? shapeSize(x.shape.slice(0, -1)) : x.size / k;
  const outShape = [...x.shape.slice(0, -1), n];
  const res = opts.residual;
  if (res !== undefined) {
    sameBackend('linear', x, res);
    if (res.rank !== outShape.length || res.shape.some((d, i) => d !== outShape[i])) {
      throw new ShapeError(`linear: expected a residual ${fmt(outShape)}, got ${fmt(res.shape)}`);
    }
    if (opts.act !== undefined) throw new Error(`linear: expected a residual or an activation, got both (${opts.act})`);
  }
  const args = { batch: 1, m, k, n, transA: false, transB: false, strideA: 0, strideB: 0, bias: bias.storage(),
    residual: res?.storage() ?? null };
  let y: Tensor;
  let z: Tensor | null = null;
  if (opts.act === 'gelu') {
    if (b.matmulGelu) {
      const r = b.matmulGelu(x.storage(), w.storage(), args);
      z = wrap(b, r.z, outShape);
      y = wrap(b, r.y, outShape);
    } else {
      z = wrap(b, b.matmul(x.storage(), w.storage(), args), outShape);
      y = wrap(b, b.unary('gelu', z.storage()), outShape);
    }
  } else {
    y = wrap(b, b.matmul(x.storage(), w.storage(), args), outShape);
  }
  if (needsGrad([x, w, bias, res])) {
    const sx = save(x);
    const sw = save(w);
    const sz = z && save(z);
    record([x, w, bias, res], [y], ([g0], [accX]) => tidy(() => {
      const g = sz ? binaryRaw('geluGrad', sz, g0!) : g0!;
      const dres = res ? g0!.alias(g0!.shape) : null;
      // dx = g·wᵀ, plus the gradient x has collected so far when there is one (the sum taken in the
      // product's epilogue instead of a separate add).
      const dxRaw = wrap(b, b.matmul(g.storage(), sw.storage(), { batch: 1, m, k: n, n: k, transA: false, transB: true, strideA: 0,
        strideB: 0, residual: accX?.storage() ?? null }), sx.shape);
      const dx = accX ? new Folded(dxRaw) : dxRaw;
      if (!b.matmulColSums) {
        const x2 = reshape(sx, [m, k]);
        const g2 = reshape(g, [m, n]);
        return [dx, matmul(x2, g2, { transA: true }), sum(g2, 0), dres];
      }
      // xᵀ·g and Σ_rows g in one pass over g (the sums ride along the product's loads of g).
      const r = b.matmulColSums(sx.storage(), g.storage(), { batch: 1, m: k, k: m, n, transA: true, transB: false, strideA: 0, strideB: 0 });
      return [dx, wrap(b, r.c, [k, n]), wrap(b, r.sums, [n]), dres];
    }));
  }
  z?.dispose();
  return y;
}

// ---------------------------------------------------------------- fused rows

/** Layer norm over the last axis with scale and offset (eps 1e-6 by default, model.md §2). */
export function layerNorm(x: Tensor, gamma: Tensor, beta: Tensor, eps = 1e-6): Tensor {
  const b = sameBackend('layerNorm', x, gamma, beta);
  const cols = x.shape[x.rank - 1] ?? 1;
  if (gamma.size !== cols || beta.size !== cols) {
    throw new ShapeError(`layerNorm: expected scale and offset of size ${cols} for input ${fmt(x.shape)}, got ${fmt(gamma.shape)} and ${fmt(beta.shape)}`);
  }
  const rows = cols === 0 ? 0 : x.size / cols;
  const r = b.layerNorm(x.storage(), gamma.storage(), beta.storage(), rows, cols, eps);
  const y = wrap(b, r.y, x.shape);
  const mu = wrap(b, r.mean, [rows]);
  const rstd = wrap(b, r.rstd, [rows]);
  if (needsGrad([x, gamma, beta])) {
    const sx = save(x);
    const sg = save(gamma);
    const sm = save(mu);
    const sr = save(rstd);
    record([x, gamma, beta], [y], ([g], [accX]) => {
      // dx plus the gradient x has collected so far (a residual stream's), in the same kernel.
      const d = b.layerNormBackward(g!.storage(), sx.storage(), sg.storage(), sm.storage(), sr.storage(), rows, cols,
        accX?.storage() ?? null);
      const dx = wrap(b, d.dx, sx.shape);
      return [accX ? new Folded(dx) : dx, wrap(b, d.dgamma, sg.shape), wrap(b, d.dbeta, sg.shape)];
    });
  }
  mu.dispose();
  rstd.dispose();
  return y;
}

function lastAxisRows(x: Tensor): [number, number] {
  const cols = x.shape[x.rank - 1] ?? 1;
  return [cols === 0 ? 0 : x.size / cols, cols];
}

/** Softmax over the last axis. */
export function softmax(x: Tensor): Tensor {
  const b = sameBackend('softmax', x);
  const [rows, cols] = lastAxisRows(x);
  const y = wrap(b, b.softmax(x.storage(), rows, cols), x.shape);
  if (needsGrad([x])) {
    const sy = save(y);
    record([x], [y], ([g]) => [mul(sy, sub(g!, sum(mul(g!, sy), -1, true)))]);
  }
  return y;
}

/** Log-softmax over the last axis. */
export function logSoftmax(x: Tensor): Tensor {
  const b = sameBackend('logSoftmax', x);
  const [rows, cols] = lastAxisRows(x);
  const y = wrap(b, b.logSoftmax(x.storage(), rows, cols), x.shape);
  if (needsGrad([x])) {
    const sy = save(y);
    record([x], [y], ([g]) => [sub(g!, mul(exp(sy), sum(g!, -1, true)))]);
  }
  return y;
}

// ---------------------------------------------------------------- losses

function maskedMean(op: string, values: Tensor, mask?: Tensor): Tensor {
  if (!mask) return mean(values);
  if (mask.rank > values.rank || mask.shape.some((d, i) => d !== values.shape[i])) {
    throw new ShapeError(`${op}: expected a mask of shape ${fmt(values.shape.slice(0, mask.rank))}, got ${fmt(mask.shape)}`);
  }
  const m = reshape(mask, [...mask.shape, ...new Array<number>(values.rank - mask.rank).fill(1)]);
  const perEntry = values.shape.slice(mask.rank).reduce((p, d) => p * d, 1);
  const total = sum(mul(values, m));
  return div(total, maximum(mul(sum(m), perEntry), 1));
}

/**
 * Mean Gaussian negative log-likelihood, log σ + ½ log 2π + (f − μ)²/(2σ²), over all entries
 * (model.md §6); `mask` [leading dims] restricts it to valid entries.
 */
export function gaussianNll(f: Tensor, mu: Tensor, sigma: Tensor, mask?: Tensor): Tensor {
  if (f.shape.join() !== mu.shape.join() || f.shape.join() !== sigma.shape.join()) {
    throw new ShapeError(`gaussianNll: expected f, mean and std of one shape, got ${fmt(f.shape)}, ${fmt(mu.shape)}, ${fmt(sigma.shape)}`);
  }
  return tidy(() => {
    const z = div(sub(f, mu), sigma);
    const nll = add(add(log(sigma), 0.5 * Math.log(2 * Math.PI)), mul(square(z), 0.5));
    return maskedMean('gaussianNll', nll, mask);
  });
}

/** Mean softmax cross-entropy of logits [..., C] against one-hot (or soft) labels [..., C]. */
export function crossEntropy(logits: Tensor, labels: Tensor, mask?: Tensor): Tensor {
  if (logits.shape.join() !== labels.shape.join()) {
    throw new ShapeError(`crossEntropy: expected logits and labels of one shape, got ${fmt(logits.shape)} and ${fmt(labels.shape)}`);
  }
  return tidy(() => {
    const per = neg(sum(mul(labels, logSoftmax(logits)), -1));
    return maskedMean('crossEntropy', per, mask);
  });
}

// ---------------------------------------------------------------- autodiff entry

/**
 * valueAndGrad(f)(params) → { value, grads }: f's scalar value and its gradient with respect to
 * each param, with every intermediate freed. See tensor.ts.
 */
export const valueAndGrad = makeValueAndGrad({ add: (a, b) => add(a, b), zerosLike, onesLike });

export { Tensor, tidy, ShapeError };
