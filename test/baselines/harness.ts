/**
 * Shared harness of the baseline tests: random tiny tasks, building a model with perturbed
 * parameters (so biases, LayerNorm offsets etc. are not at their special initial values), our
 * outputs and autodiff gradients on a backend, and the float64 reference's outputs, loss and
 * central finite-difference gradients (ref.ts).
 */
import { expect } from 'vitest';
import * as E from '../../src/engine/ops.js';
import type { Backend } from '../../src/engine/backend.js';
import { Rng } from '../../src/engine/random.js';
import type { ModelInputs } from '../../src/models/bsa-tnp.js';
import type { NeuralProcess } from '../../src/models/neural-process.js';
import { materialise, toParams, type Params } from '../../src/nn/params.js';
import { allclose } from '../helpers/backends.js';
import { gaussianNll, softplus, type Mat, type P64 } from './ref.js';

export interface Task {
  B: number; Nc: number; Nt: number; D: number;
  sCtx: Float64Array; sTest: Float64Array; f: Float64Array; fTest: Float64Array; mask: Float64Array;
}

export function randomTask(seed: number, B: number, Nc: number, Nt: number, D = 2, scale = 1): Task {
  const rng = Rng.fromSeed(seed);
  // Float32-representable, so the model (float32 inputs) and the reference see the same task.
  const arr = (n: number, s = 1) => Float64Array.from({ length: n }, () => Math.fround(s * rng.normal()));
  return {
    B, Nc, Nt, D, sCtx: arr(B * Nc * D, scale), sTest: arr(B * Nt * D, scale), f: arr(B * Nc), fTest: arr(B * Nt),
    mask: new Float64Array(B * Nc).fill(1),
  };
}

/** Context / test rows of batch element `b`: locations [N][D] and values [N][1]. */
export function rows(t: Task, b: number): { sc: Mat; st: Mat; f: Mat; ft: Mat; valid: boolean[] } {
  const sl = (a: Float64Array, i: number, w: number) => Array.from(a.subarray(i * w, (i + 1) * w));
  return {
    sc: Array.from({ length: t.Nc }, (_, i) => sl(t.sCtx, b * t.Nc + i, t.D)),
    st: Array.from({ length: t.Nt }, (_, i) => sl(t.sTest, b * t.Nt + i, t.D)),
    f: Array.from({ length: t.Nc }, (_, i) => [t.f[b * t.Nc + i]!]),
    ft: Array.from({ length: t.Nt }, (_, i) => [t.fTest[b * t.Nt + i]!]),
    valid: Array.from({ length: t.Nc }, (_, i) => t.mask[b * t.Nc + i]! > 0),
  };
}

export function inputsOf(t: Task, b: Backend): ModelInputs {
  return {
    ctx: {
      f: E.tensor(t.f, [t.B, t.Nc, 1], b), mask: E.tensor(t.mask, [t.B, t.Nc], b),
      coords: { s: E.tensor(t.sCtx, [t.B, t.Nc, t.D], b) },
    },
    test: { s: E.tensor(t.sTest, [t.B, t.Nt, t.D], b) },
  };
}

export function disposeInputs(x: ModelInputs): void {
  x.ctx.f.dispose();
  x.ctx.mask?.dispose();
  Object.values(x.ctx.coords).forEach((v) => v?.dispose());
  Object.values(x.test).forEach((v) => v?.dispose());
}

/**
 * Encodes the task's context once, then decodes its test points in the given [start, count] pieces
 * (batch 1, 2-D s) and returns the concatenated means: what a caller streaming targets sees.
 */
export async function decodeMeansInPieces(model: NeuralProcess, p: Params, b: Backend, t: Task,
  pieces: readonly (readonly [number, number])[]): Promise<number[]> {
  const x = inputsOf(t, b);
  const cache = model.encode(p, x.ctx);
  const means: number[] = [];
  for (const [start, n] of pieces) {
    const s = E.tensor(t.sTest.subarray(2 * start, 2 * (start + n)), [1, n, 2], b);
    const out = model.decode(p, cache, { s });
    if (out.kind !== 'gaussian') throw new Error('gaussian expected');
    means.push(...(await out.mean.data()));
    out.mean.dispose(); out.std.dispose(); s.dispose();
  }
  cache.dispose();
  disposeInputs(x);
  return means;
}

export interface Built { p: Params; names: string[]; P: P64; dispose(): void }

/** Parameters from the model's specs plus `noise`·N(0, 1), on `b`, and their float64 copies. */
export function build(model: NeuralProcess, b: Backend, seed = 0, noise = 0.1): Built {
  const rng = Rng.fromSeed(seed + 1000);
  const specs = model.specs(Rng.fromSeed(seed)).map((s) => ({ ...s, init: s.init.map((v) => v + noise * rng.normal()) }));
  const values = materialise(specs, b);
  const P: P64 = new Map(specs.map((s) => [s.name, Float64Array.from(s.init)]));
  return { p: toParams(specs, values), names: specs.map((s) => s.name), P, dispose: () => values.forEach((v) => v.dispose()) };
}

