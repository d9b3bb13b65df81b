// Tasks from a table (src/data/table-tasks.ts): splits are disjoint and complete, forecast targets
// come strictly after the context in time, interpolation context and targets are disjoint, masks
// mark exactly the real rows, and the same seed gives the same batches.
import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/engine/random.js';
import { fitGenerators } from '../../src/train/table-run.js';
import {
  TableTasks, TEST, TRAIN, VALID, parseSplit, rolesFor, splitRows, usableRows, type EncodedRows,
} from '../../src/data/table-tasks.js';

/** S stations × T hourly times; station k at (k, 2k); value = 100·station + time, row 7 unobserved. */
function grid(S: number, T: number, withTime = true): EncodedRows {
  const n = S * T;
  const s = new Float32Array(n * 2), t = new Float32Array(n), f = new Float32Array(n), fMask = new Uint8Array(n).fill(1);
  const time = new Float64Array(n), location = new Int32Array(n);
  // Rows in a shuffled order, as files often are: time is not the row order.
  const order = Array.from({ length: n }, (_, i) => (i * 7919) % n);
  order.forEach((k, i) => {
    const st = k % S, tt = Math.floor(k / S);
    s[2 * i] = st; s[2 * i + 1] = 2 * st; t[i] = tt; f[i] = 100 * st + tt; time[i] = 3600 * tt + 1e9; location[i] = st;
  });
  fMask[7] = 0;
  return { n, dims: { Ds: 2, Dt: withTime ? 1 : 0, Dx: 0, Df: 1 }, s, t: withTime ? t : null, x: null, f, fMask, time: withTime ? time : null, location };
}

/** The rows behind a batch element: decoded from f (unique per row here). */
function rowsOf(b: ReturnType<TableTasks['batch']>, e: number, which: 'ctx' | 'test'): number[] {
  const N = which === 'ctx' ? b.Nc : b.Nt;
  const f = which === 'ctx' ? b.f_ctx : b.f_test;
  const m = which === 'ctx' ? b.mask_ctx : b.mask_test!;
  const out: number[] = [];
  for (let k = 0; k < N; k++) if (m[e * N + k] === 1) out.push(f[e * N + k]!);
  return out;
}

describe('splits', () => {
  it('parses and rejects split texts', () => {
    expect(parseSplit('time:0.8,0.1')).toEqual({ by: 'time', train: 0.8, valid: 0.1 });
    expect(parseSplit('space: 0.6 , 0.2')).toEqual({ by: 'space', train: 0.6, valid: 0.2 });
    expect(() => parseSplit('time:0.9,0.1')).toThrow('train + valid < 1');
    expect(() => parseSplit('random:0.8,0.1')).toThrow("expected 'time:TRAIN,VALID' or 'space:TRAIN,VALID'");
  });

  it('by time: disjoint, complete, ordered in time, deterministic', () => {
    const rows = grid(5, 20);
    const part = splitRows(rows, parseSplit('time:0.8,0.1'), 1);
    const counts = [0, 0, 0];
    const range = [[Infinity, -Infinity], [Infinity, -Infinity], [Infinity, -Infinity]];
    for (let i = 0; i < rows.n; i++) {
      counts[part[i]!]!++;
      const r = range[part[i]!]!;
      r[0] = Math.min(r[0]!, rows.time![i]!); r[1] = Math.max(r[1]!, rows.time![i]!);
    }
    expect(counts).toEqual([80, 10, 10]); // 16, 2, 2 of 20 hours × 5 stations; every row in one part
    expect(range[TRAIN]![1]).toBeLessThan(range[VALID]![0]!);
    expect(range[VALID]![1]).toBeLessThan(range[TEST]![0]!);
  });

  it('by space: whole stations, disjoint and complete; the seed picks them', () => {
    const rows = grid(10, 6);
    const spec = parseSplit('space:0.6,0.2');
    const a = splitRows(rows, spec, 1);
    const stations = [new Set<number>(), new Set<number>(), new Set<number>()];
    for (let i = 0; i < rows.n; i++) stations[a[i]!]!.add(rows.location[i]!);
    expect(stations.map((x) => x.size)).toEqual([6, 2, 2]);
    const all = [...stations[0]!, ...stations[1]!, ...stations[2]!];
    expect(new Set(all).size).toBe(10);
    expect(Array.from(splitRows(rows, spec, 1))).toEqual(Array.from(a));
    const others = [2, 3, 4, 5].map((seed) => Array.from(splitRows(rows, spec, seed)).join());
    expect(others.some((o) => o !== Array.from(a).join())).toBe(true);
  });

  it('errors name the problem', () => {
    expect(() => splitRows(grid(5, 4, false), parseSplit('time:0.8,0.1'), 1)).toThrow('a split by time needs a time column (--t)');
    expect(() => splitRows(grid(2, 4), parseSplit('space:0.8,0.1'), 1)).toThrow('needs at least 3 distinct locations, the data has 2');
  });
});

