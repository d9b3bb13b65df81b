// The gp-mixture prior task (issue 17) against independent expectations: the space-time sampler's
// empirical covariance vs the kernel formulas written out here, the hyper-prior's sample statistics,
// and the exact-posterior oracle vs a dense float64 GP posterior written out here.
import { describe, expect, it } from 'vitest';
import { familyReference as family } from '../helpers/kernel-families.js';
import { Rng } from '../../src/engine/random.js';
import { GP_MIXTURE, type GpMixtureConfig, gpMixtureTask, sampleMixtureDraw } from '../../src/data/gp-mixture.js';
import { sampleGpFunctionsMarginal } from '../../src/data/gp.js';
import type { KernelSpec } from '../../src/data/kernels.js';
import { gpOracle } from '../../src/data/tasks.js';
import type { Batch } from '../../src/data/batch.js';
import { resolveTask, withZeroTime } from '../../src/train/tasks.js';


/** σ² k_s(‖Δs‖) k_t(|Δt|) for points [s0, s1, t]. */
function spaceTime(spec: KernelSpec, p: ArrayLike<number>, i: number, q: ArrayLike<number>, j: number): number {
  const ds = Math.hypot(p[3 * i]! - q[3 * j]!, p[3 * i + 1]! - q[3 * j + 1]!);
  const dt = Math.abs(p[3 * i + 2]! - q[3 * j + 2]!);
  return spec.variance * family(spec.kind, ds, spec.lengthscale) * family(spec.time!.kind, dt, spec.time!.lengthscale);
}

const FAMILIES = ['rbf', 'exponential', 'matern32', 'matern52'] as const;

describe('space-time sampler: empirical covariance = σ² k_s · k_t for every family', () => {
  // 64 context slots (joint) + 2 later points (each drawn given the 64): pairs (slot, slot),
  // (slot, later) and every variance must follow the kernel.
  const n = 66, m = 64, N = 12000;
  const r = Rng.fromSeed(3);
  const locs = Float64Array.from({ length: n * 3 }, (_, i) => (i % 3 === 2 ? 2 * r.uniform() : r.uniform()));
  const pairs: [number, number][] = [[0, 0], [0, 1], [2, 7], [5, 40], [63, 63], [0, 64], [10, 65], [64, 64], [65, 65], [33, 64]];
  for (const kind of FAMILIES) {
    for (const tKind of [kind, FAMILIES[(FAMILIES.indexOf(kind) + 1) % 4]!]) {
      it(`space ${kind}, time ${tKind}`, () => {
        const spec: KernelSpec = { kind, variance: 0.7, lengthscale: 0.6, time: { kind: tKind, lengthscale: 1.5 } };
        const f = sampleGpFunctionsMarginal(Rng.fromSeed(9), spec, locs, n, 3, m, N, 1e-6);
        for (const [i, j] of pairs) {
          let s = 0;
          for (let b = 0; b < N; b++) s += f[b * n + i]! * f[b * n + j]!;
          const want = spaceTime(spec, locs, i, locs, j) + (i === j ? 1e-6 : 0);
          // SE of a product-moment estimate: sqrt((k_ii k_jj + k_ij²) / N) ≤ 0.7·sqrt(2/N); 5 SE.
          expect(Math.abs(s / N - want), `pair ${i},${j}: want ${want}`).toBeLessThan(5 * 0.7 * Math.sqrt(2 / N));
        }
      });
    }
  }
});

