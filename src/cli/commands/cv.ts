/**
 * `bsa-tnp cv`: cross-validated scores of a model folder or the exact GP on one data set (k-fold
 * over rows or leave-one-group-out, e.g. one station at a time): NLL, RMSE, 95 % coverage and
 * time, one line per fold and a pooled summary. The logic is in api/cv.ts.
 */
import { type CliContext, CliError, type CommandSpec, EXIT_OK, type ParsedArgs, UsageError } from '../args.js';
import { type CvFoldResult, type CvModel, crossValidate, gpCvModel, groupFolds, kFolds, predictorCvModel } from '../../api/cv.js';
import { createBackend, explainBackendError, loadPredictor, parseBackendName, type BackendHandle } from '../../api/load-node.js';
import type { Predictor } from '../../api/predictor.js';
import { readTable } from '../../io/table-read.js';
import { GP_OPTIONS, parseGpOptions } from './gp-options.js';

function line(r: CvFoldResult | (CvFoldResult & { label: 'summary' })): string {
  return `${r.label.padEnd(20)} n ${String(r.n).padStart(6)}  nll ${r.nll.toFixed(4).padStart(9)}  rmse ${r.rmse.toPrecision(5).padStart(9)}  ` +
    `cover95 ${(100 * r.coverage95).toFixed(1).padStart(5)}%  ${r.seconds.toFixed(2)} s`;
}

async function run(args: ParsedArgs, ctx: CliContext): Promise<number> {
  const cmd = 'cv';
  const get = (n: string): string | undefined => (typeof args.values[n] === 'string' ? args.values[n] as string : undefined);
  const dataFile = get('data');
  const model = get('model');
  if (dataFile === undefined || model === undefined) throw new UsageError(`bsa-tnp cv: missing ${[dataFile === undefined ? '--data FILE' : '', model === undefined ? '--model DIR|gp' : ''].filter(Boolean).join(', ')}`);
  const by = get('by');
  if (by !== undefined && get('folds') !== undefined) throw new UsageError('bsa-tnp cv: give --folds N or --by COLUMN, not both');
  const foldsText = get('folds') ?? '5';
  if (!/^\d+$/.test(foldsText)) throw new UsageError(`bsa-tnp cv: --folds must be an integer >= 2, got '${foldsText}'`);
  const seedText = get('seed') ?? '1';
  if (!/^\d+$/.test(seedText)) throw new UsageError(`bsa-tnp cv: --seed must be a non-negative integer, got '${seedText}'`);
  const table = await readTable(dataFile, { label: 'cv: data' });
  let handle: BackendHandle | null = null;
  let predictor: Predictor | null = null;
  try {
    let cvModel: CvModel;
    let f: string;
    let what: string;
    if (model === 'gp') {
      const o = parseGpOptions(args, cmd);
      cvModel = gpCvModel(o.cols, o.fit, o.predict);
      f = o.cols.f;
      what = `exact GP (${o.cols.kernel}${o.cols.transform !== 'none' ? `, ${o.cols.transform} transform` : ''})`;
    } else {
      for (const n of ['s', 't', 'x', 'kernel', 'transform']) {
        if (get(n) !== undefined) throw new UsageError(`bsa-tnp cv: --${n} only applies to --model gp (a model folder has its own columns)`);
      }
      handle = await createBackend(parseBackendName(args.values.backend, cmd), cmd);
      predictor = loadPredictor(model, handle.backend, cmd);
      f = get('f') ?? predictor.layout.values[0]!;
      cvModel = predictorCvModel(predictor, f);
      what = `model ${model}`;
    }
    if (!table.names.includes(f)) throw new CliError(`cv: data CSV '${dataFile}' has no column '${f}' (columns: ${table.names.join(', ')})`);
    const makeFolds = by !== undefined ? (t: Parameters<typeof groupFolds>[0]) => groupFolds(t, by) : (t: Parameters<typeof groupFolds>[0]) => kFolds(t.rows, Number(foldsText), Number(seedText));
    ctx.stdout.write(`cross-validating ${what} on ${dataFile} (${by !== undefined ? `leave one ${by} out` : `${foldsText}-fold`}), value '${f}'\n`);
    const res = await crossValidate(table, f, makeFolds, cvModel, (r) => { ctx.stdout.write(`${line(r)}\n`); });
    ctx.stdout.write(`${line({ label: 'summary', ...res.summary })}\n`);
    return EXIT_OK;
  } catch (e) {
    throw handle ? explainBackendError(e, handle, cmd) : e;
  } finally {
    predictor?.dispose();
    handle?.dispose();
  }
}

export const cvCommand: CommandSpec = {
  name: 'cv',
  summary: 'Cross-validate a model folder or the exact GP on a data set: NLL, RMSE, 95% coverage per fold.',
  description: `
Splits the rows of --data (rows whose value is missing are left out) into --folds random folds, or
with --by COLUMN into one fold per distinct value of that column (leave one station out). Each
fold's held-out rows are predicted from the other rows (the model folder conditions on them; the
GP is refitted on them) and scored in the data's units: mean negative log predictive density
(NLL), root mean squared error of the predictive mean (RMSE) and the share inside the central 95%
interval. The summary pools every held-out row.

Examples:
  bsa-tnp cv --data obs.csv --model models/demo-gp2d --folds 5
  bsa-tnp cv --data obs.csv --model gp --s lon,lat --x elev --f tmax --by station`,
  options: {
    data: { type: 'string', short: 'd', value: 'FILE', description: 'observations (CSV, Parquet or GeoJSON)' },
    model: { type: 'string', short: 'm', value: 'DIR|gp', description: 'a model folder, or gp for the exact GP baseline' },
    folds: { type: 'string', value: 'N', description: 'number of random folds', default: '5' },
    by: { type: 'string', value: 'COLUMN', description: 'leave-one-group-out folds by this column (e.g. station)' },
    backend: { type: 'string', value: 'cpu|webgpu', description: 'compute backend for a model folder', default: 'cpu' },
    ...GP_OPTIONS,
  },
  run,
};
