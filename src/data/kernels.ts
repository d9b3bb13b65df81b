/**
 * Stationary covariance kernels of the GP tasks (experiments.md §2, §5), evaluated in float64.
 * Locations are flat row-major arrays [n, D]. A `KernelSpec` is plain data (kind + hyper-parameters),
 * so a batch can carry the true hyper-parameters for the exact-posterior oracle.
 */
import { rbfColumns2d } from './cholesky.js';

export type KernelKind = 'rbf' | 'matern32' | 'periodic' | 'exponential' | 'great-circle-exponential';

/**
 * A kernel with its hyper-parameters.
 * * `rbf`: σ² exp(−‖u−v‖² / (2ℓ²))
 * * `matern32`: σ² (1 + √3 d/ℓ) exp(−√3 d/ℓ), d = ‖u−v‖
 * * `periodic`: σ² exp(−2 sin²(π d / p) / ℓ²) (exp-sine-squared; `period` p, default 1)
 * * `exponential`: σ² exp(−d/ℓ)
 * * `great-circle-exponential`: σ² exp(−d_gc/ℓ), u = (lon°, lat°), d_gc in degrees (model.md §5.1)
 */
export interface KernelSpec {
  kind: KernelKind;
  variance: number;
  lengthscale: number;
  period?: number;
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

function checkDims(spec: KernelSpec, dim: number): void {
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
  if (spec.kind === 'rbf') {
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
  for (let i = 0; i < na; i++) {
    for (let j = 0; j < nb; j++) out[i * nb + j] = kernelOfDistance(spec, distance(spec, a, i, b, j, dim));
  }
  return out;
}

/** Symmetric K(a, a) [n, n], computing each pair once. */
export function kernelMatrixSymmetric(spec: KernelSpec, a: ArrayLike<number>, n: number, dim: number): Float64Array {
  checkDims(spec, dim);
  const out = new Float64Array(n * n);
  const rbfC = -1 / (2 * spec.lengthscale * spec.lengthscale);
  for (let i = 0; i < n; i++) {
    out[i * n + i] = spec.variance;
    for (let j = 0; j < i; j++) {
      let v: number;
      if (spec.kind === 'rbf') {
        let s = 0;
        for (let d = 0; d < dim; d++) {
          const t = a[i * dim + d]! - a[j * dim + d]!;
          s += t * t;
        }
        v = spec.variance * Math.exp(rbfC * s);
      } else {
        v = kernelOfDistance(spec, distance(spec, a, i, a, j, dim));
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
  if (spec.kind === 'rbf' && dim === 2) {
    const w = rbfColumns2d(x, n, m, -1 / (2 * spec.lengthscale * spec.lengthscale), spec.variance);
    if (w) return w;
  }
  const out = new Float64Array(n * m);
  if (spec.kind === 'rbf') {
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
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < Math.min(i + 1, m); j++) out[i * m + j] = kernelOfDistance(spec, distance(spec, x, i, x, j, dim));
  }
  return out;
}

/** The prior variance k(u, u) (the same for every stationary kernel here). */
export function kernelDiagonal(spec: KernelSpec): number {
  return spec.variance;
}