describe('tasks', () => {
  const opts = { batchSize: 4, maxContext: 1000, maxTargets: 1000 };

  it('forecast: targets are the last horizon steps, strictly after every context row', () => {
    const rows = grid(4, 30);
    const usable = usableRows(rows);
    const part = splitRows(rows, parseSplit('time:0.6,0.2'), 1);
    for (const which of [TRAIN, VALID, TEST]) {
      const roles = rolesFor(part, parseSplit('time:0.6,0.2'), which, 'forecast', usable);
      const tasks = new TableTasks(rows, roles, { ...opts, kind: 'forecast', window: 5, horizon: 2 }, 'x');
      const b = tasks.batch(Rng.fromSeed(which));
      for (let e = 0; e < b.B; e++) {
        const ctxT = rowsOf(b, e, 'ctx').map((v) => v % 100), tgtT = rowsOf(b, e, 'test').map((v) => v % 100);
        expect(Math.max(...ctxT)).toBeLessThan(Math.min(...tgtT));
        expect(new Set(tgtT).size).toBeLessThanOrEqual(2);
        expect(Math.max(...tgtT) - Math.min(...ctxT)).toBeLessThanOrEqual(4);
        // Targets come from the part's own period (hours 18–23 valid, 24–29 test).
        if (which === VALID) for (const h of tgtT) expect(h >= 18 && h < 24).toBe(true);
        if (which === TEST) for (const h of tgtT) expect(h).toBeGreaterThanOrEqual(24);
        if (which === TRAIN) for (const h of [...ctxT, ...tgtT]) expect(h).toBeLessThan(18);
        // The unobserved row never appears.
        expect([...rowsOf(b, e, 'ctx'), ...rowsOf(b, e, 'test')]).not.toContain(rows.f[7]);
        expect(b.n_ctx[e]).toBe(rowsOf(b, e, 'ctx').length);
      }
    }
  });

  it('interpolate: context and targets disjoint, from one window; same seed → same batch', () => {
    const rows = grid(12, 10);
    const roles = rolesFor(new Uint8Array(rows.n), null, TRAIN, 'interpolate', usableRows(rows));
    const tasks = new TableTasks(rows, roles, { ...opts, kind: 'interpolate', window: 2, horizon: 0 }, 'train');
    const b = tasks.batch(Rng.fromSeed(5));
    for (let e = 0; e < b.B; e++) {
      const c = rowsOf(b, e, 'ctx'), t = rowsOf(b, e, 'test');
      expect(c.length).toBeGreaterThan(0);
      expect(t.length).toBeGreaterThan(0);
      expect(c.filter((v) => t.includes(v))).toEqual([]);
      const hours = new Set([...c, ...t].map((v) => v % 100));
      expect(Math.max(...hours) - Math.min(...hours)).toBeLessThanOrEqual(1);
    }
    const again = tasks.batch(Rng.fromSeed(5));
    expect(Array.from(again.f_ctx)).toEqual(Array.from(b.f_ctx));
    expect(Array.from(again.mask_test!)).toEqual(Array.from(b.mask_test!));
    expect(Array.from(tasks.batch(Rng.fromSeed(6)).f_ctx)).not.toEqual(Array.from(b.f_ctx));
  });

  it('space split: validation predicts held-out stations from training stations only', () => {
    const rows = grid(10, 4, false);
    const spec = parseSplit('space:0.6,0.2');
    const part = splitRows(rows, spec, 3);
    const roles = rolesFor(part, spec, VALID, 'interpolate', usableRows(rows));
    const tasks = new TableTasks(rows, roles, { ...opts, kind: 'interpolate', window: null, horizon: 0 }, 'validation');
    const b = tasks.batch(Rng.fromSeed(1));
    const stationPart = new Map<number, number>();
    for (let i = 0; i < rows.n; i++) stationPart.set(rows.location[i]!, part[i]!);
    for (let e = 0; e < b.B; e++) {
      for (const v of rowsOf(b, e, 'ctx')) expect(stationPart.get(Math.floor(v / 100))).toBe(TRAIN);
      const t = rowsOf(b, e, 'test');
      expect(t.length).toBe(8); // both validation stations × 4 times, all of them
      for (const v of t) expect(stationPart.get(Math.floor(v / 100))).toBe(VALID);
    }
  });

  it('errors: forecast without time, horizon ≥ window, window longer than the data', () => {
    const r = usableRows(grid(3, 4, false));
    const roles = rolesFor(new Uint8Array(12), null, TRAIN, 'forecast', r);
    expect(() => new TableTasks(grid(3, 4, false), roles, { ...opts, kind: 'forecast', window: 2, horizon: 1 }, 'train')).toThrow('--task forecast needs a time column (--t)');
    const rows = grid(3, 4);
    const roles2 = rolesFor(new Uint8Array(12), null, TRAIN, 'forecast', usableRows(rows));
    expect(() => new TableTasks(rows, roles2, { ...opts, kind: 'forecast', window: 3, horizon: 3 }, 'train')).toThrow('expected 1 ≤ --horizon < --window, got horizon 3, window 3');
    expect(() => new TableTasks(rows, roles2, { ...opts, kind: 'forecast', window: 9, horizon: 1 }, 'train')).toThrow('--window 9: the data has only 4 distinct times');
  });
});

