// train.biasLrScale (a learning-rate multiplier for the attention-bias parameters) and untying a
// trained RBF bias's basis functions (src/train/untie-bias.ts).
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../../src/engine/cpu/backend.js';
import * as E from '../../src/engine/ops.js';
import { Rng } from '../../src/engine/random.js';
import { parseConfig, parseTrainConfig } from '../../src/models/config.js';
import { adaptWeights } from '../../src/train/init-weights.js';
import { buildModel } from '../../src/models/registry.js';
import { toParams } from '../../src/nn/params.js';
import { batchToTensors } from '../../src/train/batch-inputs.js';
import type { Weights } from '../../src/train/checkpoint.js';
import { AdamW, adamWConfig, type AdamWConfig } from '../../src/train/optimizer.js';
import { resolveTask } from '../../src/train/tasks.js';
import { Trainer } from '../../src/train/trainer.js';
import { untieRbfBias } from '../../src/train/untie-bias.js';
import { TINY_MODEL, tinyTrain } from './tiny.js';

const backend = new CpuBackend();
const CFG: AdamWConfig = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, clipNorm: Infinity };

describe('AdamW lrScales', () => {
  it('each parameter moves by its own lr × multiplier (first step: lr·k·sign(g))', () => {
    const p = E.tensor([1, -2], [2], backend), q = E.tensor([3, 4, 5], [3], backend);
    const opt = AdamW.create([p, q], { ...CFG, lrScales: [1, 10] });
    const gp = E.tensor([0.5, -0.1], [2], backend), gq = E.tensor([-2, 0.3, 1], [3], backend);
    opt.update([p, q], [gp, gq], 0.01);
    const pv = p.dataSync(), qv = q.dataSync();
    [1 - 0.01, -2 + 0.01].forEach((x, i) => expect(pv[i]).toBeCloseTo(x, 6));
    [3 + 0.1, 4 - 0.1, 5 - 0.1].forEach((x, i) => expect(qv[i]).toBeCloseTo(x, 6));
    expect(opt.updateScales).toEqual([1, 10]);
    expect(() => AdamW.create([p, q], { ...CFG, lrScales: [1] })).toThrow(/expected 2 positive finite lrScales, got 1/);
    for (const t of [p, q, gp, gq]) t.dispose();
    opt.dispose();
  });

  it('adamWConfig gives the multiplier to the bias a, b, c only', () => {
    const names = ['blocks.0.attn.bias_s.a', 'blocks.0.attn.bias_s.b', 'blocks.1.attn.bias_t.c', 'blocks.0.attn.wq.weight', 'head.bias'];
    expect(adamWConfig(parseTrainConfig({ biasLrScale: 30 }), names).lrScales).toEqual([30, 30, 30, 1, 1]);
    expect(adamWConfig(parseTrainConfig({}), names).lrScales).toBeUndefined();
    // Kept through a save and reload of the configuration (so --resume continues with it).
    expect(parseTrainConfig(JSON.parse(JSON.stringify(parseTrainConfig({ biasLrScale: 30 })))).biasLrScale).toBe(30);
    expect(() => parseTrainConfig({ biasLrScale: 0 })).toThrow(/train\.biasLrScale: expected a number in \(0, 10000\]/);
  });
});

describe('train.biasLrScale in the trainer', () => {
  it('the first step moves bias parameters k times as far, the others the same', async () => {
    const run = async (over: Record<string, unknown>) => {
      const t = Trainer.create(TINY_MODEL, tinyTrain({ weightDecay: 0, clipNorm: 1e9, ...over }), backend, { out: null });
      const w0 = await t.weights();
      t.trainStep();
      const w1 = await t.weights();
      t.dispose();
      const delta = new Map<string, Float32Array>();
      for (const [k, w] of w0) delta.set(k, w1.get(k)!.data.map((x, i) => x - w.data[i]!));
      return delta;
    };
    const one = await run({}), ten = await run({ biasLrScale: 10 });
    let biasSeen = 0;
    for (const [k, d1] of one) {
      const d10 = ten.get(k)!;
      const isBias = /bias_s\.[ab]$/.test(k);
      if (isBias) biasSeen++;
      for (let i = 0; i < d1.length; i++) {
        if (d1[i] === 0) continue;
        expect(d10[i]! / d1[i]!, `${k}[${i}]`).toBeCloseTo(isBias ? 10 : 1, 3);
      }
    }
    expect(biasSeen).toBe(2 * TINY_MODEL.blocks);
  });
});

function randomWeights(seed: number): Weights {
  const specs = buildModel(TINY_MODEL).specs(Rng.fromSeed(seed));
  const w: Weights = new Map();
  const rng = Rng.fromSeed(seed + 1);
  for (const s of specs) {
    const data = Float32Array.from(s.init as Float32Array);
    // Tied bias values that differ by head (as after training without untying).
    if (/bias_s\.[ab]$/.test(s.name)) {
      const [H, F] = s.shape as [number, number];
      for (let h = 0; h < H; h++) {
        const v = 0.5 + rng.uniform();
        for (let k = 0; k < F; k++) data[h * F + k] = v;
      }
    }
    w.set(s.name, { data, shape: [...s.shape] });
  }
  return w;
}

