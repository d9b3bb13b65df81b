// Replayed training steps (Trainer option `replay`, WebGPU StepRecording) against running every
// step: the same weights, moments and losses bit for bit, across batches with different context
// counts, validation and a checkpoint between steps; and the recording reserves its buffers.
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Trainer } from '../../src/train/trainer.js';
import { loadCheckpoint } from '../../src/train/checkpoint.js';
import type { WebGPUBackend } from '../../src/engine/webgpu/backend.js';
import { gpu } from '../webgpu/util.js';
import { TINY_MODEL, tinyTrain } from './tiny.js';

async function history(be: WebGPUBackend, replay: boolean, out: string | null, over: Record<string, unknown> = {}) {
  const t = Trainer.create(TINY_MODEL, tinyTrain({ validBatches: 2, ...over }), be, { out, replay });
  const losses: (number | null)[] = [];
  const d0 = be.dispatches;
  for (let k = 0; k < 3; k++) t.trainStep();
  losses.push(await t.readLoss());
  // Eager work between replays: validation (allocations from the pool) and a checkpoint.
  const v = await t.validate();
  if (out) await t.save();
  for (let k = 0; k < 3; k++) t.trainStep();
  losses.push(await t.readLoss());
  const weights = await t.weights();
  const state = await t.optimizer.state();
  const dispatches = be.dispatches - d0;
  const replayed = t.replayedSteps;
  t.dispose();
  return { losses, weights, state, valid: v.nll, dispatches, replayed };
}

describe('replayed training steps (WebGPU)', () => {
  it('train to the same weights, moments and losses as running every step', async () => {
    const be = await gpu();
    if (!be) return;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'replay-'));
    try {
      const a = await history(be, false, null);
      const b = await history(be, true, path.join(dir, 'ck'));
      expect(b.losses).toEqual(a.losses);
      expect(b.valid).toBe(a.valid);
      for (const [k, w] of a.weights) expect(Array.from(b.weights.get(k)!.data), k).toEqual(Array.from(w.data));
      expect(b.state.step).toBe(6);
      expect([a.replayed, b.replayed]).toEqual([0, 5]); // step 1 recorded, steps 2–6 replayed
      for (let i = 0; i < a.state.m.length; i++) {
        expect(Array.from(b.state.m[i]!), `m[${i}]`).toEqual(Array.from(a.state.m[i]!));
        expect(Array.from(b.state.v[i]!), `v[${i}]`).toEqual(Array.from(a.state.v[i]!));
      }
      // The checkpoint written between replays holds step 3's state.
      expect(loadCheckpoint(path.join(dir, 'ck')).state.step).toBe(3);
      // Replays re-issue the recorded kernels only: no more dispatches than running every step.
      expect(b.dispatches).toBeLessThanOrEqual(a.dispatches);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);

  it('with train.biasLrScale (two optimiser updates per step, each its own lr) replays match running every step', async () => {
    const be = await gpu();
    if (!be) return;
    const a = await history(be, false, null, { biasLrScale: 20 });
    const b = await history(be, true, null, { biasLrScale: 20 });
    const plain = await history(be, true, null);
    expect(b.replayed).toBe(5);
    expect(b.losses).toEqual(a.losses);
    for (const [k, w] of a.weights) expect(Array.from(b.weights.get(k)!.data), k).toEqual(Array.from(w.data));
    // The multiplier is applied in the replays too: the bias moved further than without it.
    const moved = (w: typeof a.weights) => Math.abs(w.get('blocks.0.attn.bias_s.b')!.data[0]! - 1);
    expect(moved(b.weights)).toBeGreaterThan(5 * moved(plain.weights));
  }, 300_000);

  it('two recordings that share a buffer: disposing one keeps the other\'s reservation', async () => {
    const be = await gpu();
    if (!be) return;
    const x = be.upload(new Float32Array([1, 2, 3, 4]));
    const h = be.unary('neg', x); // held across both captures, not external
    be.beginCapture();
    const a = be.unary('exp', h);
    const recA = be.endCapture([x, a]);
    be.beginCapture();
    const c = be.binary('mul', h, [4], x, [4], [4]);
    be.free(h); // h's buffer is c's input; recB still writes nothing to it, but it reads it
    const recB = be.endCapture([x, c]);
    recA.dispose();
    // h's buffer is still reserved by recB: fresh allocations must not get it.
    const others = [0, 1, 2, 3].map(() => be.upload(new Float32Array([9, 9, 9, 9])));
    recB.replay();
    for (const o of others) expect(Array.from(await be.read(o))).toEqual([9, 9, 9, 9]);
    expect(Array.from(await be.read(c))).toEqual([-1, -4, -9, -16]);
    recB.dispose();
    for (const t of [...others, x, a, c]) be.free(t);
  });

  it('a recording reserves the buffers it overwrites and returns them on dispose', async () => {
    const be = await gpu();
    if (!be) return;
    try {
      const x = be.upload(new Float32Array([1, 2, 3, 4]));
      be.beginCapture();
      const y = be.unary('exp', x);
      const z = be.upload(new Float32Array([5, 6, 7, 8]), 'in');
      const w = be.binary('add', y, [4], z, [4], [4]);
      be.free(y);
      be.free(z);
      const rec = be.endCapture([x, w]);
      // y's and z's buffers are reserved: new allocations of that size get other buffers, which
      // the replay must not overwrite.
      const others = [0, 1, 2].map(() => be.upload(new Float32Array([9, 9, 9, 9])));
      const slot = rec.slotsLabelled('in')[0]!;
      expect(slot).toBe(rec.slotOf(z));
      rec.replay(new Map([[slot, new Float32Array([10, 20, 30, 40])]]));
      const got = await be.read(w);
      for (let i = 0; i < 4; i++) expect(got[i]).toBeCloseTo(Math.exp(i + 1) + 10 * (i + 1), 4);
      for (const o of others) expect(Array.from(await be.read(o))).toEqual([9, 9, 9, 9]);
      expect(() => rec.replay(new Map([[slot, new Float32Array(3)]]))).toThrow(/slot 0 expected 4 values, got 3/);
      expect(() => be.beginCapture()).not.toThrow();
      await expect(be.read(w)).rejects.toThrow(/cannot read back while a step is being captured/);
      be.abortCapture();
      rec.dispose();
      for (const o of others) be.free(o);
      be.free(x);
      be.free(w);
    } finally {
      be.abortCapture();
    }
  });
});
