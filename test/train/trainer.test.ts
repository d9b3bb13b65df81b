import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../../src/engine/cpu/backend.js';
import * as E from '../../src/engine/ops.js';
import { toParams } from '../../src/nn/params.js';
import { Rng } from '../../src/engine/random.js';
import { gpTask } from '../../src/data/tasks.js';
import { gaussianMetrics } from '../../src/data/metrics.js';
import { parseConfig } from '../../src/models/config.js';
import { batchToTensors, BatchInputError } from '../../src/train/batch-inputs.js';
import { resolveTask } from '../../src/train/tasks.js';
import { evaluate, Trainer, type TrainEvent } from '../../src/train/trainer.js';
import { TINY_MODEL, tinyTrain } from './tiny.js';

describe('batchToTensors', () => {
  it('uploads the configured groups with the batch shapes and values, and frees them', () => {
    const backend = new CpuBackend();
    const { generator } = resolveTask({ name: 'gp2d', options: { ncMin: 3, ncMax: 5, nt: 4 } }, 2);
    const batch = generator(Rng.fromSeed(1));
    const live = backend.memory.stats().liveBytes;
    const bt = batchToTensors(batch, TINY_MODEL, backend);
    expect(bt.inputs.ctx.f.shape).toEqual([2, 5, 1]);
    expect(bt.inputs.ctx.mask!.shape).toEqual([2, 5]);
    expect(bt.inputs.ctx.coords.s!.shape).toEqual([2, 5, 2]);
    expect(bt.inputs.test.s!.shape).toEqual([2, 4, 2]);
    expect(bt.fTest.shape).toEqual([2, 4, 1]);
    expect(bt.maskTest).toBeUndefined();
    expect(Array.from(bt.inputs.ctx.coords.s!.dataSync())).toEqual(Array.from(batch.s_ctx));
    expect(Array.from(bt.inputs.ctx.mask!.dataSync())).toEqual(Array.from(batch.mask_ctx));
    expect(Array.from(bt.fTest.dataSync())).toEqual(Array.from(batch.f_test));
    bt.dispose();
    expect(backend.memory.stats().liveBytes).toBe(live);
  });

  it('rejects a batch that does not fit the model', () => {
    const backend = new CpuBackend();
    const batch = resolveTask({ name: 'gp1d', options: {} }, 2).generator(Rng.fromSeed(1));
    expect(() => batchToTensors(batch, TINY_MODEL, backend)).toThrow(BatchInputError);
    expect(() => batchToTensors(batch, TINY_MODEL, backend)).toThrow("batch: the model expects 's' coordinates of width 2, the batch has 1");
    const two = parseConfig({ ...TINY_MODEL, output: { kind: 'gaussian', dims: 2, minStd: 0 } });
    const b2 = resolveTask({ name: 'gp2d', options: { ncMin: 3, ncMax: 5, nt: 4 } }, 2).generator(Rng.fromSeed(1));
    expect(() => batchToTensors(b2, two, backend)).toThrow('batch: the model expects f of width 2 (output gaussian), the batch has Df = 1');
  });
});

