/**
 * `bsa-tnp fit --model PRIOR --context obs.csv [schema flags] --out DIR`: adapts a prior model to one
 * set of observations, in seconds to minutes on a CPU.
 *
 * Self-supervised: a seeded share of the observations (--holdout, default 15 %) is held out; every
 * training step splits the other observations at random into context and targets (src/train/
 * table-run.ts `fitGenerators`); every --valid-every steps the held-out points are predicted from
 * all the others, and training stops once --patience validations in a row have not improved (or at
 * --steps). The prior's own held-out NLL (zero-shot) is measured first on the same points: if
 * fitting never beats it, the fitted folder keeps the prior's weights (never worse on held-out
 * points). Coordinates are mapped into the prior's domain by the stored normalisation
 * (src/train/fit-schema.ts), so `predict --model DIR` takes the user's own units.
 *
 * OUT holds the fitted model (config.json + model.safetensors) and OUT/checkpoint the training state;
 * `--resume` continues it exactly (same batches, same updates), reading the observations again.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type CliContext, CliError, type CommandSpec, EXIT_OK, type ParsedArgs, UsageError } from '../args.js';
import { createBackend, parseBackendName } from '../../api/load-node.js';
import { parseTrainConfig, type DataSchema, type ModelFolderConfig, type TrainConfig } from '../../models/config.js';
import { withoutTime } from '../../train/prior-domain.js';
import { BEST_DIR, CONFIG_FILE, loadCheckpoint, loadModelFolder, WEIGHTS_FILE, type Weights } from '../../train/checkpoint.js';
import { writeFileAtomic } from '../../train/atomic.js';
import { encodeSafetensors } from '../../train/safetensors.js';
import { fitSchemaForPrior } from '../../train/fit-schema.js';
import { encodeRows } from '../../train/table-rows.js';
import { checkRows, FIT_TASK, fitGenerators, generatorsOf, parseFitSettings, type FitSettings } from '../../train/table-run.js';
import { Trainer } from '../../train/trainer.js';
import { intOption } from './predict.js';
import { SCHEMA_OPTIONS } from './table-options.js';
import { readDataTable } from './table-input.js';
import { asCliError, schemaFlags } from './train-table.js';
import { trainProgress } from './train-progress.js';

export const FIT_DEFAULTS = {
  steps: 200, batchSize: 2, lr: 1e-4, schedule: 'constant', validEvery: 10, validBatches: 1, testBatches: 1,
  keep: 'best', checkpointEvery: 10, weightDecay: 0,
} as const;

function str(args: ParsedArgs, name: string): string | undefined {
  const v = args.values[name];
  return typeof v === 'string' ? v : undefined;
}

/** The prior, without its time group when the observations have no time (prior-domain.ts `withoutTime`). */
function loadPrior(dir: string, dropTime: boolean): { config: ModelFolderConfig; weights: Weights } {
  const prior = loadModelFolder(dir);
  if (!dropTime) return prior;
  const w = withoutTime(prior.config, prior.weights);
  if (w === null) throw new CliError(`fit: the prior '${dir}' embeds its time coordinate; give a time column with --t`);
  return w;
}

function fraction(args: ParsedArgs, name: string, fallback: number): number {
  const v = str(args, name);
  if (v === undefined) return fallback;
  const x = Number(v);
  if (!(x > 0 && x < 1)) throw new UsageError(`bsa-tnp fit: --${name} must be a fraction between 0 and 1, got '${v}'`);
  return x;
}

/** Writes OUT's model: the best fitted state, or the prior's weights when fitting never beat them. */
function exportFitted(out: string, ckDir: string, settings: FitSettings, priorWeights: () => Weights): 'fitted' | 'prior' {
  const ck = loadCheckpoint(ckDir);
  const best = ck.state.best;
  const fitted = best !== null && (settings.zeroShotNll === null || best.nll < settings.zeroShotNll);
  const weights = fitted ? loadModelFolder(path.join(ckDir, BEST_DIR)).weights : priorWeights();
  writeFileAtomic(path.join(out, WEIGHTS_FILE), encodeSafetensors(weights, { library: 'bsa-tnp', format: 'pt' }));
  writeFileAtomic(path.join(out, CONFIG_FILE), `${JSON.stringify(ck.config, null, 2)}\n`);
  return fitted ? 'fitted' : 'prior';
}

