/** `bsa-tnp demo`: end-to-end demonstration. STUB: not implemented yet. */
import type { CommandSpec } from '../args.js';
import { notImplemented } from './not-implemented.js';

export const demoCommand: CommandSpec = {
  name: 'demo',
  summary: 'Train a small 2-D GP model, predict on a grid and write truth/mean/std images.',
  description: `
Writes into OUT: the model folder, context.csv, prediction.csv, truth.png (observation locations
marked), mean.png and std.png.

Example:
  bsa-tnp demo --out demo-output --steps 2000`,
  options: {
    out: { type: 'string', short: 'o', value: 'FOLDER', description: 'output folder', default: 'bsa-tnp-demo' },
    steps: { type: 'string', value: 'N', description: 'training steps' },
    seed: { type: 'string', value: 'N', description: 'random seed' },
    device: { type: 'string', value: 'cpu|webgpu', description: 'compute backend' },
  },
  run: notImplemented('demo'),
};
