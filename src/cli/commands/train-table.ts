/**
 * `bsa-tnp train --data FILE`: trains a model on a user's table (src/train/table-run.ts for the
 * settings and generators, src/data/table-tasks.ts for the tasks, src/data/schema for the columns).
 *
 * The schema's column roles come from the flags (--s/--t/--x/--f ...); its statistics (normalisation,
 * Box-Cox λ) are fitted on the TRAINING part of the split only; the category lists of text
 * covariates are those of the whole file (so a held-out station with a land-use class seen only
 * there still encodes). The model follows the schema: s and t through distance biases only, x
 * embedded (src/train/table-model.ts), the paper's size or `--size small`. Validation picks the kept
 * model (keep: best). `--init MODEL` starts from a trained model (src/train/init-weights.ts).
 * `--resume` reads the data file again (the stored path, or --data) and rebuilds the same split and
 * batches from the checkpoint's settings.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type CliContext, CliError, EXIT_OK, type ParsedArgs, UsageError } from '../args.js';
import { createBackend, parseBackendName } from '../../api/load-node.js';
import { fitSchema, parseSchemaFlags, type SchemaFlags } from '../../data/schema/index.js';
import { TableError, type Table } from '../../data/table.js';
import { TableTaskError, TRAIN, formatSplit, parseSplit, splitRows, type EncodedRows } from '../../data/table-tasks.js';
import { ConfigError } from '../../models/config-checks.js';
import { parseTrainConfig, type DataSchema, type ModelConfig, type TrainConfig } from '../../models/config.js';
import { asBsaTnpConfig } from '../../models/registry.js';
import { CheckpointError, loadCheckpoint, loadModelFolder, type Weights } from '../../train/checkpoint.js';
import { adaptWeights, InitMismatchError } from '../../train/init-weights.js';
import { MODEL_SIZES, modelBase, type ModelSize } from '../../train/table-model.js';
import { modelForSchema } from '../../data/schema/model.js';
import { encodeRows, fitSchemaOn } from '../../train/table-rows.js';
import { checkRows, generatorsOf, parseTableSettings, TABLE_TASK, tableGenerators, type TableSettings, type TableGenerators } from '../../train/table-run.js';
import { Trainer } from '../../train/trainer.js';
import { schemaShape } from '../../data/schema/fit.js';
import { intOption } from './predict.js';
import { readDataTable } from './table-input.js';
import { trainProgress } from './train-progress.js';
import { budgetOption, exportKeptModel } from './train.js';
import { SCHEMA_OPTIONS, TABLE_TRAIN_OPTIONS } from './table-options.js';

export { SCHEMA_OPTIONS, TABLE_TRAIN_OPTIONS };

/** Training defaults for tables (experiments.md §1, the Beijing row, scaled to CPUs). */
export const TABLE_TRAIN_DEFAULTS = {
  steps: 1000, batchSize: 8, lr: 1e-3, schedule: 'cosine', alpha: 1e-2, validEvery: 100, validBatches: 8, testBatches: 50,
  keep: 'best', checkpointEvery: 100,
} as const;

function str(args: ParsedArgs, name: string): string | undefined {
  const v = args.values[name];
  return typeof v === 'string' ? v : undefined;
}

/** Table, task and schema problems → the user's error. */
export function asCliError(e: unknown, cmd: string): unknown {
  if (e instanceof TableError || e instanceof TableTaskError || e instanceof ConfigError || e instanceof InitMismatchError || e instanceof CheckpointError) {
    return new CliError(`${cmd}: ${e.message}`);
  }
  return e;
}

/** Whether OUT/checkpoint holds a table run (so `train --resume` comes here). */
export function isTableCheckpoint(ckDir: string): boolean {
  for (const dir of [ckDir, `${ckDir}.old`]) {
    try {
      const s = JSON.parse(fs.readFileSync(path.join(dir, 'trainer_state.json'), 'utf8')) as { train?: { task?: { name?: string } } };
      return s.train?.task?.name === TABLE_TASK;
    } catch { /* try the next */ }
  }
  return false;
}

export function schemaFlags(args: ParsedArgs): SchemaFlags {
  return parseSchemaFlags({
    s: str(args, 's'), t: str(args, 't'), x: str(args, 'x'), f: str(args, 'f'),
    distance: str(args, 'distance'), 'time-unit': str(args, 'time-unit'), transform: str(args, 'transform'),
  });
}

/**
 * The schema of a table run: roles and categories from the whole table, statistics from the rows of
 * the training part (see the file comment). Returns the schema and the encoded rows.
 */
