/**
 * Model sizes for `train --data`: the paper's layout (model.md §8–§9, DEFAULT_CONFIG, 475K
 * parameters with a 2-D s) or a small one for CPUs. The groups and output come from the data
 * schema (data/schema/model.ts `modelForSchema`: s and t through distance biases only, x embedded).
 * No Node built-ins.
 */
import { DEFAULT_CONFIG, parseConfig, type ModelConfig } from '../models/config.js';

export type ModelSize = 'paper' | 'small';
export const MODEL_SIZES: readonly ModelSize[] = ['paper', 'small'];

/** `small`: 2 blocks of width 32 (about 22K parameters): minutes on a 2-core CPU. */
const SMALL: ModelConfig = parseConfig({
  blocks: 2, embedDim: 32, heads: 2, headDim: 16, obsEmbedDim: 4,
  inputMlp: [64, 32], ffn: [64, 32], headHidden: [64], tile: { queries: 256, keys: 256 },
});

/** The trunk (widths, heads, …) of a size; `modelForSchema` sets its groups and output. */
export function modelBase(size: ModelSize): ModelConfig {
  return size === 'small' ? SMALL : DEFAULT_CONFIG;
}
