/**
 * Value transforms of Gaussian outputs (log, log1p, Box-Cox): the forward map applied to training
 * and context values, the maximum-likelihood Box-Cox λ, and the back-transform of the model's
 * Gaussian N(m, s²) in transformed space to the data's units:
 *
 * - 90% interval: the transformed quantiles m ∓ 1.6449·s mapped back (exact for a monotone
 *   transform: the quantiles of the back-transformed distribution).
 * - mean and std of Y = g⁻¹(Z), Z ~ N(m, s²):
 *   log: the log-normal moments E[Y] = exp(m + s²/2), SD[Y] = E[Y]·sqrt(exp(s²) − 1);
 *   log1p: the same shifted by −1 (SD unchanged);
 *   boxcox: Y = (1 + λZ)^(1/λ) has no closed-form moments; they are computed by 64-point
 *   Gauss–Hermite quadrature. For λ > 0 the Gaussian mass below z = −1/λ is taken as y = 0 (a
 *   positive quantity cannot go below); for λ < 0 the inverse blows up at z = −1/λ, and when the
 *   predictive distribution reaches there the mean and std are infinite (written as missing).
 *
 * No Node built-ins.
 */
import type { ValueTransform } from '../../models/data-schema.js';

/** z of the central 90% interval of a Gaussian: Φ⁻¹(0.95). */
export const Z90 = 1.6448536269514722;

/** Forward transform of one value; NaN when outside the transform's domain. */
export function forward(t: ValueTransform | undefined, y: number): number {
  if (t === undefined) return y;
  switch (t.kind) {
    case 'log': return y > 0 ? Math.log(y) : NaN;
    case 'log1p': return y > -1 ? Math.log1p(y) : NaN;
    case 'boxcox': return y > 0 ? boxcox(y, t.lambda) : NaN;
  }
}

/** What values a transform accepts, for messages. */
export function domainText(t: ValueTransform): string {
  return t.kind === 'log1p' ? 'values > -1' : 'positive values';
}

function boxcox(y: number, lambda: number): number {
  return Math.abs(lambda) < 1e-12 ? Math.log(y) : (Math.pow(y, lambda) - 1) / lambda;
}

/** Inverse transform of one value (clamped to the domain for Box-Cox). */
export function inverse(t: ValueTransform | undefined, z: number): number {
  if (t === undefined) return z;
  switch (t.kind) {
    case 'log': return Math.exp(z);
    case 'log1p': return Math.expm1(z);
    case 'boxcox': {
      if (Math.abs(t.lambda) < 1e-12) return Math.exp(z);
      const b = 1 + t.lambda * z;
      if (b <= 0) return t.lambda > 0 ? 0 : Infinity;
      return Math.pow(b, 1 / t.lambda);
    }
  }
}

/** Mean, std and 90% interval (data units) of g⁻¹(Z), Z ~ N(m, s²); see the file comment. */
export interface BackTransformed { mean: number; std: number; lo90: number; hi90: number }

export function backTransform(t: ValueTransform | undefined, m: number, s: number): BackTransformed {
  const lo90 = inverse(t, m - Z90 * s);
  const hi90 = inverse(t, m + Z90 * s);
  if (t === undefined) return { mean: m, std: s, lo90, hi90 };
  if (t.kind === 'log' || t.kind === 'log1p' || (t.kind === 'boxcox' && Math.abs(t.lambda) < 1e-12)) {
    const mean = Math.exp(m + (s * s) / 2);
    const std = mean * Math.sqrt(Math.expm1(s * s));
    return { mean: t.kind === 'log1p' ? mean - 1 : mean, std, lo90, hi90 };
  }
  const { nodes, weights } = gaussHermite();
  let e1 = 0, e2 = 0;
  for (let i = 0; i < nodes.length; i++) {
    const y = inverse(t, m + Math.SQRT2 * s * nodes[i]!);
    e1 += weights[i]! * y;
    e2 += weights[i]! * y * y;
  }
  e1 /= Math.sqrt(Math.PI);
  e2 /= Math.sqrt(Math.PI);
  return { mean: e1, std: Math.sqrt(Math.max(0, e2 - e1 * e1)), lo90, hi90 };
}

let GH: { nodes: Float64Array; weights: Float64Array } | null = null;

/** Nodes and weights of 64-point Gauss–Hermite quadrature (∫ e^{−x²} f(x) dx), by Newton on Hₙ. */
export function gaussHermite(n = 64): { nodes: Float64Array; weights: Float64Array } {
  if (GH && GH.nodes.length === n) return GH;
  const nodes = new Float64Array(n);
  const weights = new Float64Array(n);
  // Orthonormal Hermite recurrence; initial guesses from Numerical Recipes' asymptotics.
  let z = 0;
  for (let i = 0; i < (n + 1) >> 1; i++) {
    if (i === 0) z = Math.sqrt(2 * n + 1) - 1.85575 * Math.pow(2 * n + 1, -1 / 6);
    else if (i === 1) z -= (1.14 * Math.pow(n, 0.426)) / z;
    else if (i === 2) z = 1.86 * z - 0.86 * nodes[0]!;
    else if (i === 3) z = 1.91 * z - 0.91 * nodes[1]!;
    else z = 2 * z - nodes[i - 2]!;
    let pp = 0;
    for (let it = 0; it < 100; it++) {
      let p1 = Math.pow(Math.PI, -0.25), p2 = 0;
      for (let j = 0; j < n; j++) {
        const p3 = p2;
        p2 = p1;
        p1 = z * Math.sqrt(2 / (j + 1)) * p2 - Math.sqrt(j / (j + 1)) * p3;
      }
      pp = Math.sqrt(2 * n) * p2;
      const z1 = z;
      z = z1 - p1 / pp;
      if (Math.abs(z - z1) <= 1e-14) break;
    }
    nodes[i] = z;
    nodes[n - 1 - i] = -z;
    weights[i] = weights[n - 1 - i] = 2 / (pp * pp);
  }
  GH = { nodes, weights };
  return GH;
}

/**
 * The Box-Cox λ maximising the profile log-likelihood of positive values `y`:
 * ℓ(λ) = −(n/2)·ln σ̂²(λ) + (λ − 1)·Σ ln yᵢ, σ̂² the variance of the transformed values;
 * a grid over [−2, 2] then golden-section refinement.
 */
export function fitBoxCoxLambda(y: ArrayLike<number>): number {
  let sumLog = 0;
  const n = y.length;
  for (let i = 0; i < n; i++) sumLog += Math.log(y[i]!);
  const ll = (lambda: number): number => {
    let s = 0, s2 = 0;
    for (let i = 0; i < n; i++) {
      const v = boxcox(y[i]!, lambda);
      s += v;
      s2 += v * v;
    }
    const variance = Math.max(s2 / n - (s / n) ** 2, 1e-300);
    return -(n / 2) * Math.log(variance) + (lambda - 1) * sumLog;
  };
  let best = 0, bestLl = -Infinity;
  for (let k = -40; k <= 40; k++) {
    const l = k / 20;
    const v = ll(l);
    if (v > bestLl) { bestLl = v; best = l; }
  }
  let a = Math.max(-2, best - 0.05), b = Math.min(2, best + 0.05);
  const g = (Math.sqrt(5) - 1) / 2;
  for (let it = 0; it < 60; it++) {
    const c = b - g * (b - a), d = a + g * (b - a);
    if (ll(c) > ll(d)) b = d; else a = c;
  }
  return (a + b) / 2;
}
