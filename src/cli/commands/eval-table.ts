/**
 * `bsa-tnp eval --model DIR --data FILE`: the metrics of a model trained with `train --data` on the
 * TEST part of its data: the split is recomputed from the file with the settings and seed stored
 * in the model folder (config.json `training.task.options`), so it is the part training never saw.
 * Metrics are those of experiments.md §1 (NLL, RMSE, MAE, 95 % coverage, mean over batches) in
 * model units: the normalised (and transformed) values the model predicts. For an output without a
 * transform, RMSE and MAE are also given in the data's units (× the stored std).
 */
import * as path from 'node:path';
import { type CliContext, CliError, EXIT_OK, type ParsedArgs, UsageError } from '../args.js';
import { Progress } from '../../api/progress.js';
import { createBackend, explainBackendError, parseBackendName, readModelFolder } from '../../api/load-node.js';
import * as E from '../../engine/ops.js';
import { Rng } from '../../engine/random.js';
import { buildModel } from '../../models/registry.js';
import { toParams } from '../../nn/params.js';
import { encodeRows } from '../../train/table-rows.js';
import { checkRows, formatSplit, parseTableSettings, TABLE_TASK, tableGenerators } from '../../train/table-run.js';
import { evaluate } from '../../train/trainer.js';
import { intOption } from './predict.js';
import { readDataTable } from './table-input.js';
import { asCliError } from './train-table.js';

function str(args: ParsedArgs, name: string): string | undefined {
  const v = args.values[name];
  return typeof v === 'string' ? v : undefined;
}

export async function runTableEval(args: ParsedArgs, ctx: CliContext, folder: string, seed: number): Promise<number> {
  const cmd = 'eval';
  if (str(args, 'task') !== undefined || str(args, 'task-options') !== undefined) {
    throw new UsageError('bsa-tnp eval: --task / --task-options name synthetic tasks; with --data the task is the one the model was trained on');
  }
  const loaded = readModelFolder(folder, cmd);
  const training = loaded.config.training;
  if (training === null || training.task.name !== TABLE_TASK) {
    throw new CliError(`${cmd}: --data needs a model trained with 'train --data'; '${folder}' was trained on ${training === null ? 'an unknown task' : `task '${training.task.name}'`} (evaluate it without --data)`);
  }
  const file = path.resolve(ctx.cwd, str(args, 'data')!);
  let gens;
  try {
    const settings = parseTableSettings(training.task);
    const table = await readDataTable(file, cmd, '--data');
    checkRows(table.rows, settings.rows, file);
    const rows = encodeRows(table, loaded.config.data, `--data '${file}'`).rows;
    gens = tableGenerators(rows, settings, training.seed, intOption(args, 'batch-size', cmd, training.batchSize));
  } catch (e) {
    throw asCliError(e, cmd);
  }
  const batches = intOption(args, 'batches', cmd, training.testBatches);
  const handle = await createBackend(parseBackendName(args.values.backend ?? args.values.device, cmd), cmd);
  const model = buildModel(loaded.config.model);
  const specs = model.specs(Rng.fromSeed(0));
  const tensors = specs.map((s) => E.tensor(loaded.weights.get(s.name)!.data, s.shape, handle.backend));
  const progress = new Progress({ total: batches, sink: ctx.stderr, label: 'eval', unit: 'batch' });
  try {
    const t0 = Date.now();
    const m = await evaluate(model, toParams(specs, tensors), handle.backend, gens.test.generator(), Rng.fromSeed(seed).split(), batches,
      (d, sofar) => progress.update(d, { nll: +sofar.nll.toFixed(4) }));
    progress.finish();
    let testRows = 0;
    for (const p of gens.part) if (p === 2) testRows++;
    const f = loaded.config.data.columns.f;
    const dataUnits: Record<string, number> = {};
    if (f.length === 1 && loaded.config.data.transforms?.[f[0]!] === undefined) {
      const sd = loaded.config.data.normalization[f[0]!]?.std ?? 1;
      dataUnits.rmse = m.rmse * sd;
      dataUnits.mae = m.mae * sd;
    }
    const result = {
      model: folder, data: file, task: parseTableSettings(training.task).kind, split: formatSplit(gens.split), part: 'test', testRows,
      batches, batchSize: gens.test.options.batchSize, seed,
      nll: m.nll, rmse: m.rmse, mae: m.mae, coverage: m.coverage, units: 'model (normalised, transformed values)',
      ...(Object.keys(dataUnits).length > 0 ? { dataUnits } : {}),
      seconds: (Date.now() - t0) / 1000, backend: handle.description,
    };
    ctx.stdout.write(`${JSON.stringify(result, null, args.values.json === true ? 0 : 2)}\n`);
    return EXIT_OK;
  } catch (e) {
    throw explainBackendError(e, handle, cmd);
  } finally {
    for (const t of tensors) t.dispose();
    handle.dispose();
  }
}
