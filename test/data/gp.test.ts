// GP sampler, hyper-prior samplers and the exact posterior against independent expectations.
import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/engine/random.js';
import { beta, gamma } from '../../src/data/distributions.js';
import { sampleGpFunctions, sampleGpFunctionsMarginal } from '../../src/data/gp.js';
import { gaussianMeanNll, gpPosterior } from '../../src/data/gp-posterior.js';
import { type KernelSpec, greatCircleDegrees, kernelColumnsLower, kernelMatrix, kernelOfDistance } from '../../src/data/kernels.js';
import { rbfColumns2d } from '../../src/data/cholesky.js';

describe('kernels', () => {
  it('evaluate the closed forms', () => {
    expect(kernelOfDistance({ kind: 'rbf', variance: 2, lengthscale: 0.5 }, 1)).toBeCloseTo(2 * Math.exp(-2), 14);
    expect(kernelOfDistance({ kind: 'matern32', variance: 1, lengthscale: 1 }, 1))
      .toBeCloseTo((1 + Math.sqrt(3)) * Math.exp(-Math.sqrt(3)), 14);
    expect(kernelOfDistance({ kind: 'exponential', variance: 1, lengthscale: 2 }, 1)).toBeCloseTo(Math.exp(-0.5), 14);
    expect(kernelOfDistance({ kind: 'periodic', variance: 1, lengthscale: 1, period: 2 }, 2)).toBeCloseTo(1, 14);
  });

  it('the lower first-m columns of a 2-D RBF matrix (WebAssembly exp) match Math.exp to 4e-15', () => {
    // Points over a wide box so that entries run from 1 down to underflow; ragged n, odd rows.
    const r = Rng.fromSeed(12);
    for (const [n, m, ls] of [[203, 64, 0.3], [67, 66, 0.05], [9, 2, 2.0]] as const) {
      const locs = Float64Array.from({ length: 2 * n }, () => 8 * r.uniform() - 4);
      const spec: KernelSpec = { kind: 'rbf', variance: 1.7, lengthscale: ls };
      const w = rbfColumns2d(locs, n, m, -1 / (2 * ls * ls), 1.7);
      expect(w).not.toBeNull();
      const ref = kernelMatrix(spec, locs, n, locs, m, 2);
      let worst = 0, tiny = 0;
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < m; j++) {
          const got = w![i * m + j]!;
          if (j > i) { expect(got).toBe(0); continue; }
          const e = ref[i * m + j]!;
          if (e < 1e-300) { tiny = Math.max(tiny, Math.abs(got - e)); continue; }
          worst = Math.max(worst, Math.abs(got - e) / e);
        }
      }
      expect(worst, `n ${n} m ${m}`).toBeLessThan(4e-15);
      expect(tiny).toBeLessThan(1e-300);
      expect(Array.from(kernelColumnsLower(spec, locs, n, m, 2))).toEqual(Array.from(w!));
    }
    expect(rbfColumns2d(new Float64Array(6), 3, 3, -1, 1)).toBeNull(); // m odd: the JS path
  });

  it('great-circle distance: quarter meridian is 90°, along the equator is Δlon', () => {
    expect(greatCircleDegrees(0, 0, 0, 90)).toBeCloseTo(90, 10);
    expect(greatCircleDegrees(10, 0, 40, 0)).toBeCloseTo(30, 10);
    const k = kernelMatrix({ kind: 'great-circle-exponential', variance: 1, lengthscale: 15 }, [0, 0], 1, [0, 30], 1, 2);
    expect(k[0]).toBeCloseTo(Math.exp(-2), 12);
  });
});

