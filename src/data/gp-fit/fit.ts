/**
 * The exact GP baseline end to end: standardise the values, fit the hyper-parameters by maximising
 * the log marginal likelihood (lml.ts) with L-BFGS (lbfgs.ts) from two starting points, then
 * predict with the fitted kernel. For n above `fitPoints` (default 1000) the hyper-parameters are
 * fitted on a random subset of that size (seeded) and prediction conditions on up to
 * `predictPoints` (default 4096) observations (all of them when there are fewer; otherwise a random
 * subset, reported in the result), because exact GP cost grows as n³. float64, no Node built-ins.
 */
import { CHOLESKY_TILE } from '../cholesky-js.js';
import { CholeskyError, choleskyColumnsInPlace, lowerTimes, solveLowerInPlace } from '../cholesky.js';
import { type GpKernel, PairDistances, checkKernel, crossCovariance, covariance, greatCircleKm, groupLengthscales } from './kernel.js';
import { type GpParams, logMarginal, packTheta, thetaSize, unpackTheta } from './lml.js';
import { lbfgs } from './lbfgs.js';

export interface GpFitOptions {
  /** Fit the constant mean (default true); false uses the data mean. */
  fitMean?: boolean;
  /** Points used to fit the hyper-parameters (default 1000). */
  fitPoints?: number;
  /** Seed of the subset choice (default 1). */
  seed?: number;
  /** L-BFGS iterations per start (default 200). */
  maxIter?: number;
  /** Jitter added to the diagonal in standardised units (default 1e-6). */
  jitter?: number;
}

export interface FittedGp {
  kernel: GpKernel;
  /** In the data's units (σ², σₙ² in value units squared, ℓ in the inputs' units; great-circle: km). */
  params: GpParams;
  /** Log marginal likelihood of the fit subset in the data's units. */
  lml: number;
  fitPoints: number;
  iterations: number;
  evaluations: number;
  /** Internal: the values' standardisation. */
  yMean: number;
  yStd: number;
  jitter: number;
}

/** mulberry32: a small seeded generator for the subset choice. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `k` distinct indices of 0..n−1 in increasing order (all when k ≥ n). */
export function randomSubset(n: number, k: number, seed: number): number[] {
  if (k >= n) return Array.from({ length: n }, (_, i) => i);
  const idx = Array.from({ length: n }, (_, i) => i);
  const rnd = seededRandom(seed);
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(rnd() * (n - i));
    [idx[i], idx[j]] = [idx[j]!, idx[i]!];
  }
  return idx.slice(0, k).sort((a, b) => a - b);
}

function take(x: ArrayLike<number>, dim: number, rows: number[]): Float64Array {
  const out = new Float64Array(rows.length * dim);
  rows.forEach((r, i) => { for (let d = 0; d < dim; d++) out[i * dim + d] = x[r * dim + d]!; });
  return out;
}