describe('gp-mixture hyper-prior', () => {
  const N = 20000;
  const rng = Rng.fromSeed(17);
  const draws = Array.from({ length: N }, () => sampleMixtureDraw(rng, GP_MIXTURE));
  const logStats = (xs: number[], lo: number, hi: number) => {
    const ls = xs.map(Math.log);
    const mean = ls.reduce((a, b) => a + b, 0) / N;
    const v = ls.reduce((a, b) => a + (b - mean) ** 2, 0) / (N - 1);
    const w = Math.log(hi) - Math.log(lo);
    // log x ~ U[log lo, log hi]: mean at the centre, variance w²/12; SE of the mean w/sqrt(12N).
    expect(Math.abs(mean - (Math.log(lo) + Math.log(hi)) / 2)).toBeLessThan(5 * w / Math.sqrt(12 * N));
    expect(v / (w * w / 12)).toBeGreaterThan(0.96);
    expect(v / (w * w / 12)).toBeLessThan(1.04);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(lo);
    expect(Math.max(...xs)).toBeLessThanOrEqual(hi);
    // Both ends are reached: the lowest and highest 2 % of the log range are populated.
    expect(Math.min(...ls)).toBeLessThan(Math.log(lo) + 0.02 * w);
    expect(Math.max(...ls)).toBeGreaterThan(Math.log(hi) - 0.02 * w);
  };
  it('ℓ_s ~ LogU[0.04, 4], ℓ_t ~ LogU[0.04, 400], σ² ~ LogU[1e-3, 1], noise std ~ LogU[1e-3, 1]', () => {
    logStats(draws.map((d) => d.kernel.lengthscale), 0.04, 4);
    logStats(draws.map((d) => d.kernel.time.lengthscale), 0.04, 400);
    logStats(draws.map((d) => d.kernel.variance), 1e-3, 1);
    logStats(draws.map((d) => d.noiseStd), 1e-3, 1);
  });
  it('space and time families are uniform over the 4 and independent; half the elements are time slices, K uniform in 1…8', () => {
    const joint = new Map<string, number>();
    for (const d of draws) joint.set(`${d.kernel.kind}/${d.kernel.time.kind}`, (joint.get(`${d.kernel.kind}/${d.kernel.time.kind}`) ?? 0) + 1);
    expect(joint.size).toBe(16);
    // Each of 16 cells has p = 1/16: SE sqrt(p(1−p)/N) ≈ 0.0017; 5 SE.
    for (const c of joint.values()) expect(Math.abs(c / N - 1 / 16)).toBeLessThan(5 * Math.sqrt((1 / 16) * (15 / 16) / N));
    const slices = draws.map((d) => d.slices);
    const frac = slices.filter((k) => k > 0).length / N;
    expect(Math.abs(frac - 0.5)).toBeLessThan(5 * Math.sqrt(0.25 / N));
    for (let k = 1; k <= 8; k++) {
      const c = slices.filter((x) => x === k).length / N;
      expect(Math.abs(c - 1 / 16), `K = ${k}`).toBeLessThan(5 * Math.sqrt((1 / 16) * (15 / 16) / N));
    }
  });
});

