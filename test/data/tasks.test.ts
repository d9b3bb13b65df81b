// GP task split rules, noise model, reproducibility and the oracle, against the spec (experiments.md §2–§5).
import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/engine/random.js';
import { assertBatch, sliceBatch } from '../../src/data/batch.js';
import { greatCircleDegrees } from '../../src/data/kernels.js';
import { MULTISCALE_2D } from '../../src/data/multiscale.js';
import { rotateLonLat, so3Task } from '../../src/data/sphere.js';
import { GP_2D, type GpTaskConfig, gpOracle, gpTask } from '../../src/data/tasks.js';

const SMALL: GpTaskConfig = { ...GP_2D, regions: [{ lo: [-2, -2], hi: [2, 2], count: 20 }], ncMin: 3, ncMax: 7, nt: 9, batch: 4 };

describe('2-D GP task (GP_2D)', () => {
  const batch = gpTask(GP_2D)(Rng.fromSeed(11));

  it('has the documented shapes and domain', () => {
    assertBatch(batch);
    expect([batch.B, batch.Nc, batch.Nt]).toEqual([8, 512, 1024]);
    expect(batch.dims).toEqual({ Ds: 2, Dt: 0, Dx: 0, Df: 1 });
    for (const v of [...batch.s_ctx, ...batch.s_test]) expect(Math.abs(v)).toBeLessThanOrEqual(2);
  });

  it('uses one permutation for the batch and disjoint context/test locations', () => {
    const key = (s: Float32Array, i: number): string => `${s[2 * i]},${s[2 * i + 1]}`;
    const ctx = new Set<string>();
    for (let i = 0; i < 512; i++) ctx.add(key(batch.s_ctx, i));
    expect(ctx.size).toBe(512);
    for (let j = 0; j < 1024; j++) expect(ctx.has(key(batch.s_test, j))).toBe(false);
    // Every element shares the locations.
    expect(batch.s_ctx.subarray(7 * 512 * 2, 8 * 512 * 2)).toEqual(batch.s_ctx.subarray(0, 512 * 2));
  });

  it('valid context rows are a prefix of length n_b in [128, 512)', () => {
    for (let b = 0; b < 8; b++) {
      const n = batch.n_ctx[b]!;
      expect(n).toBeGreaterThanOrEqual(128);
      expect(n).toBeLessThan(512);
      for (let i = 0; i < 512; i++) expect(batch.mask_ctx[b * 512 + i]).toBe(i < n ? 1 : 0);
    }
  });

  it('adds N(0, 0.1²) noise to context values only', () => {
    const lat = batch.gp!.latent_ctx;
    let s = 0, s2 = 0;
    const N = lat.length;
    for (let i = 0; i < N; i++) { const d = batch.f_ctx[i]! - lat[i]!; s += d; s2 += d * d; }
    // N = 4096: SE of the mean 0.1/64 ≈ 0.0016, SE of the variance 0.01·sqrt(2/N) ≈ 2.2e-4; 5 SE.
    expect(Math.abs(s / N)).toBeLessThan(0.008);
    expect(Math.abs(s2 / N - 0.01)).toBeLessThan(0.0011);
  });

  it('oracle NLL is finite and far better than the prior N(0, 1)', () => {
    // Two elements keep the test fast (each costs ~0.3 s).
    for (const e of [0, 5]) {
      const one = sliceBatch(batch, e);
      const o = gpOracle(one);
      expect(o.nll.every(Number.isFinite)).toBe(true);
      let prior = 0;
      for (const f of one.f_test) prior += 0.5 * Math.log(2 * Math.PI) + 0.5 * f * f;
      expect(o.meanNll).toBeLessThan(prior / one.f_test.length - 0.3);
    }
  });
});

describe('GP task rules over many draws (small configuration)', () => {
  it('n_b covers [ncMin, ncMax) inclusive/exclusive', () => {
    const gen = gpTask(SMALL);
    const seen = new Set<number>();
    const rng = Rng.fromSeed(4);
    for (let k = 0; k < 100; k++) for (const n of gen(rng.split()).n_ctx) seen.add(n);
    expect([...seen].sort()).toEqual([3, 4, 5, 6]);
  });

  it('test ⊇ context variant: test targets are the noiseless latent values', () => {
    const b = gpTask({ ...SMALL, testIncludesContext: true })(Rng.fromSeed(8));
    for (let e = 0; e < b.B; e++) for (let i = 0; i < b.Nc; i++) {
      expect(b.f_test[e * b.Nt + i]).toBe(b.gp!.latent_ctx[e * b.Nc + i]);
      expect(b.s_test[(e * b.Nt + i) * 2]).toBe(b.s_ctx[(e * b.Nc + i) * 2]);
    }
  });

  it('is reproducible: same seed ⇒ identical batch, different seed ⇒ different', () => {
    const gen = gpTask(SMALL);
    const a = gen(Rng.fromSeed(42)), b = gen(Rng.fromSeed(42)), c = gen(Rng.fromSeed(43));
    expect(b).toEqual(a);
    expect(c.f_ctx).not.toEqual(a.f_ctx);
    expect(c.s_ctx).not.toEqual(a.s_ctx);
  });

  it('rejects a configuration with too few locations', () => {
    expect(() => gpTask({ ...SMALL, nt: 100 })).toThrowError(/gpTask: needs 107 locations/);
  });
});