export function tableSchema(table: Table, flags: SchemaFlags, settings: TableSettings, seed: number, label: string): { schema: DataSchema; rows: EncodedRows } {
  const base = fitSchema(table, flags, label);
  const whole = encodeRows(table, base, label);
  const part = splitRows(whole.rows, parseSplit(settings.split), seed);
  const trainRows: number[] = [];
  for (let k = 0; k < whole.rows.n; k++) if (part[k] === TRAIN) trainRows.push(whole.enc.rowIndex[k]!);
  const trained = fitSchemaOn(table, flags, trainRows, label);
  const schema: DataSchema = {
    ...trained,
    columns: base.columns,
    ...(base.categories ? { categories: base.categories } : {}),
    normalization: { ...trained.normalization },
  };
  return { schema, rows: encodeRows(table, schema, label).rows };
}

/** Starting weights and model for `--init` (see init-weights.ts); the schema keeps the prior's statistics for shared columns. */
function fromInit(initDir: string, model: ModelConfig, schema: DataSchema): { model: ModelConfig; weights: Weights; schema: DataSchema } {
  const prior = loadModelFolder(initDir);
  // Weight adaptation knows the BSA-TNP layout only (baselines: train them from scratch).
  const priorModel = asBsaTnpConfig(prior.config.model, `--init '${initDir}': config.json: model`);
  const next: ModelConfig = { ...priorModel, groups: { ...model.groups }, output: model.output };
  const weights = adaptWeights(priorModel, prior.weights, prior.config.data.columns.x, next, schema.columns.x);
  const p = prior.config.data;
  const norm = { ...schema.normalization };
  for (const [k, v] of Object.entries(p.normalization)) if (k in norm || [...schema.columns.s, ...schema.columns.t, ...schema.columns.x, ...schema.columns.f].includes(k)) norm[k] = v;
  const transforms = { ...(schema.transforms ?? {}), ...(p.transforms ?? {}) };
  return {
    model: next, weights,
    schema: { ...schema, normalization: norm, ...(Object.keys(transforms).length > 0 ? { transforms } : {}) },
  };
}

function settingsFrom(args: ParsedArgs, cmd: string, hasTime: boolean, rows: number, file: string): TableSettings {
  const task = str(args, 'task') ?? 'interpolate';
  if (task !== 'interpolate' && task !== 'forecast') throw new UsageError(`bsa-tnp train: with --data, --task must be interpolate or forecast, got '${task}'`);
  const horizon = intOption(args, 'horizon', cmd, 1);
  const windowArg = str(args, 'window');
  const window = windowArg !== undefined ? intOption(args, 'window', cmd, 1) : task === 'forecast' ? Math.max(5, horizon + 1) : hasTime ? 1 : null;
  const split = str(args, 'split') ?? (hasTime ? 'time:0.8,0.1' : 'space:0.8,0.1');
  try {
    parseSplit(split);
  } catch (e) {
    throw new UsageError(`bsa-tnp train: ${(e as Error).message}`);
  }
  return {
    kind: task, window, horizon: task === 'forecast' ? horizon : 0, split,
    maxContext: intOption(args, 'max-context', cmd, 512), maxTargets: intOption(args, 'max-targets', cmd, 512),
    contextFraction: [0.1, 0.9], rows, file,
  };
}

function partCounts(g: TableGenerators): { train: number; valid: number; test: number } {
  const c = [0, 0, 0];
  for (const p of g.part) c[p]!++;
  return { train: c[0]!, valid: c[1]!, test: c[2]! };
}

