/**
 * `bsa-tnp train`: trains a model (src/train/trainer.ts) and writes a model folder.
 *
 * Layout of OUT: `OUT/checkpoint/` is the training checkpoint (model + optimizer.safetensors +
 * trainer_state.json + best/, swapped atomically as one folder); `OUT/config.json` and
 * `OUT/model.safetensors` are the kept model (train.keep: the last state, or the best validation
 * NLL), each file replaced atomically after every checkpoint. `--resume` continues exactly from
 * OUT/checkpoint.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { availableParallelism } from 'node:os';
import { type CliContext, CliError, type CommandSpec, EXIT_OK, type ParsedArgs, UsageError } from '../args.js';
import { trainProgress } from './train-progress.js';
import { createBackend, parseBackendName } from '../../api/load-node.js';
import { intOption } from './predict.js';
import { ConfigError } from '../../models/config-checks.js';
import {
  DEFAULT_CONFIG, DEFAULT_TRAIN_CONFIG, parseAnyConfig, parseTrainConfig, type AnyModelConfig, type TrainConfig,
} from '../../models/config.js';
import { MODEL_NAMES } from '../../models/registry.js';
import { modelConfigForTask } from '../../train/model-for-task.js';
import { BEST_DIR, CheckpointError, CONFIG_FILE, loadModelFolder, WEIGHTS_FILE } from '../../train/checkpoint.js';
import { writeFileAtomic } from '../../train/atomic.js';
import { encodeSafetensors } from '../../train/safetensors.js';
import { BatchInputError } from '../../train/batch-inputs.js';
import { Trainer, type TimeBudget, type TrainerOptions } from '../../train/trainer.js';
import { WorkerBatchStream } from '../../train/prefetch-node.js';
import { isTableCheckpoint, runTableTrain } from './train-table.js';
import { TABLE_TRAIN_OPTIONS } from './table-options.js';
import { asBsaTnpConfig } from '../../models/registry.js';
import { adaptWeights, InitMismatchError } from '../../train/init-weights.js';
import type { ModelConfig } from '../../models/config.js';
import type { Weights } from '../../train/checkpoint.js';

export const CHECKPOINT_DIR = 'checkpoint';

function str(args: ParsedArgs, name: string): string | undefined {
  const v = args.values[name];
  return typeof v === 'string' ? v : undefined;
}

function readJsonFile(file: string, what: string): unknown {
  if (!fs.existsSync(file)) throw new CliError(`train: ${what} '${file}' does not exist`);
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new CliError(`train: ${what} '${file}' is not valid JSON (${(e as Error).message})`);
  }
}

/**
 * `--config FILE` holds either a model configuration, or `{ "model": {...}, "train": {...} }`
 * (both optional). `--train-config FILE` holds a training configuration.
 */
export function readConfigs(configFile: string | undefined, trainFile: string | undefined): { model: AnyModelConfig; train: TrainConfig; modelGiven: boolean } {
  let modelJson: unknown = {};
  let trainJson: unknown = {};
  if (configFile !== undefined) {
    const j = readJsonFile(configFile, '--config');
    const o = j as Record<string, unknown>;
    const combined = j !== null && typeof j === 'object' && !Array.isArray(j) && Object.keys(o).length > 0 &&
      Object.keys(o).every((k) => k === 'model' || k === 'train');
    if (combined) {
      modelJson = o.model ?? {};
      trainJson = o.train ?? {};
    } else modelJson = j;
  }
  if (trainFile !== undefined) {
    if (configFile !== undefined && trainJson !== null && typeof trainJson === 'object' && Object.keys(trainJson).length > 0) {
      throw new UsageError('bsa-tnp train: the training configuration is given twice (--config has "train" and --train-config is set)');
    }
    trainJson = readJsonFile(trainFile, '--train-config');
  }
  const where = configFile !== undefined ? path.basename(configFile) : 'config';
  const modelGiven = modelJson !== null && typeof modelJson === 'object' && Object.keys(modelJson).length > 0;
  return { model: parseAnyConfig(modelJson, `${where}:model`), train: parseTrainConfig(trainJson, `${where}:train`), modelGiven };
}

/** A positive number option, or undefined when absent (train, experiment). */
export function num(args: ParsedArgs, name: string, cmd = 'train'): number | undefined {
  const v = str(args, name);
  if (v === undefined) return undefined;
  const x = Number(v);
  if (v.trim() === '' || !Number.isFinite(x) || x <= 0) throw new UsageError(`bsa-tnp ${cmd}: --${name} must be a positive number, got '${v}'`);
  return x;
}

