/**
 * Output transforms (data/schema/transforms.ts) against independent computations: the mean and
 * std of the back-transformed Gaussian by brute-force trapezoid quadrature over the normal density
 * (not Gauss–Hermite), the log-normal formulas written out here, the interval checked through a
 * numerically integrated normal CDF, and the Box-Cox λ recovered from data simulated with a known λ.
 */
import { describe, expect, it } from 'vitest';
import { backTransform, decodeGaussian, fitBoxCoxLambda, forward, inverse, Z90 } from '../../src/data/schema/index.js';
import { Rng } from '../../src/engine/random.js';
import type { DataSchema, ValueTransform } from '../../src/models/config.js';

/** E[h(Z)], Z ~ N(m, s²), by the trapezoid rule over ±12 s with 40,001 points. */
function expectation(h: (z: number) => number, m: number, s: number): number {
  const n = 40_000;
  const a = -12, b = 12, du = (b - a) / n;
  let sum = 0;
  for (let i = 0; i <= n; i++) {
    const u = a + i * du;
    const w = (i === 0 || i === n ? 0.5 : 1) * Math.exp(-0.5 * u * u) / Math.sqrt(2 * Math.PI);
    sum += w * h(m + s * u);
  }
  return sum * du;
}

/** Φ(x) by integrating the density from −12 (trapezoid). */
function normalCdf(x: number): number {
  return expectation((z) => (z <= x ? 1 : 0), 0, 1);
}

const cases: { t: ValueTransform; m: number; s: number }[] = [
  { t: { kind: 'log' }, m: 2.3, s: 0.4 },
  { t: { kind: 'log' }, m: -1, s: 1.2 },
  { t: { kind: 'log1p' }, m: 0.7, s: 0.3 },
  { t: { kind: 'boxcox', lambda: 0.5 }, m: 4, s: 0.6 },
  { t: { kind: 'boxcox', lambda: -0.3 }, m: 1.2, s: 0.1 },
  { t: { kind: 'boxcox', lambda: 0 }, m: 1, s: 0.5 },
];

describe('back-transform of N(m, s²) to data units', () => {
  it.each(cases)('$t.kind λ=$t.lambda m=$m s=$s: mean and std equal brute-force quadrature', ({ t, m, s }) => {
    const g = (z: number) => inverse(t, z);
    const e1 = expectation(g, m, s);
    const e2 = expectation((z) => g(z) ** 2, m, s);
    const b = backTransform(t, m, s);
    expect(Math.abs(b.mean - e1)).toBeLessThanOrEqual(1e-6 * Math.abs(e1) + 1e-9);
    expect(Math.abs(b.std - Math.sqrt(e2 - e1 * e1))).toBeLessThanOrEqual(1e-5 * Math.sqrt(e2 - e1 * e1));
  });

  it('log: the log-normal moments and quantiles', () => {
    const m = 2.1, s = 0.7;
    const b = backTransform({ kind: 'log' }, m, s);
    expect(b.mean).toBeCloseTo(Math.exp(m + s * s / 2), 10);
    expect(b.std).toBeCloseTo(Math.sqrt((Math.exp(s * s) - 1) * Math.exp(2 * m + s * s)), 10);
    expect(b.lo90).toBeCloseTo(Math.exp(m - 1.6448536269514722 * s), 10);
    expect(b.hi90).toBeCloseTo(Math.exp(m + 1.6448536269514722 * s), 10);
  });

  it.each(cases)('$t.kind: the 90% interval holds 5% below and 5% above (numerical normal CDF)', ({ t, m, s }) => {
    const b = backTransform(t, m, s);
    expect(normalCdf((forward(t, b.lo90) - m) / s)).toBeCloseTo(0.05, 4);
    expect(normalCdf((forward(t, b.hi90) - m) / s)).toBeCloseTo(0.95, 4);
  });

  it('no transform: mean ∓ 1.6449 std', () => {
    expect(backTransform(undefined, 3, 2)).toEqual({ mean: 3, std: 2, lo90: 3 - Z90 * 2, hi90: 3 + Z90 * 2 });
  });

  it('decodeGaussian undoes the normalisation, then back-transforms per output', () => {
    const schema: DataSchema = {
      columns: { x: [], s: ['x'], t: [], f: ['a', 'b'] }, units: {}, distance: 'euclidean',
      normalization: { a: { mean: 1, std: 2 }, b: { mean: -1, std: 0.5 } },
      transforms: { a: { kind: 'log' } },
    };
    const cols = decodeGaussian(schema, [0.5, 2, -1, 0], [0.1, 0.2, 0.3, 0.4], 2);
    expect(cols).toHaveLength(8);
    // Row 1, output a: m = 0.5·2 + 1 = 2, s = 0.1·2 = 0.2 in log space.
    expect(cols[0]![0]).toBeCloseTo(Math.exp(2 + 0.02), 5);
    // Row 2, output b: identity, m = 0·0.5 − 1, s = 0.4·0.5.
    expect(cols[4]![1]).toBeCloseTo(-1, 6);
    expect(cols[5]![1]).toBeCloseTo(0.2, 6);
    expect(cols[6]![1]).toBeCloseTo(-1 - Z90 * 0.2, 6);
  });
});

describe('Box-Cox λ by maximum likelihood', () => {
  it.each([0.5, 0, -0.5, 1])('recovers λ = %f from 4000 simulated values', (lambda) => {
    // Gaussian in Box-Cox space around y = 10 with a 35% spread in y (λ is then well identified).
    const rng = Rng.fromSeed(7);
    const t: ValueTransform = { kind: 'boxcox', lambda };
    const m = forward(t, 10), s = 0.35 * 10 ** lambda;
    const y = Array.from({ length: 4000 }, () => inverse(t, m + s * rng.normal())).filter((v) => v > 0 && Number.isFinite(v));
    expect(y.length).toBeGreaterThan(3990);
    expect(Math.abs(fitBoxCoxLambda(y) - lambda)).toBeLessThan(0.15);
  });

  it('the fitted λ maximises the profile likelihood (a finer grid finds nothing better)', () => {
    const rng = Rng.fromSeed(3);
    const y = Array.from({ length: 500 }, () => Math.exp(1 + 0.5 * rng.normal()) + 0.3);
    const ll = (l: number) => {
      const z = y.map((v) => (l === 0 ? Math.log(v) : (v ** l - 1) / l));
      const mean = z.reduce((a, b) => a + b, 0) / z.length;
      const v = z.reduce((a, b) => a + (b - mean) ** 2, 0) / z.length;
      return -(y.length / 2) * Math.log(v) + (l - 1) * y.reduce((a, b) => a + Math.log(b), 0);
    };
    const best = fitBoxCoxLambda(y);
    for (let l = -2; l <= 2; l += 0.001) expect(ll(l)).toBeLessThanOrEqual(ll(best) + 1e-6);
  });
});
