/**
 * `bsa-tnp eval`: scores a model folder on fresh synthetic tasks (experiments.md §1 metrics,
 * averaged over batches) and, on GP tasks, the exact GP posterior on the same batches.
 *
 * The task defaults to the one the model was trained on (config.json `training.task`, with its
 * options); `gp2d-shifted` / `gp2d-scaled` apply the paper's shift (+10) or 2× scale to it. The
 * test stream is Rng.fromSeed(seed) split once for the test key: a stream the trainer never uses.
 */
import * as path from 'node:path';
import { type CliContext, CliError, type CommandSpec, EXIT_OK, type ParsedArgs, UsageError } from '../args.js';
import { Progress } from '../../api/progress.js';
import { createBackend, explainBackendError, parseBackendName, readModelFolder } from '../../api/load-node.js';
import { intOption } from './predict.js';
import * as E from '../../engine/ops.js';
import { Rng } from '../../engine/random.js';
import { ConfigError } from '../../models/config-checks.js';
import { buildModel } from '../../models/registry.js';
import { DEFAULT_TRAIN_CONFIG, type TaskConfig } from '../../models/config.js';
import { toParams } from '../../nn/params.js';
import { BatchInputError } from '../../train/batch-inputs.js';
import { resolveTask, TASK_NAMES } from '../../train/tasks.js';
import { evaluate } from '../../train/trainer.js';
import { WorkerBatchStream } from '../../train/prefetch-node.js';
import { dataWorkersOption } from './train.js';
import { runTableEval } from './eval-table.js';

/** Seed of the default test stream (distinct from every training seed's streams by construction). */
export const EVAL_SEED = 88;

function str(args: ParsedArgs, name: string): string | undefined {
  const v = args.values[name];
  return typeof v === 'string' ? v : undefined;
}

/** The evaluation task: `--task` on top of the training task's options (see the file comment). */
export function evalTask(trained: TaskConfig | null, name: string | undefined, optionsJson: string | undefined): TaskConfig {
  const base = trained ?? DEFAULT_TRAIN_CONFIG.task;
  // Variants inherit the trained task's options: gp2d-shifted/-scaled, sir-shifted/-scaled, so3-rot-*.
  const family = (n: string) => n.replace(/-(shifted|scaled)$/, '').replace(/^so3-rot-.*$/, 'so3');
  let options: Record<string, unknown> = name === undefined || family(name) === family(base.name) ? { ...base.options } : {};
  if (optionsJson !== undefined) {
    let o: unknown;
    try {
      o = JSON.parse(optionsJson);
    } catch (e) {
      throw new UsageError(`bsa-tnp eval: --task-options is not valid JSON (${(e as Error).message})`);
    }
    if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new UsageError(`bsa-tnp eval: --task-options must be a JSON object, got ${optionsJson}`);
    options = { ...options, ...(o as Record<string, unknown>) };
  }
  return { name: name ?? base.name, options };
}

