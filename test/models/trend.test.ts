/**
 * output.trend (models/trend.ts): the small SPD solve against float64 elimination, the fitted trend
 * against a float64 ridge least-squares fit written here, and BSA-TNP with a trend: adding any
 * polynomial of the trend's degree to the context values adds it to the predicted mean and leaves
 * the std alone; rotating and shifting the locations changes nothing; padded rows change nothing;
 * the training loss equals encode + decode (value and gradient). On cpu and (where present) webgpu.
 */
import { afterAll, describe, expect, it } from 'vitest';
import * as E from '../../src/engine/ops.js';
import type { Backend } from '../../src/engine/backend.js';
import { Rng } from '../../src/engine/random.js';
import { contextScale } from '../../src/models/bsa-tnp.js';
import { DEFAULT_CONFIG, parseConfig, type ModelConfig } from '../../src/models/config.js';
import { solveSpd, TREND_GATE, TREND_RIDGE, trendAt, type TrendKind } from '../../src/models/trend.js';
import { allclose, cpuBackend, webgpuBackend } from '../helpers/backends.js';
import { disposeInputs, jointAndSeparateLoss } from '../helpers/model-loss.js';
import { build, inputs, predict, task } from '../helpers/standardize-task.js';

const cfg = (trend: TrendKind): ModelConfig => ({
  ...DEFAULT_CONFIG, blocks: 2, tile: { queries: 16, keys: 8 },
  output: { kind: 'gaussian', dims: 1, minStd: 0, standardize: true, trend },
});

const taskOf = (seed: number, B: number, Nc: number, Nt: number) => task(seed, B, Nc, Nt, 0.5, 2);

/** Solves a·x = r in float64 by Gaussian elimination with partial pivoting (a: k×k, r: k). */
function solve64(a: number[][], r: number[]): number[] {
  const k = r.length;
  const m = a.map((row, i) => [...row, r[i]!]);
  for (let c = 0; c < k; c++) {
    let piv = c;
    for (let i = c + 1; i < k; i++) if (Math.abs(m[i]![c]!) > Math.abs(m[piv]![c]!)) piv = i;
    [m[c], m[piv]] = [m[piv]!, m[c]!];
    for (let i = 0; i < k; i++) {
      if (i === c) continue;
      const q = m[i]![c]! / m[c]![c]!;
      for (let j = c; j <= k; j++) m[i]![j]! -= q * m[c]![j]!;
    }
  }
  return m.map((row, i) => row[k]! / row[i]!);
}

/** The polynomial basis of a trend at a point, with √2 on the cross term (as trend.ts). */
function basis(kind: TrendKind, x: number, y: number): number[] {
  return kind === 'linear' ? [x, y] : [x, y, x * x, Math.SQRT2 * x * y, y * y];
}

/** Float64 ridge least squares of f on [1, basis(s − centre)] over masked rows; fitted values at `at`. */
function reference(kind: TrendKind, s: Float32Array, f: Float32Array, mask: Float32Array, at: Float32Array): number[] {
  const rows = [...mask.keys()].filter((i) => mask[i] === 1);
  const n = rows.length;
  const cx = rows.reduce((a, i) => a + s[2 * i]!, 0) / n, cy = rows.reduce((a, i) => a + s[2 * i + 1]!, 0) / n;
  const phi = rows.map((i) => basis(kind, s[2 * i]! - cx, s[2 * i + 1]! - cy));
  const k = phi[0]!.length;
  const mu = Array.from({ length: k }, (_, j) => phi.reduce((a, p) => a + p[j]!, 0) / n);
  const fm = rows.reduce((a, i) => a + f[i]!, 0) / n;
  const cov = Array.from({ length: k }, (_, i) => Array.from({ length: k }, (_, j) => phi.reduce((a, p) => a + (p[i]! - mu[i]!) * (p[j]! - mu[j]!), 0) / n));
  const rhs = Array.from({ length: k }, (_, j) => rows.reduce((a, i, r) => a + (phi[r]![j]! - mu[j]!) * (f[i]! - fm), 0) / n);
  const blocks = kind === 'linear' ? [[0, 2]] : [[0, 2], [2, 3]];
  for (const [o, len] of blocks) {
    let v = 0;
    for (let j = o!; j < o! + len!; j++) v += cov[j]![j]!;
    for (let j = o!; j < o! + len!; j++) cov[j]![j]! += TREND_RIDGE * v / len!;
  }
  const full = solve64(cov, rhs);
  // The gate: adjusted R² with the explained variance βᵀ·rhs (the least-squares identity).
  const total = rows.reduce((a, i) => a + (f[i]! - fm) ** 2, 0) / n;
  const r2 = 1 - ((total - full.reduce((a, b, j) => a + b * rhs[j]!, 0)) / total) * (n - 1) / (n - k - 1);
  const gate = Math.min(1, Math.max(0, (r2 - TREND_GATE[0]) / (TREND_GATE[1] - TREND_GATE[0])));
  const beta = full.map((b) => b * gate);
  const out: number[] = [];
  for (let i = 0; i < at.length / 2; i++) {
    const p = basis(kind, at[2 * i]! - cx, at[2 * i + 1]! - cy);
    out.push(fm + p.reduce((a, v, j) => a + (v - mu[j]!) * beta[j]!, 0));
  }
  return out;
}

