/**
 * `bsa-tnp gp`: the classical baseline users compare against — an exact Gaussian process whose
 * hyper-parameters are fitted to the context by maximum marginal likelihood, predicting the
 * targets with the same outputs as `predict` (target columns carried through, then
 * f_mean, f_std, f_lo90, f_hi90). Prints the fitted hyper-parameters and the time.
 */
import { type CliContext, CliError, type CommandSpec, EXIT_OK, type ParsedArgs, UsageError } from '../args.js';
import { describeFit } from '../../data/gp-fit/fit.js';
import { makeTable } from '../../data/table.js';
import { gpPredictTables } from '../../api/gp-table.js';
import { summarisePredictive } from '../../api/predictive.js';
import { readTable } from '../../io/table-read.js';
import { writeTableCsv } from '../../io/write-table-csv.js';
import { GP_OPTIONS, parseGpOptions } from './gp-options.js';

async function run(args: ParsedArgs, ctx: CliContext): Promise<number> {
  const cmd = 'gp';
  const get = (n: string): string | undefined => (typeof args.values[n] === 'string' ? args.values[n] as string : undefined);
  const missing = ['context', 'targets', 'out'].filter((n) => get(n) === undefined).map((n) => `--${n} FILE`);
  if (missing.length > 0) throw new UsageError(`bsa-tnp gp: missing ${missing.join(', ')}`);
  const opts = parseGpOptions(args, cmd);
  const context = await readTable(get('context')!, { label: 'gp: context' });
  const targets = await readTable(get('targets')!, { label: 'gp: targets' });
  const f = opts.cols.f;
  const outNames = [`${f}_mean`, `${f}_std`, `${f}_lo90`, `${f}_hi90`];
  for (const n of outNames) if (targets.names.includes(n)) throw new CliError(`gp: targets already have a column '${n}', which the prediction would overwrite; rename it`);
  const r = gpPredictTables(context, targets, opts.cols, opts.fit, opts.predict);
  const sum = summarisePredictive(r.predictive);
  const out = makeTable([...targets.names, ...outNames],
    [...targets.columns, ...[sum.mean, sum.std, sum.lo90, sum.hi90].map((values) => ({ kind: 'number' as const, values }))], 'predictions');
  writeTableCsv(get('out')!, out);
  const tr = opts.cols.transform;
  const lines = [
    ...describeFit(r.fit).map((l, i) => (i === 0 && tr !== 'none' ? `${l} (mean, signal and noise std of ${tr === 'log' ? `log(${f})` : `log(1 + ${f})`})` : l)),
    `context: ${r.contextRows} rows used${r.contextDropped > 0 ? ` (${r.contextDropped} with a missing input or value left out)` : ''}` +
      `${r.contextUsed < r.contextRows ? `; predictions condition on a random ${r.contextUsed} of them (--predict-points)` : ''}`,
    `targets: ${targets.rows} rows${r.targetsDropped > 0 ? ` (${r.targetsDropped} with a missing input get empty predictions)` : ''}`,
    `time: fit ${r.fitSeconds.toFixed(2)} s (${r.fit.iterations} L-BFGS iterations), predict ${r.predictSeconds.toFixed(2)} s`,
    `wrote ${out.rows} predictions to ${get('out')}`,
  ];
  ctx.stdout.write(`${lines.join('\n')}\n`);
  return EXIT_OK;
}

export const gpCommand: CommandSpec = {
  name: 'gp',
  summary: 'Exact Gaussian process baseline: fit hyper-parameters to the context by maximum likelihood, predict the targets.',
  description: `
Fits an exact GP (constant mean + product kernel over space, time and covariates + noise) to the
context rows by maximising the log marginal likelihood (analytic gradients, L-BFGS, two starts),
then predicts every target row. Space uses one lengthscale (great-circle distance in km when the
s columns are lon,lat-like), time its own, each covariate its own. Context rows with a missing
input or value are left out; target rows with a missing input get empty predictions. Above
--fit-points context rows the hyper-parameters are fitted on a random subset; predictions
condition on up to --predict-points rows.

The output CSV holds every target column, then f_mean, f_std, f_lo90, f_hi90 (the predictive for
a new observation, noise included; with --transform F=log the log-normal mean, std and 5%/95%
quantiles in the data's units). It is written atomically.

Example:
  bsa-tnp gp --context obs.csv --targets points.csv --s lon,lat --t date --x elev --f pm10 --transform pm10=log --out pred.csv`,
  options: {
    context: { type: 'string', short: 'c', value: 'FILE', description: 'context observations (CSV, Parquet or GeoJSON)' },
    targets: { type: 'string', value: 'FILE', description: 'target points (CSV, Parquet or GeoJSON; extra columns are carried through)' },
    out: { type: 'string', short: 'o', value: 'FILE', description: 'output CSV' },
    ...GP_OPTIONS,
  },
  run,
};
