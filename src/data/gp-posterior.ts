/**
 * Exact GP posterior: the oracle that a neural process can at best match on GP data (style.md,
 * "An oracle for the data"). float64 throughout.
 *
 * Generative model assumed (matches `sampleGpFunctions` + the tasks of experiments.md §2):
 *   latent   f ~ GP(0, k) with prior covariance K + jitter·I (the sampler's jitter is part of the prior)
 *   context  y_i = f(s_i) + ε_i,  ε_i ~ N(0, noiseStd²)
 *   test     targets are the noiseless latent f(s*)
 * so the posterior of f(s*) has
 *   mean = K*c (Kcc + (jitter + noiseStd²) I)⁻¹ y
 *   var  = k(s*, s*) + jitter − K*c (Kcc + (jitter + noiseStd²) I)⁻¹ Kc*
 * and the oracle NLL of a test target uses this *latent* variance (no noise term), because the tasks
 * score noiseless targets ("noise 0.1 on context only", §2). Pass `targetNoiseStd` for tasks whose
 * test targets are noisy (then var += targetNoiseStd²).
 *
 * Cost: O(n³/3) for the factorisation + O(n²·m) for the variances (n context, m test points);
 * for the base 2-D task (n ≤ 511, m = 1024) about 0.1 s per batch element.
 */
import { choleskyInPlace, solveLowerInPlace, solveLowerTransposeInPlace } from './cholesky.js';
import { type KernelSpec, kernelDiagonal, kernelMatrix, kernelMatrixSymmetric } from './kernels.js';

export interface GpPosteriorOptions {
  /** Context validity [n] (1 = real point, 0 = padding); absent = all valid. */
  mask?: ArrayLike<number>;
  /** Prior jitter (default 1e-5, the sampler's). */
  jitter?: number;
  /** Std of the noise on the test targets (default 0: noiseless latent targets). */
  targetNoiseStd?: number;
}

export interface GpPosterior {
  /** Posterior mean at the test points [m]. */
  mean: Float64Array;
  /** Predictive std at the test points [m] (latent, plus `targetNoiseStd` if given). */
  std: Float64Array;
}

/**
 * Exact posterior of f at m test points.
 *
 * **Arguments**: `spec` the true kernel; `sCtx` [n, D]; `yCtx` [n] noisy context values; `n`;
 * `sTest` [m, D]; `m`; `dim` = D; `noiseStd` the context noise std; `opts`.
 * **Returns** mean and std [m].
 */
export function gpPosterior(spec: KernelSpec, sCtx: ArrayLike<number>, yCtx: ArrayLike<number>, n: number,
  sTest: ArrayLike<number>, m: number, dim: number, noiseStd: number, opts: GpPosteriorOptions = {}): GpPosterior {
  const jitter = opts.jitter ?? 1e-5;
  const targetVar = (opts.targetNoiseStd ?? 0) ** 2;
  // Keep only valid context rows.
  const keep: number[] = [];
  for (let i = 0; i < n; i++) if (opts.mask === undefined || opts.mask[i]! > 0.5) keep.push(i);
  const nv = keep.length;
  const s = new Float64Array(nv * dim);
  const y = new Float64Array(nv);
  keep.forEach((src, i) => {
    for (let d = 0; d < dim; d++) s[i * dim + d] = sCtx[src * dim + d]!;
    y[i] = yCtx[src]!;
  });
  const prior = kernelDiagonal(spec) + jitter;
  const mean = new Float64Array(m);
  const std = new Float64Array(m);
  if (nv === 0) {
    std.fill(Math.sqrt(prior + targetVar));
    return { mean, std };
  }
  const l = kernelMatrixSymmetric(spec, s, nv, dim);
  choleskyInPlace(l, nv, jitter + noiseStd * noiseStd);
  const alpha = Float64Array.from(y);
  solveLowerInPlace(l, nv, alpha, 1);
  solveLowerTransposeInPlace(l, nv, alpha, 1);
  const kct = kernelMatrix(spec, s, nv, sTest, m, dim); // [nv, m]
  for (let i = 0; i < nv; i++) {
    const a = alpha[i]!;
    const row = i * m;
    for (let t = 0; t < m; t++) mean[t]! += kct[row + t]! * a;
  }
  solveLowerInPlace(l, nv, kct, m); // V = L⁻¹ Kct
  const reduction = new Float64Array(m);
  for (let i = 0; i < nv; i++) {
    const row = i * m;
    for (let t = 0; t < m; t++) {
      const v = kct[row + t]!;
      reduction[t]! += v * v;
    }
  }
  for (let t = 0; t < m; t++) {
    // Clamp: round-off can make the latent variance slightly negative at a context location.
    std[t] = Math.sqrt(Math.max(prior - reduction[t]!, 1e-12) + targetVar);
  }
  return { mean, std };
}

const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

/** Mean over points of −log N(y | mean, std²). */
export function gaussianMeanNll(y: ArrayLike<number>, mean: ArrayLike<number>, std: ArrayLike<number>): number {
  const m = y.length;
  let s = 0;
  for (let t = 0; t < m; t++) {
    const z = (y[t]! - mean[t]!) / std[t]!;
    s += Math.log(std[t]!) + HALF_LOG_2PI + 0.5 * z * z;
  }
  return s / m;
}