describe('gp-mixture batches', () => {
  const small = (over: Partial<GpMixtureConfig> = {}): GpMixtureConfig => ({ ...GP_MIXTURE, ncMin: 4, ncMax: 24, nt: 16, batch: 6, ...over });

  it('shapes, boxes, one kernel per element, n_b in [ncMin, ncMax), noise on context values only', () => {
    const b = gpMixtureTask(small({ noiseStd: [0.3, 0.3] }))(Rng.fromSeed(1));
    expect(b.dims).toEqual({ Ds: 2, Dt: 1, Dx: 0, Df: 1 });
    expect(b.gp!.elements).toHaveLength(6);
    for (const v of [...b.s_ctx, ...b.s_test]) { expect(v).toBeGreaterThanOrEqual(-2); expect(v).toBeLessThanOrEqual(2); }
    for (const v of [...b.t_ctx!, ...b.t_test!]) { expect(v).toBeGreaterThanOrEqual(0); expect(v).toBeLessThanOrEqual(4); }
    for (let e = 0; e < 6; e++) {
      const nb = b.n_ctx[e]!;
      expect(nb).toBeGreaterThanOrEqual(4);
      expect(nb).toBeLessThan(24);
      for (let i = 0; i < 24; i++) expect(b.mask_ctx[e * 24 + i]).toBe(i < nb ? 1 : 0);
      expect(b.gp!.elements![e]!.testNoiseStd).toBe(0);
    }
    const noise = Array.from(b.f_ctx, (v, i) => v - b.gp!.latent_ctx[i]!);
    const sd = Math.sqrt(noise.reduce((a, x) => a + x * x, 0) / noise.length);
    expect(sd).toBeGreaterThan(0.3 * 0.8);
    expect(sd).toBeLessThan(0.3 * 1.2);
    // Elements differ in hyper-parameters.
    expect(new Set(b.gp!.elements!.map((e) => e.kernel.lengthscale)).size).toBe(6);
  });

  it('time slices sit on linspace(0, 4, K) (K = 1: all at t = 0); continuous times spread over [0, 4]', () => {
    const sl = gpMixtureTask(small({ sliceProbability: 1, maxSlices: 3, batch: 40 }))(Rng.fromSeed(2));
    const seen = new Set<number>();
    for (let e = 0; e < 40; e++) {
      const ts = new Set([...sl.t_ctx!.subarray(e * 24, (e + 1) * 24), ...sl.t_test!.subarray(e * 16, (e + 1) * 16)]);
      for (const t of ts) expect([0, 2, 4]).toContain(t);
      seen.add(ts.size === 1 ? 1 : ts.has(2) ? 3 : 2);
    }
    expect([...seen].sort()).toEqual([1, 2, 3]);
    const co = gpMixtureTask(small({ sliceProbability: 0 }))(Rng.fromSeed(3));
    expect(new Set(co.t_ctx).size).toBe(co.t_ctx!.length);
  });

  it('reproducible from the seed', () => {
    const g = gpMixtureTask(small());
    expect(Array.from(g(Rng.fromSeed(4)).f_test)).toEqual(Array.from(g(Rng.fromSeed(4)).f_test));
    expect(Array.from(g(Rng.fromSeed(4)).f_test)).not.toEqual(Array.from(g(Rng.fromSeed(5)).f_test));
  });

  it('options are validated with the field named', () => {
    expect(() => resolveTask({ name: 'gp-mixture', options: { lengthscaleS: [1, 0.1] } }, 2)).toThrow(/lengthscaleS: expected lo ≤ hi, got \[1, 0.1\]/);
    expect(() => resolveTask({ name: 'gp-mixture', options: { families: ['matern21'] } }, 2)).toThrow(/families\[0\]: expected one of "rbf", "matern12", "matern32", "matern52", got "matern21"/);
    expect(() => resolveTask({ name: 'gp-mixture', options: { nct: 3 } }, 2)).toThrow(/nct/);
    expect(resolveTask({ name: 'gp-mixture', options: { families: ['matern12'], variance: 0.5 } }, 2).mixture).toMatchObject({ families: ['exponential'], variance: [0.5, 0.5] });
  });
});

/** Dense float64 GP posterior by Gauss–Jordan on [K + (jitter + noise²) I | y | K_c*]. */
function densePosterior(k: (i: number, j: number) => number, kt: (t: number, i: number) => number, kss: number, y: number[],
  nt: number, noiseVar: number, jitter: number, testNoiseVar: number): { mean: number[]; sd: number[] } {
  const n = y.length;
  const cols = 1 + nt;
  const a = Array.from({ length: n }, (_, i) => [
    ...Array.from({ length: n }, (_, j) => k(i, j) + (i === j ? jitter + noiseVar : 0)), y[i]!,
    ...Array.from({ length: nt }, (_, t) => kt(t, i))]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(a[r]![c]!) > Math.abs(a[p]![c]!)) p = r;
    [a[c], a[p]] = [a[p]!, a[c]!];
    const piv = a[c]![c]!;
    for (let j = 0; j < n + cols; j++) a[c]![j]! /= piv;
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = a[r]![c]!;
      if (f !== 0) for (let j = 0; j < n + cols; j++) a[r]![j]! -= f * a[c]![j]!;
    }
  }
  // Row i of the solved block: alpha = (K + σ²I)⁻¹ y in column n, V = (K + σ²I)⁻¹ K_c* after.
  const mean: number[] = [], sd: number[] = [];
  for (let t = 0; t < nt; t++) {
    let mu = 0, q = 0;
    for (let i = 0; i < n; i++) { mu += kt(t, i) * a[i]![n]!; q += kt(t, i) * a[i]![n + 1 + t]!; }
    mean.push(mu);
    sd.push(Math.sqrt(kss + jitter - q + testNoiseVar));
  }
  return { mean, sd };
}