/** `--time-budget S` (the schedule fitted to the steps that fit in S) or `--stop-after S` (schedule kept); synthetic and table training. */
export function budgetOption(args: ParsedArgs): TimeBudget | null {
  const timeBudget = num(args, 'time-budget');
  const stopAfter = num(args, 'stop-after');
  if (timeBudget !== undefined && stopAfter !== undefined) throw new UsageError('bsa-tnp train: give --time-budget or --stop-after, not both');
  return timeBudget !== undefined ? { seconds: timeBudget } : stopAfter !== undefined ? { seconds: stopAfter, fitSchedule: false } : null;
}

/**
 * `--data-workers N|auto` (train and eval): threads generating batches ahead. `auto`: all cores but
 * one on the GPU backend, where a batch takes longer to generate than to train on; none on the CPU
 * backend, whose own threads already use the cores.
 */
export function dataWorkersOption(args: ParsedArgs, cmd: string, backend: string): number {
  const v = str(args, 'data-workers');
  if (v === undefined || v === 'auto') return backend === 'webgpu' ? Math.max(1, availableParallelism() - 1) : 0;
  return intOption(args, 'data-workers', cmd, 0, 0);
}

/** Writes OUT/config.json + OUT/model.safetensors from a checkpoint (the kept model). */
export function exportKeptModel(out: string, checkpoint: string, keep: 'last' | 'best'): string {
  const best = path.join(checkpoint, BEST_DIR);
  const src = keep === 'best' && fs.existsSync(path.join(best, WEIGHTS_FILE)) ? best : checkpoint;
  const { config, weights } = loadModelFolder(src);
  writeFileAtomic(path.join(out, WEIGHTS_FILE), encodeSafetensors(weights, { library: 'bsa-tnp', format: 'pt' }));
  writeFileAtomic(path.join(out, CONFIG_FILE), `${JSON.stringify(config, null, 2)}\n`);
  return src;
}

/**
 * `--init MODEL` on a synthetic task: continue training a model folder's weights under a new
 * schedule (a warm restart). The architecture is the folder's; a model given with --config or
 * --model must be the same one.
 */
function initFrom(dir: string, given: AnyModelConfig | null): { model: ModelConfig; weights: Weights; steps: number } {
  const prior = loadModelFolder(dir);
  let model = asBsaTnpConfig(prior.config.model, `--init '${dir}': config.json: model`);
  if (given !== null) {
    const next = asBsaTnpConfig(given, 'train: --config model');
    try {
      adaptWeights(model, prior.weights, [], next, []);
      // The one output setting that may differ (no parameters): the given configuration's wins.
      model = { ...model, output: next.output };
    } catch (e) {
      if (e instanceof InitMismatchError) throw new UsageError(`bsa-tnp train: ${e.message}`);
      throw e;
    }
  }
  // The folder's own schedule plus whatever it had started from: the weights' steps in all.
  const t = prior.config.training;
  return { model, weights: prior.weights, steps: t === null ? 0 : t.steps + (t.initSteps ?? 0) };
}

