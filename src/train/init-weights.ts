/**
 * `train --init MODEL`: starting weights for a new model from a trained one. The new model may add
 * covariate (`x`) columns where the trained one embeds `x` (or has no `x` at all): the first layer
 * of the input MLP gets zero rows for the new columns, so the starting function equals the trained
 * model's whatever the new columns hold. Anything else that changes a parameter's shape or the
 * meaning of an input (other widths, s/t groups, outputs, an `x` distance bias) is refused with an
 * error naming the mismatch. The output's `standardize` switch may differ (it has no parameters):
 * the weights then start from the trained model's features, not its function. No Node built-ins.
 */
import { GROUP_NAMES, type ModelConfig } from '../models/config.js';
import { BsaTnp } from '../models/bsa-tnp.js';
import { Rng } from '../engine/random.js';
import type { Weights } from './checkpoint.js';

export class InitMismatchError extends Error {
  override name = 'InitMismatchError';
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The output configuration without `standardize` (which changes no parameter). */
function outputShape(o: ModelConfig['output']): ModelConfig['output'] {
  if (o.kind !== 'gaussian') return o;
  return { kind: o.kind, dims: o.dims, minStd: o.minStd };
}

/**
 * Weights for `next` (x dimensions named `nextX`) from `prior`'s weights (x dimensions `priorX`).
 * Throws `InitMismatchError` naming the first difference that cannot be bridged.
 */
export function adaptWeights(prior: ModelConfig, priorWeights: Weights, priorX: readonly string[],
  next: ModelConfig, nextX: readonly string[], label = '--init'): Weights {
  const fields = ['output', 'blocks', 'reps', 'embedDim', 'heads', 'headDim', 'obsEmbedDim', 'inputMlp', 'ffn', 'headHidden', 'activation', 'layerNormEps'] as const;
  for (const f of fields) {
    if (f === 'output' ? !same(outputShape(prior.output), outputShape(next.output)) : !same(prior[f], next[f])) {
      throw new InitMismatchError(`${label}: the model's ${f} is ${JSON.stringify(prior[f])}, the new data needs ${JSON.stringify(next[f])}; ` +
        (f === 'output' ? 'the outputs (--f) must be those of the initial model' : 'train from scratch (without --init) or give the same size'));
    }
  }
  // `untie` only sets initial values: weights load whichever way they were started.
  const shape = (gc: ModelConfig['groups']['s']) => {
    if (gc === null || gc.bias === null) return gc;
    const { untie: _, ...bias } = gc.bias;
    return { ...gc, bias };
  };
  for (const g of ['s', 't'] as const) {
    if (!same(shape(prior.groups[g]), shape(next.groups[g]))) {
      throw new InitMismatchError(`${label}: the model's '${g}' group is ${JSON.stringify(prior.groups[g])}, the new data needs ${JSON.stringify(next.groups[g])}; ` +
        `give the same ${g === 's' ? 'location (--s)' : 'time (--t)'} columns as the initial model`);
    }
  }
  const px = prior.groups.x, nx = next.groups.x;
  const dropped = priorX.filter((n) => !nextX.includes(n));
  if (dropped.length > 0) throw new InitMismatchError(`${label}: the new data lacks covariate(s) ${dropped.map((n) => `'${n}'`).join(', ')} of the initial model; give every covariate it was trained with (--x)`);
  if (nx !== null && (!nx.embed || nx.bias !== null)) {
    throw new InitMismatchError(`${label}: new covariates can only be added to an x group that is embedded without a distance bias`);
  }
  if (px !== null && (!px.embed || px.bias !== null)) {
    if (!same(px, nx)) throw new InitMismatchError(`${label}: the model's x group (${JSON.stringify(px)}) cannot take new columns`);
  }
  // Rows of mlp_in.0.weight: obs embedding, embedded groups in GROUP_NAMES order, f.
  const rowsOf = (c: ModelConfig, xNames: readonly string[]): string[] => {
    const r: string[] = Array.from({ length: c.obsEmbedDim }, (_, i) => `obs:${i}`);
    for (const g of GROUP_NAMES) {
      const gc = c.groups[g];
      if (!gc?.embed) continue;
      for (let d = 0; d < gc.dims; d++) r.push(g === 'x' ? `x:${xNames[d]}` : `${g}:${d}`);
    }
    const df = c.output.kind === 'gaussian' ? c.output.dims : c.output.classes;
    for (let d = 0; d < df; d++) r.push(`f:${d}`);
    return r;
  };
  const from = rowsOf(prior, priorX), to = rowsOf(next, nextX);
  const out: Weights = new Map();
  for (const spec of new BsaTnp(next).specs(Rng.fromSeed(0))) {
    const w = priorWeights.get(spec.name);
    if (!w) throw new InitMismatchError(`${label}: the initial model has no tensor '${spec.name}'`);
    if (spec.name === 'mlp_in.0.weight') {
      const width = spec.shape[1]!;
      if (w.shape[0] !== from.length || w.shape[1] !== width) {
        throw new InitMismatchError(`${label}: tensor '${spec.name}' has shape [${w.shape.join(', ')}], its configuration needs [${from.length}, ${width}]`);
      }
      const data = new Float32Array(to.length * width);
      to.forEach((name, r) => {
        const k = from.indexOf(name);
        if (k >= 0) data.set(w.data.subarray(k * width, (k + 1) * width), r * width);
      });
      out.set(spec.name, { shape: [...spec.shape], data });
      continue;
    }
    if (w.shape.join() !== spec.shape.join()) {
      throw new InitMismatchError(`${label}: tensor '${spec.name}' has shape [${w.shape.join(', ')}], the new model needs [${spec.shape.join(', ')}]`);
    }
    out.set(spec.name, { shape: [...w.shape], data: Float32Array.from(w.data) });
  }
  return out;
}