describe('Trainer', () => {
  it('a step reads nothing back and leaks nothing; the loss is read every lossEvery steps', async () => {
    const backend = new CpuBackend();
    let reads = 0;
    const read = backend.read.bind(backend);
    const readSync = backend.readSync.bind(backend);
    backend.read = (s) => { reads++; return read(s); };
    backend.readSync = (s) => { reads++; return readSync(s); };
    const events: TrainEvent[] = [];
    const t = Trainer.create(TINY_MODEL, tinyTrain(), backend, { out: null, lossEvery: 3, onEvent: (e) => events.push(e) });
    // What the model's own loss + gradient leaves allocated per call (0 once every op is exact about
    // its accounting; the CPU BSA kernel currently records workspace it does not release).
    const batch = resolveTask(t.train.task, t.train.batchSize).generator(Rng.fromSeed(3));
    const bt = batchToTensors(batch, TINY_MODEL, backend);
    const m0 = backend.memory.stats().liveBytes;
    const vg = E.valueAndGrad((ps) => t.model.loss(toParams(t.specs, ps), bt.inputs, bt.fTest))(t.params);
    vg.value.dispose();
    for (const g of vg.grads) g.dispose();
    const modelResidue = backend.memory.stats().liveBytes - m0;
    bt.dispose();
    t.trainStep();
    await t.readLoss();
    const live = backend.memory.stats().liveBytes;
    reads = 0;
    t.trainStep();
    t.trainStep();
    expect(reads).toBe(0);
    // Nothing stays on the device between steps (the running loss sum is one float32 allocated with
    // the trainer and updated in place).
    expect(backend.memory.stats().liveBytes - live - 2 * modelResidue).toBe(0);
    const loss = await t.readLoss();
    expect(reads).toBeGreaterThan(0);
    expect(Number.isFinite(loss)).toBe(true);
    expect(backend.memory.stats().liveBytes - live - 2 * modelResidue).toBe(0);
    await t.run(9);
    expect(events.filter((e) => e.type === 'loss').map((e) => e.type === 'loss' && e.step)).toEqual([6, 9]);
    t.dispose();
  });

  it('a time budget stops the run and fits the schedule to the steps the measured rate allows', async () => {
    const t = Trainer.create(TINY_MODEL, tinyTrain({ steps: 1_000_000 }), new CpuBackend(), { out: null, lossEvery: 1000 });
    const t0 = Date.now();
    await t.run(undefined, { seconds: 1.5, warmupSteps: 2, probeSteps: 5 });
    const secs = (Date.now() - t0) / 1000;
    expect(secs).toBeLessThan(10);
    // The schedule was shortened from 10^6 to what fits (a few hundred steps at most here), and the
    // run stopped at that length or at the deadline, whichever came first.
    expect(t.train.steps).toBeLessThan(100_000);
    expect(t.step).toBeGreaterThan(7);
    expect(t.step).toBeLessThanOrEqual(t.train.steps);
    expect(t.step === t.train.steps || secs >= 1.5).toBe(true);
    expect(secs).toBeGreaterThan(0.5);
    t.dispose();
  });

  it('a fitted schedule cut short by the deadline records the steps that ran', async () => {
    // No probe within the budget (probeSteps far beyond what 0.5 s allows): the deadline ends it.
    const t = Trainer.create(TINY_MODEL, tinyTrain({ steps: 1_000_000 }), new CpuBackend(), { out: null, lossEvery: 1000 });
    await t.run(undefined, { seconds: 0.5, warmupSteps: 2, probeSteps: 900_000 });
    expect(t.step).toBeGreaterThan(2);
    expect(t.step).toBeLessThan(1_000_000);
    expect(t.train.steps).toBe(t.step);
    t.dispose();
  });

  it('a time budget without fitSchedule stops at the deadline and keeps the schedule', async () => {
    const t = Trainer.create(TINY_MODEL, tinyTrain({ steps: 1_000_000 }), new CpuBackend(), { out: null, lossEvery: 1000 });
    const t0 = Date.now();
    await t.run(undefined, { seconds: 1, warmupSteps: 2, probeSteps: 5, fitSchedule: false });
    const secs = (Date.now() - t0) / 1000;
    expect(secs).toBeGreaterThanOrEqual(1);
    expect(secs).toBeLessThan(10);
    expect(t.train.steps).toBe(1_000_000);
    expect(t.step).toBeGreaterThan(7);
    t.dispose();
  });

  it('the same seed gives the same run; another seed another one', async () => {
    const run = async (seed: number) => {
      const t = Trainer.create(TINY_MODEL, tinyTrain({ seed }), new CpuBackend(), { out: null });
      await t.run(3);
      const w = await t.weights();
      t.dispose();
      return Array.from(w.get('head.layers.0.w')?.data ?? [...w.values()][0]!.data);
    };
    const a = await run(1);
    expect(await run(1)).toEqual(a);
    expect(await run(2)).not.toEqual(a);
  });

  it('learns: validation NLL drops on the tiny task', async () => {
    const events: TrainEvent[] = [];
    // A small box ([−0.5, 0.5]²) makes the functions smooth at the scale of the 8–16 context
    // points, so there is something to learn beyond the prior within a few steps.
    const task = { name: 'gp2d', options: { ncMin: 8, ncMax: 16, nt: 12, lo: -0.5, hi: 0.5 } };
    const t = Trainer.create(TINY_MODEL, tinyTrain({ steps: 100, batchSize: 4, lr: 3e-3, validEvery: 100, validBatches: 4, task }), new CpuBackend(),
      { out: null, onEvent: (e) => events.push(e) });
    const before = await t.validate(4);
    await t.run();
    const v = events.find((e) => e.type === 'validation');
    expect(v && v.type === 'validation').toBe(true);
    if (v?.type !== 'validation') return;
    expect(v.metrics.nll).toBeLessThan(before.nll - 0.1);
    expect(v.metrics.oracleNll).not.toBeNull();
    expect(v.metrics.nll).toBeGreaterThan(v.metrics.oracleNll!); // nothing beats the true posterior on average
    t.dispose();
  });
});