function median(v: number[]): number {
  if (v.length === 0) return NaN;
  const s = [...v].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Starting lengthscales: median non-zero pairwise distance per group (per column for ARD). */
function initialLengthscales(k: GpKernel, x: Float64Array, n: number): Float64Array {
  const rows = randomSubset(n, 200, 7);
  const out: number[] = [];
  for (const g of k.groups) {
    const cols = g.ard ? g.cols.map((c) => [c]) : [g.cols];
    for (const cs of cols) {
      const d: number[] = [];
      for (let a = 0; a < rows.length; a++) {
        for (let b = 0; b < a; b++) {
          const i = rows[a]!;
          const j = rows[b]!;
          let v: number;
          if (g.metric === 'great-circle') v = greatCircleKm(x[i * k.dim + cs[0]!]!, x[i * k.dim + cs[1]!]!, x[j * k.dim + cs[0]!]!, x[j * k.dim + cs[1]!]!);
          else v = Math.sqrt(cs.reduce((s, c) => s + (x[i * k.dim + c]! - x[j * k.dim + c]!) ** 2, 0));
          if (v > 0) d.push(v);
        }
      }
      const m = median(d);
      out.push(Number.isFinite(m) && m > 0 ? m : 1);
    }
  }
  return Float64Array.from(out);
}

/**
 * Fits the hyper-parameters to observations `y` [n] at inputs `x` [n, D] (all finite).
 * **Throws** RangeError on bad sizes or non-finite inputs.
 */
export function fitGp(kernel: GpKernel, x: ArrayLike<number>, y: ArrayLike<number>, n: number, opts: GpFitOptions = {}): FittedGp {
  checkKernel(kernel);
  if (n < 3) throw new RangeError(`gp fit: expected at least 3 observations, got ${n}`);
  const D = kernel.dim;
  for (let i = 0; i < n * D; i++) if (!Number.isFinite(x[i]!)) throw new RangeError(`gp fit: input row ${Math.floor(i / D)} column ${i % D} is not finite`);
  for (let i = 0; i < n; i++) if (!Number.isFinite(y[i]!)) throw new RangeError(`gp fit: value ${i} is not finite`);
  const fitMean = opts.fitMean ?? true;
  const jitter = opts.jitter ?? 1e-6;
  const rows = randomSubset(n, opts.fitPoints ?? 1000, opts.seed ?? 1);
  const m = rows.length;
  const xs = take(x, D, rows);
  let yMean = 0;
  for (const r of rows) yMean += y[r]!;
  yMean /= m;
  let v = 0;
  for (const r of rows) v += (y[r]! - yMean) ** 2;
  const yStd = Math.sqrt(v / m) || 1;
  const ys = Float64Array.from(rows, (r) => (y[r]! - yMean) / yStd);
  const ls0 = initialLengthscales(kernel, xs, m);
  const starts: GpParams[] = [
    { signalVar: 1, noiseVar: 0.1, mean: 0, lengthscales: ls0 },
    { signalVar: 1, noiseVar: 0.01, mean: 0, lengthscales: ls0.map((l) => l / 4) },
  ];
  const distances = new PairDistances(kernel, xs, m); // fixed for the whole fit
  const objective = (theta: Float64Array): { f: number; grad: Float64Array } => {
    for (const t of theta) if (Math.abs(t) > 30) return { f: Infinity, grad: new Float64Array(theta.length) };
    try {
      const r = logMarginal(kernel, xs, ys, m, theta, { fitMean, fixedMean: 0, jitter, grad: true, distances });
      return { f: -r.lml, grad: r.grad!.map((g) => -g) };
    } catch (e) {
      if (e instanceof CholeskyError) return { f: Infinity, grad: new Float64Array(theta.length) };
      throw e;
    }
  };
  let best: { x: Float64Array; f: number; iterations: number; evaluations: number } | null = null;
  let iterations = 0;
  let evaluations = 0;
  for (const s of starts) {
    const r = lbfgs(objective, packTheta(s, fitMean), { maxIter: opts.maxIter ?? 200, gradTol: 1e-5 * m });
    iterations += r.iterations;
    evaluations += r.evaluations;
    if (best === null || r.f < best.f) best = { x: r.x, f: r.f, iterations: r.iterations, evaluations: r.evaluations };
  }
  if (thetaSize(kernel, fitMean) !== best!.x.length) throw new Error('gp fit: internal parameter count mismatch');
  const p = unpackTheta(best!.x, kernel, fitMean, 0);
  const params: GpParams = {
    signalVar: p.signalVar * yStd * yStd,
    noiseVar: p.noiseVar * yStd * yStd,
    mean: p.mean * yStd + yMean,
    lengthscales: p.lengthscales,
  };
  // L in data units: y = yStd·y' + yMean changes the density by 1/yStd per point
  return { kernel, params, lml: -best!.f - m * Math.log(yStd), fitPoints: m, iterations, evaluations, yMean, yStd, jitter };
}

export interface GpPrediction {
  mean: Float64Array;
  /** Predictive std: of a new observation (latent + noise) unless `latent` was asked for. */
  std: Float64Array;
  /** Observations conditioned on (a subset when there were more than `predictPoints`). */
  contextUsed: number;
}

export interface GpPredictOptions {
  /** Std of the latent f only, without the observation noise (default false). */
  latent?: boolean;
  /** At most this many context observations (default 4096; random subset beyond). */
  predictPoints?: number;
  seed?: number;
}

/**
 * Posterior at `m` targets `xt` [m, D] given observations (`xc` [n, D], `yc` [n]) under the fitted
 * hyper-parameters. Same method as gp-posterior.ts: the targets' cross-covariance rows are appended
 * below the context covariance and only the context columns are factorised (WebAssembly).
 */
export function predictGp(fit: FittedGp, xc: ArrayLike<number>, yc: ArrayLike<number>, n: number, xt: ArrayLike<number>, m: number,
  opts: GpPredictOptions = {}): GpPrediction {
  const k = fit.kernel;
  const D = k.dim;
  const rows = randomSubset(n, opts.predictPoints ?? 4096, (opts.seed ?? 1) + 1);
  const nv = rows.length;
  const x = take(xc, D, rows);
  const { signalVar, noiseVar, mean: mu, lengthscales: ls } = fit.params;
  const jitter = fit.jitter * fit.yStd * fit.yStd;
  const extra = opts.latent ? 0 : noiseVar;
  const mean = new Float64Array(m).fill(mu);
  const std = new Float64Array(m);
  const cols = Math.ceil(nv / CHOLESKY_TILE) * CHOLESKY_TILE;
  const kcc = covariance(k, ls, signalVar, x, nv);
  const chunk = Math.max(1, Math.min(m, Math.max(256, Math.floor((1 << 23) / cols) - cols)));
  const w = new Float64Array(cols);
  rows.forEach((r, i) => { w[i] = yc[r]! - mu; });
  let solved = false;
  for (let t0 = 0; t0 < m; t0 += chunk) {
    const mc = Math.min(chunk, m - t0);
    const a = new Float64Array((cols + mc) * cols);
    for (let i = 0; i < nv; i++) {
      a.set(kcc.subarray(i * nv, i * nv + i + 1), i * cols);
      a[i * cols + i]! += noiseVar;
    }
    for (let i = nv; i < cols; i++) a[i * cols + i] = 1;
    const xtc = Float64Array.from({ length: mc * D }, (_, i) => xt[t0 * D + i]!);
    const ktc = crossCovariance(k, ls, signalVar, xtc, mc, x, nv);
    for (let t = 0; t < mc; t++) a.set(ktc.subarray(t * nv, (t + 1) * nv), (cols + t) * cols);
    choleskyColumnsInPlace(a, cols + mc, cols, jitter);
    if (!solved) {
      solveLowerInPlace(a.subarray(0, cols * cols), cols, w, 1); // w = L⁻¹ (y − μ), once
      solved = true;
    }
    const { f, sq } = lowerTimes(a, cols + mc, cols, w, 1);
    for (let t = 0; t < mc; t++) {
      mean[t0 + t] = mu + f[cols + t]!;
      std[t0 + t] = Math.sqrt(Math.max(signalVar - sq[t]!, 1e-12 * signalVar) + extra);
    }
  }
  return { mean, std, contextUsed: nv };
}

/** One line per hyper-parameter, in the data's units. */
export function describeFit(fit: FittedGp): string[] {
  const p = fit.params;
  const lines = [`kernel ${fit.kernel.kind}, fitted on ${fit.fitPoints} points: log marginal likelihood ${fit.lml.toFixed(3)}`,
    `mean ${p.mean.toPrecision(6)}`, `signal std ${Math.sqrt(p.signalVar).toPrecision(6)}`, `noise std ${Math.sqrt(p.noiseVar).toPrecision(6)}`];
  let q = 0;
  for (const g of fit.kernel.groups) {
    const cnt = groupLengthscales(g);
    const vals = Array.from(p.lengthscales.subarray(q, q + cnt), (l) => l.toPrecision(6));
    q += cnt;
    lines.push(`lengthscale ${g.name}${g.metric === 'great-circle' ? ' (km, great-circle)' : ''}: ${vals.join(', ')}`);
  }
  return lines;
}
