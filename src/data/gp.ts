/**
 * GP function sampler (experiments.md §2): hyper-parameters are drawn once per batch, then
 * K = k(s, s) + jitter·I (float64), K = L Lᵀ, and B functions f = L z with z ~ N(0, I).
 */
import type { Rng } from '../engine/random.js';
import { choleskyInPlace, lowerMatVec } from './cholesky.js';
import { type LengthscalePrior, sampleLengthscale } from './distributions.js';
import { type KernelKind, type KernelSpec, kernelMatrixSymmetric } from './kernels.js';

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
