/**
 * Stationary covariance kernels of the GP tasks (experiments.md §2, §5), evaluated in float64.
 * Locations are flat row-major arrays [n, D]. A `KernelSpec` is plain data (kind + hyper-parameters),
 * so a batch can carry the true hyper-parameters for the exact-posterior oracle.
 */
import { type WasmColumns, rbfColumns2d } from './cholesky.js';

export type KernelKind = 'rbf' | 'matern32' | 'matern52' | 'periodic' | 'exponential' | 'great-circle-exponential';

/** The stationary families of one Euclidean distance: RBF and Matérn 1/2 (= exponential), 3/2, 5/2. */
export const SEPARABLE_FAMILIES = ['rbf', 'exponential', 'matern32', 'matern52'] as const;
export type SeparableFamily = (typeof SEPARABLE_FAMILIES)[number];

/**
 * A kernel with its hyper-parameters.
 * * `rbf`: σ² exp(−‖u−v‖² / (2ℓ²))
 * * `matern32`: σ² (1 + √3 d/ℓ) exp(−√3 d/ℓ), d = ‖u−v‖
 * * `matern52`: σ² (1 + √5 d/ℓ + 5d²/(3ℓ²)) exp(−√5 d/ℓ)
 * * `periodic`: σ² exp(−2 sin²(π d / p) / ℓ²) (exp-sine-squared; `period` p, default 1)
 * * `exponential`: σ² exp(−d/ℓ)
 * * `great-circle-exponential`: σ² exp(−d_gc/ℓ), u = (lon°, lat°), d_gc in degrees (model.md §5.1)
 *
 * With `time` set the kernel is separable in space and time: the LAST coordinate of every location
 * is time and k(u, v) = k_s(‖Δs‖) · k_t(|Δt|), k_s the kernel above on the other D − 1 coordinates
 * (with σ²) and k_t the `time` family with unit variance (the gp-mixture task).
 */
export interface KernelSpec {
  kind: KernelKind;
  variance: number;
  lengthscale: number;
  period?: number;
  time?: { kind: SeparableFamily; lengthscale: number };
}

const DEG = Math.PI / 180;

/** Great-circle distance in degrees between (lon°, lat°) points (model.md §5.1, atan2 form). */
export function greatCircleDegrees(lon1: number, lat1: number, lon2: number, lat2: number): number {
  const p1 = lat1 * DEG, p2 = lat2 * DEG;
  const dl = Math.abs(lon1 - lon2) * DEG;
  const cp1 = Math.cos(p1), sp1 = Math.sin(p1), cp2 = Math.cos(p2), sp2 = Math.sin(p2);
  const cdl = Math.cos(dl);
  const x = cp2 * Math.sin(dl);
  const y = cp1 * sp2 - sp1 * cp2 * cdl;
  return Math.atan2(Math.sqrt(x * x + y * y), sp1 * sp2 + cp1 * cp2 * cdl) / DEG;
}

/** Covariance as a function of the Euclidean distance d (or d_gc for the great-circle kernel). */
export function kernelOfDistance(spec: KernelSpec, d: number): number {
  const { variance: v, lengthscale: l } = spec;
  switch (spec.kind) {
    case 'rbf': return v * Math.exp(-(d * d) / (2 * l * l));
    case 'matern32': {
      const r = (Math.sqrt(3) * d) / l;
      return v * (1 + r) * Math.exp(-r);
    }
    case 'matern52': {
      const r = (Math.sqrt(5) * d) / l;
      return v * (1 + r + (r * r) / 3) * Math.exp(-r);
    }
    case 'periodic': {
      const s = Math.sin((Math.PI * d) / (spec.period ?? 1));
      return v * Math.exp((-2 * s * s) / (l * l));
    }
    case 'exponential':
    case 'great-circle-exponential':
      return v * Math.exp(-d / l);
  }
}

function distance(spec: KernelSpec, a: ArrayLike<number>, i: number, b: ArrayLike<number>, j: number, dim: number): number {
  if (spec.kind === 'great-circle-exponential') {
    return greatCircleDegrees(a[i * dim]!, a[i * dim + 1]!, b[j * dim]!, b[j * dim + 1]!);
  }
  let s = 0;
  for (let c = 0; c < dim; c++) {
    const t = a[i * dim + c]! - b[j * dim + c]!;
    s += t * t;
  }
  return Math.sqrt(s);
}

