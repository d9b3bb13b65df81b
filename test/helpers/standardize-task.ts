/**
 * Small 2-D tasks for the tests of a standardising BSA-TNP (output.standardize, output.trend):
 * random locations and values, their input tensors, a model with seeded weights, and its
 * predictions read back.
 */
import * as E from '../../src/engine/ops.js';
import type { Backend } from '../../src/engine/backend.js';
import { Rng } from '../../src/engine/random.js';
import { BsaTnp, type ModelInputs, type ModelOutput } from '../../src/models/bsa-tnp.js';
import type { ModelConfig } from '../../src/models/config.js';
import { materialise, toParams, type Params } from '../../src/nn/params.js';
import { disposeInputs } from './model-loss.js';

export interface Task { B: number; Nc: number; Nt: number; s: Float32Array; st: Float32Array; f: Float32Array; mask: Float32Array }

/** Normal locations, values N(fMean, fStd²), no padding. */
export function task(seed: number, B: number, Nc: number, Nt: number, fStd: number, fMean: number): Task {
  const rng = Rng.fromSeed(seed);
  const arr = (n: number, k = 1, c = 0) => Float32Array.from({ length: n }, () => c + k * rng.normal());
  return { B, Nc, Nt, s: arr(B * Nc * 2), st: arr(B * Nt * 2), f: arr(B * Nc, fStd, fMean), mask: new Float32Array(B * Nc).fill(1) };
}

export function inputs(b: Backend, t: Task): ModelInputs {
  return {
    ctx: { f: E.tensor(t.f, [t.B, t.Nc, 1], b), mask: E.tensor(t.mask, [t.B, t.Nc], b), coords: { s: E.tensor(t.s, [t.B, t.Nc, 2], b) } },
    test: { s: E.tensor(t.st, [t.B, t.Nt, 2], b) },
  };
}

/** A model of `config` with weights drawn from seed 1. */
export function build(b: Backend, config: ModelConfig): { model: BsaTnp; p: Params; dispose: () => void } {
  const model = new BsaTnp(config);
  const specs = model.specs(Rng.fromSeed(1));
  const values = materialise(specs, b);
  return { model, p: toParams(specs, values), dispose: () => values.forEach((v) => v.dispose()) };
}

export async function predict(model: BsaTnp, p: Params, b: Backend, t: Task): Promise<{ mean: Float32Array; std: Float32Array }> {
  const x = inputs(b, t);
  const out = model.forward(p, x) as Extract<ModelOutput, { kind: 'gaussian' }>;
  disposeInputs(x);
  const r = { mean: await out.mean.data(), std: await out.std.data() };
  out.mean.dispose(); out.std.dispose();
  return r;
}
