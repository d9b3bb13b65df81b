/**
 * Log marginal likelihood of the exact GP baseline and its analytic gradient in the
 * log-parametrised hyper-parameters θ = [log σ², log σₙ², (μ), log ℓ_1 … log ℓ_p]:
 *   L = −½ (y−μ)ᵀ K⁻¹ (y−μ) − ½ log|K| − n/2 log 2π,   K = σ² ∏ κ + (σₙ² + jitter) I
 *   ∂L/∂θ_j = ½ tr((ααᵀ − K⁻¹) ∂K/∂θ_j),  α = K⁻¹ (y−μ);   ∂L/∂μ = Σ α.
 * K⁻¹ comes from the WebAssembly Cholesky kernels (`inverseAndLogDet`: ~20× the speed of the
 * plain-JavaScript triangular inverse kept below as `inverseFromCholesky`), and every ∂K/∂θ_j is formed entry by entry inside one pass over the pairs, so no n×n matrix per
 * hyper-parameter is stored. float64, no Node built-ins.
 */
import { CHOLESKY_TILE } from '../cholesky-js.js';
import { choleskyColumnsInPlace, choleskyInPlace, logDetFromCholesky, lowerTimes, solveLowerInPlace } from '../cholesky.js';
import { type GpKernel, PairDistances, PairScratch, totalLengthscales } from './kernel.js';

export interface GpParams {
  signalVar: number;
  noiseVar: number;
  mean: number;
  /** Flattened group by group (see kernel.ts). */
  lengthscales: Float64Array;
}

/** Number of entries of θ. */
export function thetaSize(k: GpKernel, fitMean: boolean): number {
  return 2 + (fitMean ? 1 : 0) + totalLengthscales(k);
}

export function packTheta(p: GpParams, fitMean: boolean): Float64Array {
  const t = [Math.log(p.signalVar), Math.log(p.noiseVar)];
  if (fitMean) t.push(p.mean);
  for (const l of p.lengthscales) t.push(Math.log(l));
  return Float64Array.from(t);
}

/** θ → parameters; `fixedMean` is used when the mean is not part of θ. */
export function unpackTheta(theta: ArrayLike<number>, k: GpKernel, fitMean: boolean, fixedMean = 0): GpParams {
  let i = 2;
  const mean = fitMean ? theta[i++]! : fixedMean;
  const L = totalLengthscales(k);
  const lengthscales = new Float64Array(L);
  for (let j = 0; j < L; j++) lengthscales[j] = Math.exp(theta[i + j]!);
  return { signalVar: Math.exp(theta[0]!), noiseVar: Math.exp(theta[1]!), mean, lengthscales };
}

/** In place: the inverse of a lower-triangular L [n, n] (row-major), lower triangle only. */
export function invertLowerInPlace(l: Float64Array, n: number): void {
  const row = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    row.fill(0, 0, i + 1);
    const ri = i * n;
    // row i of M = (e_i − Σ_{k<i} L_ik M_k,:) / L_ii, using rows k < i of M already in place
    for (let k = 0; k < i; k++) {
      const lik = l[ri + k]!;
      if (lik === 0) continue;
      const rk = k * n;
      for (let j = 0; j <= k; j++) row[j]! -= lik * l[rk + j]!;
    }
    const inv = 1 / l[ri + i]!;
    row[i] = 1;
    for (let j = 0; j <= i; j++) l[ri + j] = row[j]! * inv;
  }
}

/** K⁻¹ = L⁻ᵀ L⁻¹ from the Cholesky factor L (overwritten with L⁻¹); full symmetric result. */
export function inverseFromCholesky(l: Float64Array, n: number): Float64Array {
  invertLowerInPlace(l, n);
  const p = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const rk = k * n;
    for (let i = 0; i <= k; i++) {
      const mki = l[rk + i]!;
      if (mki === 0) continue;
      const ri = i * n;
      for (let j = 0; j <= i; j++) p[ri + j]! += mki * l[rk + j]!;
    }
  }
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) p[j * n + i] = p[i * n + j]!;
  return p;
}

/**
 * (A + jitter·I)⁻¹ and log det(A + jitter·I) for symmetric positive definite A [n, n] (lower
 * triangle read), with the WebAssembly kernels of cholesky.ts: [A; I] (A padded to whole 64-column
 * tiles with uncoupled unit variables) has its first columns factorised, which leaves L in the top
 * block and L⁻ᵀ in the bottom one (row i of I times L⁻ᵀ); then A⁻¹ = L⁻ᵀ (L⁻ᵀ)ᵀ by `lowerTimes`.
 * **Throws** `CholeskyError` when A + jitter·I is not numerically positive definite.
 */