describe('hyper-prior samplers', () => {
  const N = 20000;
  it('Beta(3, 7) has mean 0.3 and variance 21/1100', () => {
    const rng = Rng.fromSeed(1);
    let s = 0, s2 = 0;
    for (let i = 0; i < N; i++) { const x = beta(rng, 3, 7); s += x; s2 += x * x; }
    const m = s / N;
    // SE of the mean = sqrt(0.0191/N) ≈ 0.001: tolerance 5 SE.
    expect(Math.abs(m - 0.3)).toBeLessThan(0.005);
    expect(Math.abs(s2 / N - m * m - 21 / 1100)).toBeLessThan(0.0015);
  });

  it('Gamma(3, rate 30) has mean 0.1; Gamma(0.5) (boost path) has mean 0.5', () => {
    const rng = Rng.fromSeed(2);
    let s = 0, h = 0;
    for (let i = 0; i < N; i++) { s += gamma(rng, 3, 30); h += gamma(rng, 0.5); }
    // SEs: sqrt(3/900/N) ≈ 4.1e-4 and sqrt(0.5/N) = 0.005; tolerance 5 SE.
    expect(Math.abs(s / N - 0.1)).toBeLessThan(0.002);
    expect(Math.abs(h / N - 0.5)).toBeLessThan(0.025);
  });
});

describe('GP sampler', () => {
  it('sample covariance of many draws ≈ the kernel', () => {
    const spec: KernelSpec = { kind: 'rbf', variance: 1, lengthscale: 0.5 };
    const locs = [0, 0, 0.3, 0.1, -0.6, 0.4];
    const N = 20000;
    const f = sampleGpFunctions(Rng.fromSeed(5), spec, locs, 3, 2, N);
    const k = kernelMatrix(spec, locs, 3, locs, 3, 2);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) {
      let c = 0;
      for (let b = 0; b < N; b++) c += f[b * 3 + i]! * f[b * 3 + j]!;
      // Known zero mean; Var(ĉ_ij) = (K_ii K_jj + K_ij²)/N ≤ 2/N → SE ≤ 0.01; tolerance 5 SE.
      expect(Math.abs(c / N - k[i * 3 + j]! - (i === j ? 1e-5 : 0))).toBeLessThan(0.05);
    }
  });
});

describe('GP sampler, marginal test points', () => {
  // m = 64 context slots (one Cholesky tile) and 6 test points in [−1, 1]², ℓ = 0.5.
  const spec: KernelSpec = { kind: 'rbf', variance: 1, lengthscale: 0.5 };
  const m = 64, nt = 6, n = m + nt;
  const r = Rng.fromSeed(17);
  const locs = Float64Array.from({ length: 2 * n }, () => 2 * r.uniform() - 1);
  const K = kernelMatrix(spec, locs, n, locs, n, 2);

  it('every (context, test point) pair has the kernel covariance of the joint draw', () => {
    const N = 20000;
    const f = sampleGpFunctionsMarginal(Rng.fromSeed(6), spec, locs, n, 2, m, N);
    // Pairs: context–context, context–test, test–test (same point); Var(ĉ) ≤ 2/N → SE ≤ 0.01.
    const pairs = [[0, 0], [3, 40], [63, 5], [m, m], [m + 5, m + 5], [2, m], [50, m + 3], [m + 1, 7]];
    for (const [i, j] of pairs as [number, number][]) {
      let c = 0;
      for (let b = 0; b < N; b++) c += f[b * n + i]! * f[b * n + j]!;
      expect(Math.abs(c / N - K[i * n + j]! - (i === j ? 1e-5 : 0)), `pair ${i}, ${j}`).toBeLessThan(0.05);
    }
  });

  it('each test value is a draw from the exact GP posterior given the latent context values', () => {
    const N = 1500;
    const f = sampleGpFunctionsMarginal(Rng.fromSeed(7), spec, locs, n, 2, m, N);
    const sc = locs.subarray(0, 2 * m), st = locs.subarray(2 * m);
    let s = 0, s2 = 0;
    for (let b = 0; b < N; b++) {
      // Noise-free context (the latent values), jitter as in the sampler: the conditional of f_t.
      const post = gpPosterior(spec, sc, f.subarray(b * n, b * n + m), m, st, nt, 2, 0, { jitter: 1e-5 });
      for (let t = 0; t < nt; t++) {
        const z = (f[b * n + m + t]! - post.mean[t]!) / post.std[t]!;
        s += z;
        s2 += z * z;
      }
    }
    const k = N * nt;
    // Standardised residuals are N(0, 1): mean SE 1/√9000 ≈ 0.011, variance SE √(2/9000) ≈ 0.015.
    expect(Math.abs(s / k)).toBeLessThan(0.05);
    expect(Math.abs(s2 / k - 1)).toBeLessThan(0.07);
  });

  it('m = n is the joint draw itself', () => {
    const a = sampleGpFunctions(Rng.fromSeed(8), spec, locs, n, 2, 3);
    const b = sampleGpFunctionsMarginal(Rng.fromSeed(8), spec, locs, n, 2, n, 3);
    expect(Array.from(b)).toEqual(Array.from(a));
  });
});