export async function runTableTrain(args: ParsedArgs, ctx: CliContext): Promise<number> {
  const cmd = 'train';
  const out = path.resolve(ctx.cwd, str(args, 'out')!);
  const ckDir = path.join(out, 'checkpoint');
  const resume = args.values.resume === true;
  const abs = (p: string) => path.resolve(ctx.cwd, p);
  const steps = str(args, 'steps') === undefined ? undefined : intOption(args, 'steps', cmd, 1);
  const budget = budgetOption(args);
  const lossEvery = intOption(args, 'loss-every', cmd, 10);
  const threads = str(args, 'threads') === undefined ? undefined : intOption(args, 'threads', cmd, 1);
  let fresh: { model: ModelConfig; train: TrainConfig; schema: DataSchema; init?: Weights } | null = null;
  let table: Table;
  let rows: EncodedRows;
  let settings: TableSettings;
  let seed: number, batchSize: number;
  try {
    if (resume) {
      for (const o of ['s', 't', 'x', 'f', 'task', 'split', 'window', 'horizon', 'init', 'size', 'seed', 'lr', 'batch-size', 'config', 'train-config']) {
        if (args.values[o] !== undefined) throw new UsageError(`bsa-tnp train: --${o} cannot change a run being resumed (the checkpoint holds its settings); only --steps can`);
      }
      const ck = loadCheckpoint(ckDir);
      settings = parseTableSettings(ck.state.train.task);
      const file = str(args, 'data') !== undefined ? abs(str(args, 'data')!) : settings.file;
      table = await readDataTable(file, cmd, '--data');
      checkRows(table.rows, settings.rows, file);
      rows = encodeRows(table, ck.config.data, `--data '${file}'`).rows;
      seed = ck.state.train.seed;
      batchSize = ck.state.train.batchSize;
    } else {
      if (fs.existsSync(ckDir)) throw new CliError(`train: '${ckDir}' already holds a checkpoint; pass --resume to continue it or choose another --out`);
      const file = abs(str(args, 'data')!);
      table = await readDataTable(file, cmd, '--data');
      const flags = schemaFlags(args);
      const size = (str(args, 'size') ?? 'paper') as ModelSize;
      if (!MODEL_SIZES.includes(size)) throw new UsageError(`bsa-tnp train: --size must be one of ${MODEL_SIZES.join(', ')}, got '${size}'`);
      settings = settingsFrom(args, cmd, (flags.t ?? []).length > 0, table.rows, file);
      // The training configuration: table defaults, a --train-config file, then the flags.
      let trainJson: Record<string, unknown> = { ...TABLE_TRAIN_DEFAULTS };
      if (str(args, 'train-config') !== undefined) {
        const f = abs(str(args, 'train-config')!);
        if (!fs.existsSync(f)) throw new CliError(`train: --train-config '${f}' does not exist`);
        trainJson = { ...trainJson, ...(JSON.parse(fs.readFileSync(f, 'utf8')) as Record<string, unknown>) };
      }
      if (steps !== undefined) trainJson.steps = steps;
      if (str(args, 'batch-size') !== undefined) trainJson.batchSize = intOption(args, 'batch-size', cmd, 1);
      if (str(args, 'lr') !== undefined) trainJson.lr = Number(str(args, 'lr'));
      if (str(args, 'seed') !== undefined) trainJson.seed = intOption(args, 'seed', cmd, 0, 0);
      trainJson.task = { name: TABLE_TASK, options: settings };
      const train = parseTrainConfig(trainJson, 'train');
      seed = train.seed;
      batchSize = train.batchSize;
      const made = tableSchema(table, flags, settings, seed, `--data '${file}'`);
      let schema = made.schema;
      rows = made.rows;
      const shape = schemaShape(schema);
      if (shape.output.kind !== 'gaussian') throw new CliError('train: a categorical output (--f) is not supported by train --data yet; give a numeric column');
      let model = modelForSchema(schema, modelBase(size));
      let init: Weights | undefined;
      if (str(args, 'init') !== undefined) {
        const r = fromInit(abs(str(args, 'init')!), model, schema);
        model = r.model; init = r.weights; schema = r.schema;
        rows = encodeRows(table, schema, `--data '${file}'`).rows;
      }
      fresh = { model, train, schema, ...(init ? { init } : {}) };
    }
  } catch (e) {
    throw asCliError(e, cmd);
  }
  let gens: TableGenerators;
  try {
    gens = tableGenerators(rows, settings, seed, batchSize);
  } catch (e) {
    throw asCliError(e, cmd);
  }
  const handle = await createBackend(parseBackendName(args.values.backend ?? args.values.device, cmd), cmd, threads);
  const prog = trainProgress(ctx.stderr, out, 'train', () => exportKeptModel(out, ckDir, prog.keep));
  const opts = { onEvent: prog.onEvent, lossEvery, out: ckDir, tasks: generatorsOf(gens), replay: args.values['no-replay'] !== true };
  let trainer: Trainer | null = null;
  try {
    trainer = resume
      ? Trainer.resume(ckDir, handle.backend, { ...opts, ...(steps !== undefined ? { steps } : {}) })
      : Trainer.create(fresh!.model, fresh!.train, handle.backend, { ...opts, data: fresh!.schema, ...(fresh!.init ? { init: fresh!.init } : {}) });
    prog.keep = trainer.train.keep;
    await trainer.run(undefined, budget);
    const src = exportKeptModel(out, ckDir, prog.keep);
    const st = loadCheckpoint(ckDir).state;
    ctx.stdout.write(`${JSON.stringify({
      event: 'train_done', step: trainer.step, out, kept: prog.keep, keptFrom: path.relative(out, src) || '.',
      best: st.best, task: settings.kind, split: formatSplit(gens.split), rows: partCounts(gens),
      batch: { context: gens.train.Nc, targets: gens.train.Nt },
    })}\n`);
    return EXIT_OK;
  } catch (e) {
    throw asCliError(e, cmd);
  } finally {
    trainer?.dispose();
    handle.dispose();
  }
}
