/** A tiny model and task for fast training tests (2 blocks, E = 16, 8–16 context points). */
import { parseConfig, parseTrainConfig, type ModelConfig, type TrainConfig } from '../../src/models/config.js';

export const TINY_MODEL: ModelConfig = parseConfig({
  blocks: 2, embedDim: 16, heads: 2, headDim: 8, obsEmbedDim: 4,
  inputMlp: [32, 16], ffn: [32, 16], headHidden: [16],
  groups: { s: { dims: 2, embed: false, bias: { family: 'rbf', numBasis: 3 } } },
});

export function tinyTrain(over: Record<string, unknown> = {}): TrainConfig {
  return parseTrainConfig({
    steps: 20, batchSize: 2, lr: 3e-3, alpha: 0.1, validEvery: 1000, validBatches: 0, checkpointEvery: 1000, seed: 7,
    task: { name: 'gp2d', options: { ncMin: 8, ncMax: 16, nt: 12 } },
    ...over,
  });
}