/** k(d) for one family with σ² = `v` and ℓ = `l`, as a closure without per-call allocation. */
function radial(kind: KernelKind, v: number, l: number, period?: number): (d: number) => number {
  const spec: KernelSpec = { kind, variance: v, lengthscale: l };
  if (period !== undefined) spec.period = period;
  switch (kind) {
    case 'rbf': { const c = -1 / (2 * l * l); return (d) => v * Math.exp(c * d * d); }
    case 'exponential': return (d) => v * Math.exp(-d / l);
    case 'matern32': { const c = Math.sqrt(3) / l; return (d) => { const r = c * d; return v * (1 + r) * Math.exp(-r); }; }
    case 'matern52': { const c = Math.sqrt(5) / l; return (d) => { const r = c * d; return v * (1 + r + (r * r) / 3) * Math.exp(-r); }; }
    default: return (d) => kernelOfDistance(spec, d);
  }
}

/** k(a_i, b_j) for any spec, as a closure (the general path; RBF without `time` has faster loops below). */
function pairFunction(spec: KernelSpec, dim: number): (a: ArrayLike<number>, i: number, b: ArrayLike<number>, j: number) => number {
  if (spec.time === undefined) {
    const k = radial(spec.kind, spec.variance, spec.lengthscale, spec.period);
    return (a, i, b, j) => k(distance(spec, a, i, b, j, dim));
  }
  const ks = radial(spec.kind, spec.variance, spec.lengthscale);
  const kt = radial(spec.time.kind, 1, spec.time.lengthscale);
  const sd = dim - 1;
  return (a, i, b, j) => {
    let s = 0;
    for (let c = 0; c < sd; c++) {
      const t = a[i * dim + c]! - b[j * dim + c]!;
      s += t * t;
    }
    return ks(Math.sqrt(s)) * kt(Math.abs(a[i * dim + sd]! - b[j * dim + sd]!));
  };
}

function checkDims(spec: KernelSpec, dim: number): void {
  if (spec.time !== undefined && (dim < 2 || spec.kind === 'great-circle-exponential' || spec.kind === 'periodic')) {
    throw new RangeError(`kernel: a space-time kernel needs D ≥ 2 (space, then time) and a Euclidean family, got D = ${dim}, '${spec.kind}'`);
  }
  if (spec.kind === 'great-circle-exponential' && dim !== 2) {
    throw new RangeError(`kernel: great-circle kernel expects (lon, lat) locations with D = 2, got D = ${dim}`);
  }
}

/**
 * Cross-covariance K[i][j] = k(a_i, b_j).
 * **Arguments**: `a` [na, D], `b` [nb, D] flat row-major, `dim` = D. **Returns** [na, nb] row-major.
 */
export function kernelMatrix(spec: KernelSpec, a: ArrayLike<number>, na: number, b: ArrayLike<number>, nb: number,
  dim: number): Float64Array {
  checkDims(spec, dim);
  const out = new Float64Array(na * nb);
  if (spec.kind === 'rbf' && spec.time === undefined) {
    // Fast path for the training task: no sqrt.
    const c = -1 / (2 * spec.lengthscale * spec.lengthscale);
    for (let i = 0; i < na; i++) {
      for (let j = 0; j < nb; j++) {
        let s = 0;
        for (let d = 0; d < dim; d++) {
          const t = a[i * dim + d]! - b[j * dim + d]!;
          s += t * t;
        }
        out[i * nb + j] = spec.variance * Math.exp(c * s);
      }
    }
    return out;
  }
  const pair = pairFunction(spec, dim);
  for (let i = 0; i < na; i++) {
    for (let j = 0; j < nb; j++) out[i * nb + j] = pair(a, i, b, j);
  }
  return out;
}

