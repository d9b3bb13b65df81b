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
 * How: the test points' rows are appended to the context's covariance matrix and only its first
 * (context) columns are factorised (`choleskyColumnsInPlace`, blocked WebAssembly SIMD): row t of
 * the result is (L⁻¹ k_t)ᵀ, so its squared norm is the variance explained by the context and its
 * product with w = L⁻¹ y is the posterior mean (`lowerTimes`). The context is padded to a multiple
 * of the factorisation's 64-column tile with uncoupled unit-variance variables whose value is 0,
 * which changes nothing. Cost O(n³/3 + n²·m/2) multiply-adds, once per `chunk` test points: the base
 * 2-D task (n ≤ 511, m = 1024) takes ~0.03 s per batch element, the scaled one (n ≈ 1300, m = 4096)
 * ~1.5 s (2-core development machine; the former row-by-row JavaScript solve took 0.36 s and 19 s).
 */
import { choleskyColumnsInPlace, lowerTimes, solveLowerInPlace } from './cholesky.js';
import { CHOLESKY_TILE } from './cholesky-js.js';
import { type KernelSpec, kernelDiagonal, kernelMatrix, kernelMatrixSymmetric } from './kernels.js';

export interface GpPosteriorOptions {
  /** Context validity [n] (1 = real point, 0 = padding); absent = all valid. */
  mask?: ArrayLike<number>;
  /** Prior jitter (default 1e-5, the sampler's). */
  jitter?: number;
  /** Std of the noise on the test targets (default 0: noiseless latent targets). */
  targetNoiseStd?: number;
  /**
   * Test points per factorisation (default: as many as keep the [context + chunk, context] matrix
   * within 16M entries, at least 1024). Each chunk factorises the context again.
   */
  chunk?: number;
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
  // Context columns padded to whole tiles: rows nv…cols − 1 are uncoupled unit-variance variables.
  const cols = Math.ceil(nv / CHOLESKY_TILE) * CHOLESKY_TILE;
  const kcc = kernelMatrixSymmetric(spec, s, nv, dim);
  const chunk = Math.max(1, Math.min(m, opts.chunk ?? Math.max(1024, Math.floor((1 << 24) / cols) - cols)));
  for (let t0 = 0; t0 < m; t0 += chunk) {
    const mc = Math.min(chunk, m - t0);
    const rows = cols + mc;
    const a = new Float64Array(rows * cols);
    for (let i = 0; i < nv; i++) a.set(kcc.subarray(i * nv, i * nv + i + 1), i * cols);
    for (let i = nv; i < cols; i++) a[i * cols + i] = 1;
    const st = mc === m ? sTest : Float64Array.from({ length: mc * dim }, (_, i) => sTest[t0 * dim + i]!);
    const ktc = kernelMatrix(spec, st, mc, s, nv, dim); // [mc, nv]
    for (let t = 0; t < mc; t++) a.set(ktc.subarray(t * nv, (t + 1) * nv), (cols + t) * cols);
    choleskyColumnsInPlace(a, rows, cols, jitter + noiseStd * noiseStd);
    const w = new Float64Array(cols);
    w.set(y);
    solveLowerInPlace(a.subarray(0, cols * cols), cols, w, 1); // w = L⁻¹ y
    const { f, sq } = lowerTimes(a, rows, cols, w, 1);
    for (let t = 0; t < mc; t++) {
      mean[t0 + t] = f[cols + t]!;
      // Clamp: round-off can make the latent variance slightly negative at a context location.
      std[t0 + t] = Math.sqrt(Math.max(prior - sq[t]!, 1e-12) + targetVar);
    }
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
