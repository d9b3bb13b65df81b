// A training step whose loss or gradient is not finite is skipped on the device (parameters and AdamW
// moments unchanged, no readback), counted and reported; N such steps in a row stop training with a
// clear error. On the CPU and WebGPU (lavapipe) backends, with gradients and batches made non-finite
// on purpose. Expectations: the parameters and moments from before the step (bit for bit), and a
// float64 host AdamW for the steps around a skipped one.
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../src/engine/backend.js';
import * as E from '../../src/engine/ops.js';
import type { Batch, TaskGenerator } from '../../src/data/batch.js';
import { resolveTask } from '../../src/train/tasks.js';
import { AdamW, clipScale, type AdamWConfig } from '../../src/train/optimizer.js';
import { Trainer, TrainingDivergedError, type TrainEvent } from '../../src/train/trainer.js';
import type { Weights } from '../../src/train/checkpoint.js';
import { cpuBackend, webgpuBackend } from '../helpers/backends.js';
import { TINY_MODEL, tinyTrain } from './tiny.js';

const CFG: AdamWConfig = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 1e-4, clipNorm: 0.5 };

/** Host float64 AdamW update t (optax adamw with decoupled decay) on copies; c: the clip factor. */
function adamwHost(p: number[], g: number[], m: number[], v: number[], lr: number, t: number, cfg: AdamWConfig) {
  const norm = Math.sqrt(g.reduce((s, x) => s + x * x, 0));
  const c = Number.isFinite(cfg.clipNorm) ? Math.min(1, cfg.clipNorm / (norm + 1e-12)) : 1;
  const m2 = m.map((mi, i) => cfg.beta1 * mi + (1 - cfg.beta1) * g[i]! * c);
  const v2 = v.map((vi, i) => cfg.beta2 * vi + (1 - cfg.beta2) * (g[i]! * c) ** 2);
  const p2 = p.map((pi, i) => pi - lr * ((m2[i]! / (1 - cfg.beta1 ** t)) / (Math.sqrt(v2[i]! / (1 - cfg.beta2 ** t)) + cfg.eps) + cfg.weightDecay * pi));
  return { p: p2, m: m2, v: v2 };
}

function close(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  expect(a.length, what).toBe(b.length);
  for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!), `${what}[${i}]: ${a[i]} vs ${b[i]}`).toBeLessThanOrEqual(tol * (1 + Math.abs(b[i]!)));
}

const backends: [string, () => Promise<Backend | null>][] = [
  ['cpu', async () => cpuBackend()],
  ['webgpu', async () => {
    process.env.LP_NUM_THREADS ??= '1';
    return webgpuBackend();
  }],
];