async function predict(w: Weights): Promise<{ mean: Float32Array; std: Float32Array }> {
  const net = buildModel(TINY_MODEL);
  const specs = net.specs(Rng.fromSeed(0));
  const params = toParams(specs, specs.map((s) => E.tensor(w.get(s.name)!.data, s.shape, backend)));
  const gen = resolveTask({ name: 'gp2d', options: { ncMin: 8, ncMax: 16, nt: 12 } }, 2).groups;
  const batch = new (await import('../../src/data/stream.js')).BatchStream(gen, Rng.fromSeed(3)).next();
  const bt = batchToTensors(batch, TINY_MODEL, backend);
  const out = net.forward(params, bt.inputs);
  if (out.kind !== 'gaussian') throw new Error('expected gaussian');
  const r = { mean: await out.mean.data(), std: await out.std.data() };
  bt.dispose();
  return r;
}

describe('untieRbfBias', () => {
  it('keeps every prediction and writes the new bandwidths 1/ℓ² with amplitude 0', async () => {
    const w = randomWeights(11);
    const u = untieRbfBias(w, { s: [0.1, 2] });
    const a0 = w.get('blocks.0.attn.bias_s.a')!.data, a1 = u.get('blocks.0.attn.bias_s.a')!.data;
    const b1 = u.get('blocks.0.attn.bias_s.b')!.data;
    // F = 3: basis 0 carries F·a, the others a = 0 and b = 1/ℓ².
    expect(a1[0]).toBeCloseTo(3 * a0[0]!, 6);
    expect([a1[1], a1[2]]).toEqual([0, 0]);
    expect(b1[1]).toBeCloseTo(100, 4);
    expect(b1[2]).toBeCloseTo(0.25, 6);
    expect(w.get('blocks.0.attn.bias_s.a')!.data).toBe(a0); // input unchanged
    const p = await predict(w), q = await predict(u);
    for (let i = 0; i < p.mean.length; i++) {
      expect(Math.abs(q.mean[i]! - p.mean[i]!)).toBeLessThan(1e-5);
      expect(Math.abs(q.std[i]! / p.std[i]! - 1)).toBeLessThan(1e-5);
    }
  });

  it('refuses untied weights, wrong lengthscale counts and groups it does not have', () => {
    const u = untieRbfBias(randomWeights(12), { s: [0.1, 2] });
    expect(() => untieRbfBias(u, { s: [0.1, 2] })).toThrow(/head 0 is not tied \(basis 1 differs from basis 0\)/);
    expect(() => untieRbfBias(randomWeights(12), { s: [0.1] })).toThrow(/group 's' has F = 3 basis functions; expected 2 positive lengthscales, got \[0\.1\]/);
    expect(() => untieRbfBias(randomWeights(12), { t: [1, 2] })).toThrow(/no RBF bias of the groups t found/);
  });
});

describe('bias.untie in the model configuration (fresh models)', () => {
  const untied = parseConfig({ ...JSON.parse(JSON.stringify(TINY_MODEL)), groups: { s: { dims: 2, embed: false, bias: { family: 'rbf', numBasis: 3, untie: [0.1, 2] } } } });

  it('starts from the values untieRbfBias gives the tied init, and predicts the same at step 0', async () => {
    const tiedSpecs = buildModel(TINY_MODEL).specs(Rng.fromSeed(4));
    const untiedSpecs = buildModel(untied).specs(Rng.fromSeed(4));
    const asWeights = (specs: typeof tiedSpecs): Weights => new Map(specs.map((s) => [s.name, { data: Float32Array.from(s.init as Float32Array), shape: [...s.shape] }]));
    const fromTied = untieRbfBias(asWeights(tiedSpecs), { s: [0.1, 2] });
    const fresh = asWeights(untiedSpecs);
    for (const [k, w] of fromTied) expect(Array.from(fresh.get(k)!.data), k).toEqual(Array.from(w.data));
    const p = await predict(asWeights(tiedSpecs)), q = await predict(fresh);
    for (let i = 0; i < p.mean.length; i++) expect(Math.abs(q.mean[i]! - p.mean[i]!)).toBeLessThan(1e-5);
  });

  it('is checked, and a model started untied takes --init weights of a tied one', () => {
    const at = (bias: unknown) => () => parseConfig({ groups: { s: { dims: 2, embed: false, bias } } });
    expect(at({ numBasis: 5, untie: [1, 2] })).toThrow(/groups\.s\.bias\.untie: expected 4 positive lengthscales \(numBasis − 1\), got \[1,2\]/);
    expect(at({ family: 'tisa', untie: [1, 2, 3, 4] })).toThrow(/untie: only for the "rbf" family, got "tisa"/);
    expect(at({ untie: [1, 2, 0, 4] })).toThrow(/untie: expected 4 positive lengthscales/);
    const w = randomWeights(5);
    expect(() => adaptWeights(TINY_MODEL, w, [], untied, [])).not.toThrow();
  });
});