async function run(args: ParsedArgs, ctx: CliContext): Promise<number> {
  const cmd = 'train';
  const outArg = str(args, 'out');
  if (outArg === undefined) throw new UsageError('bsa-tnp train: missing --out FOLDER');
  if (str(args, 'backend') !== undefined && str(args, 'device') !== undefined) throw new UsageError('bsa-tnp train: give --backend or --device, not both');
  const out = path.resolve(ctx.cwd, outArg);
  const ckDir = path.join(out, CHECKPOINT_DIR);
  const resume = args.values.resume === true;
  if (str(args, 'data') !== undefined || (resume && isTableCheckpoint(ckDir))) {
    return runTableTrain(args, ctx);
  }
  for (const o of Object.keys(TABLE_TRAIN_OPTIONS)) {
    if (o !== 'init' && args.values[o] !== undefined) throw new UsageError(`bsa-tnp train: --${o} needs --data FILE (it describes a table)`);
  }
  const steps = str(args, 'steps') === undefined ? undefined : intOption(args, 'steps', cmd, 1);
  const lossEvery = intOption(args, 'loss-every', cmd, 50);
  const threads = str(args, 'threads') === undefined ? undefined : intOption(args, 'threads', cmd, 1);
  const backendName = parseBackendName(args.values.backend ?? args.values.device, cmd);
  const abs = (p: string | undefined) => (p === undefined ? undefined : path.resolve(ctx.cwd, p));

  let fresh: { model: AnyModelConfig; train: TrainConfig; init?: Weights } | null = null;
  if (resume) {
    for (const o of ['config', 'train-config', 'model', 'task', 'batch-size', 'lr', 'seed', 'init']) {
      if (args.values[o] !== undefined) throw new UsageError(`bsa-tnp train: --${o} cannot change a run being resumed (the checkpoint holds its configuration); only --steps can`);
    }
    if (!fs.existsSync(ckDir) && !fs.existsSync(`${ckDir}.old`)) throw new CliError(`train: --resume: no checkpoint at '${ckDir}'`);
  } else {
    if (fs.existsSync(ckDir)) throw new CliError(`train: '${ckDir}' already holds a checkpoint; pass --resume to continue it or choose another --out`);
    const cfg = readConfigs(abs(str(args, 'config')), abs(str(args, 'train-config')));
    let train: TrainConfig = cfg.train;
    const task = str(args, 'task');
    const over: Record<string, unknown> = {};
    if (task !== undefined) over.task = { name: task, options: task === train.task.name ? train.task.options : {} };
    if (steps !== undefined) over.steps = steps;
    const bs = str(args, 'batch-size') === undefined ? undefined : intOption(args, 'batch-size', cmd, 1);
    if (bs !== undefined) over.batchSize = bs;
    const lr = num(args, 'lr');
    if (lr !== undefined) over.lr = lr;
    const seed = str(args, 'seed') === undefined ? undefined : intOption(args, 'seed', cmd, 0, 0);
    if (seed !== undefined) over.seed = seed;
    if (Object.keys(over).length > 0) train = parseTrainConfig({ ...train, ...over }, 'train');
    const name = str(args, 'model');
    if (name !== undefined && cfg.modelGiven) throw new UsageError('bsa-tnp train: give --model NAME or a model configuration in --config, not both');
    if (name !== undefined && !(MODEL_NAMES as readonly string[]).includes(name)) {
      throw new UsageError(`bsa-tnp train: unknown --model '${name}'; expected one of ${MODEL_NAMES.join(', ')}`);
    }
    const model = name === undefined ? cfg.model : modelConfigForTask(name, train.task, train.batchSize);
    const initArg = str(args, 'init');
    if (initArg === undefined) fresh = { model, train };
    else {
      const init = initFrom(abs(initArg)!, cfg.modelGiven || name !== undefined ? model : null);
      fresh = { model: init.model, train: init.steps > 0 ? { ...train, initSteps: init.steps } : train, init: init.weights };
    }
  }

  const replay = args.values['no-replay'] !== true;
  const budget = budgetOption(args);
  const handle = await createBackend(backendName, cmd, threads);
  const dataWorkers = dataWorkersOption(args, cmd, handle.backend.kind);
  const batchSource: TrainerOptions['batchSource'] = dataWorkers > 0
    ? (task, batchSize, start) => new WorkerBatchStream(task, batchSize, start, { workers: dataWorkers })
    : undefined;
  const sink = ctx.stderr;
  // Refresh the kept model in OUT after every checkpoint.
  const progress = trainProgress(sink, out, 'train', () => exportKeptModel(out, ckDir, progress.keep));
  const onEvent = progress.onEvent;
  let trainer: Trainer | null = null;
  try {
    trainer = resume
      ? Trainer.resume(ckDir, handle.backend, { onEvent, lossEvery, out: ckDir, batchSource, replay, ...(steps !== undefined ? { steps } : {}) })
      : Trainer.create(fresh!.model, fresh!.train, handle.backend, { onEvent, lossEvery, out: ckDir, batchSource, replay, ...(fresh!.init ? { init: fresh!.init } : {}) });
    progress.keep = trainer.train.keep;
    const keep = progress.keep;
    await trainer.run(undefined, budget);
    const src = exportKeptModel(out, ckDir, keep);
    ctx.stdout.write(`${JSON.stringify({
      event: 'train_done', step: trainer.step, out, kept: keep, keptFrom: path.relative(out, src) || '.',
      best: bestOf(ckDir),
    })}\n`);
    return EXIT_OK;
  } catch (e) {
    if (e instanceof CheckpointError || e instanceof BatchInputError || e instanceof ConfigError) throw new CliError(`${cmd}: ${e.message}`);
    throw e;
  } finally {
    trainer?.dispose();
    handle.dispose();
  }
}

