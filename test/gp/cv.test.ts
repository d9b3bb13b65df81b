/**
 * Cross-validation (api/cv.ts), predictive scores (api/predictive.ts) and the naive baselines
 * (api/naive-baselines.ts), against hand-computed expectations and direct numerical integration.
 */
import { describe, expect, it } from 'vitest';
import { crossValidate, groupFolds, kFolds, takeRows } from '../../src/api/cv.js';
import { climatologyModel, persistenceModel } from '../../src/api/naive-baselines.js';
import { scorePredictive, summarisePredictive } from '../../src/api/predictive.js';
import { tableFromRecords } from '../../src/data/table.js';

describe('predictive scores', () => {
  it('Gaussian NLL, RMSE and coverage match a hand computation', () => {
    const s = scorePredictive({ mean: Float64Array.of(0, 1, 2), std: Float64Array.of(1, 2, 0.5) }, [0.5, 1, 4]);
    const nll = [0.5 * Math.log(2 * Math.PI) + 0.125, Math.log(2) + 0.5 * Math.log(2 * Math.PI), Math.log(0.5) + 0.5 * Math.log(2 * Math.PI) + 8];
    expect(s.n).toBe(3);
    expect(s.nll).toBeCloseTo((nll[0]! + nll[1]! + nll[2]!) / 3, 12);
    expect(s.rmse).toBeCloseTo(Math.sqrt((0.25 + 0 + 4) / 3), 12);
    expect(s.coverage95).toBeCloseTo(2 / 3, 12); // z = 0.5, 0, 4
  });

  it('log-normal summary and density agree with numerical integration', () => {
    const m = 1.2;
    const sd = 0.4;
    const shift = 1;
    const p = { mean: Float64Array.of(m), std: Float64Array.of(sd), logShift: shift };
    // density of y when log(y + 1) ~ N(m, sd²), integrated by the midpoint rule
    const dens = (y: number): number => Math.exp(-0.5 * ((Math.log(y + shift) - m) / sd) ** 2) / ((y + shift) * sd * Math.sqrt(2 * Math.PI));
    let mass = 0; let mean = 0; let sq = 0; let below = 0;
    const lo5 = summarisePredictive(p).lo90[0]!;
    const h = 1e-3;
    for (let y = -shift + h / 2; y < 60; y += h) {
      const d = dens(y) * h;
      mass += d; mean += y * d; sq += y * y * d;
      if (y < lo5) below += d;
    }
    const sum = summarisePredictive(p);
    expect(mass).toBeCloseTo(1, 6);
    expect(sum.mean[0]).toBeCloseTo(mean, 5);
    expect(sum.std[0]).toBeCloseTo(Math.sqrt(sq - mean * mean), 4);
    expect(below).toBeCloseTo(0.05, 3); // midpoint-rule resolution h = 1e-3
    expect(scorePredictive(p, [2.5]).nll).toBeCloseTo(-Math.log(dens(2.5)), 12);
  });
});

