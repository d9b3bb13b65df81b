/**
 * Writes a copy of a model folder whose RBF distance biases have untied basis functions
 * (src/train/untie-bias.ts): same predictions, and training from it (`train --init OUT`) can grow a
 * bias of several widths per head.
 *
 * Usage: npx tsx scripts/untie-bias.ts --model models/prior-gp-mixture --out /tmp/untied \
 *          --s 0.05,0.2,1,4 --t 0.1,10
 * (one lengthscale per new basis function: F − 1 per group; a group left out stays as it is)
 */
import { parseArgs } from 'node:util';
import { loadModelFolder, saveModelFolder } from '../src/train/checkpoint.js';
import { untieRbfBias } from '../src/train/untie-bias.js';

const { values: v } = parseArgs({ options: {
  model: { type: 'string' }, out: { type: 'string' }, s: { type: 'string' }, t: { type: 'string' }, x: { type: 'string' } } });
if (!v.model || !v.out) {
  console.error('usage: untie-bias.ts --model IN --out OUT [--s L1,L2,...] [--t L1,...] [--x L1,...]');
  process.exit(2);
}
const ls: Record<string, number[]> = {};
for (const g of ['s', 't', 'x'] as const) {
  const text = v[g];
  if (text !== undefined) ls[g] = text.split(',').map(Number);
}
const { config, weights } = loadModelFolder(v.model);
await saveModelFolder(v.out, config, untieRbfBias(weights, ls));
console.log(`untie-bias: wrote ${v.out} (groups ${Object.keys(ls).join(', ')})`);