export function inverseAndLogDet(kmat: Float64Array, n: number, jitter: number): { inv: Float64Array; logDet: number } {
  const cols = Math.ceil(n / CHOLESKY_TILE) * CHOLESKY_TILE;
  const a = new Float64Array(2 * cols * cols);
  for (let i = 0; i < n; i++) a.set(kmat.subarray(i * n, i * n + i + 1), i * cols);
  for (let i = n; i < cols; i++) a[i * cols + i] = 1;
  for (let i = 0; i < cols; i++) a[(cols + i) * cols + i] = 1;
  choleskyColumnsInPlace(a, 2 * cols, cols, jitter);
  let logDet = 0;
  for (let i = 0; i < n; i++) logDet += Math.log(a[i * cols + i]!);
  const b = a.subarray(cols * cols); // L⁻ᵀ [cols, cols]
  const { f } = lowerTimes(b, cols, cols, b.slice(), cols); // f[j·cols + i] = (L⁻ᵀ L⁻¹)[i, j]
  const inv = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) inv[i * n + j] = f[j * cols + i]!;
  return { inv, logDet: 2 * logDet };
}

export interface LmlResult {
  lml: number;
  /** ∂L/∂θ (absent unless asked for). */
  grad?: Float64Array;
}

const LOG_2PI = Math.log(2 * Math.PI);

/**
 * L(θ) and optionally ∇L. `x` [n, D] inputs, `y` [n]. Throws `CholeskyError` when K is not
 * numerically positive definite (the optimiser treats that as +∞ loss).
 */
export function logMarginal(k: GpKernel, x: ArrayLike<number>, y: ArrayLike<number>, n: number, theta: ArrayLike<number>,
  opts: { fitMean: boolean; fixedMean?: number; jitter?: number; grad?: boolean; distances?: PairDistances }): LmlResult {
  const p = unpackTheta(theta, k, opts.fitMean, opts.fixedMean ?? 0);
  const jitter = opts.jitter ?? 1e-6;
  const dist = opts.distances ?? new PairDistances(k, x, n);
  if (dist.n !== n || dist.kernel !== k) throw new RangeError(`logMarginal: the pair distances are for ${dist.n} points of another kernel, expected ${n} of this one`);
  const sc = new PairScratch(k);
  const kmat = new Float64Array(n * n);
  for (let i = 0, q = 0; i < n; i++) {
    for (let j = 0; j < i; j++, q++) kmat[i * n + j] = p.signalVar * dist.pair(p.lengthscales, q, sc, false);
    kmat[i * n + i] = p.signalVar + p.noiseVar;
  }
  const r = new Float64Array(n);
  for (let i = 0; i < n; i++) r[i] = y[i]! - p.mean;
  if (!opts.grad) {
    choleskyInPlace(kmat, n, jitter);
    const w = Float64Array.from(r);
    solveLowerInPlace(kmat, n, w, 1);
    let quad = 0;
    for (let i = 0; i < n; i++) quad += w[i]! * w[i]!;
    return { lml: -0.5 * quad - 0.5 * logDetFromCholesky(kmat, n) - 0.5 * n * LOG_2PI };
  }
  const { inv: kinv, logDet } = inverseAndLogDet(kmat, n, jitter);
  const alpha = new Float64Array(n); // α = K⁻¹ r
  let quad = 0;
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += kinv[i * n + j]! * r[j]!;
    alpha[i] = s;
    quad += r[i]! * s;
  }
  const lml = -0.5 * quad - 0.5 * logDet - 0.5 * n * LOG_2PI;
  const T = thetaSize(k, opts.fitMean);
  const off = opts.fitMean ? 3 : 2;
  const grad = new Float64Array(T);
  const G = k.groups.length;
  let gSig = 0;
  let trW = 0;
  for (let i = 0, pq = 0; i < n; i++) {
    // diagonal: ∂K_ii/∂log σ² = σ², ∂K_ii/∂log σₙ² = σₙ², lengthscales 0
    const wii = alpha[i]! * alpha[i]! - kinv[i * n + i]!;
    trW += wii;
    gSig += wii * p.signalVar;
    for (let j = 0; j < i; j++, pq++) {
      const wij = 2 * (alpha[i]! * alpha[j]! - kinv[i * n + j]!); // both triangles
      const prod = dist.pair(p.lengthscales, pq, sc, true);
      gSig += wij * p.signalVar * prod;
      let q = 0;
      for (let g = 0; g < G; g++) {
        const grp = k.groups[g]!;
        const m = grp.ard ? grp.cols.length : 1;
        // ∏_{h≠g} κ_h, without dividing (κ_g may underflow to 0)
        let others = 1;
        for (let h = 0; h < G; h++) if (h !== g) others *= sc.kap[h]!;
        const base = wij * p.signalVar * others * sc.slope[g]!;
        for (let c = 0; c < m; c++, q++) grad[off + q]! += base * sc.u[q]!;
      }
    }
  }
  grad[0] = 0.5 * gSig;
  grad[1] = 0.5 * trW * p.noiseVar;
  if (opts.fitMean) {
    let s = 0;
    for (let i = 0; i < n; i++) s += alpha[i]!;
    grad[2] = s;
  }
  for (let q = off; q < T; q++) grad[q]! *= 0.5;
  return { lml, grad };
}
