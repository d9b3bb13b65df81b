/**
 * Command-line options shared by `bsa-tnp gp` and `bsa-tnp cv --model gp`: column roles
 * (--s, --t, --x, --f), kernel, distance, transform and the fitting sizes.
 */
import { type OptionSpec, type ParsedArgs, UsageError } from '../args.js';
import { GP_KERNEL_KINDS, type GpKernelKind } from '../../data/gp-fit/kernel.js';
import type { GpColumns, GpTransform } from '../../api/gp-table.js';
import type { GpFitOptions, GpPredictOptions } from '../../data/gp-fit/fit.js';

export const GP_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  s: { type: 'string', value: 'COLS', description: 'space columns, comma-separated (lon,lat-like names: great-circle distance in km)' },
  t: { type: 'string', value: 'COL', description: 'time column (number, or ISO date/time: days since 1970-01-01)' },
  x: { type: 'string', value: 'COLS', description: 'covariate columns (one lengthscale each)' },
  f: { type: 'string', value: 'COL', description: 'value column to predict' },
  kernel: { type: 'string', value: 'KIND', description: `GP kernel: ${GP_KERNEL_KINDS.join(', ')}`, default: 'matern32' },
  distance: { type: 'string', value: 'auto|great-circle|euclidean', description: 'distance for the s columns', default: 'auto' },
  transform: { type: 'string', value: 'F=log|F=log1p', description: 'model log(F) or log(1 + F) (positive data such as concentrations); predictions are back-transformed (log-normal)' },
  'fit-points': { type: 'string', value: 'N', description: 'fit the hyper-parameters on a random subset of N context rows (exact GP cost grows as N³)', default: '1000' },
  'predict-points': { type: 'string', value: 'N', description: 'condition predictions on at most N context rows (random subset beyond)', default: '4096' },
  seed: { type: 'string', value: 'N', description: 'seed of the random subsets', default: '1' },
  mean: { type: 'string', value: 'fit|data', description: 'constant mean: fitted by maximum likelihood, or the data mean', default: 'fit' },
  latent: { type: 'boolean', description: 'report the std of the noise-free field instead of a new observation' },
};

function str(args: ParsedArgs, name: string): string | undefined {
  const v = args.values[name];
  return typeof v === 'string' ? v : undefined;
}

function list(v: string | undefined): string[] {
  return v === undefined ? [] : v.split(',').map((s) => s.trim()).filter(Boolean);
}

function int(args: ParsedArgs, name: string, cmd: string, fallback: number): number {
  const v = str(args, name);
  if (v === undefined) return fallback;
  if (!/^\d+$/.test(v.trim()) || Number(v) < 1) throw new UsageError(`bsa-tnp ${cmd}: --${name} must be an integer >= 1, got '${v}'`);
  return Number(v);
}

export function parseGpOptions(args: ParsedArgs, cmd: string): { cols: GpColumns; fit: GpFitOptions; predict: GpPredictOptions } {
  const f = str(args, 'f');
  if (f === undefined) throw new UsageError(`bsa-tnp ${cmd}: missing --f COL (the value column to predict)`);
  const s = list(str(args, 's'));
  const x = list(str(args, 'x'));
  const t = str(args, 't');
  if (s.length === 0 && t === undefined && x.length === 0) throw new UsageError(`bsa-tnp ${cmd}: give the input columns with --s, --t and/or --x`);
  const kernel = (str(args, 'kernel') ?? 'matern32') as GpKernelKind;
  if (!GP_KERNEL_KINDS.includes(kernel)) throw new UsageError(`bsa-tnp ${cmd}: --kernel must be one of ${GP_KERNEL_KINDS.join(', ')}, got '${kernel}'`);
  const distance = str(args, 'distance') ?? 'auto';
  if (!['auto', 'great-circle', 'euclidean'].includes(distance)) throw new UsageError(`bsa-tnp ${cmd}: --distance must be auto, great-circle or euclidean, got '${distance}'`);
  let transform: GpTransform = 'none';
  const tr = str(args, 'transform');
  if (tr !== undefined) {
    const m = /^(?:([^=]+)=)?(log|log1p|none)$/.exec(tr.trim());
    if (!m || (m[1] !== undefined && m[1] !== f)) throw new UsageError(`bsa-tnp ${cmd}: --transform must be ${f}=log, ${f}=log1p or ${f}=none, got '${tr}'`);
    transform = m[2] as GpTransform;
  }
  const seed = int(args, 'seed', cmd, 1);
  const mean = str(args, 'mean') ?? 'fit';
  if (mean !== 'fit' && mean !== 'data') throw new UsageError(`bsa-tnp ${cmd}: --mean must be fit or data, got '${mean}'`);
  return {
    cols: { s, t, x, f, kernel, distance: distance as GpColumns['distance'], transform },
    fit: { fitPoints: int(args, 'fit-points', cmd, 1000), seed, fitMean: mean === 'fit' },
    predict: { predictPoints: int(args, 'predict-points', cmd, 4096), seed, latent: args.values.latent === true },
  };
}
