// Metrics and normalisation on hand-computed examples.
import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/engine/random.js';
import { RunningMean, categoricalMetrics, gaussianMetrics } from '../../src/data/metrics.js';
import { applyNormaliser, fitNormaliser, invertNormaliser, invertNormaliserStd, normaliserFromJSON } from '../../src/data/normalise.js';
import { assertBatch } from '../../src/data/batch.js';
import { GNEITING_16, gneitingTask, terrain } from '../../src/data/gneiting.js';

describe('gaussianMetrics', () => {
  it('matches a hand computation with a mask', () => {
    // Entries: errors 1, −2 (σ 1, 2), third masked out.
    const m = gaussianMetrics([1, 0, 5], [0, 2, 0], [1, 2, 1], 1, [1, 1, 0]);
    const c = 0.5 * Math.log(2 * Math.PI);
    expect(m.nll).toBeCloseTo(((c + 0.5) + (Math.log(2) + c + 0.5)) / 2, 14);
    expect(m.rmse).toBeCloseTo(Math.sqrt((1 + 4) / 2), 14);
    expect(m.mae).toBeCloseTo(1.5, 14);
    expect(m.coverage).toBe(1); // |1| ≤ 1.96·1 and |2| ≤ 1.96·2
    expect(m.count).toBe(2);
  });

  it('pools output dims and uses the 1.95996 threshold', () => {
    const m = gaussianMetrics([1.96, 1.95], [0, 0], [1, 1], 2, [1]);
    expect(m.coverage).toBe(0.5);
  });
});

describe('categoricalMetrics', () => {
  it('cross-entropy from probabilities and from logits agree with −log p(true)', () => {
    const f = [1, 0, 0, 0, 0, 1];
    const probs = [0.7, 0.2, 0.1, 0.5, 0.3, 0.2];
    const m = categoricalMetrics(f, probs, 3, 'probs');
    expect(m.nll).toBeCloseTo(-(Math.log(0.7) + Math.log(0.2)) / 2, 14);
    expect(m.accuracy).toBe(0.5);
    const m2 = categoricalMetrics(f, probs.map(Math.log), 3, 'logits');
    expect(m2.nll).toBeCloseTo(m.nll, 12);
    expect(categoricalMetrics(f, probs, 3, 'probs', [1, 0]).nll).toBeCloseTo(-Math.log(0.7), 14);
  });
});

describe('RunningMean', () => {
  it('is the arithmetic mean of per-batch metrics', () => {
    const r = new RunningMean();
    r.add({ nll: 1, rmse: 2, count: 10 });
    r.add({ nll: 3, rmse: 4, count: 99 });
    expect(r.mean()).toEqual({ nll: 2, rmse: 3 });
    expect(r.batches).toBe(2);
    expect(r.standardError().nll).toBeCloseTo(1, 14);
  });
});

describe('normalise', () => {
  it('z-score and min-max round-trip and survive JSON', () => {
    const data = [1, 10, 3, 20, 5, 30]; // columns [1,3,5], [10,20,30]
    const z = fitNormaliser(data, 2);
    expect(z.shift).toEqual([3, 20]);
    expect(z.scale[0]).toBeCloseTo(Math.sqrt(8 / 3), 14);
    const back = invertNormaliser(normaliserFromJSON(JSON.parse(JSON.stringify(z))), applyNormaliser(z, data));
    back.forEach((v, i) => expect(v).toBeCloseTo(data[i]!, 5));
    const mm = fitNormaliser(data, 2, 'minmax');
    expect(Array.from(applyNormaliser(mm, data))).toEqual([0, 0, 0.5, 0.5, 1, 1]);
    expect(Array.from(invertNormaliserStd(mm, [1, 1]))).toEqual([4, 20]);
    expect(fitNormaliser([2, 2], 1).scale).toEqual([1]);
    expect(() => normaliserFromJSON({ kind: 'zscore', shift: [0], scale: [0] })).toThrowError(/normaliserFromJSON: expected/);
  });
});

describe('Gneiting task', () => {
  const batch = gneitingTask()(Rng.fromSeed(5));
  it('has 4 context frames of 16 slots with 8–15 valid each and a 256-point test frame', () => {
    assertBatch(batch);
    expect([batch.B, batch.Nc, batch.Nt]).toEqual([4, 64, 256]);
    const ts = new Set<number>();
    for (let fr = 0; fr < 4; fr++) {
      let valid = 0;
      for (let k = 0; k < 16; k++) { valid += batch.mask_ctx[fr * 16 + k]!; ts.add(batch.t_ctx![fr * 16 + k]!); }
      expect(valid).toBeGreaterThanOrEqual(8);
      expect(valid).toBeLessThan(16);
    }
    const tTest = batch.t_test![0]!;
    expect(ts.size).toBe(4);
    expect(Math.max(...ts)).toBeCloseTo(tTest - 1 / 11, 6);
    expect(batch.f_test.every(Number.isFinite) && batch.f_ctx.every(Number.isFinite)).toBe(true);
    // Mean offset 6 dominates the values.
    const mean = batch.f_test.reduce((a, b) => a + b, 0) / batch.f_test.length;
    expect(Math.abs(mean - GNEITING_16.meanOffset)).toBeLessThan(3);
  });

  it('terrain is standardised over the given points', () => {
    const s = Float64Array.from({ length: 200 }, (_, i) => Math.sin(i * 1.7));
    const t = terrain(s, 100);
    const m = t.reduce((a, b) => a + b, 0) / 100;
    const v = t.reduce((a, b) => a + (b - m) ** 2, 0) / 100;
    expect(Math.abs(m)).toBeLessThan(1e-12);
    expect(v).toBeCloseTo(1, 4); // (x − m)/(std + 1e-6): the eps shifts the variance by ~1e-5
  });

  it('is reproducible', () => {
    expect(gneitingTask()(Rng.fromSeed(5))).toEqual(batch);
    expect(gneitingTask()(Rng.fromSeed(6)).f_test).not.toEqual(batch.f_test);
  });
});
