/**
 * The model a table needs (`train --data`): groups and output from the data schema's shape, with
 * the paper's layout (model.md §8–§9, models/config.ts DEFAULT_CONFIG) or a smaller one for CPUs.
 *
 * `s` and `t` enter through distance biases only (RBF, F = 5 for s, 3 for t; not embedded), so the
 * model is translation invariant in space and time as in the paper's ERA5 and Beijing models'
 * `only_bias` side; covariates `x` are embedded in the tokens (no bias: their distances carry no
 * meaning). No Node built-ins.
 */
import { parseConfig, type Distance, type ModelConfig } from '../models/config.js';

export type ModelSize = 'paper' | 'small';
export const MODEL_SIZES: readonly ModelSize[] = ['paper', 'small'];

export interface ModelShape {
  readonly x: number;
  readonly s: number;
  readonly t: number;
  readonly output: { readonly kind: 'gaussian'; readonly dims: number } | { readonly kind: 'categorical'; readonly classes: number };
}

/** `small`: 2 blocks of width 32 (about 30K parameters): minutes on a 2-core CPU. */
const SMALL = {
  blocks: 2, embedDim: 32, heads: 2, headDim: 16, obsEmbedDim: 4,
  inputMlp: [64, 32], ffn: [64, 32], headHidden: [64], tile: { queries: 256, keys: 256 },
} as const;

export function modelForShape(shape: ModelShape, distance: Distance, size: ModelSize = 'paper'): ModelConfig {
  if (shape.s === 0 && shape.t === 0 && shape.x === 0) throw new RangeError('modelForShape: the data has no coordinate or covariate column');
  const base = size === 'small' ? SMALL : {};
  return parseConfig({
    ...base,
    groups: {
      s: shape.s > 0 ? { dims: shape.s, embed: false, bias: { family: 'rbf', numBasis: 5, distance } } : null,
      t: shape.t > 0 ? { dims: shape.t, embed: false, bias: { family: 'rbf', numBasis: 3, distance: 'euclidean' } } : null,
      x: shape.x > 0 ? { dims: shape.x, embed: true, bias: null } : null,
    },
    output: shape.output.kind === 'gaussian'
      ? { kind: 'gaussian', dims: shape.output.dims, minStd: 0 }
      : { kind: 'categorical', classes: shape.output.classes },
  });
}