function bestOf(ckDir: string): unknown {
  try {
    return (JSON.parse(fs.readFileSync(path.join(ckDir, 'trainer_state.json'), 'utf8')) as { best: unknown }).best;
  } catch {
    return null;
  }
}

export const trainCommand: CommandSpec = {
  name: 'train',
  summary: 'Train a model (BSA-TNP or a baseline) and write a model folder (config.json + model.safetensors).',
  description: `
Trains on a synthetic task (experiments.md) with the training recipe of experiments.md §1, writing
checkpoints atomically into OUT/checkpoint and the final model into OUT. Model and training
configurations are JSON files; absent fields take the defaults (the paper's 2-D GP BSA-TNP).
--config takes a model configuration, or {"model": {...}, "train": {...}} with both; a model
configuration's "kind" (tnp-d, te-tnp, convcnp; absent = bsa-tnp) picks a baseline of baselines.md.
--model NAME instead takes a named model (BSA-TNP, its variants or a baseline) sized for --task.
--resume continues OUT/checkpoint exactly where it stopped (same batches, same updates).
--stop-after S ends the call after S seconds with a checkpoint and the schedule unchanged, so a
long run can be trained in chunks (--resume --stop-after S again); --time-budget S instead fits
the schedule to the steps that fit in S seconds.

With --data FILE it trains on your own table (CSV or Parquet) instead: name the columns with
--s (locations), --t (time), --x (covariates), --f (values); --task interpolate (fill in held-out
points) or forecast (the last --horizon time steps of each --window); --split time:0.8,0.1 or
space:0.8,0.1 holds out the last times or whole stations for validation and test. Normalisation is
learned from the training part only and stored with the model; the best validation state is kept.

Examples:
  bsa-tnp train --out runs/gp2d --steps 1000 --seed 46
  bsa-tnp train --data pm10.csv --s lon,lat --t date --f pm10 --transform pm10=log --task forecast --horizon 1 --size small --steps 500 --out runs/pm10`,
  options: {
    out: { type: 'string', short: 'o', value: 'FOLDER', description: 'model folder to write' },
    config: { type: 'string', value: 'FILE', description: 'model configuration (JSON), or {"model": …, "train": …}' },
    'train-config': { type: 'string', value: 'FILE', description: 'training configuration (JSON)' },
    model: { type: 'string', value: 'NAME', description: `a named model with the reference sizes for the task: ${MODEL_NAMES.join(', ')} (default: the configuration's, else bsa-tnp)` },
    task: { type: 'string', value: 'NAME', description: 'synthetic task', default: DEFAULT_TRAIN_CONFIG.task.name },
    steps: { type: 'string', value: 'N', description: 'training steps (overrides the training configuration)' },
    'batch-size': { type: 'string', value: 'N', description: 'tasks per batch' },
    lr: { type: 'string', value: 'LR', description: 'peak learning rate' },
    seed: { type: 'string', value: 'N', description: 'random seed' },
    resume: { type: 'boolean', description: 'continue from OUT/checkpoint if present' },
    backend: { type: 'string', value: 'cpu|webgpu', description: 'compute backend', default: 'cpu' },
    device: { type: 'string', value: 'cpu|webgpu', description: 'compute backend (same as --backend)' },
    threads: { type: 'string', value: 'N', description: 'CPU threads for matmul (default: all cores, at most 8)' },
    'loss-every': { type: 'string', value: 'N', description: 'steps between loss readbacks', default: '50' },
    'time-budget': { type: 'string', value: 'SECONDS', description: 'stop after this wall-clock time (data included); the lr schedule is fitted to the steps that fit' },
    'no-replay': { type: 'boolean', description: 'WebGPU: run every training step through autodiff instead of replaying the recorded first step (same results, more host time)' },
    'stop-after': { type: 'string', value: 'SECONDS', description: 'stop after this wall-clock time with a checkpoint, keeping the schedule (continue with --resume)' },
    'data-workers': { type: 'string', value: 'N|auto', description: 'threads generating batches ahead (auto: cores − 1 on webgpu, 0 on cpu; same batches either way)', default: 'auto' },
    ...TABLE_TRAIN_OPTIONS,
  },
  run,
};

/** For tests: the defaults a bare `train` uses. */
export const TRAIN_DEFAULTS = { model: DEFAULT_CONFIG, train: DEFAULT_TRAIN_CONFIG } as const;