describe('GP posterior (oracle)', () => {
  // 3 context points, explicit 3×3 inverse by cofactors (independent of the Cholesky path).
  function inverse3(a: number[]): number[] {
    const [p, q, r, s, t, u, v, w, x] = a as [number, number, number, number, number, number, number, number, number];
    const c = [t * x - u * w, -(s * x - u * v), s * w - t * v, -(q * x - r * w), p * x - r * v, -(p * w - q * v),
      q * u - r * t, -(p * u - r * s), p * t - q * s];
    const det = p * c[0]! + q * c[1]! + r * c[2]!;
    // inverse = adjugate / det, adjugate = cofactorᵀ
    return [c[0]!, c[3]!, c[6]!, c[1]!, c[4]!, c[7]!, c[2]!, c[5]!, c[8]!].map((e) => e / det);
  }

  it('equals a brute-force dense solve on a 3-point case, ignoring masked rows', () => {
    const spec: KernelSpec = { kind: 'rbf', variance: 1.3, lengthscale: 0.4 };
    const noise = 0.1, jitter = 1e-5;
    const sc = [0.1, 0.2, -0.3, 0.5, 0.6, -0.1];
    const y = [0.4, -0.7, 1.1];
    const st = [0, 0, 0.5, 0.5];
    const kcc = Array.from(kernelMatrix(spec, sc, 3, sc, 3, 2));
    for (let i = 0; i < 3; i++) kcc[i * 3 + i]! += noise * noise + jitter;
    const inv = inverse3(kcc);
    const kct = kernelMatrix(spec, sc, 3, st, 2, 2);
    // Add a padded 4th context row with a wild value: it must be ignored.
    const post = gpPosterior(spec, [...sc, 9, 9], [...y, 100], 4, st, 2, 2, noise, { mask: [1, 1, 1, 0], jitter });
    for (let t = 0; t < 2; t++) {
      let mean = 0, quad = 0;
      for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) {
        mean += kct[i * 2 + t]! * inv[i * 3 + j]! * y[j]!;
        quad += kct[i * 2 + t]! * inv[i * 3 + j]! * kct[j * 2 + t]!;
      }
      expect(post.mean[t]).toBeCloseTo(mean, 10);
      expect(post.std[t]).toBeCloseTo(Math.sqrt(1.3 + jitter - quad), 10);
    }
    // NLL is lowest when the targets equal the posterior mean.
    const atMean = gaussianMeanNll(post.mean, post.mean, post.std);
    const off = gaussianMeanNll([post.mean[0]! + 0.3, post.mean[1]! - 0.3], post.mean, post.std);
    expect(atMean).toBeLessThan(off);
    const expected = 0.5 * (Math.log(post.std[0]!) + Math.log(post.std[1]!)) + 0.5 * Math.log(2 * Math.PI);
    expect(atMean).toBeCloseTo(expected, 12);
  });

  it('matches a dense Gauss-Jordan solve past the 64-column tile, masked, in any chunking', () => {
    // 150 context slots, 131 valid (padded to 192 columns inside), 70 test points.
    const r = Rng.fromSeed(21);
    const spec: KernelSpec = { kind: 'matern32', variance: 1.4, lengthscale: 0.7 };
    const n = 150, m = 70, noise = 0.2, jitter = 1e-5;
    const sc = Float64Array.from({ length: 2 * n }, () => 4 * r.uniform() - 2);
    const st = Float64Array.from({ length: 2 * m }, () => 4 * r.uniform() - 2);
    const y = Float64Array.from({ length: n }, () => r.normal());
    const mask = Float64Array.from({ length: n }, (_, i) => (i % 8 === 3 ? 0 : 1));
    const keep = [...mask.keys()].filter((i) => mask[i] === 1);
    const nv = keep.length;
    const sv = Float64Array.from({ length: 2 * nv }, (_, k) => sc[2 * keep[k >> 1]! + (k & 1)]!);
    // [C | I] → [I | C⁻¹] by Gauss-Jordan with partial pivoting (no Cholesky anywhere).
    const kcc = kernelMatrix(spec, sv, nv, sv, nv, 2);
    const aug = Array.from({ length: nv }, (_, i) => [...Array.from({ length: nv }, (_, j) => kcc[i * nv + j]! + (i === j ? jitter + noise * noise : 0)),
      ...Array.from({ length: nv }, (_, j) => (i === j ? 1 : 0))]);
    for (let c = 0; c < nv; c++) {
      let p = c;
      for (let i = c + 1; i < nv; i++) if (Math.abs(aug[i]![c]!) > Math.abs(aug[p]![c]!)) p = i;
      [aug[c], aug[p]] = [aug[p]!, aug[c]!];
      const d = aug[c]![c]!;
      for (let j = 0; j < 2 * nv; j++) aug[c]![j]! /= d;
      for (let i = 0; i < nv; i++) {
        if (i === c) continue;
        const f = aug[i]![c]!;
        if (f !== 0) for (let j = 0; j < 2 * nv; j++) aug[i]![j]! -= f * aug[c]![j]!;
      }
    }
    const kct = kernelMatrix(spec, sv, nv, st, m, 2);
    const yv = keep.map((i) => y[i]!);
    const expMean: number[] = [], expStd: number[] = [];
    for (let t = 0; t < m; t++) {
      let mean = 0, quad = 0;
      for (let i = 0; i < nv; i++) {
        let row = 0, rowy = 0;
        for (let j = 0; j < nv; j++) {
          row += aug[i]![nv + j]! * kct[j * m + t]!;
          rowy += aug[i]![nv + j]! * yv[j]!;
        }
        mean += kct[i * m + t]! * rowy;
        quad += kct[i * m + t]! * row;
      }
      expMean.push(mean);
      expStd.push(Math.sqrt(1.4 + jitter - quad + 0.01));
    }
    for (const chunk of [undefined, 16, 70, 1]) {
      const post = gpPosterior(spec, sc, y, n, st, m, 2, noise, { mask, jitter, targetNoiseStd: 0.1, chunk });
      for (let t = 0; t < m; t++) {
        expect(Math.abs(post.mean[t]! - expMean[t]!)).toBeLessThan(1e-9);
        expect(Math.abs(post.std[t]! - expStd[t]!)).toBeLessThan(1e-9);
      }
    }
  });

  it('with no valid context returns the prior', () => {
    const post = gpPosterior({ kind: 'rbf', variance: 1, lengthscale: 1 }, [0], [1], 1, [0.5], 1, 1, 0.1, { mask: [0] });
    expect(post.mean[0]).toBe(0);
    expect(post.std[0]).toBeCloseTo(Math.sqrt(1 + 1e-5), 12);
  });
});
