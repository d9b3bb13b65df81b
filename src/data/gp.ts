/**
 * GP function sampler (experiments.md §2): hyper-parameters are drawn once per batch, then
 * K = k(s, s) + jitter·I (float64), K = L Lᵀ, and B functions f = L z with z ~ N(0, I).
 */
import type { Rng } from '../engine/random.js';
import { choleskyColumnsInPlace, choleskyInPlace, columnsFactorTimes, lowerMatVec, lowerTimes } from './cholesky.js';
import { type LengthscalePrior, sampleLengthscale } from './distributions.js';
import { type KernelKind, type KernelSpec, kernelColumnsLower, kernelDiagonal, kernelMatrixSymmetric, wasmColumns } from './kernels.js';

/** A kernel family with its hyper-prior: σ² fixed, ℓ drawn from `lengthscale`. */
export interface GpPrior {
  kind: KernelKind;
  variance: number;
  lengthscale: LengthscalePrior;
  /** Period of the periodic kernel. */
  period?: number;
}

/** RBF, σ² = 1, ℓ ~ Beta(3, 7) (mean 0.3): the 2-D, multiscale and 1-D GP tasks (§2). */
export const RBF_BETA_PRIOR = {
  kind: 'rbf', variance: 1, lengthscale: { kind: 'beta', a: 3, b: 7 },
} as const satisfies GpPrior;

/** exp(−d_gc/ℓ), σ² = 1, ℓ = 1/G, G ~ Gamma(shape 3, rate 30) (mean ℓ 15°): the SO(3) task (§5). */
export const GREAT_CIRCLE_PRIOR = {
  kind: 'great-circle-exponential', variance: 1, lengthscale: { kind: 'inverse-gamma', shape: 3, rate: 30 },
} as const satisfies GpPrior;

/** Default jitter added to the diagonal before the Cholesky factorisation (§2). */
export const GP_JITTER = 1e-5;

/** One hyper-parameter draw: a concrete kernel. */
export function sampleKernel(rng: Rng, prior: GpPrior): KernelSpec {
  const spec: KernelSpec = { kind: prior.kind, variance: prior.variance, lengthscale: sampleLengthscale(rng, prior.lengthscale) };
  if (prior.period !== undefined) spec.period = prior.period;
  return spec;
}

/**
 * Draws B functions from GP(0, k) at n shared locations.
 *
 * **Arguments**: `rng`; `spec` the kernel; `locs` [n, D] flat; `n`; `dim` = D; `B` number of
 * functions; `jitter` added to the diagonal (default 1e-5).
 * **Returns** f [B, n] row-major float64 (callers cast to float32 when building a batch).
 * **Throws** `CholeskyError` if K + jitter·I is not positive definite.
 */
export function sampleGpFunctions(rng: Rng, spec: KernelSpec, locs: ArrayLike<number>, n: number, dim: number,
  B: number, jitter = GP_JITTER): Float64Array {
  const k = kernelMatrixSymmetric(spec, locs, n, dim);
  choleskyInPlace(k, n, jitter);
  const f = new Float64Array(B * n);
  const z = new Float64Array(n);
  const out = new Float64Array(n);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < n; i++) z[i] = rng.normal();
    lowerMatVec(k, n, z, out);
    f.set(out, b * n);
  }
  return f;
}

/**
 * Draws B functions at n shared locations, jointly Gaussian over the first m locations and, for
 * each later location t on its own, from its conditional given those m values:
 *   f[0:m] = L z,  f[t] = L[t, 0:m]·z + sqrt(k(x_t, x_t) + jitter − ‖L[t, 0:m]‖²) · z_t,
 * with L the first m columns of the Cholesky factor of K + jitter·I over the m + (n − m) points
 * (`choleskyColumnsInPlace`), z and z_t standard normal. Every pair (f[0:m], f[t]) has exactly the
 * distribution of the joint draw (`sampleGpFunctions`); only the dependence between two later
 * locations given the first m is dropped. For a loss that scores each later point on its own given
 * the first m (a neural process's test points, which attend only to the context), the expected
 * loss and gradient are the same, and the cost is m²(n − m)/2 + m³/3 multiply-adds instead of n³/3
 * (2-D GP task, m = 512 context slots, n = 1536: 6.6× fewer).
 *
 * The 2-D RBF and the separable space-time kernels (`wasmColumns`) run kernel, factor and products
 * in WebAssembly memory (`columnsFactorTimes`); other kernels build their columns in JavaScript.
 * Both give the same draws up to float64 rounding (test/data/gp-wasm-columns.test.ts).
 *
 * **Arguments** as `sampleGpFunctions`, plus `m` (1 ≤ m ≤ n; m = n or a multiple of 64).
 * **Returns** f [B, n] row-major float64.
 * **Throws** `CholeskyError` if the leading m×m block is not positive definite.
 */
export function sampleGpFunctionsMarginal(rng: Rng, spec: KernelSpec, locs: ArrayLike<number>, n: number, dim: number,
  m: number, B: number, jitter = GP_JITTER): Float64Array {
  if (m === n) return sampleGpFunctions(rng, spec, locs, n, dim, B, jitter);
  // One row of m normals per function (drawn before the factorisation, which uses no randomness).
  const z = new Float64Array(B * m);
  for (let i = 0; i < B * m; i++) z[i] = rng.normal();
  // f[b] = L z_b on every row (rows i < m: the joint draw; rows i ≥ m: the conditional mean), and
  // the part of each later point's variance the context explains, sq = ‖L[i, 0:m]‖². Where the
  // WebAssembly module builds this kernel itself, the whole chain stays in its memory.
  const cols = wasmColumns(spec, dim);
  const fused = cols && columnsFactorTimes(cols, locs, n, m, jitter, z, B);
  const { f, sq } = fused ?? (() => {
    const l = kernelColumnsLower(spec, locs, n, m, dim); // [n, m]: K[:, 0:m]
    choleskyColumnsInPlace(l, n, m, jitter);
    return lowerTimes(l, n, m, z, B);
  })();
  const prior = kernelDiagonal(spec) + jitter;
  // Test-point noise: the Schur complement's diagonal, in a fixed order (function, then point).
  for (let b = 0; b < B; b++) for (let i = m; i < n; i++) f[b * n + i]! += Math.sqrt(Math.max(prior - sq[i - m]!, 0)) * rng.normal();
  return f;
}
