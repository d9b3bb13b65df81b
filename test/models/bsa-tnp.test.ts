/**
 * BSA-TNP model properties (model.md §10): parameter count, invariances, padding, permutation,
 * the scan path against the dense path, chunked decoding, and the x/s/t and categorical
 * configurations on every backend.
 */
import { afterAll, describe, expect, it } from 'vitest';
import * as E from '../../src/engine/ops.js';
import type { Backend } from '../../src/engine/backend.js';
import type { Tensor } from '../../src/engine/tensor.js';
import { Rng } from '../../src/engine/random.js';
import { BsaTnp, type ModelInputs, type ModelOutput } from '../../src/models/bsa-tnp.js';
import { DEFAULT_CONFIG, type ModelConfig } from '../../src/models/config.js';
import { countParams, materialise, toParams, type Params } from '../../src/nn/params.js';
import { allclose, cpuBackend, webgpuBackend } from '../helpers/backends.js';
import { disposeInputs, jointAndSeparateLoss } from '../helpers/model-loss.js';

const SMALL: ModelConfig = { ...DEFAULT_CONFIG, blocks: 2, tile: { queries: 16, keys: 8 } };

function build(config: ModelConfig, b: Backend, seed = 0): { model: BsaTnp; p: Params; dispose: () => void } {
  const model = new BsaTnp(config);
  const specs = model.specs(Rng.fromSeed(seed));
  const values = materialise(specs, b);
  // Perturb the bias parameters away from their tied initial values so the tests see distinct heads.
  const p = toParams(specs, values);
  return { model, p, dispose: () => values.forEach((v) => v.dispose()) };
}

interface Raw { B: number; Nc: number; Nt: number; sCtx: Float32Array; sTest: Float32Array; f: Float32Array; mask: Float32Array }

function rawTask(rng: Rng, B: number, Nc: number, Nt: number, D = 2): Raw {
  const arr = (n: number, scale = 1) => Float32Array.from({ length: n }, () => scale * rng.normal());
  const mask = new Float32Array(B * Nc).fill(1);
  return { B, Nc, Nt, sCtx: arr(B * Nc * D), sTest: arr(B * Nt * D), f: arr(B * Nc), mask };
}

function inputs(b: Backend, r: Raw, D = 2): ModelInputs {
  return {
    ctx: {
      f: E.tensor(r.f, [r.B, r.Nc, 1], b),
      mask: E.tensor(r.mask, [r.B, r.Nc], b),
      coords: { s: E.tensor(r.sCtx, [r.B, r.Nc, D], b) },
    },
    test: { s: E.tensor(r.sTest, [r.B, r.Nt, D], b) },
  };
}


