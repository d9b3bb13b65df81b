/** `bsa-tnp predict`: predictions for query points from context data. STUB: not implemented yet. */
import type { CommandSpec } from '../args.js';
import { notImplemented } from './not-implemented.js';

export const predictCommand: CommandSpec = {
  name: 'predict',
  summary: 'Predict mean and std at query points (CSV or a grid) from context observations (CSV).',
  positionals: { names: ['<model-folder>'], min: 1, max: 1 },
  description: `
The context CSV needs the columns named in the model folder's config.json (see 'bsa-tnp info');
the query CSV needs the coordinate and covariate columns. With --grid and --size the queries are a
regular grid, and --png also writes mean.png and std.png.

Example:
  bsa-tnp predict runs/gp2d --context obs.csv --grid -2,2,-2,2 --size 128x128 --out pred.csv --png maps/`,
  options: {
    context: { type: 'string', short: 'c', value: 'FILE', description: 'context observations (CSV)' },
    query: { type: 'string', short: 'q', value: 'FILE', description: 'query points (CSV)' },
    grid: { type: 'string', value: 'X0,X1,Y0,Y1', description: 'query a regular grid over these bounds' },
    size: { type: 'string', value: 'WxH', description: 'grid size', default: '128x128' },
    out: { type: 'string', short: 'o', value: 'FILE', description: 'output CSV (queries + mean + std)' },
    png: { type: 'string', value: 'FOLDER', description: 'also write mean.png and std.png (grid only)' },
    device: { type: 'string', value: 'cpu|webgpu', description: 'compute backend' },
  },
  run: notImplemented('predict'),
};
