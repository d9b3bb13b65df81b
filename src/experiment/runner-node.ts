/**
 * `bsa-tnp experiment NAME`: trains and evaluates every model × seed cell of an experiment
 * (recipes.ts) and writes `results.json` and `results.md` (table.ts) into the output folder.
 *
 * Layout of OUT: `OUT/<trainGroup>/<model>/seed-<S>/checkpoint/` is a cell's training checkpoint
 * (experiments with the same training share it: `sir-sizes` evaluates the models `sir` trained),
 * `…/seed-<S>/eval-<experiment>.json` its evaluation. A cell whose evaluation file matches the
 * request is skipped; a cell with a checkpoint short of the requested steps resumes exactly where
 * it stopped (the trainer's resume); `OUT/<experiment>/results.json` and `results.md` are rewritten
 * (atomically) after every cell, so an interrupted run still leaves a table of what is done.
 * `stopAfter` (seconds) bounds one call: the cell training at the deadline stops there with a
 * checkpoint (schedule unchanged) and later cells are not started, so a long budget can be trained
 * across calls of limited length (each resumes where the last stopped, losing nothing).
 *
 * Evaluation uses the test stream of `bsa-tnp eval` (seed 88, split once), so every model and seed
 * sees the same test batches; they are generated once per variant and reused across cells (with
 * the exact GP posterior's NLL where the task is a GP), on a worker thread from the start of the run
 * (TestBatchPrefetch), so the exact posterior of the large variants is ready when the first cell is
 * evaluated instead of delaying it. Timing variants (the SIR size sweep)
 * generate their batches inside the timed loop, as the reference does, after `warmup` batches.
 * An out-of-memory error in a variant is recorded for that model and size, not raised. ConvCNP is
 * evaluated on a copy re-gridded onto each variant's domain (baselines.md §3; registry `regridFor`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Backend } from '../engine/backend.js';
import * as E from '../engine/ops.js';
import { Rng } from '../engine/random.js';
import type { Batch } from '../data/batch.js';
import { BatchStream } from '../data/stream.js';
import { gpOracle } from '../data/tasks.js';
import { parseTrainConfig, type AnyModelConfig, type TaskConfig, type TrainConfig } from '../models/config.js';
import { buildModel, regridFor } from '../models/registry.js';
import { toParams } from '../nn/params.js';
import { writeFileAtomic } from '../train/atomic.js';
import { BEST_DIR, loadModelFolder, TRAINER_STATE_FILE, WEIGHTS_FILE } from '../train/checkpoint.js';
import { WorkerBatchStream } from '../train/prefetch-node.js';
import { resolveTask } from '../train/tasks.js';
import { evaluate, Trainer, type BatchSource, type TrainEvent, type TrainerOptions } from '../train/trainer.js';
import { type EvalVariant, type Experiment, modelConfigForTask, PAPER_SEEDS } from './recipes.js';
import { type CellResult, markdownTables, summarise, type VariantResult } from './table.js';

/** Seed of the test stream (the same as `bsa-tnp eval`'s default). */
export const EXPERIMENT_EVAL_SEED = 88;

export interface ExperimentOptions {
  /** Output folder (cells and results). */
  out: string;
  backend: Backend;
  /** Training steps per cell (default: the recipe's, the paper's protocol). */
  steps?: number;
  /** Wall-clock seconds for this call (see the file comment); default: no limit. */
  stopAfter?: number;
  /** Peak learning rate (default: the recipe's); a reduced budget may train faster with a larger one. */
  lr?: number;
  /** Seeds (default: the paper's five). */
  seeds?: readonly number[];
  /** Models (default: the experiment's). */
  models?: readonly string[];
  /** Test batches per variant (default: the paper's count per variant). */
  batches?: number;
  /** Evaluation variants by label (default: all). */
  variants?: readonly string[];
  /**
   * Task options merged into the training task's and every variant's options (these win), e.g.
   * smaller context and test counts for a quick run: {"ncMin": 8, "ncMax": 16, "nt": 16}.
   */
  taskOptions?: Readonly<Record<string, unknown>>;
  /** Worker threads generating training batches (0: on this thread). */
  dataWorkers?: number;
  onEvent?: (e: ExperimentEvent) => void;
}

export type ExperimentEvent =
  | { type: 'cell'; model: string; seed: number; phase: 'skip' | 'train' | 'resume' | 'evaluate' | 'done' | 'error' | 'stopped'; detail?: string }
  | { type: 'train'; model: string; seed: number; event: TrainEvent }
  | { type: 'variant'; model: string; seed: number; variant: string; result: VariantResult };