describe.each([
  { name: 'cpu', get: async () => cpuBackend() as Backend | null },
  { name: 'webgpu', get: () => webgpuBackend() },
])('output.trend on $name', ({ get }) => {
  let b: Backend | null = null;
  afterAll(() => b?.destroy());

  it('solveSpd matches float64 elimination on random SPD systems', async () => {
    b = await get();
    if (!b) return;
    const rng = Rng.fromSeed(7);
    for (const k of [1, 2, 5]) {
      const B = 3, D = 2;
      const a = new Float32Array(B * k * k), r = new Float32Array(B * k * D);
      const want: number[] = [];
      for (let t = 0; t < B; t++) {
        const g = Array.from({ length: k }, () => Array.from({ length: k }, () => rng.normal()));
        const m = g.map((_, i) => g.map((_, j) => g[i]!.reduce((acc, v, p) => acc + v * g[j]![p]!, 0) + (i === j ? 0.5 : 0)));
        m.forEach((row, i) => row.forEach((v, j) => { a[t * k * k + i * k + j] = v; }));
        const rr = Array.from({ length: k * D }, () => rng.normal());
        rr.forEach((v, i) => { r[t * k * D + i] = v; });
        const cols = Array.from({ length: D }, (_, d) => solve64(m.map((row) => row.map((v) => Math.fround(v))), rr.filter((_, i) => i % D === d).map(Math.fround)));
        for (let i = 0; i < k; i++) for (let d = 0; d < D; d++) want.push(cols[d]![i]!);
      }
      const x = solveSpd(E.tensor(a, [B, k, k], b), E.tensor(r, [B, k, D], b));
      expect(allclose(await x.data(), Float32Array.from(want), 1e-3, 1e-3), `k = ${k}`).toBeNull();
      x.dispose();
    }
  });

  it.each(['linear', 'quadratic'] as const)('the %s trend equals a float64 ridge least-squares fit, gated (padded rows left out)', async (kind) => {
    if (!b) return;
    const t = taskOf(11, 1, 40, 9);
    // A curved field plus noise (the linear fit explains part of it: a partial gate; the
    // quadratic nearly all: gate 1), and 6 padded rows holding wild values.
    for (let i = 0; i < 40; i++) t.f[i] = 3 + 0.8 * t.s[2 * i]! - 0.3 * t.s[2 * i + 1]! + 0.4 * t.s[2 * i]! ** 2 + 0.1 * t.f[i]!;
    t.mask.fill(0, 34);
    for (let i = 34; i < 40; i++) { t.f[i] = 1e3; t.s[2 * i] = 50; }
    const want = reference(kind, t.s, t.f, t.mask, t.st);
    const x = inputs(b, t);
    const scale = contextScale(x.ctx.f, x.ctx.mask!, { kind, s: x.ctx.coords.s! });
    const at = E.add(scale.m, trendAt(scale.trend!, x.test.s!));
    expect(allclose(await at.data(), Float32Array.from(want), 2e-4, 2e-4)).toBeNull();
    at.dispose(); disposeInputs(x);
  });

  it.each(['linear', 'quadratic'] as const)('with a %s trend, adding such a polynomial to the values adds it to the mean; std unchanged', async (kind) => {
    if (!b) return;
    const { model, p, dispose } = build(b, cfg(kind));
    // Enough context for the ridge (TREND_RIDGE) to shrink the added coefficients by well under 1 %.
    const t = taskOf(2, 2, 200, 11);
    const poly = (x: number, y: number) => 1.5 + 2 * x - 0.7 * y + (kind === 'quadratic' ? 0.6 * x * x - 0.9 * x * y + 0.3 * y * y : 0);
    // A field the trend explains (gate 1) before and after the polynomial is added.
    t.f = t.f.map((v, i) => 0.1 * v + poly(-t.s[2 * i + 1]!, t.s[2 * i]!));
    const base = await predict(model, p, b, t);
    const moved = await predict(model, p, b, { ...t, f: t.f.map((v, i) => v + poly(t.s[2 * i]!, t.s[2 * i + 1]!)) });
    const shifted = base.mean.map((m, i) => m + poly(t.st[2 * i]!, t.st[2 * i + 1]!));
    expect(allclose(moved.mean, shifted, 1e-2, 1e-2)).toBeNull();
    expect(allclose(moved.std, base.std, 1e-2, 1e-5)).toBeNull();
    dispose();
  });

  it('rotating and shifting all locations changes no prediction (quadratic trend)', async () => {
    if (!b) return;
    const { model, p, dispose } = build(b, cfg('quadratic'));
    const t = taskOf(3, 1, 30, 10);
    const base = await predict(model, p, b, t);
    const c = Math.cos(0.9), sn = Math.sin(0.9);
    const move = (s: Float32Array) => s.map((_, i) => (i % 2 === 0 ? c * s[i]! - sn * s[i + 1]! + 3 : sn * s[i - 1]! + c * s[i]! - 1));
    const moved = await predict(model, p, b, { ...t, s: move(t.s), st: move(t.st) });
    expect(allclose(moved.mean, base.mean, 2e-3, 2e-3)).toBeNull();
    expect(allclose(moved.std, base.std, 2e-3, 1e-4)).toBeNull();
    dispose();
  });

  it('padded context rows (mask 0, wild values) change nothing', async () => {
    if (!b) return;
    const { model, p, dispose } = build(b, cfg('quadratic'));
    const t = taskOf(4, 1, 15, 8);
    const base = await predict(model, p, b, t);
    const pad = 5;
    const s = new Float32Array((15 + pad) * 2); s.set(t.s); s.fill(1e4, 30);
    const f = new Float32Array(15 + pad); f.set(t.f); f.fill(1e4, 15);
    const mask = new Float32Array(15 + pad); mask.fill(1, 0, 15);
    const padded = await predict(model, p, b, { ...t, Nc: 15 + pad, s, f, mask });
    expect(allclose(padded.mean, base.mean, 1e-4, 1e-4)).toBeNull();
    expect(allclose(padded.std, base.std, 1e-4, 1e-6)).toBeNull();
    dispose();
  });

  it('the training loss equals encode + decode (value and gradient)', async () => {
    if (!b) return;
    const be = b;
    const { model, p, dispose } = build(be, cfg('linear'));
    const t = taskOf(5, 2, 13, 7);
    t.mask[11] = 0;
    const rng = Rng.fromSeed(5);
    const fTest = E.tensor(Float32Array.from({ length: 14 }, () => 2 + 0.5 * rng.normal()), [2, 7, 1], be);
    const { names, joint, separate } = await jointAndSeparateLoss(model, p, () => inputs(be, t), fTest);
    expect(Math.abs(joint.value - separate.value)).toBeLessThan(1e-5 * Math.max(1, Math.abs(separate.value)));
    joint.grads.forEach((g, i) => expect(allclose(g, separate.grads[i]!, 1e-3, 1e-5), names[i]).toBeNull());
    fTest.dispose();
    dispose();
  });
});