describe('evaluate', () => {
  it('matches gaussianMetrics on the same predictions, batch by batch', async () => {
    const backend = new CpuBackend();
    const t = Trainer.create(TINY_MODEL, tinyTrain(), backend, { out: null });
    const cfg = resolveTask({ name: 'gp2d', options: { ncMin: 8, ncMax: 16, nt: 12 } }, 2).config!;
    const gen = gpTask(cfg);
    const sofar: { done: number; nll: number; oracleNll: number | null }[] = [];
    const m = await evaluate(t.model, t.paramsByName(), backend, gen, Rng.fromSeed(5), 2,
      (done, r) => sofar.push({ done, nll: r.nll, oracleNll: r.oracleNll }));
    // Independent recomputation.
    const rng = Rng.fromSeed(5);
    let nll = 0;
    const perBatch: number[] = [];
    for (let i = 0; i < 2; i++) {
      const batch = gen(rng.split());
      const bt = batchToTensors(batch, TINY_MODEL, backend);
      const out = t.model.forward(t.paramsByName(), bt.inputs);
      if (out.kind !== 'gaussian') throw new Error('expected gaussian');
      perBatch.push(gaussianMetrics(batch.f_test, out.mean.dataSync(), out.std.dataSync()).nll);
      nll += perBatch[i]! / 2;
      out.mean.dispose();
      out.std.dispose();
      bt.dispose();
    }
    expect(m.nll).toBeCloseTo(nll, 10);
    expect(m.batches).toBe(2);
    // The running metrics after each batch: the first batch's alone, then the final mean.
    expect(sofar.map((x) => x.done)).toEqual([1, 2]);
    expect(sofar[0]!.nll).toBeCloseTo(perBatch[0]!, 10);
    expect(sofar[1]!.nll).toBeCloseTo(m.nll, 12);
    expect(sofar[1]!.oracleNll).toBe(m.oracleNll);
    expect(Number.isFinite(sofar[0]!.oracleNll)).toBe(true);
    expect(m.coverage).toBeGreaterThanOrEqual(0);
    expect(m.coverage).toBeLessThanOrEqual(1);
    t.dispose();
  });
});

describe('tasks', () => {
  it('shifted and scaled variants follow the trained task', () => {
    const base = resolveTask({ name: 'gp2d', options: { ncMin: 64, ncMax: 256, nt: 256, locations: 512 } }, 8).config!;
    expect(base.regions).toEqual([{ lo: [-2, -2], hi: [2, 2], count: 512 }]);
    const sh = resolveTask({ name: 'gp2d-shifted', options: { ncMin: 64, ncMax: 256, nt: 256, locations: 512 } }, 8).config!;
    expect(sh.regions).toEqual([{ lo: [8, 8], hi: [12, 12], count: 512 }]);
    const sc = resolveTask({ name: 'gp2d-scaled', options: {} }, 8).config!;
    // The paper's scaled task: [−4, 4]², Nt = 4096 (Nc [512, 2048) here vs the paper's [492, 2048)).
    expect(sc.regions).toEqual([{ lo: [-4, -4], hi: [4, 4], count: 6144 }]);
    expect([sc.ncMin, sc.ncMax, sc.nt]).toEqual([512, 2048, 4096]);
    expect(() => resolveTask({ name: 'gp3d', options: {} }, 8)).toThrow(/unknown task 'gp3d'/);
    expect(() => resolveTask({ name: 'gp2d', options: { ncMax: 100, nt: 100, locations: 150 } }, 8)).toThrow(/needs at least ncMax \+ nt = 200 locations, got 150/);
    expect(() => resolveTask({ name: 'gp2d', options: { nct: 3 } }, 8)).toThrow(/nct/);
    // sampling: default joint; marginal carries into the eval variants; needs ncMax a multiple of 64.
    expect(base.sampling).toBe('joint');
    expect(resolveTask({ name: 'gp2d-scaled', options: { sampling: 'marginal' } }, 8).config!.sampling).toBe('marginal');
    expect(() => resolveTask({ name: 'gp2d', options: { sampling: 'marginals' } }, 8)).toThrow(/sampling: expected one of "joint", "marginal", got "marginals"; did you mean "marginal"\?/);
    expect(() => resolveTask({ name: 'gp2d', options: { sampling: 'marginal', ncMax: 100 } }, 8)).toThrow(/'marginal' needs ncMax a multiple of 64, got 100/);
  });
});