async function run(args: ParsedArgs, ctx: CliContext): Promise<number> {
  const cmd = 'eval';
  const modelArg = str(args, 'model') ?? args.positionals[0];
  if (str(args, 'model') !== undefined && args.positionals.length > 0) throw new UsageError('bsa-tnp eval: give the model folder once (--model DIR or a positional argument), got both');
  if (modelArg === undefined) throw new UsageError('bsa-tnp eval: missing the model folder (--model DIR)');
  if (str(args, 'backend') !== undefined && str(args, 'device') !== undefined) throw new UsageError('bsa-tnp eval: give --backend or --device, not both');
  if (str(args, 'data') !== undefined) return runTableEval(args, ctx, path.resolve(ctx.cwd, modelArg), intOption(args, 'seed', cmd, EVAL_SEED, 0));
  const task = str(args, 'task');
  if (task !== undefined && !(TASK_NAMES as readonly string[]).includes(task)) {
    throw new UsageError(`bsa-tnp eval: unknown --task '${task}'; expected one of ${TASK_NAMES.join(', ')}`);
  }
  const folder = path.resolve(ctx.cwd, modelArg);
  const loaded = readModelFolder(folder, cmd);
  const trained = loaded.config.training;
  const batches = intOption(args, 'batches', cmd, trained?.testBatches ?? 100);
  const batchSize = intOption(args, 'batch-size', cmd, trained?.batchSize ?? DEFAULT_TRAIN_CONFIG.batchSize);
  const seed = intOption(args, 'seed', cmd, EVAL_SEED, 0);
  const taskConfig = evalTask(trained?.task ?? null, task, str(args, 'task-options'));
  let generator;
  try {
    generator = resolveTask(taskConfig, batchSize, 'task').groups;
  } catch (e) {
    if (e instanceof ConfigError) throw new CliError(`${cmd}: ${e.message}`);
    throw e;
  }
  const handle = await createBackend(parseBackendName(args.values.backend ?? args.values.device, cmd), cmd);
  const model = buildModel(loaded.config.model);
  const specs = model.specs(Rng.fromSeed(0));
  const tensors = specs.map((s) => E.tensor(loaded.weights.get(s.name)!.data, s.shape, handle.backend));
  const progress = new Progress({ total: batches, sink: ctx.stderr, label: 'eval', unit: 'batch' });
  let source: WorkerBatchStream | undefined;
  try {
    const rng = Rng.fromSeed(seed).split();
    const t0 = Date.now();
    // Worker threads generate the batches (and their GP oracle) ahead: the same batches.
    const workers = dataWorkersOption(args, cmd, handle.backend.kind);
    source = workers > 0 ? new WorkerBatchStream(taskConfig, batchSize, rng.state(), { workers, oracle: true, depth: Math.min(batches, 2 * workers) }) : undefined;
    const m = await evaluate(model, toParams(specs, tensors), handle.backend, generator, rng, batches, (d, sofar) => progress.update(d,
      sofar.oracleNll === null ? { nll: +sofar.nll.toFixed(4) }
        : { nll: +sofar.nll.toFixed(4), nllMinusOracle: +(sofar.nll - sofar.oracleNll).toFixed(4) }), source);
    progress.finish();
    const result = {
      model: folder, task: taskConfig.name, taskOptions: taskConfig.options, batches, batchSize, seed,
      nll: m.nll, rmse: m.rmse, mae: m.mae, coverage: m.coverage, oracleNll: m.oracleNll,
      nllMinusOracle: m.oracleNll === null ? null : m.nll - m.oracleNll,
      seconds: (Date.now() - t0) / 1000, backend: handle.description,
    };
    ctx.stdout.write(`${JSON.stringify(result, null, args.values.json === true ? 0 : 2)}\n`);
    return EXIT_OK;
  } catch (e) {
    if (e instanceof BatchInputError) throw new CliError(`${cmd}: the task does not fit the model: ${e.message}`);
    throw explainBackendError(e, handle, cmd);
  } finally {
    source?.dispose();
    for (const t of tensors) t.dispose();
    handle.dispose();
  }
}

export const evalCommand: CommandSpec = {
  name: 'eval',
  summary: 'Evaluate a model folder on fresh tasks: NLL, RMSE, MAE, 95% coverage.',
  positionals: { names: ['<model-folder>'], min: 0, max: 1 },
  description: `
Draws test batches from the task generator (a PRNG stream separate from training) and reports the
metrics of experiments.md §1 averaged over batches, as JSON on stdout; on GP tasks also the NLL of
the exact GP posterior on the same batches (oracleNll). The task defaults to the training task of
the model (config.json "training"); gp2d-shifted / gp2d-scaled move it to [8, 12]² or double it.

With --data FILE (a model trained with 'train --data') it scores the test part of the file's
split, recomputed from the settings and seed stored in the model folder.

Example:
  bsa-tnp eval runs/gp2d --task gp2d --batches 100
  bsa-tnp eval --model runs/pm10 --data pm10.csv
  bsa-tnp eval --model models/demo-gp2d --task gp2d-shifted --batches 50`,
  options: {
    model: { type: 'string', value: 'DIR', description: 'model folder (or give it as the positional argument)' },
    task: { type: 'string', value: 'NAME', description: `task to evaluate on (${TASK_NAMES.join(', ')}; default: the training task)` },
    'task-options': { type: 'string', value: 'JSON', description: 'task options, e.g. \'{"ncMax":512}\'' },
    batches: { type: 'string', value: 'N', description: 'number of test batches (default: training testBatches)' },
    'batch-size': { type: 'string', value: 'N', description: 'tasks per batch (default: the training batch size)' },
    seed: { type: 'string', value: 'N', description: 'random seed of the test stream', default: String(EVAL_SEED) },
    backend: { type: 'string', value: 'cpu|webgpu', description: 'compute backend', default: 'cpu' },
    device: { type: 'string', value: 'cpu|webgpu', description: 'compute backend (same as --backend)' },
    json: { type: 'boolean', description: 'print the metrics as one JSON line' },
    'data-workers': { type: 'string', value: 'N|auto', description: 'threads generating batches and their GP oracle ahead (auto: cores − 1 on webgpu, 0 on cpu)', default: 'auto' },
    data: { type: 'string', value: 'FILE', description: 'a model trained with train --data: its metrics on the TEST part of this file (the stored split)' },
  },
  run,
};