/** `--task forecast --horizon H [--window W]` → the fit's forecast settings; `interpolate` → null. */
function forecastOption(args: ParsedArgs, cmd: string, dropTime: boolean): FitSettings['forecast'] {
  const task = str(args, 'task') ?? 'interpolate';
  if (task !== 'interpolate' && task !== 'forecast') throw new UsageError(`bsa-tnp fit: --task expected interpolate or forecast, got '${task}'`);
  if (task === 'interpolate') {
    for (const f of ['horizon', 'window']) if (str(args, f) !== undefined) throw new UsageError(`bsa-tnp fit: --${f} needs --task forecast`);
    return null;
  }
  if (dropTime) throw new UsageError('bsa-tnp fit: --task forecast needs a time column (--t)');
  const horizon = intOption(args, 'horizon', cmd, 1);
  const window = str(args, 'window') === undefined ? null : intOption(args, 'window', cmd, horizon + 1);
  return { horizon, window };
}

async function run(args: ParsedArgs, ctx: CliContext): Promise<number> {
  const cmd = 'fit';
  const started = Date.now();
  const outArg = str(args, 'out');
  if (outArg === undefined) throw new UsageError('bsa-tnp fit: missing --out FOLDER');
  const out = path.resolve(ctx.cwd, outArg);
  const ckDir = path.join(out, 'checkpoint');
  const resume = args.values.resume === true;
  const abs = (p: string) => path.resolve(ctx.cwd, p);
  const steps = str(args, 'steps') === undefined ? undefined : intOption(args, 'steps', cmd, 1);
  const threads = str(args, 'threads') === undefined ? undefined : intOption(args, 'threads', cmd, 1);
  let settings: FitSettings;
  let schema: DataSchema;
  let train: TrainConfig;
  let note = '';
  let rows;
  try {
    if (resume) {
      for (const o of ['model', 's', 't', 'x', 'f', 'distance', 'time-unit', 'transform', 'holdout', 'patience', 'seed', 'lr', 'batch-size', 'valid-every']) {
        if (args.values[o] !== undefined) throw new UsageError(`bsa-tnp fit: --${o} cannot change a fit being resumed (the checkpoint holds its settings); only --steps can`);
      }
      if (!fs.existsSync(ckDir) && !fs.existsSync(`${ckDir}.old`)) throw new CliError(`fit: --resume: no checkpoint at '${ckDir}'`);
      const ck = loadCheckpoint(ckDir);
      settings = parseFitSettings(ck.state.train.task);
      train = ck.state.train;
      schema = ck.config.data;
      const file = str(args, 'context') !== undefined ? abs(str(args, 'context')!) : settings.file;
      const table = await readDataTable(file, cmd, '--context');
      checkRows(table.rows, settings.rows, file);
      rows = encodeRows(table, schema, `--context '${file}'`).rows;
    } else {
      const priorArg = str(args, 'model');
      const contextArg = str(args, 'context');
      const missing = [priorArg === undefined ? '--model PRIOR' : '', contextArg === undefined ? '--context FILE' : ''].filter(Boolean);
      if (missing.length > 0) throw new UsageError(`bsa-tnp fit: missing ${missing.join(', ')}`);
      if (fs.existsSync(ckDir)) throw new CliError(`fit: '${ckDir}' already holds a checkpoint; pass --resume to continue it or choose another --out`);
      const priorDir = abs(priorArg!);
      const flags = schemaFlags(args);
      const raw = loadModelFolder(priorDir).config;
      // Data from one time (no --t) on a space–time prior: the prior without its time bias (exact).
      const dropTime = raw.model.groups.t !== null && !raw.model.groups.t.embed && (flags.t ?? []).length === 0;
      const prior = loadPrior(priorDir, dropTime);
      if (prior.config.model.output.kind !== 'gaussian') throw new CliError(`fit: the prior '${priorDir}' has a categorical output; fit supports Gaussian outputs`);
      const file = abs(contextArg!);
      const table = await readDataTable(file, cmd, '--context');
      const made = fitSchemaForPrior(table, flags, prior.config, priorDir, `--context '${file}'`);
      schema = made.schema;
      note = dropTime ? `${made.note}; one time: the prior's time bias dropped (exact)` : made.note;
      settings = {
        holdout: fraction(args, 'holdout', 0.15), maxContext: intOption(args, 'max-context', cmd, 512),
        maxTargets: intOption(args, 'max-targets', cmd, 256), rows: table.rows, file, prior: priorDir,
        patience: intOption(args, 'patience', cmd, 3), zeroShotNll: null, dropTime, forecast: forecastOption(args, cmd, dropTime),
      };
      rows = encodeRows(table, schema, `--context '${file}'`).rows;
      const t: Record<string, unknown> = { ...FIT_DEFAULTS, task: { name: FIT_TASK, options: settings } };
      if (steps !== undefined) t.steps = steps;
      if (str(args, 'batch-size') !== undefined) t.batchSize = intOption(args, 'batch-size', cmd, 1);
      if (str(args, 'lr') !== undefined) t.lr = Number(str(args, 'lr'));
      if (str(args, 'seed') !== undefined) t.seed = intOption(args, 'seed', cmd, 0, 0);
      if (str(args, 'valid-every') !== undefined) { t.validEvery = intOption(args, 'valid-every', cmd, 1); t.checkpointEvery = t.validEvery; }
      train = parseTrainConfig(t, 'fit');
    }
  } catch (e) {
    throw asCliError(e, cmd);
  }
  let gens;
  try {
    gens = fitGenerators(rows, settings, train.seed, train.batchSize);
  } catch (e) {
    throw asCliError(e, cmd);
  }
  const handle = await createBackend(parseBackendName(args.values.backend ?? args.values.device, cmd), cmd, threads);
  const priorWeights = () => loadPrior(settings.prior, settings.dropTime).weights;
  const prog = trainProgress(ctx.stderr, out, 'fit', () => exportFitted(out, ckDir, settings, priorWeights));
  const opts = { onEvent: prog.onEvent, lossEvery: Math.min(10, train.validEvery), out: ckDir, tasks: generatorsOf(gens), patience: settings.patience };
  let trainer: Trainer | null = null;
  const t0 = Date.now();
  try {
    if (resume) {
      trainer = Trainer.resume(ckDir, handle.backend, { ...opts, ...(steps !== undefined ? { steps } : {}) });
    } else {
      const prior = loadPrior(settings.prior, settings.dropTime);
      trainer = Trainer.create(prior.config.model, train, handle.backend, { ...opts, data: schema, init: prior.weights });
      // The prior's zero-shot NLL on the held-out points (the validation tasks), before any step.
      const zero = await trainer.validate();
      settings = { ...settings, zeroShotNll: zero.nll };
      trainer.train = { ...trainer.train, task: { name: FIT_TASK, options: { ...settings } } };
      ctx.stderr.write(`${JSON.stringify({ event: 'fit_zero_shot', ...zero, mapping: note })}\n`);
    }
    prog.keep = 'best';
    const maxSeconds = str(args, 'max-seconds') === undefined ? 100 : Number(str(args, 'max-seconds'));
    if (!(maxSeconds > 0)) throw new UsageError(`bsa-tnp fit: --max-seconds must be a positive number, got '${str(args, 'max-seconds')}'`);
    // The limit counts from the start of the command (reading, encoding, the zero-shot score too).
    await trainer.run(undefined, { seconds: Math.max(1, maxSeconds - (Date.now() - started) / 1000), fitSchedule: false });
    const kept = exportFitted(out, ckDir, settings, priorWeights);
    const st = loadCheckpoint(ckDir).state;
    let held = 0;
    for (const p of gens.part) if (p === 1) held++;
    ctx.stdout.write(`${JSON.stringify({
      event: 'fit_done', out, step: trainer.step, stoppedEarly: trainer.stoppedEarly(),
      stoppedBy: trainer.stoppedEarly() ? 'patience' : trainer.step >= trainer.train.steps ? 'steps' : 'time', kept,
      zeroShotNll: settings.zeroShotNll, bestNll: st.best?.nll ?? null, bestStep: st.best?.step ?? null,
      heldOut: held, context: gens.train.Nc, seconds: (Date.now() - t0) / 1000,
      cpuSeconds: (process.cpuUsage().user + process.cpuUsage().system) / 1e6, backend: handle.description,
    })}\n`);
    return EXIT_OK;
  } catch (e) {
    throw asCliError(e, cmd);
  } finally {
    trainer?.dispose();
    handle.dispose();
  }
}

