import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../../src/engine/cpu/backend.js';
import * as E from '../../src/engine/ops.js';
import { DEFAULT_TRAIN_CONFIG, learningRate, parseTrainConfig } from '../../src/models/config.js';
import { AdamW, clipScale, globalNorm, type AdamWConfig } from '../../src/train/optimizer.js';

const backend = new CpuBackend();
const CFG: AdamWConfig = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 1e-4, clipNorm: 0.5 };

/** Host float64 AdamW step (decoupled decay, optax adamw), the independent reference. */
function adamwHost(p: number[], g: number[], m: number[], v: number[], c: number, lr: number, t: number, cfg: AdamWConfig) {
  return p.map((pi, i) => {
    const gi = g[i]! * c;
    const mi = cfg.beta1 * m[i]! + (1 - cfg.beta1) * gi;
    const vi = cfg.beta2 * v[i]! + (1 - cfg.beta2) * gi * gi;
    const mh = mi / (1 - cfg.beta1 ** t);
    const vh = vi / (1 - cfg.beta2 ** t);
    m[i] = mi;
    v[i] = vi;
    return pi - lr * (mh / (Math.sqrt(vh) + cfg.eps) + cfg.weightDecay * pi);
  });
}

function close(a: ArrayLike<number>, b: ArrayLike<number>, tol: number): void {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!), `index ${i}: ${a[i]} vs ${b[i]}`).toBeLessThanOrEqual(tol * (1 + Math.abs(b[i]!)));
}

describe('global-norm clipping', () => {
  it('norm and scale match a host computation, and scale is 1 below the threshold', () => {
    const a = [0.3, -1.2, 2.5, 0.0, 4.0, -0.7];
    const b = [[1.5, -2.0], [0.25, 3.0]];
    const ta = E.tensor(a, [2, 3], backend);
    const tb = E.tensor(b.flat(), [2, 2], backend);
    const norm = Math.sqrt([...a, ...b.flat()].reduce((s, x) => s + x * x, 0));
    const n = globalNorm([ta, tb]);
    expect(n.shape).toEqual([1]);
    close(n.dataSync(), [norm], 1e-6);
    const s = clipScale([ta, tb], 0.5);
    close(s.dataSync(), [0.5 / norm], 1e-6);
    const big = clipScale([ta, tb], 100);
    expect(big.dataSync()[0]).toBe(1);
    // After scaling, the global norm is the threshold.
    const scaled = [E.mul(ta, s), E.mul(tb, s)];
    const n2 = globalNorm(scaled);
    close(n2.dataSync(), [0.5], 1e-6);
    for (const t of [ta, tb, n, s, big, n2, ...scaled]) t.dispose();
  });

  it('an all-zero gradient gives scale 1 (no NaN)', () => {
    const z = E.zeros([4], backend);
    const s = clipScale([z], 0.5);
    expect(s.dataSync()[0]).toBe(1);
    z.dispose();
    s.dispose();
  });
});