describe.each(backends)('non-finite optimiser steps (%s)', (_name, make) => {
  it('clipScale is NaN for a NaN or infinite gradient or loss, and the same value as before otherwise', async () => {
    const be = await make();
    if (!be) return;
    const g = [0.3, -1.2, 2.5, 4.0];
    const norm = Math.sqrt(g.reduce((s, x) => s + x * x, 0));
    const t = (x: number[]) => E.tensor(x, [x.length], be);
    const cases: [number[], number, number | null, number][] = [
      [g, 0.5, null, 0.5 / norm],
      [g, 100, null, 1],
      [g, Infinity, null, 1],
      [[0.3, NaN, 2.5, 4.0], 0.5, null, NaN],
      [[0.3, Infinity, 2.5, 4.0], 0.5, null, NaN], // was 0: a zero step that still moved m and v
      [[0.3, -Infinity, 2.5, 4.0], Infinity, null, NaN],
      [[3e19, 1, 1, 1], 0.5, null, NaN], // Σg² past float32's range
      [g, 0.5, NaN, NaN],
      [g, 0.5, -1.25, 0.5 / norm],
    ];
    for (const [grad, maxNorm, loss, want] of cases) {
      const gt = t(grad);
      const lt = loss === null ? undefined : E.scalar(loss, be);
      const s = clipScale([gt], maxNorm, lt);
      const got = (await s.data())[0]!;
      if (Number.isNaN(want)) expect(got, `${grad} ${maxNorm} ${loss}`).toBeNaN();
      else close([got], [want], 1e-6, `${grad} ${maxNorm} ${loss}`);
      for (const x of [gt, lt, s]) x?.dispose();
    }
  });

  it('a NaN or infinite gradient leaves parameters and moments unchanged; later steps follow float64 AdamW', async () => {
    const be = await make();
    if (!be) return;
    for (const cfg of [CFG, { ...CFG, clipNorm: Infinity }]) {
      const p0 = [0.5, -1.0, 2.0, 0.25, -0.75];
      const param = E.tensor(p0, [5], be);
      const opt = AdamW.create([param], cfg);
      let host = { p: p0, m: p0.map(() => 0), v: p0.map(() => 0) };
      const g1 = [0.1, -0.4, 0.3, 2.0, -0.05];
      const g4 = [-0.2, 0.6, 0.1, -1.5, 0.3];
      const steps: [number[], number | null, boolean][] = [
        [g1, null, true],
        [[0.1, NaN, 0.3, 2.0, -0.05], null, false],
        [[0.1, -0.4, Infinity, 2.0, -0.05], null, false],
        [g1, NaN, false], // finite gradient, NaN loss
        [g4, 1.5, true],
      ];
      let t = 0;
      for (const [g, loss, applies] of steps) {
        t++;
        const gt = E.tensor(g, [5], be);
        const lt = loss === null ? undefined : E.scalar(loss, be);
        const applied = opt.guardedUpdate([param], [gt], 1e-2, lt);
        expect((await applied.data())[0], `step ${t}`).toBe(applies ? 1 : 0);
        applied.dispose();
        gt.dispose();
        lt?.dispose();
        // A skipped step keeps the state; the step count (bias correction, schedule) moves on.
        if (applies) host = adamwHost(host.p, g, host.m, host.v, 1e-2, t, cfg);
        const what = `clip ${cfg.clipNorm}, step ${t}`;
        close(await param.data(), host.p, 2e-6, `${what} p`);
        close(await opt.m[0]!.data(), host.m, 2e-6, `${what} m`);
        close(await opt.v[0]!.data(), host.v, 2e-6, `${what} v`);
      }
      expect(opt.step).toBe(5);
      opt.dispose();
      param.dispose();
    }
  });
});

/** The tiny task's generator with the targets of the batches at `poisoned` calls (1-based) set to NaN. */
function poisoning(poisoned: (call: number) => boolean): TaskGenerator {
  const tiny = tinyTrain();
  const gen = resolveTask(tiny.task, tiny.batchSize).generator;
  let calls = 0;
  return (rng) => {
    const b: Batch = gen(rng);
    if (poisoned(++calls)) b.f_test = b.f_test.map((x, i) => (i === 0 ? NaN : x));
    return b;
  };
}

function sameWeights(a: Weights, b: Weights, what: string): void {
  for (const [k, w] of a) expect(Array.from(b.get(k)!.data), `${what} ${k}`).toEqual(Array.from(w.data));
}

function allFinite(w: Weights): boolean {
  for (const [, x] of w) for (const v of x.data) if (!Number.isFinite(v)) return false;
  return true;
}