export async function ours(model: NeuralProcess, p: Params, b: Backend, t: Task): Promise<{ mean: Float32Array; std: Float32Array }> {
  const x = inputsOf(t, b);
  const out = model.forward(p, x);
  disposeInputs(x);
  if (out.kind !== 'gaussian') throw new Error('expected a Gaussian output');
  const res = { mean: await out.mean.data(), std: await out.std.data() };
  out.mean.dispose();
  out.std.dispose();
  return res;
}

export async function ourGrads(model: NeuralProcess, m: Built, b: Backend, t: Task): Promise<{ loss: number; grads: Map<string, Float32Array> }> {
  const x = inputsOf(t, b);
  const fTest = E.tensor(t.fTest, [t.B, t.Nt, 1], b);
  const { value, grads } = E.valueAndGrad((ps) => model.loss(new Map(m.names.map((n, i) => [n, ps[i]!])), x, fTest))(m.names.map((n) => m.p.get(n)!));
  disposeInputs(x);
  fTest.dispose();
  const out = { loss: (await value.data())[0]!, grads: new Map<string, Float32Array>() };
  for (let i = 0; i < grads.length; i++) out.grads.set(m.names[i]!, await grads[i]!.data());
  value.dispose();
  grads.forEach((g) => g.dispose());
  return out;
}

/** A reference model: the head output [Nt][2] of batch element `b`. */
export type RefModel = (P: P64, t: Task, b: number) => Mat;

export function refOutputs(ref: RefModel, P: P64, t: Task): { mean: number[]; std: number[] } {
  const mean: number[] = [];
  const std: number[] = [];
  for (let b = 0; b < t.B; b++) for (const r of ref(P, t, b)) { mean.push(r[0]!); std.push(softplus(r[1]!)); }
  return { mean, std };
}

export function refLoss(ref: RefModel, P: P64, t: Task): number {
  let s = 0;
  for (let b = 0; b < t.B; b++) s += gaussianNll(ref(P, t, b), rows(t, b).ft);
  return s / t.B;
}

/**
 * Checks our forward against the reference (rtol, atol) and our gradient of the loss against
 * central finite differences of the reference loss at `perTensor` random entries of every
 * parameter tensor: |g − fd| ≤ gtol·(|fd| + scale) with scale = the largest |fd| seen / 10.
 */
export async function checkAgainstReference(model: NeuralProcess, ref: RefModel, b: Backend, t: Task,
  opts: { seed?: number; rtol?: number; atol?: number; gtol?: number; perTensor?: number } = {}): Promise<void> {
  const m = build(model, b, opts.seed ?? 0);
  try {
    const got = await ours(model, m.p, b, t);
    const want = refOutputs(ref, m.P, t);
    expect(allclose(got.mean, want.mean, opts.rtol ?? 1e-4, opts.atol ?? 1e-4), 'mean').toBeNull();
    expect(allclose(got.std, want.std, opts.rtol ?? 1e-4, opts.atol ?? 1e-4), 'std').toBeNull();
    const { loss, grads } = await ourGrads(model, m, b, t);
    expect(Math.abs(loss - refLoss(ref, m.P, t))).toBeLessThan(1e-4 * (1 + Math.abs(loss)));
    const rng = Rng.fromSeed(77);
    const h = 1e-5;
    const checks: { name: string; i: number; g: number; fd: number }[] = [];
    for (const name of m.names) {
      const w = m.P.get(name)!;
      for (let k = 0; k < (opts.perTensor ?? 2); k++) {
        const i = Math.floor(rng.uniform() * w.length);
        const keep = w[i]!;
        w[i] = keep + h;
        const up = refLoss(ref, m.P, t);
        w[i] = keep - h;
        const down = refLoss(ref, m.P, t);
        w[i] = keep;
        checks.push({ name, i, g: grads.get(name)![i]!, fd: (up - down) / (2 * h) });
      }
    }
    const scale = Math.max(...checks.map((c) => Math.abs(c.fd))) / 10;
    const gtol = opts.gtol ?? 2e-3;
    const bad = checks.filter((c) => !(Math.abs(c.g - c.fd) <= gtol * (Math.abs(c.fd) + scale)));
    expect(bad.map((c) => `${c.name}[${c.i}]: autodiff ${c.g}, finite difference ${c.fd}`)).toEqual([]);
    // The check is not vacuous: most picked entries have a visible gradient.
    expect(checks.filter((c) => Math.abs(c.fd) > 1e-6).length).toBeGreaterThan(checks.length / 2);
  } finally {
    m.dispose();
  }
}