describe('GP task with marginal test sampling', () => {
  // ncMax = 64 (one tile), 100 test points, disjoint.
  const CFG: GpTaskConfig = { ...GP_2D, regions: [{ lo: [-2, -2], hi: [2, 2], count: 164 }], ncMin: 20, ncMax: 64, nt: 100, batch: 4, sampling: 'marginal' };

  it('keeps the split rules and the oracle; only the test values are drawn differently', () => {
    const rng = Rng.fromSeed(21);
    const a = gpTask(CFG)(rng.split());
    const j = gpTask({ ...CFG, sampling: 'joint' })(Rng.fromSeed(21).split());
    assertBatch(a);
    // Same locations, lengths, masks and kernel (drawn before the function values); other values.
    expect(a.s_ctx).toEqual(j.s_ctx);
    expect(a.s_test).toEqual(j.s_test);
    expect(a.mask_ctx).toEqual(j.mask_ctx);
    expect(a.gp!.kernel).toEqual(j.gp!.kernel);
    expect(a.f_test).not.toEqual(j.f_test);
    const o = gpOracle(a);
    expect(Number.isFinite(o.meanNll)).toBe(true);
  });

  it('the oracle NLL has the same expectation as with joint sampling', () => {
    // Mean oracle NLL over 60 batches each (SE ≈ 0.03 per mode at these sizes).
    const mean = (cfg: GpTaskConfig): number => {
      const rng = Rng.fromSeed(5);
      let s = 0;
      for (let k = 0; k < 60; k++) s += gpOracle(gpTask(cfg)(rng.split())).meanNll;
      return s / 60;
    };
    expect(Math.abs(mean(CFG) - mean({ ...CFG, sampling: 'joint' }))).toBeLessThan(0.15);
  });

  it('rejects ncMax that is not a multiple of 64', () => {
    expect(() => gpTask({ ...CFG, ncMax: 50 })).toThrow(/marginal sampling needs ncMax a positive multiple of 64, got 50/);
  });
});

describe('multiscale and SO(3) tasks', () => {
  it('multiscale: 128 + 128 locations from the two squares', () => {
    const b = gpTask({ ...MULTISCALE_2D, batch: 2 })(Rng.fromSeed(1));
    const all = [...b.s_ctx.subarray(0, 256), ...b.s_test.subarray(0, 256)];
    let inner = 0;
    for (let i = 0; i < 256; i++) if (Math.abs(all[2 * i]!) <= 0.5 && Math.abs(all[2 * i + 1]!) <= 0.5) inner++;
    // 128 from the small square plus ~1/9 of the large square's 128 land inside it.
    expect(inner).toBeGreaterThanOrEqual(128);
    expect(Math.max(...all.map(Math.abs))).toBeLessThanOrEqual(1.5);
  });

  it('rotation preserves great-circle distances and maps (0, 0) to (30°E, 60°N) for (60, 30, 0)', () => {
    const p = new Float64Array([0, 0, 5, -3, -8, 9]);
    const q = Float64Array.from(p);
    rotateLonLat(q, 3, { north: 60, east: 30, tilt: 20 });
    expect(greatCircleDegrees(q[2]!, q[3]!, q[4]!, q[5]!)).toBeCloseTo(greatCircleDegrees(5, -3, -8, 9), 9);
    const o = new Float64Array([0, 0]);
    rotateLonLat(o, 1, { north: 60, east: 30, tilt: 0 });
    expect(o[0]).toBeCloseTo(30, 9);
    expect(o[1]).toBeCloseTo(60, 9);
  });

  it('SO(3) batches: unrotated locations in [−10, 10]², rotated ones near 60°N; same values', () => {
    const small = { regions: [{ lo: [-10, -10], hi: [10, 10], count: 64 }], ncMin: 10, ncMax: 32, nt: 32, batch: 2 };
    const a = so3Task(undefined, small)(Rng.fromSeed(2));
    const r = so3Task({ north: 60, east: 30, tilt: 0 }, small)(Rng.fromSeed(2));
    for (const v of a.s_ctx) expect(Math.abs(v)).toBeLessThanOrEqual(10);
    expect(r.f_ctx).toEqual(a.f_ctx);
    for (let i = 0; i < r.Nc; i++) expect(Math.abs(r.s_ctx[2 * i + 1]! - 60)).toBeLessThan(15);
    expect(r.gp!.kernel.kind).toBe('great-circle-exponential');
    expect(gpOracle(r).meanNll).toBeCloseTo(gpOracle(a).meanNll, 3);
  });
});