export const fitCommand: CommandSpec = {
  name: 'fit',
  summary: 'Adapt a prior model to your observations (minutes on a CPU) and write a model folder.',
  description: `
Fine-tunes a trained model (the prior) on one set of observations: a share of them (--holdout) is
held out, and each step predicts a random part of the others from the rest; training stops when
the held-out predictions stop improving (--patience validations, every --valid-every steps), at
--steps, or after --max-seconds (default 100 s of training). If fitting never beats the prior on the held-out points, the prior's weights are kept.
Coordinates are mapped into the prior's domain for you (one scale for both spatial axes; lon/lat
through a local plane in km), and the map is stored with the model, so 'predict --model OUT' takes
your own units. Observations without a time column (--t) on a space–time prior use the prior at one
time (its time bias dropped, which is exact). --resume continues OUT/checkpoint exactly.
To forecast, --task forecast holds out the last --horizon times instead, and each step predicts
the last --horizon times of a --window of earlier times from the times before them, so the fitted
intervals are those of a forecast, not of filling in between observations.

Example:
  bsa-tnp fit --model models/prior-gp-mixture --context obs.csv --s lon,lat --t date --f pm10 --out fitted/
  bsa-tnp predict --model fitted/ --context obs.csv --targets grid.csv --out map.csv
  bsa-tnp fit --model models/prior-gp-mixture --context week.csv --s lon,lat --t date --f pm10 --task forecast --out fc/`,
  options: {
    model: { type: 'string', short: 'm', value: 'PRIOR', description: 'the prior model folder' },
    context: { type: 'string', short: 'c', value: 'FILE', description: 'observations (CSV or Parquet)' },
    ...SCHEMA_OPTIONS,
    out: { type: 'string', short: 'o', value: 'FOLDER', description: 'fitted model folder to write' },
    steps: { type: 'string', value: 'N', description: 'at most this many steps', default: String(FIT_DEFAULTS.steps) },
    'max-seconds': { type: 'string', value: 'S', description: 'stop training S seconds after the command started (with a checkpoint; --resume continues)', default: '100' },
    holdout: { type: 'string', value: 'FRACTION', description: 'share of the observations held out for early stopping (interpolate)', default: '0.15' },
    task: { type: 'string', value: 'interpolate|forecast', description: 'interpolate: random splits of the observations; forecast: hold out the last --horizon times and train on forecasts of earlier ones', default: 'interpolate' },
    horizon: { type: 'string', value: 'N', description: 'forecast: time steps ahead (held out, and predicted in training)', default: '1' },
    window: { type: 'string', value: 'N', description: 'forecast: time steps per training window, --horizon of them targets (default: half the distinct times, at least horizon + 1)' },
    patience: { type: 'string', value: 'N', description: 'stop after N validations without improvement', default: '3' },
    'valid-every': { type: 'string', value: 'N', description: 'steps between validations (and checkpoints)', default: String(FIT_DEFAULTS.validEvery) },
    'batch-size': { type: 'string', value: 'N', description: 'random context/target splits per step', default: String(FIT_DEFAULTS.batchSize) },
    lr: { type: 'string', value: 'LR', description: 'learning rate (constant)', default: String(FIT_DEFAULTS.lr) },
    seed: { type: 'string', value: 'N', description: 'random seed (held-out points, splits)', default: '46' },
    'max-context': { type: 'string', value: 'N', description: 'at most N context points per training task (validation: 4 N)', default: '512' },
    'max-targets': { type: 'string', value: 'N', description: 'at most N target points per task', default: '256' },
    resume: { type: 'boolean', description: 'continue from OUT/checkpoint' },
    backend: { type: 'string', value: 'cpu|webgpu', description: 'compute backend', default: 'cpu' },
    device: { type: 'string', value: 'cpu|webgpu', description: 'same as --backend' },
    threads: { type: 'string', value: 'N', description: 'CPU threads for matmul (default: all cores, at most 8)' },
  },
  run,
};