describe('folds', () => {
  it('k folds partition the rows and each fold trains on the rest', () => {
    const folds = kFolds(23, 5, 7);
    expect(folds).toHaveLength(5);
    const seen = new Set<number>();
    for (const f of folds) {
      expect(f.test.length === 4 || f.test.length === 5).toBe(true);
      for (const r of f.test) { expect(seen.has(r)).toBe(false); seen.add(r); }
      expect(f.train.length + f.test.length).toBe(23);
      for (const r of f.train) expect(f.test.includes(r)).toBe(false);
    }
    expect(seen.size).toBe(23);
    expect(() => kFolds(3, 5)).toThrow('cv: --folds must be an integer between 2 and the number of rows (3), got 5');
  });

  it('leave-one-group-out makes one fold per group', () => {
    const t = tableFromRecords([{ st: 'a', v: 1 }, { st: 'b', v: 2 }, { st: 'a', v: 3 }]);
    const folds = groupFolds(t, 'st');
    expect(folds.map((f) => f.label)).toEqual(['st=a', 'st=b']);
    expect(Array.from(folds[0]!.test)).toEqual([0, 2]);
    expect(Array.from(folds[0]!.train)).toEqual([1]);
  });

  it('crossValidate hides the value column, drops missing values and pools the scores', async () => {
    const t = tableFromRecords([{ s: 0, v: 1 }, { s: 1, v: null }, { s: 2, v: 3 }, { s: 3, v: 5 }, { s: 4, v: 7 }]);
    const seenNames: string[][] = [];
    // model: predicts the context mean with std 1
    const res = await crossValidate(t, 'v', (d) => kFolds(d.rows, 2, 1), async (ctx, tgt) => {
      seenNames.push([...tgt.names]);
      const v = ctx.columns[1]!.values as Float64Array;
      const m = v.reduce((a, b) => a + b, 0) / v.length;
      return { mean: new Float64Array(tgt.rows).fill(m), std: new Float64Array(tgt.rows).fill(1) };
    });
    expect(seenNames).toEqual([['s'], ['s']]);
    expect(res.folds.map((f) => f.n).reduce((a, b) => a + b)).toBe(4);
    expect(res.summary.n).toBe(4);
    // pooled NLL = weighted mean of the fold NLLs
    const w = res.folds.reduce((a, f) => a + f.n * f.nll, 0) / 4;
    expect(res.summary.nll).toBeCloseTo(w, 12);
  });
});

describe('naive baselines', () => {
  const rows = [
    { st: 'A', t: '2000-01-01', v: 10 }, { st: 'A', t: '2000-01-02', v: 12 }, { st: 'A', t: '2000-01-03', v: 11 },
    { st: 'B', t: '2000-01-01', v: 20 }, { st: 'B', t: '2000-01-02', v: 26 },
  ];
  const ctx = tableFromRecords(rows);
  const tgt = tableFromRecords([{ st: 'A', t: '2000-01-04' }, { st: 'B', t: '2000-01-03' }, { st: 'C', t: '2000-01-02' }, { st: 'A', t: '2000-01-09' }]);

  it('climatology: station mean and residual std; overall mean/std for an unseen station', async () => {
    const p = await climatologyModel({ station: 'st', t: 't', f: 'v' })(ctx, tgt);
    expect(Array.from(p.mean)).toEqual([11, 23, 79 / 5, 11]);
    expect(p.std[0]).toBeCloseTo(1, 12); // A: 10, 12, 11
    expect(p.std[1]).toBeCloseTo(Math.sqrt(18), 12); // B: 20, 26
    const all = [10, 12, 11, 20, 26];
    expect(p.std[2]).toBeCloseTo(Math.sqrt(all.reduce((a, v) => a + (v - 79 / 5) ** 2, 0) / 5), 12);
  });

  it('persistence: previous day at the station, std from one-day changes; climatology where absent', async () => {
    const p = await persistenceModel({ station: 'st', t: 't', f: 'v' })(ctx, tgt);
    expect(Array.from(p.mean)).toEqual([11, 26, 79 / 5, 11]);
    const rms = Math.sqrt((4 + 1 + 36) / 3); // changes 10→12, 12→11, 20→26
    expect(p.std[0]).toBeCloseTo(rms, 12);
    expect(p.std[1]).toBeCloseTo(rms, 12);
    expect(p.std[3]).toBeCloseTo(1, 12); // no 2000-01-08 value: A's climatology
  });

  it('log transform works on log values and returns a log-normal predictive', async () => {
    const p = await climatologyModel({ station: 'st', t: 't', f: 'v', transform: 'log' })(ctx, takeRows(tgt, [0]));
    expect(p.logShift).toBe(0);
    expect(p.mean[0]).toBeCloseTo((Math.log(10) + Math.log(12) + Math.log(11)) / 3, 12);
  });
});