export interface ExperimentResults {
  experiment: string;
  title: string;
  backend: string;
  /** True when `stopAfter` ended the call before every cell was done (run the command again). */
  stopped?: boolean;
  recipe: TrainConfig | null;
  seeds: number[];
  models: string[];
  variants: string[];
  cells: CellResult[];
  summary: ReturnType<typeof summarise>;
}

/** The training configuration of a cell: the recipe, the flags, the seed. */
export function cellTrainConfig(exp: Experiment, opts: Pick<ExperimentOptions, 'steps' | 'batches' | 'lr'>, seed: number): TrainConfig {
  const r = exp.recipe;
  const steps = opts.steps ?? r.steps;
  const validBatches = opts.batches !== undefined ? Math.min(r.validBatches, opts.batches) : r.validBatches;
  return parseTrainConfig({
    steps, batchSize: r.batchSize, lr: opts.lr ?? r.lr, schedule: r.schedule, alpha: r.alpha,
    // Validation keeps its cadence: a run shorter than validEvery is evaluated only at the end.
    validEvery: r.validEvery, validBatches, testBatches: 0, keep: r.keep,
    checkpointEvery: Math.min(1000, steps), seed, task: exp.task,
  }, `experiment ${exp.name}`);
}

/** Is this error the machine running out of memory (host heap, WebAssembly memory, GPU buffers)? */
export function isOutOfMemory(e: unknown): boolean {
  const msg = e instanceof Error ? `${e.name} ${e.message}` : String(e);
  return /out of memory|Array buffer allocation failed|Invalid typed array length|WebAssembly\.Memory|could not allocate|allocation failed|OOM|maxBufferSize|exceeds the (?:device|adapter)/i.test(msg);
}

function readJson<T>(file: string): T | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return null;
  }
}

/** A replaying source over a fixed list of batches (the cached test batches of a variant). */
class ListSource implements BatchSource {
  private i = 0;
  constructor(private readonly list: readonly Batch[]) {}
  next(): Batch {
    return this.list[this.i++]!;
  }
  state(): never {
    throw new Error('ListSource: no state (evaluation only)');
  }
}

interface EvalPlan {
  variant: EvalVariant;
  batches: number;
  batchSize: number;
  key: string;
}

