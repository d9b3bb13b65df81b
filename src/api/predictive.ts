/**
 * Predictive distributions of one output at many points, in the data's units, and their scores
 * (NLL, RMSE, 95 % coverage). A model that works on log(y + shift) (log transform: shift 0; log1p:
 * shift 1) has a shifted log-normal predictive in data units: its summary uses the log-normal's
 * mean and std and the exact 5 %/95 % quantiles, and its NLL the change of variables
 * −log p(y) = −log N(log(y + shift) | m, s²) + log(y + shift). No Node built-ins.
 */
import { Z90 } from './predictor.js';

export interface Predictive {
  /** Mean and std of y, or of log(y + logShift) when `logShift` is set. */
  mean: Float64Array;
  std: Float64Array;
  logShift?: number;
}

export interface PredictiveSummary {
  mean: Float64Array;
  std: Float64Array;
  lo90: Float64Array;
  hi90: Float64Array;
}

/** Mean, std and the central 90 % interval in data units. */
export function summarisePredictive(p: Predictive): PredictiveSummary {
  const n = p.mean.length;
  const out = { mean: new Float64Array(n), std: new Float64Array(n), lo90: new Float64Array(n), hi90: new Float64Array(n) };
  for (let i = 0; i < n; i++) {
    const m = p.mean[i]!;
    const s = p.std[i]!;
    if (p.logShift === undefined) {
      out.mean[i] = m; out.std[i] = s; out.lo90[i] = m - Z90 * s; out.hi90[i] = m + Z90 * s;
    } else {
      const c = p.logShift;
      out.mean[i] = Math.exp(m + s * s / 2) - c;
      out.std[i] = Math.sqrt(Math.expm1(s * s)) * Math.exp(m + s * s / 2);
      out.lo90[i] = Math.exp(m - Z90 * s) - c;
      out.hi90[i] = Math.exp(m + Z90 * s) - c;
    }
  }
  return out;
}

export interface Scores {
  /** Points scored (finite observation and prediction). */
  n: number;
  /** Mean negative log predictive density of y (data units). */
  nll: number;
  /** Root mean squared error of the predictive mean. */
  rmse: number;
  /** Share of observations inside the central 95 % interval. */
  coverage95: number;
}

const Z95 = 1.959963984540054;
const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

/** Scores of `p` against observations `y` (NaN observations or predictions are skipped). */
export function scorePredictive(p: Predictive, y: ArrayLike<number>): Scores {
  const sum = summarisePredictive(p);
  let n = 0;
  let nll = 0;
  let se = 0;
  let cov = 0;
  for (let i = 0; i < y.length; i++) {
    const v = y[i]!;
    const m = p.mean[i]!;
    const s = p.std[i]!;
    if (!Number.isFinite(v) || !Number.isFinite(m) || !(s > 0)) continue;
    n++;
    se += (v - sum.mean[i]!) ** 2;
    if (p.logShift === undefined) {
      const z = (v - m) / s;
      nll += Math.log(s) + HALF_LOG_2PI + 0.5 * z * z;
      if (Math.abs(z) <= Z95) cov++;
    } else {
      const w = v + p.logShift;
      if (!(w > 0)) { nll += Infinity; continue; }
      const lw = Math.log(w);
      const z = (lw - m) / s;
      nll += Math.log(s) + HALF_LOG_2PI + 0.5 * z * z + lw;
      if (Math.abs(z) <= Z95) cov++;
    }
  }
  return { n, nll: nll / n, rmse: Math.sqrt(se / n), coverage95: cov / n };
}