describe('output.trend gate', () => {
  it('takes off no trend from pure noise or a context too small for the polynomial, and all of it from a polynomial', async () => {
    const b = cpuBackend();
    const rng = Rng.fromSeed(21);
    /** The fitted location (mean + trend) at (0.7, −0.4), and the trend part alone. */
    const fit = async (n: number, value: (x: number, y: number) => number) => {
      const s = Float32Array.from({ length: 2 * n }, () => rng.normal());
      const f = Float32Array.from({ length: n }, (_, i) => value(s[2 * i]!, s[2 * i + 1]!));
      const fT = E.tensor(f, [1, n, 1], b), sT = E.tensor(s, [1, n, 2], b), aT = E.tensor(Float32Array.from([0.7, -0.4]), [1, 1, 2], b);
      const scale = contextScale(fT, null, { kind: 'quadratic', s: sT });
      const tr = trendAt(scale.trend!, aT);
      const r = { trend: (await tr.data())[0]!, at: (await scale.m.data())[0]! + (await tr.data())[0]! };
      tr.dispose(); fT.dispose(); sT.dispose(); aT.dispose();
      return r;
    };
    expect((await fit(200, () => rng.normal())).trend).toBe(0);
    expect((await fit(6, (x, y) => 1 + x * y)).trend).toBe(0);
    const poly = (x: number, y: number) => 1 + 2 * x * y - y * y + 0.5 * x;
    expect(Math.abs((await fit(50, poly)).at - poly(0.7, -0.4))).toBeLessThan(0.01);
  });
});

describe('output.trend configuration', () => {
  it('is off unless asked for, round-trips, needs standardize and an s group', () => {
    expect(parseConfig({ output: { standardize: true } }).output).toEqual({ kind: 'gaussian', dims: 1, minStd: 0, standardize: true });
    const on = parseConfig({ output: { standardize: true, trend: 'quadratic' } });
    expect(on.output).toEqual({ kind: 'gaussian', dims: 1, minStd: 0, standardize: true, trend: 'quadratic' });
    expect(parseConfig(JSON.parse(JSON.stringify(on))).output).toEqual(on.output);
    expect(() => parseConfig({ output: { trend: 'linear' } })).toThrow(/needs "standardize": true/);
    expect(() => parseConfig({ output: { standardize: true, trend: 'cubic' } })).toThrow(/trend/);
    expect(() => parseConfig({ groups: { s: null, t: { dims: 1 } }, output: { standardize: true, trend: 'linear' } })).toThrow(/no s group/);
  });
});
