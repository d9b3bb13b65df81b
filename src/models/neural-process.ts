/**
 * The interface every model of the package shares (BSA-TNP and the baselines of baselines.md):
 * parameter specs, `encode` (the context alone, cached) and `decode` (any chunk of test points
 * against that cache), `forward` = decode(encode(·)), and the training loss. The trainer, the
 * predictor and `eval` work through it (registry.ts builds one from a configuration), plus the
 * input checks and output heads the baselines share with BSA-TNP's conventions (model.md §1, §6).
 */
import * as E from '../engine/ops.js';
import type { Tensor } from '../engine/tensor.js';
import type { Rng } from '../engine/random.js';
import { mlp, type Activation } from '../nn/layers.js';
import type { ParamSpec, Params } from '../nn/params.js';
import { ModelInputError, type ContextInputs, type Coords, type ModelInputs, type ModelOutput } from './bsa-tnp.js';
import { GROUP_NAMES, type AnyModelConfig, type ModelIo } from './config.js';

/** What `encode` returns: opaque to callers, freed with `dispose`. */
export interface EncodedContext {
  dispose(): void;
}

export interface NeuralProcess {
  readonly config: AnyModelConfig;
  /** Parameter specs with initial values drawn from `rng` (deterministic order and names). */
  specs(rng: Rng): ParamSpec[];
  encode(p: Params, ctx: ContextInputs): EncodedContext;
  decode(p: Params, cache: EncodedContext, test: Coords): ModelOutput;
  forward(p: Params, inputs: ModelInputs): ModelOutput;
  /** Mean NLL (Gaussian) or cross-entropy (categorical) of test targets [B, Nt, Df]. */
  loss(p: Params, inputs: ModelInputs, fTest: Tensor, maskTest?: Tensor): Tensor;
}

/** Df: width of f (Gaussian dims, or one-hot classes). */
export function valueWidth(io: ModelIo): number {
  return io.output.kind === 'gaussian' ? io.output.dims : io.output.classes;
}

/** P: width of the head's output layer. */
export function headWidth(io: ModelIo): number {
  return io.output.kind === 'gaussian' ? 2 * io.output.dims : io.output.classes;
}

/** Checks coordinates against the configured groups: [B, N, dims] per group, nothing extra. */
export function checkCoords(io: ModelIo, where: string, coords: Coords, B: number, N: number): void {
  for (const g of GROUP_NAMES) {
    const gc = io.groups[g];
    const t = coords[g];
    if (gc && !t) throw new ModelInputError(`${where}: missing coordinates '${g}' [${B}, ${N}, ${gc.dims}]`);
    if (!gc && t) throw new ModelInputError(`${where}: the model has no '${g}' group, but '${g}' coordinates were given`);
    if (gc && t && (t.rank !== 3 || t.shape[0] !== B || t.shape[1] !== N || t.shape[2] !== gc.dims)) {
      throw new ModelInputError(`${where}: expected '${g}' of shape [${B}, ${N}, ${gc.dims}], got [${t.shape.join(', ')}]`);
    }
  }
}

/** Validates context inputs; returns B, Nc and the mask (null = every row real). */
export function checkContext(io: ModelIo, where: string, ctx: ContextInputs): { B: number; Nc: number; mask: Tensor | null } {
  const vd = valueWidth(io);
  if (ctx.f.rank !== 3 || ctx.f.shape[2] !== vd) {
    throw new ModelInputError(`${where}: expected context values f of shape [B, Nc, ${vd}], got [${ctx.f.shape.join(', ')}]`);
  }
  const [B, Nc] = ctx.f.shape as [number, number];
  if (Nc === 0) throw new ModelInputError(`${where}: the context is empty (Nc = 0); at least one observation is needed`);
  checkCoords(io, `${where} (context)`, ctx.coords, B, Nc);
  const mask = ctx.mask ?? null;
  if (mask && (mask.rank !== 2 || mask.shape[0] !== B || mask.shape[1] !== Nc)) {
    throw new ModelInputError(`${where}: expected mask of shape [${B}, ${Nc}], got [${mask.shape.join(', ')}]`);
  }
  return { B, Nc, mask };
}

/** Nt of a set of test coordinates (0 when none is given). */
export function testCount(test: Coords): number {
  const first = GROUP_NAMES.map((g) => test[g]).find((t) => t);
  return first ? first.shape[1]! : 0;
}

/** concat of the present groups' coordinates [B, N, Σ dims] (x, s, t order). */
export function concatCoords(io: ModelIo, coords: Coords): Tensor {
  const parts = GROUP_NAMES.filter((g) => io.groups[g]).map((g) => coords[g]!);
  return parts.length === 1 ? E.add(parts[0]!, 0) : E.concat(parts, 2);
}

/**
 * The output head MLP on final test tokens [B, Nt, E] → the distribution (model.md §6: first Df =
 * mean, last Df through softplus (floored at minStd) = std; or class logits).
 */
export function headOutput(io: ModelIo, p: Params, name: string, layers: number, act: Activation, q: Tensor): ModelOutput {
  return E.tidy(() => {
    const [B, Nt] = q.shape as [number, number];
    const h = mlp(p, name, layers, act, q);
    if (io.output.kind === 'categorical') return { kind: 'categorical', logits: h } as const;
    const D = io.output.dims;
    const mean = E.slice(h, [0, 0, 0], [B, Nt, D]);
    const raw = E.slice(h, [0, 0, D], [B, Nt, D]);
    const m = io.output.minStd;
    const std = m > 0 ? E.add(E.mul(E.softplus(raw), 1 - m), m) : E.softplus(raw);
    return { kind: 'gaussian', mean, std } as const;
  });
}

/** The loss of a model output against test targets (model.md §6). */
export function outputLoss(out: ModelOutput, fTest: Tensor, maskTest?: Tensor): Tensor {
  return out.kind === 'gaussian' ? E.gaussianNll(fTest, out.mean, out.std, maskTest) : E.crossEntropy(out.logits, fTest, maskTest);
}

/** forward = decode(encode(·)), freeing the cache. */
export function forwardThroughCache(m: NeuralProcess, p: Params, inputs: ModelInputs): ModelOutput {
  const cache = m.encode(p, inputs.ctx);
  try {
    return m.decode(p, cache, inputs.test);
  } finally {
    cache.dispose();
  }
}
