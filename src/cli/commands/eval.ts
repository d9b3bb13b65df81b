/** `bsa-tnp eval`: evaluate a model folder on a synthetic task. STUB: not implemented yet. */
import type { CommandSpec } from '../args.js';
import { notImplemented } from './not-implemented.js';

export const evalCommand: CommandSpec = {
  name: 'eval',
  summary: 'Evaluate a model folder on fresh tasks: NLL, RMSE, MAE, 95% coverage.',
  positionals: { names: ['<model-folder>'], min: 1, max: 1 },
  description: `
Draws test batches from the task generator (a PRNG stream separate from training) and reports the
metrics of experiments.md §1 averaged over batches.

Example:
  bsa-tnp eval runs/gp2d --task gp2d --batches 100`,
  options: {
    task: { type: 'string', value: 'NAME', description: 'task to evaluate on (default: the training task)' },
    'task-options': { type: 'string', value: 'JSON', description: 'task options, e.g. \'{"shift":10}\'' },
    batches: { type: 'string', value: 'N', description: 'number of test batches' },
    seed: { type: 'string', value: 'N', description: 'random seed of the test stream' },
    device: { type: 'string', value: 'cpu|webgpu', description: 'compute backend' },
    json: { type: 'boolean', description: 'print the metrics as JSON' },
  },
  run: notImplemented('eval'),
};