async function predict(model: BsaTnp, p: Params, b: Backend, r: Raw): Promise<{ mean: Float32Array; std: Float32Array }> {
  const x = inputs(b, r);
  const out = model.forward(p, x);
  disposeInputs(x);
  if (out.kind !== 'gaussian') throw new Error('expected gaussian');
  const res = { mean: await out.mean.data(), std: await out.std.data() };
  out.mean.dispose();
  out.std.dispose();
  return res;
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function mapPoints(s: Float32Array, f: (x: number, y: number) => [number, number]): Float32Array {
  const out = new Float32Array(s.length);
  for (let i = 0; i < s.length; i += 2) [out[i], out[i + 1]] = f(s[i]!, s[i + 1]!);
  return out;
}

describe('BSA-TNP', () => {
  const b = cpuBackend();
  afterAll(() => b.destroy());

  it('the default 2-D GP configuration has exactly 475,770 parameters', () => {
    const specs = new BsaTnp(DEFAULT_CONFIG).specs(Rng.fromSeed(0));
    expect(countParams(specs)).toBe(475_770);
  });

  it('outputs have shape [B, Nt, Df], are finite and std > 0', async () => {
    const { model, p, dispose } = build(SMALL, b);
    const r = rawTask(Rng.fromSeed(1), 2, 20, 9);
    const { mean, std } = await predict(model, p, b, r);
    expect(mean.length).toBe(2 * 9);
    expect(mean.every(Number.isFinite)).toBe(true);
    expect(std.every((s) => s > 0 && Number.isFinite(s))).toBe(true);
    dispose();
  });

  it('translating all locations changes predictions by at most 1e-4', async () => {
    const { model, p, dispose } = build(SMALL, b);
    const r = rawTask(Rng.fromSeed(2), 2, 24, 10);
    const base = await predict(model, p, b, r);
    const shift = (x: number, y: number): [number, number] => [x + 10, y - 7];
    const moved = await predict(model, p, b, { ...r, sCtx: mapPoints(r.sCtx, shift), sTest: mapPoints(r.sTest, shift) });
    expect(maxDiff(base.mean, moved.mean)).toBeLessThanOrEqual(1e-4);
    expect(maxDiff(base.std, moved.std)).toBeLessThanOrEqual(1e-4);
    dispose();
  });

  it('rotating all locations (Euclidean bias) changes predictions by at most 1e-4', async () => {
    const { model, p, dispose } = build(SMALL, b);
    const r = rawTask(Rng.fromSeed(3), 2, 24, 10);
    const base = await predict(model, p, b, r);
    const c = Math.cos(1.1);
    const s = Math.sin(1.1);
    const rot = (x: number, y: number): [number, number] => [c * x - s * y, s * x + c * y];
    const moved = await predict(model, p, b, { ...r, sCtx: mapPoints(r.sCtx, rot), sTest: mapPoints(r.sTest, rot) });
    expect(maxDiff(base.mean, moved.mean)).toBeLessThanOrEqual(1e-4);
    expect(maxDiff(base.std, moved.std)).toBeLessThanOrEqual(1e-4);
    dispose();
  });

  it('padded context rows (mask 0, with wild values) change nothing', async () => {
    const { model, p, dispose } = build(SMALL, b);
    const rng = Rng.fromSeed(4);
    const r = rawTask(rng, 1, 15, 8);
    const base = await predict(model, p, b, r);
    // Pad to 21 rows with garbage (model.md §10 test 1 uses 10000).
    const pad = 6;
    const sCtx = new Float32Array((15 + pad) * 2);
    sCtx.set(r.sCtx);
    sCtx.fill(10000, 30);
    const f = new Float32Array(15 + pad);
    f.set(r.f);
    f.fill(10000, 15);
    const mask = new Float32Array(15 + pad);
    mask.fill(1, 0, 15);
    const padded = await predict(model, p, b, { ...r, Nc: 15 + pad, sCtx, f, mask });
    expect(maxDiff(base.mean, padded.mean)).toBeLessThanOrEqual(1e-5);
    expect(maxDiff(base.std, padded.std)).toBeLessThanOrEqual(1e-5);
    dispose();
  });

  it('permuting the context changes nothing', async () => {
    const { model, p, dispose } = build(SMALL, b);
    const r = rawTask(Rng.fromSeed(5), 1, 17, 8);
    const base = await predict(model, p, b, r);
    const perm = [...Array(17).keys()].reverse();
    const sCtx = new Float32Array(34);
    const f = new Float32Array(17);
    perm.forEach((src, i) => { sCtx[2 * i] = r.sCtx[2 * src]!; sCtx[2 * i + 1] = r.sCtx[2 * src + 1]!; f[i] = r.f[src]!; });
    const permuted = await predict(model, p, b, { ...r, sCtx, f });
    expect(maxDiff(base.mean, permuted.mean)).toBeLessThanOrEqual(1e-5);
    expect(maxDiff(base.std, permuted.std)).toBeLessThanOrEqual(1e-5);
    dispose();
  });

  it('the scan path equals the dense path, forward and gradient', async () => {
    const scan = build(SMALL, b);
    const denseModel = new BsaTnp({ ...SMALL, attention: 'dense' });
    const rng = Rng.fromSeed(6);
    const r = rawTask(rng, 2, 19, 11);
    r.mask[18] = 0;
    r.mask[19 + 3] = 0;
    const a = await predict(scan.model, scan.p, b, r);
    const d = await predict(denseModel, scan.p, b, r);
    expect(allclose(a.mean, d.mean, 1e-4, 1e-5)).toBeNull();
    expect(allclose(a.std, d.std, 1e-4, 1e-5)).toBeNull();
    const names = [...scan.p.keys()];
    const fTest = E.tensor(Float32Array.from({ length: 22 }, () => rng.normal()), [2, 11, 1], b);
    const grads = async (m: BsaTnp) => {
      const x = inputs(b, r);
      const { value, grads } = E.valueAndGrad((ps) => m.loss(new Map(names.map((n, i) => [n, ps[i]!])), x, fTest))(names.map((n) => scan.p.get(n)!));
      disposeInputs(x);
      const out = await Promise.all(grads.map((g) => g.data()));
      value.dispose();
      grads.forEach((g) => g.dispose());
      return out;
    };
    const ga = await grads(scan.model);
    const gd = await grads(denseModel);
    ga.forEach((g, i) => expect(allclose(g, gd[i]!, 2e-3, 2e-5), names[i]).toBeNull());
    scan.dispose();
  });

  it('the training loss (context and test tokens through the blocks together) equals encode + decode, value and gradient', async () => {
    const { model, p, dispose } = build({ ...SMALL, reps: 2 }, b, 3);
    const rng = Rng.fromSeed(9);
    const r = rawTask(rng, 2, 13, 7);
    r.mask[11] = 0;
    r.mask[13 + 2] = 0;
    const fTest = E.tensor(Float32Array.from({ length: 14 }, () => rng.normal()), [2, 7, 1], b);
    const { names, joint, separate } = await jointAndSeparateLoss(model, p, () => inputs(b, r), fTest);
    expect(Math.abs(joint.value - separate.value)).toBeLessThan(1e-5 * Math.max(1, Math.abs(separate.value)));
    joint.grads.forEach((g, i) => expect(allclose(g, separate.grads[i]!, 1e-4, 1e-6), names[i]).toBeNull());
    fTest.dispose();
    dispose();
  });

  it('bad context inputs fail with errors that name them, in forward and in the training loss', () => {
    const { model, p, dispose } = build(SMALL, b);
    const r = rawTask(Rng.fromSeed(4), 1, 5, 3);
    const fTest = E.zeros([1, 3, 1], b);
    for (const [where, call] of [['encode', (x: ModelInputs) => model.forward(p, x)], ['loss', (x: ModelInputs) => model.loss(p, x, fTest)]] as const) {
      const x = inputs(b, r);
      const empty = { ...x, ctx: { f: E.zeros([1, 0, 1], b), mask: E.zeros([1, 0], b), coords: { s: E.zeros([1, 0, 2], b) } } };
      expect(() => call(empty)).toThrow(new RegExp(`${where}: the context is empty \\(Nc = 0\\)`));
      expect(() => call({ ...x, ctx: { ...x.ctx, f: E.zeros([1, 5, 2], b) } })).toThrow(new RegExp(`${where}: expected context values f of shape \\[B, Nc, 1\\], got \\[1, 5, 2\\]`));
      expect(() => call({ ...x, ctx: { ...x.ctx, mask: E.zeros([1, 4], b) } })).toThrow(new RegExp(`${where}: expected mask of shape \\[1, 5\\], got \\[1, 4\\]`));
      expect(() => call({ ...x, test: { s: E.zeros([1, 3, 3], b) } })).toThrow(/expected 's' of shape \[1, 3, 2\], got \[1, 3, 3\]/);
      disposeInputs(x);
    }
    dispose();
  });

  it('decoding test points in chunks equals decoding them at once', async () => {
    const { model, p, dispose } = build(SMALL, b);
    const r = rawTask(Rng.fromSeed(7), 1, 12, 13);
    const whole = await predict(model, p, b, r);
    const x = inputs(b, r);
    const cache = model.encode(p, x.ctx);
    const means: number[] = [];
    for (let start = 0; start < 13; start += 5) {
      const n = Math.min(5, 13 - start);
      const s = E.tensor(r.sTest.subarray(2 * start, 2 * (start + n)), [1, n, 2], b);
      const out = model.decode(p, cache, { s }) as Extract<ModelOutput, { kind: 'gaussian' }>;
      means.push(...(await out.mean.data()));
      out.mean.dispose(); out.std.dispose(); s.dispose();
    }
    cache.dispose();
    disposeInputs(x);
    expect(allclose(Float32Array.from(means), whole.mean, 1e-5, 1e-6)).toBeNull();
    dispose();
  });
});

// ------------------------------------------------------------------ every backend

const STX: ModelConfig = {
  ...SMALL,
  groups: {
    x: { dims: 2, embed: true, bias: null },
    s: { dims: 2, embed: false, bias: { family: 'rbf', numBasis: 5, distance: 'euclidean' } },
    t: { dims: 1, embed: false, bias: { family: 'rbf', numBasis: 3, distance: 'euclidean' } },
  },
  output: { kind: 'gaussian', dims: 1, minStd: 0.05 },
};

const SIR: ModelConfig = {
  ...SMALL,
  groups: { x: null, s: { dims: 2, embed: false, bias: { family: 'tisa', numBasis: 5, distance: 'euclidean' } }, t: null },
  output: { kind: 'categorical', classes: 3 },
};

async function runConfig(config: ModelConfig, b: Backend): Promise<{ out: Float32Array[]; loss: number; gradNorm: number }> {
  const rng = Rng.fromSeed(11);
  const { model, p, dispose } = build(config, b, 3);
  const B = 2, Nc = 13, Nt = 7;
  const T = (shape: number[], f: () => number = () => rng.normal()) => E.tensor(Float32Array.from({ length: shape.reduce((a, c) => a * c, 1) }, f), shape, b);
  const isSir = config.output.kind === 'categorical';
  const onehot = (n: number) => { const a: number[] = []; for (let i = 0; i < n; i++) { const c = i % 3; a.push(c === 0 ? 1 : 0, c === 1 ? 1 : 0, c === 2 ? 1 : 0); } return a; };
  const fCtx = isSir ? E.tensor(onehot(B * Nc), [B, Nc, 3], b) : T([B, Nc, 1]);
  const fTest = isSir ? E.tensor(onehot(B * Nt), [B, Nt, 3], b) : T([B, Nt, 1]);
  const coords = (N: number) => Object.fromEntries((['x', 's', 't'] as const).filter((g) => config.groups[g]).map((g) => [g, T([B, N, config.groups[g]!.dims])]));
  const x: ModelInputs = { ctx: { f: fCtx, mask: null, coords: coords(Nc) }, test: coords(Nt) };
  const outT = model.forward(p, x);
  const outs = outT.kind === 'gaussian' ? [outT.mean, outT.std] : [outT.logits];
  const out = await Promise.all(outs.map((t) => t.data()));
  outs.forEach((t) => t.dispose());
  const names = [...p.keys()];
  const { value, grads } = E.valueAndGrad((ps) => model.loss(new Map(names.map((n, i) => [n, ps[i]!])), x, fTest))(names.map((n) => p.get(n)!));
  const loss = await value.data();
  let gn = 0;
  for (const g of grads) for (const v of await g.data()) gn += v * v;
  value.dispose(); grads.forEach((g: Tensor) => g.dispose());
  disposeInputs(x); fTest.dispose(); dispose();
  return { out, loss: loss[0]!, gradNorm: Math.sqrt(gn) };
}

describe.each([
  { name: 'cpu', get: async () => cpuBackend() as Backend | null },
  { name: 'webgpu', get: () => webgpuBackend() },
])('model configurations on $name', ({ name, get }) => {
  it.each([
    { label: 's+t+x Gaussian (min std 0.05)', config: STX },
    { label: 'SIR categorical with TISA bias', config: SIR },
  ])('$label: forward and gradient run, finite, and agree with the cpu backend', async ({ config }) => {
    const b = await get();
    if (!b) return;
    const res = await runConfig(config, b);
    expect(res.out.every((o) => o.every(Number.isFinite))).toBe(true);
    expect(Number.isFinite(res.loss)).toBe(true);
    expect(res.gradNorm).toBeGreaterThan(0);
    if (config.output.kind === 'gaussian') expect(res.out[1]!.every((s) => s >= 0.05)).toBe(true);
    if (name !== 'cpu') {
      const ref = await runConfig(config, cpuBackend());
      res.out.forEach((o, i) => expect(allclose(o, ref.out[i]!, 1e-4, 1e-5)).toBeNull());
      expect(Math.abs(res.loss - ref.loss)).toBeLessThanOrEqual(1e-4 * (1 + Math.abs(ref.loss)));
    }
  });
});
