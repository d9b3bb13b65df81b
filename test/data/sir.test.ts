// Lattice SIR simulator and task builder against the rules of experiments.md §6.
import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/engine/random.js';
import { assertBatch } from '../../src/data/batch.js';
import { SIR_64, SIR_INFECTED, SIR_RECOVERED, SIR_SUSCEPTIBLE, sirBatchesFromFrames, sirKernel, sirTask,
  simulateSir } from '../../src/data/sir.js';
import { BatchStream } from '../../src/data/stream.js';

function counts(frames: Uint8Array, cells: number, t: number): [number, number, number] {
  const c: [number, number, number] = [0, 0, 0];
  for (let i = 0; i < cells; i++) c[frames[t * cells + i]! as 0 | 1 | 2]++;
  return c;
}

describe('SIR simulator', () => {
  it('kernel is 1/(di² + dj²) with zero centre', () => {
    const k = sirKernel();
    expect(k[4 * 9 + 4]).toBe(0);
    expect(k[4 * 9 + 5]).toBe(1);
    expect(k[0]).toBeCloseTo(1 / 32, 15);
  });

  it('conserves cells, S never grows, R never shrinks, starts with n0 infected', () => {
    const H = 32, W = 32, T = 25;
    const frames = simulateSir(Rng.fromSeed(1), H, W, T, { beta: 0.3, gamma: 0.1, n0: 3 });
    expect(counts(frames, H * W, 0)).toEqual([3, 0, H * W - 3]);
    for (let t = 1; t < T; t++) {
      const [i, r, s] = counts(frames, H * W, t);
      const [, r0, s0] = counts(frames, H * W, t - 1);
      expect(i + r + s).toBe(H * W);
      expect(s).toBeLessThanOrEqual(s0);
      expect(r).toBeGreaterThanOrEqual(r0);
      for (let c = 0; c < H * W; c++) {
        const prev = frames[(t - 1) * H * W + c]!, cur = frames[t * H * W + c]!;
        if (prev === SIR_RECOVERED) expect(cur).toBe(SIR_RECOVERED);
        if (prev === SIR_INFECTED) expect(cur).not.toBe(SIR_SUSCEPTIBLE);
      }
    }
    // With β = 0.3 an epidemic takes off from 3 seeds on a 32² grid.
    const [, rEnd, sEnd] = counts(frames, H * W, T - 1);
    expect(rEnd + (H * W - sEnd)).toBeGreaterThan(20);
  });

  it('with β = 0 nothing new gets infected', () => {
    const frames = simulateSir(Rng.fromSeed(2), 16, 16, 20, { beta: 0, gamma: 0.2, n0: 4 });
    for (let t = 0; t < 20; t++) expect(counts(frames, 256, t)[2]).toBe(252);
  });
});

describe('SIR tasks', () => {
  const cfg = { ...SIR_64, size: 32, T: 16, ncMin: 20, ncMax: 40, nt: 80, batch: 4 };
  it('builds ⌊T/B⌋ one-hot batches with test ⊇ context', () => {
    const batches = sirTask(cfg)(Rng.fromSeed(3));
    expect(batches.length).toBe(4);
    for (const b of batches) {
      assertBatch(b);
      expect(b.likelihood).toBe('categorical');
      for (let r = 0; r < b.B * b.Nt; r++) expect(b.f_test[3 * r]! + b.f_test[3 * r + 1]! + b.f_test[3 * r + 2]!).toBe(1);
      for (let e = 0; e < b.B; e++) {
        expect(b.n_ctx[e]).toBeGreaterThanOrEqual(20);
        expect(b.n_ctx[e]).toBeLessThan(40);
        for (let i = 0; i < b.Nc; i++) {
          expect(b.s_test[(e * b.Nt + i) * 2]).toBe(b.s_ctx[(e * b.Nc + i) * 2]);
          expect(b.f_test.subarray((e * b.Nt + i) * 3, (e * b.Nt + i) * 3 + 3)).toEqual(b.f_ctx.subarray((e * b.Nc + i) * 3, (e * b.Nc + i) * 3 + 3));
        }
      }
      for (const v of b.s_ctx) expect(Math.abs(v)).toBeLessThanOrEqual(2);
    }
  });

  it('grid coordinates are linspace(lo, hi, n)', () => {
    const frames = new Uint8Array(2 * 9).fill(SIR_SUSCEPTIBLE);
    const [b] = sirBatchesFromFrames(Rng.fromSeed(1), frames, { size: 3, lo: 8, hi: 12, T: 2, ncMin: 9, ncMax: 9, nt: 9, batch: 1 }, 1);
    expect(new Set(b!.s_test)).toEqual(new Set([8, 10, 12]));
  });

  it('BatchStream resumes exactly from its state', () => {
    const gen = sirTask(cfg);
    const a = new BatchStream(gen, Rng.fromSeed(9));
    for (let k = 0; k < 6; k++) a.next();
    const state = JSON.parse(JSON.stringify(a.state()));
    const b = BatchStream.fromState(gen, state);
    for (let k = 0; k < 3; k++) expect(b.next()).toEqual(a.next());
  });
});
