/**
 * Per-task spatial trend of the context values (output.trend, ours): a ridge least-squares fit of
 * the values on a polynomial in the locations `s` (affine, or quadratic), taken off before the
 * model sees the values and added back to its predicted mean. This is the drift of universal
 * kriging. It is a deterministic function of the context, so the model loses no information, and
 * it is equivariant to translations and rotations of `s` (centred coordinates, an orthonormal
 * quadratic basis, an isotropic ridge per degree), so the model's invariances are kept.
 *
 * The trend is taken off in proportion to how much of the values' variance it explains: by the
 * adjusted R² of the fit, none below TREND_GATE[0], all above TREND_GATE[1], linearly between. A
 * rough or noisy field (or a context too small to pin the polynomial) is left as it is, a field
 * that is nearly a polynomial over the context is handed over as its residuals. The gate too is a
 * function of the context only, so the model still loses nothing.
 *
 * Only data enter here (values, locations, mask), never parameters, so nothing needs a gradient.
 */
import * as E from '../engine/ops.js';
import type { Tensor } from '../engine/tensor.js';

export type TrendKind = 'linear' | 'quadratic';

/** A fitted trend per task: value = m + (φ(s − centre) − mu) · beta. */
export interface Trend {
  kind: TrendKind;
  /** Mean context location [B, 1, ds]. */
  centre: Tensor;
  /** Mean feature over the context [B, 1, k]. */
  mu: Tensor;
  /** Coefficients [B, k, Df], the gate already applied. */
  beta: Tensor;
}

/** Relative ridge on each degree's block of the feature covariance (× its mean variance). */
export const TREND_RIDGE = 1e-3;
/** Adjusted R² at which the trend starts to be taken off, and at which it is taken off whole. */
export const TREND_GATE = [0.5, 0.9] as const;
/** Absolute floor under that ridge (a context at one point: the trend is its mean). */
const RIDGE_FLOOR = 1e-12;

/** Number of features of a trend in `ds` location dimensions. */
export function trendFeatureCount(kind: TrendKind, ds: number): number {
  return kind === 'linear' ? ds : ds + (ds * (ds + 1)) / 2;
}

/** φ(d) for centred locations d [B, N, ds]: d, then d_i² and √2·d_i·d_j (i < j) for 'quadratic'. */
function features(d: Tensor, kind: TrendKind): Tensor {
  if (kind === 'linear') return d.alias(d.shape);
  const [B, N, ds] = d.shape as [number, number, number];
  const col = (i: number) => E.slice(d, [0, 0, i], [B, N, 1]);
  const parts: Tensor[] = [d];
  for (let i = 0; i < ds; i++) {
    for (let j = i; j < ds; j++) parts.push(i === j ? E.square(col(i)) : E.mul(E.mul(col(i), col(j)), Math.SQRT2));
  }
  return E.concat(parts, 2);
}

/**
 * x with a·x = r for symmetric positive definite a [B, k, k], r [B, k, D], by a Cholesky
 * factorisation written out entry by entry (k is a handful: the trend's features).
 */
export function solveSpd(a: Tensor, r: Tensor): Tensor {
  return E.tidy(() => {
    const [B, k] = a.shape as [number, number, number];
    const D = r.shape[2]!;
    const at = (i: number, j: number) => E.slice(a, [0, i, j], [B, 1, 1]);
    const L: Tensor[][] = [];
    for (let i = 0; i < k; i++) {
      L.push([]);
      for (let j = 0; j <= i; j++) {
        let s = at(i, j);
        for (let p = 0; p < j; p++) s = E.sub(s, E.mul(L[i]![p]!, L[j]![p]!));
        L[i]!.push(i === j ? E.sqrt(s) : E.div(s, L[j]![j]!));
      }
    }
    const y: Tensor[] = [];
    for (let i = 0; i < k; i++) {
      let s = E.slice(r, [0, i, 0], [B, 1, D]);
      for (let p = 0; p < i; p++) s = E.sub(s, E.mul(L[i]![p]!, y[p]!));
      y.push(E.div(s, L[i]![i]!));
    }
    const x: Tensor[] = new Array(k);
    for (let i = k - 1; i >= 0; i--) {
      let s = y[i]!;
      for (let p = i + 1; p < k; p++) s = E.sub(s, E.mul(L[p]![i]!, x[p]!));
      x[i] = E.div(s, L[i]![i]!);
    }
    return E.concat(x, 1);
  });
}