describe('AdamW', () => {
  it('three steps match the hand-computed formula, with clipping active on some steps', () => {
    const p0 = [0.5, -1.0, 2.0, 0.1, -0.3];
    const grads = [
      [0.1, 0.2, -0.05, 0.0, 0.3], // norm ≈ 0.38 < 0.5: no clipping
      [2.0, -1.0, 0.5, 3.0, -0.2], // norm ≈ 3.8: clipped to 0.5
      [-0.4, 0.4, 0.1, -0.1, 0.2],
    ];
    const lrs = [1e-2, 5e-3, 2e-3];
    const p = E.tensor(p0, [5], backend);
    const opt = AdamW.create([p], CFG);
    let ref = [...p0];
    const m = [0, 0, 0, 0, 0];
    const v = [0, 0, 0, 0, 0];
    grads.forEach((g, k) => {
      const tg = E.tensor(g, [5], backend);
      opt.update([p], [tg], lrs[k]!);
      tg.dispose();
      const norm = Math.sqrt(g.reduce((s, x) => s + x * x, 0));
      const c = Math.min(1, 0.5 / norm);
      ref = adamwHost(ref, g, m, v, c, lrs[k]!, k + 1, CFG);
      close(p.dataSync(), ref, 2e-6);
    });
    expect(opt.step).toBe(3);
    close(opt.m[0]!.dataSync(), m, 1e-6);
    close(opt.v[0]!.dataSync(), v, 1e-6);
    opt.dispose();
    p.dispose();
  });

  it('first step moves every weight by about lr·sign(g) plus the decay term', () => {
    // With bias correction, m̂/√v̂ = g/|g| at t = 1: the Adam step is lr·sign(g).
    const p = E.tensor([1, -2, 3], [3], backend);
    const opt = AdamW.create([p], { ...CFG, clipNorm: Infinity });
    const g = E.tensor([0.01, -5, 2], [3], backend);
    opt.update([p], [g], 0.1);
    close(p.dataSync(), [1 - 0.1 * (1 + 1e-4), -2 + 0.1 * (1 + 2e-4), 3 - 0.1 * (1 + 3e-4)], 1e-6);
    for (const t of [p, g]) t.dispose();
    opt.dispose();
  });

  it('state round-trips through host arrays and continues identically', async () => {
    const mk = () => E.tensor([0.2, -0.4, 0.6, 0.8], [2, 2], backend);
    const g1 = E.tensor([0.3, 0.1, -0.2, 0.4], [2, 2], backend);
    const g2 = E.tensor([-0.1, 0.5, 0.2, -0.3], [2, 2], backend);
    const a = mk();
    const optA = AdamW.create([a], CFG);
    optA.update([a], [g1], 1e-2);
    const st = await optA.state();
    const b = E.tensor(a.dataSync(), [2, 2], backend);
    const optB = AdamW.fromState([b], CFG, st);
    optA.update([a], [g2], 1e-2);
    optB.update([b], [g2], 1e-2);
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    expect(() => AdamW.fromState([b], CFG, { ...st, m: [] })).toThrow(/expected 1 moment pairs, got m 0/);
    expect(() => AdamW.fromState([b], CFG, { ...st, m: [new Float32Array(3)] })).toThrow(/m\[0\] has 3 values, parameter has 4/);
    for (const t of [a, b, g1, g2]) t.dispose();
    optA.dispose();
    optB.dispose();
  });

  it('update frees what it allocates (live buffers unchanged)', () => {
    const p = E.tensor([1, 2, 3, 4], [4], backend);
    const g = E.tensor([4, 3, 2, 1], [4], backend);
    const opt = AdamW.create([p], CFG);
    opt.update([p], [g], 1e-3);
    const live = backend.memory.stats().liveBytes;
    opt.update([p], [g], 1e-3);
    expect(backend.memory.stats().liveBytes).toBe(live);
    opt.dispose();
    p.dispose();
    g.dispose();
  });
});

describe('cosine schedule (experiments.md §1)', () => {
  it('lr(k) = lr0·((1 − α)·½(1 + cos(π·min(k, K)/K)) + α) at k = 0, K/2, K and beyond', () => {
    const c = parseTrainConfig({ steps: 1000, lr: 1e-3, alpha: 0.02 });
    expect(learningRate(c, 0)).toBeCloseTo(1e-3, 15);
    expect(learningRate(c, 500)).toBeCloseTo(1e-3 * (0.98 * 0.5 + 0.02), 15);
    expect(learningRate(c, 1000)).toBeCloseTo(1e-3 * 0.02, 15);
    expect(learningRate(c, 5000)).toBeCloseTo(1e-3 * 0.02, 15);
    expect(learningRate(c, 250)).toBeCloseTo(1e-3 * (0.98 * 0.5 * (1 + Math.SQRT1_2) + 0.02), 15);
    // The paper's 2D GP row: lr0 1e-4, α 2e-5 (a fraction of lr0), K = 100k.
    expect(learningRate(DEFAULT_TRAIN_CONFIG, 100_000)).toBeCloseTo(1e-4 * 2e-5, 18);
    expect(learningRate({ ...c, schedule: 'constant' }, 700)).toBe(1e-3);
  });
});