function checkOracle(b: Batch, kernelOf: (e: number) => (p: number[], q: number[]) => number) {
  const o = gpOracle(b);
  const D = b.dims.Ds, Dt = b.dims.Dt;
  const pt = (s: Float32Array, t: Float32Array | undefined, row: number) =>
    [...s.subarray(row * D, (row + 1) * D), ...(t ? t.subarray(row * Dt, (row + 1) * Dt) : [])];
  for (let e = 0; e < b.B; e++) {
    const el = b.gp!.elements?.[e] ?? b.gp!;
    const k = kernelOf(e);
    const valid = Array.from({ length: b.Nc }, (_, i) => i).filter((i) => b.mask_ctx[e * b.Nc + i] === 1);
    const ctx = valid.map((i) => pt(b.s_ctx, b.t_ctx, e * b.Nc + i));
    const tst = Array.from({ length: b.Nt }, (_, j) => pt(b.s_test, b.t_test, e * b.Nt + j));
    const ref = densePosterior((i, j) => k(ctx[i]!, ctx[j]!), (t, i) => k(tst[t]!, ctx[i]!), k(tst[0]!, tst[0]!),
      valid.map((i) => b.f_ctx[e * b.Nc + i]!), b.Nt, el.noiseStd ** 2, el.jitter, el.testNoiseStd ** 2);
    let nll = 0;
    for (let t = 0; t < b.Nt; t++) {
      expect(o.mean[e * b.Nt + t]).toBeCloseTo(ref.mean[t]!, 4);
      expect(o.std[e * b.Nt + t]! / ref.sd[t]!).toBeCloseTo(1, 4);
      const z = (b.f_test[e * b.Nt + t]! - ref.mean[t]!) / ref.sd[t]!;
      nll += Math.log(ref.sd[t]!) + 0.5 * Math.log(2 * Math.PI) + 0.5 * z * z;
    }
    expect(o.nll[e]).toBeCloseTo(nll / b.Nt, 4);
  }
}

describe('the oracle of eval equals a dense GP posterior written out here', () => {
  it('gp-mixture (space-time kernels, per-element hyper-parameters, noisy and latent test targets)', () => {
    for (const noisyTest of [false, true]) {
      const b = gpMixtureTask({ ...GP_MIXTURE, ncMin: 3, ncMax: 9, nt: 5, batch: 4, noisyTest })(Rng.fromSeed(11));
      checkOracle(b, (e) => {
        const spec = b.gp!.elements![e]!.kernel;
        return (p, q) => spaceTime(spec, p, 0, q, 0);
      });
    }
  });
  it('gp-smooth (RBF, ℓ = 4) and gp-noisy (noise 0.5), also with a zero time column added', () => {
    const opts = { ncMin: 4, ncMax: 10, nt: 6 };
    const smooth = resolveTask({ name: 'gp-smooth', options: opts }, 2).generator(Rng.fromSeed(12));
    expect(smooth.gp!.kernel).toMatchObject({ kind: 'rbf', lengthscale: 4 });
    const rbf = (l: number) => (p: number[], q: number[]) => Math.exp(-((p[0]! - q[0]!) ** 2 + (p[1]! - q[1]!) ** 2) / (2 * l * l));
    checkOracle(smooth, () => rbf(4));
    const noisy = resolveTask({ name: 'gp-noisy', options: opts }, 2).generator(Rng.fromSeed(13));
    expect(noisy.gp!.noiseStd).toBe(0.5);
    const noise = Array.from(noisy.f_ctx, (v, i) => v - noisy.gp!.latent_ctx[i]!);
    expect(Math.sqrt(noise.reduce((a, x) => a + x * x, 0) / noise.length)).toBeGreaterThan(0.3);
    checkOracle(noisy, () => rbf(noisy.gp!.kernel.lengthscale));
    const timed = withZeroTime(noisy, 1);
    expect(timed.dims.Dt).toBe(1);
    expect(Array.from(timed.t_ctx!)).toEqual(new Array(2 * 10).fill(0));
    expect(gpOracle(timed).meanNll).toBeCloseTo(gpOracle(noisy).meanNll, 10);
  });
});