/**
 * Fits the trend of context values f [B, Nc, Df] on locations s [B, Nc, ds] over the rows with
 * weight w [B, Nc, 1] (1 real, 0 padding; f and s already 0 there), n = Σ w [B, 1, 1].
 * The values' mean is not part of the trend (the caller keeps it).
 */
export function fitTrend(kind: TrendKind, f: Tensor, s: Tensor, w: Tensor, n: Tensor): Trend {
  return E.tidy(() => {
    const ds = s.shape[2]!;
    const k = trendFeatureCount(kind, ds);
    const centre = E.div(E.sum(E.mul(s, w), 1, true), n);
    const phi = E.mul(features(E.sub(s, centre), kind), w);
    const mu = E.div(E.sum(phi, 1, true), n);
    const pc = E.mul(E.sub(phi, mu), w);
    const fc = E.mul(E.sub(f, E.div(E.sum(E.mul(f, w), 1, true), n)), w);
    const cov = E.div(E.matmul(pc, pc, { transA: true }), n);
    const rhs = E.div(E.matmul(pc, fc, { transA: true }), n);
    // Ridge per degree: TREND_RIDGE × that block's mean variance (isotropic within a degree).
    const B = s.shape[0]!;
    const variance = E.div(E.sum(E.square(pc), 1, true), n);
    const blocks = kind === 'linear' ? [[0, ds]] : [[0, ds], [ds, k - ds]];
    const ridge = E.concat(blocks.map(([o, len]) => {
      const m = E.mean(E.slice(variance, [0, 0, o!], [B, 1, len!]), 2, true);
      return E.broadcastTo(E.add(E.mul(m, TREND_RIDGE), RIDGE_FLOOR), [B, 1, len!]);
    }), 2);
    const eye = E.tensor(Float32Array.from({ length: k * k }, (_, i) => (i % (k + 1) === 0 ? 1 : 0)), [1, k, k], s.backend);
    const full = solveSpd(E.add(cov, E.mul(eye, ridge)), rhs);
    // Gate: adjusted R² = 1 − (SSres / SStot)·(n − 1)/(n − k − 1); 0 when n ≤ k + 1.
    const explained = E.sum(E.mul(full, rhs), 1, true);
    const total = E.div(E.sum(E.square(fc), 1, true), n);
    const resid = E.maximum(E.sub(total, explained), 0);
    const dof = E.sub(n, k + 1);
    const r2 = E.sub(1, E.div(E.mul(E.div(resid, E.add(total, 1e-30)), E.sub(n, 1)), E.maximum(dof, 1e-6)));
    const gate = E.where(E.gt(dof, 0.5), E.minimum(E.maximum(E.div(E.sub(r2, TREND_GATE[0]), TREND_GATE[1] - TREND_GATE[0]), 0), 1), 0);
    const beta = E.mul(full, gate);
    return { kind, centre, mu, beta };
  });
}

/** The trend's deviation from the values' mean at locations s [B, N, ds] → [B, N, Df]. */
export function trendAt(t: Trend, s: Tensor): Tensor {
  return E.tidy(() => E.matmul(E.sub(features(E.sub(s, t.centre), t.kind), t.mu), t.beta));
}

export function disposeTrend(t: Trend): void {
  t.centre.dispose();
  t.mu.dispose();
  t.beta.dispose();
}
