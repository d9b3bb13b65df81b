/** `bsa-tnp train`: train a model and write a model folder. STUB: not implemented yet. */
import type { CommandSpec } from '../args.js';
import { notImplemented } from './not-implemented.js';

export const trainCommand: CommandSpec = {
  name: 'train',
  summary: 'Train a BSA-TNP model and write a model folder (config.json + model.safetensors).',
  description: `
Trains on a synthetic task (experiments.md) with the training recipe of experiments.md §1, writing
checkpoints atomically into OUT/checkpoint and the final model into OUT. Model and training
configurations are JSON files; absent fields take the defaults (the paper's 2-D GP BSA-TNP).

Example:
  bsa-tnp train --out runs/gp2d --steps 1000 --seed 46`,
  options: {
    out: { type: 'string', short: 'o', value: 'FOLDER', description: 'model folder to write' },
    config: { type: 'string', value: 'FILE', description: 'model configuration (JSON)' },
    'train-config': { type: 'string', value: 'FILE', description: 'training configuration (JSON)' },
    task: { type: 'string', value: 'NAME', description: 'synthetic task', default: 'gp2d' },
    steps: { type: 'string', value: 'N', description: 'training steps (overrides the training configuration)' },
    'batch-size': { type: 'string', value: 'N', description: 'tasks per batch' },
    lr: { type: 'string', value: 'LR', description: 'peak learning rate' },
    seed: { type: 'string', value: 'N', description: 'random seed' },
    resume: { type: 'boolean', description: 'continue from OUT/checkpoint if present' },
    device: { type: 'string', value: 'cpu|webgpu', description: 'compute backend' },
  },
  run: notImplemented('train'),
};