describe.each(backends)('Trainer with a non-finite step (%s)', (name, make) => {
  it('a poisoned batch is skipped (weights and moments unchanged), reported, and training goes on', async () => {
    const be = await make();
    if (!be) return;
    const events: TrainEvent[] = [];
    const gen = poisoning((k) => k === 4);
    // WebGPU replays the recorded step (the guard runs inside the recording).
    const t = Trainer.create(TINY_MODEL, tinyTrain({ validBatches: 0 }), be, {
      out: null, lossEvery: 3, onEvent: (e) => events.push(e), tasks: { train: gen, valid: poisoning(() => false) },
    });
    for (let k = 0; k < 3; k++) t.trainStep();
    const l1 = await t.readLoss();
    const w3 = await t.weights();
    const s3 = await t.optimizer.state();
    t.trainStep(); // step 4: NaN target → NaN loss and gradient
    sameWeights(w3, await t.weights(), 'after the skipped step');
    const s4 = await t.optimizer.state();
    for (let i = 0; i < s3.m.length; i++) {
      expect(Array.from(s4.m[i]!), `m[${i}]`).toEqual(Array.from(s3.m[i]!));
      expect(Array.from(s4.v[i]!), `v[${i}]`).toEqual(Array.from(s3.v[i]!));
    }
    expect(s4.step).toBe(4);
    t.trainStep();
    t.trainStep();
    const l2 = await t.readLoss();
    expect(Number.isFinite(l1)).toBe(true);
    expect(Number.isFinite(l2)).toBe(true); // the mean of steps 5 and 6
    const w6 = await t.weights();
    expect(allFinite(w6)).toBe(true);
    expect(Array.from(w6.values())[0]!.data).not.toEqual(Array.from(w3.values())[0]!.data);
    expect(events.filter((e) => e.type === 'skipped')).toEqual([{ type: 'skipped', step: 6, skipped: 1, total: 1 }]);
    expect(t.skippedSteps).toBe(1);
    if (name === 'webgpu') expect(t.replayedSteps).toBe(5);
    t.dispose();
  }, 120_000);

  it('the loss of a run without non-finite steps is unchanged by the guard (the mean of the step losses)', async () => {
    const be = await make();
    if (!be) return;
    const gen = poisoning(() => false);
    const a = Trainer.create(TINY_MODEL, tinyTrain({ validBatches: 0 }), be, { out: null, replay: false, tasks: { train: gen, valid: gen } });
    // Reference: the loss of each step from the same parameters, outside the trainer.
    const losses: number[] = [];
    const b = Trainer.create(TINY_MODEL, tinyTrain({ validBatches: 0 }), be, { out: null, replay: false, tasks: { train: poisoning(() => false), valid: gen } });
    for (let k = 0; k < 3; k++) {
      b.trainStep();
      losses.push((await b.readLoss())!);
    }
    for (let k = 0; k < 3; k++) a.trainStep();
    const mean = (await a.readLoss())!;
    close([mean], [(losses[0]! + losses[1]! + losses[2]!) / 3], 1e-6, 'mean loss');
    expect(a.skippedSteps).toBe(0);
    a.dispose();
    b.dispose();
  }, 120_000);

  it('steps that stay non-finite stop training with a clear error after N in a row, weights intact', async () => {
    const be = await make();
    if (!be) return;
    const events: TrainEvent[] = [];
    const t = Trainer.create(TINY_MODEL, tinyTrain({ validBatches: 0, steps: 40 }), be, {
      out: null, lossEvery: 5, maxSkippedInARow: 7, onEvent: (e) => events.push(e),
      tasks: { train: poisoning((k) => k >= 3), valid: poisoning(() => false) },
    });
    t.trainStep();
    t.trainStep();
    const w2 = await t.weights();
    await expect(t.run()).rejects.toThrow(TrainingDivergedError);
    // Readbacks at steps 5 (3 skipped in a row) and 10 (8 ≥ 7): the run stops at step 10.
    expect(t.step).toBe(10);
    await expect(t.readLoss()).resolves.toBeNull();
    sameWeights(w2, await t.weights(), 'after the skipped steps');
    expect(events.filter((e) => e.type === 'skipped').map((e) => e.type === 'skipped' && [e.step, e.skipped, e.total])).toEqual([[5, 3, 3], [10, 5, 8]]);
    t.dispose();
    const t2 = Trainer.create(TINY_MODEL, tinyTrain({ validBatches: 0, steps: 40 }), be, {
      out: null, lossEvery: 5, maxSkippedInARow: 7, tasks: { train: poisoning((k) => k >= 3), valid: poisoning(() => false) },
    });
    await expect(t2.run()).rejects.toThrow('training: the loss or its gradient was not finite for 8 steps in a row (skipped, weights unchanged) up to step 10; lower train.lr or train.clipNorm, or resume from an earlier checkpoint');
    t2.dispose();
  }, 120_000);
});