describe('fit --task forecast (fitGenerators)', () => {
  const settings = { holdout: 0.15, maxContext: 1000, maxTargets: 1000, rows: 0, file: 'x', prior: 'p', patience: 3, zeroShotNll: null, dropTime: false };

  it('holds out exactly the last horizon times; training forecasts stay before them; validation forecasts them from every earlier row', () => {
    const rows = grid(4, 10); // hours 0..9; row 7 unobserved
    const g = fitGenerators(rows, { ...settings, forecast: { horizon: 2, window: 4 } }, 1, 8);
    for (let i = 0; i < rows.n; i++) {
      const hour = rows.f[i]! % 100;
      if (i === 7) expect(g.part[i]).toBe(TEST);
      else expect(g.part[i], `row ${i} (hour ${hour})`).toBe(hour >= 8 ? VALID : TRAIN);
    }
    const b = g.train.batch(Rng.fromSeed(3));
    const seenTargets = new Set<number>();
    for (let e = 0; e < b.B; e++) {
      const ctxT = rowsOf(b, e, 'ctx').map((v) => v % 100), tgtT = rowsOf(b, e, 'test').map((v) => v % 100);
      expect(Math.max(...ctxT)).toBeLessThan(Math.min(...tgtT));
      expect(Math.max(...tgtT)).toBeLessThan(8);
      expect(Math.max(...tgtT) - Math.min(...ctxT)).toBeLessThanOrEqual(3);
      for (const h of tgtT) seenTargets.add(h);
    }
    expect(seenTargets.size).toBeGreaterThan(2); // several windows, not one
    const v = g.valid.batch(Rng.fromSeed(4));
    const vc = rowsOf(v, 0, 'ctx'), vt = rowsOf(v, 0, 'test');
    expect(new Set(vt.map((x) => x % 100))).toEqual(new Set([8, 9]));
    const observed = Array.from(rows.f).filter((_, i) => i !== 7).map((x) => x % 100);
    expect(vt).toHaveLength(observed.filter((h) => h >= 8).length); // every observed row of hours 8–9
    expect(vc).toHaveLength(observed.filter((h) => h < 8).length); // from every observed row of hours 0–7
  });

  it('needs a time column and enough times, and the window must fit before the held-out times', () => {
    expect(() => fitGenerators(grid(4, 10, false), { ...settings, forecast: { horizon: 1, window: null } }, 1, 2)).toThrow('needs a time column (--t)');
    expect(() => fitGenerators(grid(4, 3), { ...settings, forecast: { horizon: 2, window: null } }, 1, 2)).toThrow('--horizon 2 needs at least 4 distinct times');
    expect(() => fitGenerators(grid(4, 10), { ...settings, forecast: { horizon: 2, window: 9 } }, 1, 2)).toThrow('--window 9 must fit in the 8 times before the held-out 2');
  });
});