/** Symmetric K(a, a) [n, n], computing each pair once. */
export function kernelMatrixSymmetric(spec: KernelSpec, a: ArrayLike<number>, n: number, dim: number): Float64Array {
  checkDims(spec, dim);
  const out = new Float64Array(n * n);
  const rbfC = -1 / (2 * spec.lengthscale * spec.lengthscale);
  const pair = pairFunction(spec, dim);
  for (let i = 0; i < n; i++) {
    out[i * n + i] = spec.variance;
    for (let j = 0; j < i; j++) {
      let v: number;
      if (spec.kind === 'rbf' && spec.time === undefined) {
        let s = 0;
        for (let d = 0; d < dim; d++) {
          const t = a[i * dim + d]! - a[j * dim + d]!;
          s += t * t;
        }
        v = spec.variance * Math.exp(rbfC * s);
      } else {
        v = pair(a, i, a, j);
      }
      out[i * n + j] = v;
      out[j * n + i] = v;
    }
  }
  return out;
}

/**
 * The lower triangle of the first m columns of K(a, a): [n, m] row-major with entry (i, j) =
 * k(a_i, a_j) for j ≤ min(i, m − 1), zero above the diagonal (the input of
 * `choleskyColumnsInPlace`). 2-D RBF, the training tasks' kernel, runs in WebAssembly SIMD
 * (`rbfColumns2d`) where it can; RBF skips the square root of the distance.
 */
export function kernelColumnsLower(spec: KernelSpec, a: ArrayLike<number>, n: number, m: number, dim: number): Float64Array {
  checkDims(spec, dim);
  const x = Float64Array.from({ length: n * dim }, (_, i) => a[i]!);
  if (spec.kind === 'rbf' && dim === 2 && spec.time === undefined) {
    const w = rbfColumns2d(x, n, m, -1 / (2 * spec.lengthscale * spec.lengthscale), spec.variance);
    if (w) return w;
  }
  const out = new Float64Array(n * m);
  if (spec.kind === 'rbf' && spec.time === undefined) {
    const c = -1 / (2 * spec.lengthscale * spec.lengthscale), v = spec.variance;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < Math.min(i + 1, m); j++) {
        let s = 0;
        for (let d = 0; d < dim; d++) { const t = x[i * dim + d]! - x[j * dim + d]!; s += t * t; }
        out[i * m + j] = v * Math.exp(c * s);
      }
    }
    return out;
  }
  const pair = pairFunction(spec, dim);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < Math.min(i + 1, m); j++) out[i * m + j] = pair(x, i, x, j);
  }
  return out;
}

/** Family code and constant of one factor for the WebAssembly kernel builder (`WasmColumns`). */
function wasmFactor(kind: KernelKind, l: number): [number, number] | null {
  switch (kind) {
    case 'rbf': return [0, -1 / (2 * l * l)];
    case 'exponential': return [1, 1 / l];
    case 'matern32': return [2, Math.sqrt(3) / l];
    case 'matern52': return [3, Math.sqrt(5) / l];
    default: return null;
  }
}

/**
 * How the WebAssembly module builds this kernel's columns itself (cholesky.ts, `columnsFactorTimes`):
 * the 2-D RBF, or a separable space-time kernel on [s0, s1, t] of the four Euclidean families; null
 * for any other kernel or dimension (the JavaScript `kernelColumnsLower` then).
 */
export function wasmColumns(spec: KernelSpec, dim: number): WasmColumns | null {
  if (spec.time === undefined) {
    return spec.kind === 'rbf' && dim === 2 ? { kind: 'rbf2d', c: -1 / (2 * spec.lengthscale * spec.lengthscale), v: spec.variance } : null;
  }
  if (dim !== 3) return null;
  const s = wasmFactor(spec.kind, spec.lengthscale), t = wasmFactor(spec.time.kind, spec.time.lengthscale);
  if (!s || !t || !(s[1] !== 0 && Number.isFinite(s[1]) && t[1] !== 0 && Number.isFinite(t[1]))) return null;
  return { kind: 'separable', fs: s[0], cs: s[1], ft: t[0], ct: t[1], v: spec.variance };
}

/** The prior variance k(u, u) (the same for every stationary kernel here). */
export function kernelDiagonal(spec: KernelSpec): number {
  return spec.variance;
}