/** Runs (or completes) an experiment; see the file comment. */
export async function runExperiment(exp0: Experiment, opts: ExperimentOptions): Promise<ExperimentResults> {
  const over = opts.taskOptions ?? {};
  const withOptions = (t: TaskConfig): TaskConfig => ({ name: t.name, options: { ...t.options, ...over } });
  const exp: Experiment = { ...exp0, task: withOptions(exp0.task), variants: exp0.variants.map((v) => ({ ...v, task: withOptions(v.task) })) };
  const seeds = [...(opts.seeds ?? PAPER_SEEDS)];
  const models = [...(opts.models ?? exp.models)];
  const variants = exp.variants.filter((v) => opts.variants === undefined || opts.variants.includes(v.label));
  if (opts.variants) {
    for (const l of opts.variants) {
      if (!exp.variants.some((v) => v.label === l)) throw new Error(`experiment ${exp.name}: unknown variant '${l}'; expected one of ${exp.variants.map((v) => v.label).join(', ')}`);
    }
  }
  // Fail fast on a model the registry cannot configure for this task.
  const shape = resolveTask(exp.task, exp.recipe.batchSize, `experiment ${exp.name}.task`).shape;
  const configs = new Map<string, AnyModelConfig>(models.map((m) => [m, modelConfigForTask(m, shape)]));
  const plans: EvalPlan[] = variants.map((v) => {
    const batches = opts.batches ?? v.batches;
    const batchSize = v.batchSize ?? exp.recipe.batchSize;
    return { variant: v, batches, batchSize, key: JSON.stringify({ task: v.task, batches, batchSize, warmup: v.warmup ?? 0, seed: EXPERIMENT_EVAL_SEED }) };
  });
  const emit = opts.onEvent ?? (() => {});
  const deadline = opts.stopAfter !== undefined ? Date.now() + opts.stopAfter * 1000 : null;
  let stopped = false;
  const resultsDir = path.join(opts.out, exp.name);
  fs.mkdirSync(resultsDir, { recursive: true });
  const cache = new Map<string, Batch[]>();
  // Every cached variant's test batches and exact-posterior NLLs are generated on a worker thread
  // from the start, one variant after another, while the first cells train: the same batches the
  // main thread would make (WorkerBatchStream), off the critical path.
  const prefetch = new TestBatchPrefetch(plans);
  const cells: CellResult[] = [];
  const categorical = shape.output.kind === 'categorical';

  const write = () => {
    const summary = summarise(cells, models, plans.map((p) => p.variant.label));
    const results: ExperimentResults = {
      experiment: exp.name, title: exp.title, backend: opts.backend.description, ...(stopped ? { stopped } : {}),
      recipe: cellTrainConfig(exp, opts, seeds[0] ?? 0), seeds, models, variants: plans.map((p) => p.variant.label), cells, summary,
    };
    writeFileAtomic(path.join(resultsDir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
    const steps = opts.steps ?? exp.recipe.steps;
    writeFileAtomic(path.join(resultsDir, 'results.md'), markdownTables({
      title: exp.title, models, variants: results.variants, seeds, summary, timing: exp.timing === true, categorical,
      notes: [
        `Training: ${steps} steps, batch ${exp.recipe.batchSize}, lr ${opts.lr ?? exp.recipe.lr}${opts.lr !== undefined && opts.lr !== exp.recipe.lr ? ` (the recipe's is ${exp.recipe.lr})` : ''} (${exp.recipe.schedule}, α ${exp.recipe.alpha}), task ${exp.task.name}; kept state: ${exp.recipe.keep}.`,
        `Evaluation: ${plans.map((p) => `${p.variant.label} = ${p.variant.task.name}, ${p.batches} batch${p.batches === 1 ? '' : 'es'} of ${p.batchSize}${p.variant.warmup ? ` after ${p.variant.warmup} warm-up` : ''}`).join('; ')}; test stream seed ${EXPERIMENT_EVAL_SEED}.`,
        `Backend: ${opts.backend.description}. Runtime = wall-clock seconds of training; s / test batch = the model's evaluation time per batch${exp.timing ? ' (data generation included, as in the reference)' : ' (test batches are generated once, outside the timing)'}.`,
      ],
    }));
    return results;
  };

  try {
    await runCells();
  } finally {
    prefetch.dispose();
  }
  return write();

  async function runCells(): Promise<void> {
    for (const model of models) {
      for (const seed of seeds) {
        const cellDir = path.join(opts.out, exp.trainGroup, model, `seed-${seed}`);
        const evalFile = path.join(cellDir, `eval-${exp.name}.json`);
        // The recipe's lr is left out, so cells written before --lr existed still count as done.
        const want = { plans: plans.map((p) => p.key), steps: opts.steps ?? exp.recipe.steps, task: exp.task,
          ...(opts.lr !== undefined && opts.lr !== exp.recipe.lr ? { lr: opts.lr } : {}) };
        const prior = readJson<{ want: typeof want; cell: CellResult }>(evalFile);
        if (prior && JSON.stringify(prior.want) === JSON.stringify(want) && prior.cell.status === 'ok') {
          emit({ type: 'cell', model, seed, phase: 'skip' });
          cells.push(prior.cell);
          write();
          continue;
        }
        if (deadline !== null && Date.now() >= deadline) {
          stopped = true;
          emit({ type: 'cell', model, seed, phase: 'stopped', detail: 'not started: --stop-after reached' });
          continue; // done cells after it are still skipped into the table
        }
        let cell: CellResult | null;
        try {
          cell = await runCell(exp, opts, model, seed, configs.get(model)!, cellDir, plans, cache, emit, prefetch, deadline);
        } catch (e) {
          // Out of memory mid-step can leave the failed step's buffers allocated in this process, so
          // later cells may fail too: failed cells are not recorded as done, and a rerun retries them.
          const msg = (e instanceof Error ? e.message : String(e)) + (isOutOfMemory(e)
            ? ' (out of memory while training; run the same command again to retry the failed cells in a fresh process, done cells are skipped)' : '');
          emit({ type: 'cell', model, seed, phase: 'error', detail: msg });
          cell = { model, seed, status: 'error', error: msg, parameters: null, steps: null, trainSeconds: null, variants: {} };
        }
        if (cell === null) {
          stopped = true;
          continue;
        }
        cells.push(cell);
        // Done cells are kept (out-of-memory is a result); a cell with another error is retried next time.
        if (cell.status === 'ok' && Object.values(cell.variants).every((v) => v.status !== 'error')) writeFileAtomic(evalFile, `${JSON.stringify({ want, cell }, null, 2)}\n`);
        write();
      }
    }
  }
}

/**
 * Test batches of the cached (non-timing) plans, generated on worker threads with their oracle
 * NLLs; `get` resolves to a plan's list, or null when the worker could not make it
 * (the caller then generates on the main thread, as before).
 */
class TestBatchPrefetch {
  private readonly lists = new Map<string, Promise<Batch[] | null>>();
  private readonly streams = new Set<WorkerBatchStream>();
  private disposed = false;
  private started = false;

  constructor(private readonly plans: readonly EvalPlan[]) {}

  /** Starts the worker (idempotent): called when a cell is about to train or evaluate. */
  start(): void {
    if (this.started || this.disposed) return;
    this.started = true;
    // All variants at once, a variant's batches on up to two threads: whenever evaluation has to
    // wait for them, every core is generating (the largest, the scaled GP, takes ~15 s a batch).
    for (const plan of this.plans) {
      if ((plan.variant.warmup ?? 0) > 0 || this.lists.has(plan.key)) continue;
      this.lists.set(plan.key, this.generate(plan).catch(() => null));
    }
  }

  private async generate(plan: EvalPlan): Promise<Batch[] | null> {
    if (this.disposed) return null;
    const rng = Rng.fromSeed(EXPERIMENT_EVAL_SEED).split();
    const workers = Math.min(plan.batches, 2);
    const stream = new WorkerBatchStream(plan.variant.task, plan.batchSize, rng.state(), { workers, depth: Math.min(plan.batches, 4), oracle: true });
    this.streams.add(stream);
    try {
      const out: Batch[] = [];
      for (let i = 0; i < plan.batches; i++) {
        await stream.ready();
        out.push(stream.next());
      }
      return out;
    } finally {
      stream.dispose();
      this.streams.delete(stream);
    }
  }

  get(key: string): Promise<Batch[] | null> {
    return this.lists.get(key) ?? Promise.resolve(null);
  }

  dispose(): void {
    this.disposed = true;
    for (const s of this.streams) s.dispose();
    this.streams.clear();
  }
}

async function runCell(exp: Experiment, opts: ExperimentOptions, model: string, seed: number, config: AnyModelConfig, cellDir: string,
  plans: readonly EvalPlan[], cache: Map<string, Batch[]>, emit: (e: ExperimentEvent) => void, prefetch: TestBatchPrefetch,
  deadline: number | null = null): Promise<CellResult | null> {
  prefetch.start();
  const ck = path.join(cellDir, 'checkpoint');
  const train = cellTrainConfig(exp, opts, seed);
  const backend = opts.backend;
  const workers = opts.dataWorkers ?? 0;
  const batchSource: TrainerOptions['batchSource'] = workers > 0
    ? (task, batchSize, start) => new WorkerBatchStream(task, batchSize, start, { workers })
    : undefined;
  const onEvent = (event: TrainEvent) => emit({ type: 'train', model, seed, event });
  const state = readJson<{ step: number; elapsedSeconds: number; train: TrainConfig }>(path.join(ck, TRAINER_STATE_FILE));
  const hasCheckpoint = state !== null || fs.existsSync(`${ck}.old`);
  let trainer: Trainer;
  if (hasCheckpoint) {
    emit({ type: 'cell', model, seed, phase: 'resume', detail: state ? `step ${state.step}` : undefined });
    trainer = Trainer.resume(ck, backend, { out: ck, onEvent, batchSource, steps: train.steps });
    const had = trainer.train;
    if (had.seed !== seed || JSON.stringify(had.task) !== JSON.stringify(exp.task) || had.batchSize !== train.batchSize || had.lr !== train.lr) {
      trainer.dispose();
      throw new Error(`${ck} holds a different run (seed ${had.seed}, task ${JSON.stringify(had.task)}, batch ${had.batchSize}, lr ${had.lr}); remove it or choose another output folder`);
    }
  } else {
    emit({ type: 'cell', model, seed, phase: 'train' });
    fs.mkdirSync(cellDir, { recursive: true });
    trainer = Trainer.create(config, train, backend, { out: ck, onEvent, batchSource });
  }
  const parameters = trainer.parameterCount;
  try {
    if (trainer.step < trainer.train.steps) {
      await trainer.run(undefined, deadline === null ? null : { seconds: Math.max(0, (deadline - Date.now()) / 1000), fitSchedule: false });
    }
    if (trainer.step < trainer.train.steps) {
      // The deadline came first: the checkpoint is written; the next call resumes from it.
      emit({ type: 'cell', model, seed, phase: 'stopped', detail: `step ${trainer.step} of ${trainer.train.steps}` });
      return null;
    }
  } finally {
    trainer.dispose();
  }
  const after = readJson<{ step: number; elapsedSeconds: number }>(path.join(ck, TRAINER_STATE_FILE));
  emit({ type: 'cell', model, seed, phase: 'evaluate' });
  const best = path.join(ck, BEST_DIR);
  const src = train.keep === 'best' && fs.existsSync(path.join(best, WEIGHTS_FILE)) ? best : ck;
  const loaded = loadModelFolder(src);
  const net = buildModel(loaded.config.model);
  const specs = net.specs(Rng.fromSeed(0));
  const tensors = specs.map((s) => E.tensor(loaded.weights.get(s.name)!.data, s.shape, backend));
  const variants: Record<string, VariantResult> = {};
  try {
    const params = toParams(specs, tensors);
    for (const plan of plans) {
      // ConvCNP is evaluated on a copy re-gridded onto the variant's domain (shifted, scaled).
      // (A variant whose task does not resolve keeps the trained model; evaluateVariant reports why.)
      let cfg = loaded.config.model;
      try {
        cfg = regridFor(cfg, resolveTask(plan.variant.task, plan.batchSize, `variant ${plan.variant.label}`).shape);
      } catch { /* reported by evaluateVariant */ }
      const r = await evaluateVariant(cfg === loaded.config.model ? net : buildModel(cfg), params, backend, plan, cache, prefetch);
      variants[plan.variant.label] = r;
      emit({ type: 'variant', model, seed, variant: plan.variant.label, result: r });
    }
  } finally {
    for (const t of tensors) t.dispose();
  }
  emit({ type: 'cell', model, seed, phase: 'done' });
  return { model, seed, status: 'ok', parameters, steps: after?.step ?? null, trainSeconds: after?.elapsedSeconds ?? null, variants };
}

async function evaluateVariant(net: ReturnType<typeof buildModel>, params: ReturnType<typeof toParams>, backend: Backend,
  plan: EvalPlan, cache: Map<string, Batch[]>, prefetch: TestBatchPrefetch): Promise<VariantResult> {
  const empty = { nll: null, rmse: null, mae: null, coverage: null, accuracy: null, oracleNll: null, batches: plan.batches, secondsPerBatch: null };
  try {
    const task: TaskConfig = plan.variant.task;
    const { groups } = resolveTask(task, plan.batchSize, `variant ${plan.variant.label}`);
    const rng = Rng.fromSeed(EXPERIMENT_EVAL_SEED).split();
    let source: BatchSource;
    const warmup = plan.variant.warmup ?? 0;
    if (warmup > 0) {
      // Timing: batches generated inside the timed loop (after the warm-up), not cached.
      const stream = new BatchStream(groups, rng);
      await evaluate(net, params, backend, groups, rng, warmup, undefined, stream);
      source = stream;
    } else {
      let list = cache.get(plan.key) ?? (await prefetch.get(plan.key)) ?? undefined;
      if (list) cache.set(plan.key, list);
      else {
        const stream = new BatchStream(groups, rng);
        list = Array.from({ length: plan.batches }, () => stream.next());
        for (const b of list) if (b.gp && b.oracleNll === undefined) b.oracleNll = gpOracle(b).meanNll;
        cache.set(plan.key, list);
      }
      source = new ListSource(list);
    }
    const t0 = performance.now();
    const m = await evaluate(net, params, backend, groups, rng, plan.batches, undefined, source);
    const seconds = (performance.now() - t0) / 1000;
    const num = (x: number | null | undefined) => (typeof x === 'number' && Number.isFinite(x) ? x : null);
    return {
      status: 'ok', nll: num(m.nll), rmse: num(m.rmse), mae: num(m.mae), coverage: num(m.coverage), accuracy: num(m.accuracy),
      oracleNll: num(m.oracleNll), batches: plan.batches, secondsPerBatch: seconds / plan.batches,
    };
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    return { ...empty, status: isOutOfMemory(e) ? 'oom' : 'error', error: msg };
  }
}
