/**
 * BSA-TNP with `output.standardize` (per-task standardised context values, predictions mapped
 * back): equivariance to an affine change of the values' units, padded rows left out of the
 * statistics, the training loss against encode + decode (value and gradient), a gradient against
 * finite differences, on cpu and (where present) webgpu; and the configuration's checks.
 */
import { afterAll, describe, expect, it } from 'vitest';
import * as E from '../../src/engine/ops.js';
import type { Backend } from '../../src/engine/backend.js';
import { Rng } from '../../src/engine/random.js';
import { DEFAULT_CONFIG, parseAnyConfig, parseConfig, type ModelConfig } from '../../src/models/config.js';
import { allclose, cpuBackend, webgpuBackend } from '../helpers/backends.js';
import { disposeInputs, jointAndSeparateLoss } from '../helpers/model-loss.js';
import { build, inputs, predict, task } from '../helpers/standardize-task.js';

const STD: ModelConfig = { ...DEFAULT_CONFIG, blocks: 2, tile: { queries: 16, keys: 8 }, output: { kind: 'gaussian', dims: 1, minStd: 0, standardize: true } };

const taskOf = (seed: number, B: number, Nc: number, Nt: number) => task(seed, B, Nc, Nt, 0.2, 5); // values far from mean 0 / std 1

describe.each([
  { name: 'cpu', get: async () => cpuBackend() as Backend | null },
  { name: 'webgpu', get: () => webgpuBackend() },
])('BSA-TNP output.standardize on $name', ({ get }) => {
  let b: Backend | null = null;
  afterAll(() => b?.destroy());

  it('values in other units (f → 3.7·f − 2.5) give mean → 3.7·mean − 2.5 and std → 3.7·std', async () => {
    b = await get();
    if (!b) return;
    const { model, p, dispose } = build(b, STD);
    const t = taskOf(2, 2, 19, 11);
    const base = await predict(model, p, b, t);
    const moved = await predict(model, p, b, { ...t, f: t.f.map((v) => 3.7 * v - 2.5) });
    expect(allclose(moved.mean, base.mean.map((m) => 3.7 * m - 2.5), 1e-4, 1e-4)).toBeNull();
    expect(allclose(moved.std, base.std.map((s) => 3.7 * s), 1e-4, 1e-6)).toBeNull();
    // Sanity: the predictions live in the values' units (context mean 5, std 0.2).
    const mu = base.mean.reduce((a, v) => a + v, 0) / base.mean.length;
    expect(Math.abs(mu - 5)).toBeLessThan(1);
    dispose();
  });

  it('padded context rows (mask 0, wild values) change nothing', async () => {
    if (!b) return;
    const { model, p, dispose } = build(b, STD);
    const t = taskOf(3, 1, 15, 8);
    const base = await predict(model, p, b, t);
    const pad = 5;
    const s = new Float32Array((15 + pad) * 2); s.set(t.s); s.fill(1e4, 30);
    const f = new Float32Array(15 + pad); f.set(t.f); f.fill(1e4, 15);
    const mask = new Float32Array(15 + pad); mask.fill(1, 0, 15);
    const padded = await predict(model, p, b, { ...t, Nc: 15 + pad, s, f, mask });
    expect(allclose(padded.mean, base.mean, 1e-5, 1e-5)).toBeNull();
    expect(allclose(padded.std, base.std, 1e-5, 1e-6)).toBeNull();
    dispose();
  });

  it('the training loss equals encode + decode (value and gradient), and its gradient matches finite differences', async () => {
    if (!b) return;
    const be = b;
    const { model, p, dispose } = build(be, STD);
    const t = taskOf(4, 2, 13, 7);
    t.mask[11] = 0;
    const rng = Rng.fromSeed(5);
    const fTest = E.tensor(Float32Array.from({ length: 14 }, () => 5 + 0.2 * rng.normal()), [2, 7, 1], be);
    const { names, joint, separate } = await jointAndSeparateLoss(model, p, () => inputs(be, t), fTest);
    expect(Math.abs(joint.value - separate.value)).toBeLessThan(1e-5 * Math.max(1, Math.abs(separate.value)));
    joint.grads.forEach((g, i) => expect(allclose(g, separate.grads[i]!, 1e-3, 1e-5), names[i]).toBeNull());
    // Central differences on the output layer's biases (mean and std slots), which act through
    // the map back to the values' units.
    const head = names.find((n) => /^head\.\d+\.bias$/.test(n) && p.get(n)!.shape[0] === 2)!;
    const hi = names.indexOf(head);
    const b0 = await p.get(head)!.data();
    for (const j of [0, 1]) {
      const lossAt = async (delta: number) => {
        const v = Float32Array.from(b0); v[j]! += delta;
        const tensor = E.tensor(v, [2], be);
        const ps = new Map(p); ps.set(head, tensor);
        const x = inputs(be, t);
        const l = model.loss(ps, x, fTest);
        disposeInputs(x);
        const r = (await l.data())[0]!;
        l.dispose(); tensor.dispose();
        return r;
      };
      const h = 1e-2;
      const fd = ((await lossAt(h)) - (await lossAt(-h))) / (2 * h);
      expect(Math.abs(fd - joint.grads[hi]![j]!)).toBeLessThan(2e-3 * Math.max(1, Math.abs(fd)));
    }
    fTest.dispose();
    dispose();
  });
});

describe('output.standardize configuration', () => {
  it('is off unless asked for, round-trips, and is refused for a baseline', () => {
    expect(parseConfig({}).output).toEqual({ kind: 'gaussian', dims: 1, minStd: 0 });
    const on = parseConfig({ output: { standardize: true } });
    expect(on.output).toEqual({ kind: 'gaussian', dims: 1, minStd: 0, standardize: true });
    expect(parseConfig(JSON.parse(JSON.stringify(on))).output).toEqual(on.output);
    expect(() => parseConfig({ output: { standardize: 'yes' } })).toThrow(/standardize/);
    expect(() => parseAnyConfig({ kind: 'tnp-d', output: { standardize: true } })).toThrow('is implemented for BSA-TNP only');
  });
});
