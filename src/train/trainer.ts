/**
 * The training loop (model.md §7, experiments.md §1).
 *
 * One step: next batch of the data stream → upload → valueAndGrad(model.loss) → device-side global
 * norm clip → AdamW (in place) with the scheduled lr. Nothing is read back during a step: the loss
 * is summed on the device and read once every `lossEvery` steps (default 50) as the mean over those
 * steps. Every `validEvery` steps the model is scored on `validBatches` fresh tasks from a separate,
 * fixed Rng key (the same tasks at every validation, so validations compare), alongside the exact-GP
 * oracle on GP tasks; the best validation NLL is kept in `best/` of the checkpoint.
 *
 * Randomness: root = Rng.fromSeed(train.seed) splits into `init` (parameters), `data` (training
 * batches, a BatchStream whose state is saved), `valid` (validation tasks) and `test` (evaluation).
 * Math.random is never used, so `resume` continues bit-identically on the CPU.
 */
import { ADAMW_STEP_LABEL, adamwStepScalars, type Backend, type Recording, type Storage } from '../engine/backend.js';
import * as E from '../engine/ops.js';
import { Rng } from '../engine/random.js';
import { keep, type Tensor } from '../engine/tensor.js';
import type { Batch, GroupGenerator, TaskGenerator } from '../data/batch.js';
import { categoricalMetrics, gaussianMetrics, RunningMean } from '../data/metrics.js';
import { BatchStream, type BatchStreamState } from '../data/stream.js';
import { gpOracle } from '../data/tasks.js';
import { buildModel, type NeuralProcess } from '../models/registry.js';
import {
  defaultDataSchema, MODEL_FOLDER_FORMAT_VERSION, type DataSchema, type AnyModelConfig, type ModelFolderConfig, type TaskConfig,
  type TrainConfig,
} from '../models/config.js';
import { materialise, toParams, type ParamSpec, type Params } from '../nn/params.js';
import { batchArrays, batchToTensors } from './batch-inputs.js';
import {
  loadCheckpoint, saveCheckpoint, TRAINER_STATE_VERSION, type TrainerState, type ValidationRecord, type Weights,
} from './checkpoint.js';
import type { FolderWriteHooks } from './atomic.js';
import { AdamW, adamWConfig, scheduledLr } from './optimizer.js';
import { resolveTask, withZeroTime } from './tasks.js';

export class TrainingDivergedError extends Error {
  /** `skippedInARow`: steps skipped in a row for a non-finite loss or gradient (the guard's stop). */
  constructor(step: number, loss: number, skippedInARow = 0) {
    super(skippedInARow > 0
      ? `training: the loss or its gradient was not finite for ${skippedInARow} steps in a row (skipped, weights unchanged) up to step ${step}; ` +
        'lower train.lr or train.clipNorm, or resume from an earlier checkpoint'
      : `training: the loss became ${loss} at step ${step}; lower train.lr or train.clipNorm, or resume from an earlier checkpoint`);
    this.name = 'TrainingDivergedError';
  }
}

/** Default of TrainerOptions.maxSkippedInARow. */
export const MAX_SKIPPED_IN_A_ROW = 10;

/**
 * Metrics averaged over evaluation batches (experiments.md §1). Categorical outputs (SIR): `nll` is
 * the mean cross-entropy, `accuracy` the fraction of argmax hits, and rmse, mae, coverage are NaN.
 */
export interface EvalMetrics {
  nll: number;
  rmse: number;
  mae: number;
  coverage: number;
  /** Categorical outputs only, else null. */
  accuracy?: number | null;
  /** Exact GP posterior NLL on the same batches (GP tasks), else null. */
  oracleNll: number | null;
  batches: number;
}

export type TrainEvent =
  | { type: 'start'; step: number; steps: number; parameters: number; backend: string; resumed: boolean }
  | { type: 'loss'; step: number; steps: number; loss: number; lr: number; stepsPerSecond: number }
  | { type: 'validation'; step: number; metrics: EvalMetrics; best: boolean }
  | { type: 'checkpoint'; step: number; folder: string }
  /** Steps skipped (non-finite loss or gradient, weights unchanged) since the last loss readback. */
  | { type: 'skipped'; step: number; skipped: number; total: number }
  | { type: 'done'; step: number; elapsedSeconds: number; best: ValidationRecord | null };

export interface TrainerOptions {
  /** Steps between loss readbacks (default 50). */
  lossEvery?: number;
  /** Progress events (the CLI renders them). */
  onEvent?: (e: TrainEvent) => void;
  /**
   * A step whose loss or gradient is not finite is skipped on the device (parameters and AdamW
   * moments unchanged, reported as a 'skipped' event at the next loss readback); training stops
   * with `TrainingDivergedError` once this many steps in a row were skipped (default 10). Checked
   * at loss readbacks, so up to `lossEvery` more steps may run first.
   */
  maxSkippedInARow?: number;
  /** Checkpoint folder; null = never write (tests). */
  out?: string | null;
  /** Data schema written to config.json (default: s0, s1 → f, no normalisation). */
  data?: DataSchema;
  /**
   * Where training batches come from (default: `BatchStream`, generated on this thread when
   * needed). The CLI passes worker-thread prefetching (prefetch-node.ts), which must give the same
   * batches and state for the same task, batch size and start state.
   */
  batchSource?: (task: TaskConfig, batchSize: number, start: BatchStreamState | [number, number, number]) => BatchSource;
  /**
   * Replay recorded steps where the backend can (WebGPU; default true): the first step is run and
   * recorded, later steps with the same batch shapes re-issue its GPU work with the new batch and
   * learning rate, without autodiff or any other JavaScript per kernel. Same results as running
   * every step (tests compare the weights bit for bit).
   */
  replay?: boolean;
  /**
   * Batch generators to use instead of `train.task` (tasks from a user's table, data/table-tasks.ts):
   * `train` for training steps, `valid` for validation. The caller rebuilds the same generators
   * to resume (they are not stored).
   */
  tasks?: { train: TaskGenerator; valid: TaskGenerator };
  /** `create` only: start from these weights (by parameter name) instead of the seed's draw. */
  init?: Weights;
  /**
   * Early stopping: `run` ends (with a checkpoint) once this many validations in a row have not
   * improved on the best. Decided from the validations stored in the state, so a resumed run stops
   * where the uninterrupted one would.
   */
  patience?: number;
}

/**
 * A wall-clock budget for `run` (data generation included): training stops when it is spent, and
 * the schedule's length (train.steps) is set, after `warmupSteps` + `probeSteps` steps, to the
 * steps that fit in 97 % of the time left at the measured rate.
 */
export interface TimeBudget {
  seconds: number;
  /**
   * Fit the schedule's length to the time (default true). False: stop at the deadline with a
   * checkpoint and keep `train.steps`, so that `resume` continues the same run (training in chunks
   * of wall-clock time, e.g. across calls to a machine lent for minutes).
   */
  fitSchedule?: boolean;
  warmupSteps?: number;
  probeSteps?: number;
}

/** BatchStream's interface; `ready()` (if present) is awaited before each step's `next()`. */
export interface BatchSource {
  next(): Batch;
  state(): BatchStreamState;
  ready?(): Promise<void>;
  dispose?(): void;
}

/**
 * Evaluates `params` on `batches` tasks drawn from `generator` with keys split from `rng`.
 * Reads predictions back (this is evaluation, not a training step). `onBatch` gets the number of
 * batches done and the metrics so far (so a long evaluation that is stopped still tells something).
 */
export async function evaluate(model: NeuralProcess, params: Params, backend: Backend, generator: GroupGenerator, rng: Rng,
  batches: number, onBatch?: (done: number, sofar: EvalMetrics) => void, source?: BatchSource): Promise<EvalMetrics> {
  const acc = new RunningMean();
  const oracle = new RunningMean();
  // `source` (e.g. worker prefetching over the same generator and rng) gives the same batches.
  const stream: BatchSource = source ?? new BatchStream(generator, rng);
  for (let i = 0; i < batches; i++) {
    if (stream.ready) await stream.ready();
    const raw: Batch = stream.next();
    // A model with a time group scores a spatial task at t = 0 (exact for a separable GP).
    const batch = withZeroTime(raw, model.config.groups.t?.dims ?? 0);
    const bt = batchToTensors(batch, model.config, backend);
    try {
      const out = model.forward(params, bt.inputs);
      if (out.kind === 'gaussian') {
        let mean: Float32Array, std: Float32Array;
        try {
          mean = await out.mean.data();
          std = await out.std.data();
        } finally {
          out.mean.dispose();
          out.std.dispose();
        }
        const m = gaussianMetrics(batch.f_test, mean, std, batch.dims.Df, batch.mask_test);
        acc.add({ nll: m.nll, rmse: m.rmse, mae: m.mae, coverage: m.coverage });
      } else {
        let logits: Float32Array;
        try {
          logits = await out.logits.data();
        } finally {
          out.logits.dispose();
        }
        const m = categoricalMetrics(batch.f_test, logits, batch.dims.Df, 'logits', batch.mask_test);
        acc.add({ nll: m.nll, accuracy: m.accuracy });
      }
    } finally {
      bt.dispose();
    }
    if (raw.gp) oracle.add({ nll: raw.oracleNll ?? gpOracle(raw).meanNll });
    onBatch?.(i + 1, metricsOf(acc, oracle, i + 1));
  }
  return metricsOf(acc, oracle, batches);
}

function metricsOf(acc: RunningMean, oracle: RunningMean, batches: number): EvalMetrics {
  const r = acc.mean();
  return {
    nll: r.nll!, rmse: r.rmse ?? NaN, mae: r.mae ?? NaN, coverage: r.coverage ?? NaN, accuracy: r.accuracy ?? null,
    oracleNll: oracle.batches > 0 ? oracle.mean().nll! : null, batches,
  };
}

async function toHost(specs: readonly ParamSpec[], ts: readonly Tensor[]): Promise<Weights> {
  const out: Weights = new Map();
  for (let i = 0; i < specs.length; i++) out.set(specs[i]!.name, { shape: [...specs[i]!.shape], data: await ts[i]!.data() });
  return out;
}

/** `init`'s tensor `name`, checked against the shape the model needs. */
function initialValue(init: Weights, name: string, shape: readonly number[]): Float32Array {
  const w = init.get(name);
  if (!w) throw new Error(`Trainer.create: the initial weights have no tensor '${name}'`);
  if (w.shape.join() !== shape.join()) throw new Error(`Trainer.create: initial tensor '${name}' has shape [${w.shape.join(', ')}], the model needs [${shape.join(', ')}]`);
  return Float32Array.from(w.data);
}

export class Trainer implements Disposable {
  readonly model: NeuralProcess;
  readonly specs: ParamSpec[];
  readonly params: Tensor[];
  readonly optimizer: AdamW;
  readonly backend: Backend;
  train: TrainConfig;
  readonly data: DataSchema;
  private readonly generator: GroupGenerator;
  private readonly validGenerator: GroupGenerator;
  private readonly patience: number | null;
  private readonly stream: BatchSource;
  private readonly validKey: [number, number, number];
  private readonly out: string | null;
  private readonly lossEvery: number;
  private readonly onEvent: (e: TrainEvent) => void;
  /**
   * On the device, updated in place by every step (no readback): [sum of the losses of applied steps
   * since the last readLoss, steps skipped since then, steps skipped in a row now, the longest such
   * run since then].
   */
  private readonly lossAcc: Tensor;
  private lossCount = 0;
  private skippedTotal = 0;
  private readonly maxSkippedInARow: number;
  private replay: boolean;
  private replayed = 0;
  /** Recordings replaced after fewer than two replays (batch shapes that keep changing). */
  private shortLived = 0;
  /** The recorded step, its batch-shape signature and its input slots. */
  private recorded: { rec: Recording; sig: string; slots: number[]; stepSlots: readonly number[]; uses: number } | null = null;
  private best: ValidationRecord | null;
  private validations: ValidationRecord[];
  private elapsedBefore: number;
  private bestWeights: Weights | undefined;
  private readonly resumed: boolean;

  private constructor(a: {
    model: AnyModelConfig; train: TrainConfig; backend: Backend; specs: ParamSpec[]; params: Tensor[]; optimizer: AdamW;
    stream: BatchSource; generator: GroupGenerator; validGenerator: GroupGenerator; validKey: [number, number, number]; opts: TrainerOptions; data: DataSchema;
    best: ValidationRecord | null; validations: ValidationRecord[]; elapsed: number; resumed: boolean;
  }) {
    this.model = buildModel(a.model);
    this.train = a.train;
    this.backend = a.backend;
    this.specs = a.specs;
    this.params = a.params;
    this.optimizer = a.optimizer;
    this.stream = a.stream;
    this.generator = a.generator;
    this.validGenerator = a.validGenerator;
    this.patience = a.opts.patience ?? null;
    this.validKey = a.validKey;
    this.out = a.opts.out ?? null;
    this.lossEvery = a.opts.lossEvery ?? 50;
    this.onEvent = a.opts.onEvent ?? (() => {});
    this.data = a.data;
    this.best = a.best;
    this.validations = a.validations;
    this.elapsedBefore = a.elapsed;
    this.resumed = a.resumed;
    this.lossAcc = keep(E.zeros([4], a.backend));
    this.maxSkippedInARow = a.opts.maxSkippedInARow ?? MAX_SKIPPED_IN_A_ROW;
    this.replay = (a.opts.replay ?? true) && typeof a.backend.beginCapture === 'function';
  }

  /** A fresh run: parameters drawn from the `init` stream of `train.seed`. */
  static create(model: AnyModelConfig, train: TrainConfig, backend: Backend, opts: TrainerOptions = {}): Trainer {
    const root = Rng.fromSeed(train.seed);
    const init = root.split(), dataRng = root.split(), valid = root.split();
    let specs = buildModel(model).specs(init);
    if (opts.init) specs = specs.map((s) => ({ ...s, init: initialValue(opts.init!, s.name, s.shape) }));
    const params = materialise(specs, backend).map((t) => keep(t));
    const optimizer = AdamW.create(params, adamWConfig(train, specs.map((s) => s.name)));
    const generator: GroupGenerator = opts.tasks?.train ?? resolveTask(train.task, train.batchSize).groups;
    const custom = opts.tasks !== undefined;
    return new Trainer({
      model, train, backend, specs, params, optimizer, generator, validGenerator: opts.tasks?.valid ?? generator, validKey: valid.state(),
      stream: opts.batchSource && !custom ? opts.batchSource(train.task, train.batchSize, dataRng.state()) : new BatchStream(generator, dataRng),
      opts, data: opts.data ?? defaultDataSchema(model),
      best: null, validations: [], elapsed: 0, resumed: false,
    });
  }

  /**
   * Continues from a checkpoint folder. `steps` (optional) replaces `train.steps` (and so the
   * schedule's K); with the saved value, the run is bit-identical to one without the interruption.
   */
  static resume(folder: string, backend: Backend, opts: TrainerOptions & { steps?: number } = {}): Trainer {
    const ck = loadCheckpoint(folder);
    const train = opts.steps === undefined ? ck.state.train : { ...ck.state.train, steps: opts.steps };
    const model = ck.config.model;
    const specs = buildModel(model).specs(Rng.fromSeed(0)); // names and shapes; values come from the file
    const params = specs.map((s) => keep(E.tensor(ck.weights.get(s.name)!.data, s.shape, backend)));
    const optimizer = AdamW.fromState(params, adamWConfig(train, specs.map((s) => s.name)), {
      step: ck.state.step,
      m: specs.map((s) => ck.moments.m.get(s.name)!.data),
      v: specs.map((s) => ck.moments.v.get(s.name)!.data),
    });
    const generator: GroupGenerator = opts.tasks?.train ?? resolveTask(train.task, train.batchSize).groups;
    const custom = opts.tasks !== undefined;
    return new Trainer({
      model, train, backend, specs, params, optimizer, generator, validGenerator: opts.tasks?.valid ?? generator, validKey: ck.state.rng.valid,
      stream: opts.batchSource && !custom ? opts.batchSource(train.task, train.batchSize, ck.state.rng.data)
        : BatchStream.fromState(generator, ck.state.rng.data),
      opts: { ...opts, out: opts.out === undefined ? folder : opts.out },
      data: ck.config.data, best: ck.state.best, validations: ck.state.validations, elapsed: ck.state.elapsedSeconds, resumed: true,
    });
  }

  /** Steps that replayed a recorded step (Trainer option `replay`). */
  get replayedSteps(): number {
    return this.replayed;
  }

  /** Completed steps. */
  get step(): number {
    return this.optimizer.step;
  }

  get parameterCount(): number {
    return this.specs.reduce((n, s) => n + s.init.length, 0);
  }

  paramsByName(): Params {
    return toParams(this.specs, this.params);
  }

  /** One optimiser step; no readback. */
  trainStep(): void {
    const batch = this.stream.next();
    const be = this.backend;
    if (!this.replay || !be.beginCapture || !be.endCapture) {
      this.runStep(batch);
      return;
    }
    const arrays = batchArrays(batch, this.model.config);
    const sig = arrays.map((a) => a.length).join(',');
    const r = this.recorded;
    if (r && r.sig === sig) {
      const inputs = new Map<number, Float32Array>();
      r.slots.forEach((slot, i) => inputs.set(slot, arrays[i]!));
      const args = this.optimizer.nextArgs(scheduledLr(this.train, this.optimizer.step));
      const scales = this.optimizer.updateScales;
      r.stepSlots.forEach((slot, i) => inputs.set(slot, adamwStepScalars({ ...args, lr: args.lr * scales[i]! })));
      r.rec.replay(inputs);
      r.uses++;
      this.replayed++;
      this.optimizer.countReplayedUpdate();
      this.lossCount++;
      return;
    }
    // First step, or new batch shapes: run the step and record it (unless shapes change so often
    // that recording costs more than it saves: then every step runs eagerly from now on).
    r?.rec.dispose();
    this.recorded = null;
    if (r && r.uses < 2 && ++this.shortLived >= 3) this.replay = false;
    if (!this.replay) {
      this.runStep(batch);
      return;
    }
    be.beginCapture();
    let uploaded: Storage[];
    try {
      uploaded = this.runStep(batch);
    } catch (e) {
      be.abortCapture?.();
      throw e;
    }
    const external = [...this.params, ...this.optimizer.m, ...this.optimizer.v, this.lossAcc].map((t) => t.storage('replay'));
    const rec = be.endCapture(external);
    try {
      const stepSlots = rec.slotsLabelled(ADAMW_STEP_LABEL);
      if (stepSlots.length !== this.optimizer.updateScales.length) {
        // This backend's optimiser takes its learning rate elsewhere: replaying would reuse it.
        rec.dispose();
        this.replay = false;
        return;
      }
      this.recorded = { rec, sig, slots: uploaded.map((s) => rec.slotOf(s)), stepSlots, uses: 0 };
    } catch (e) {
      rec.dispose();
      throw e;
    }
  }

  /** Runs one step eagerly; returns the storages of the uploaded batch (batchArrays order). */
  private runStep(batch: Batch): Storage[] {
    const bt = batchToTensors(batch, this.model.config, this.backend);
    try {
      const lr = scheduledLr(this.train, this.optimizer.step);
      const { value, grads } = E.valueAndGrad((ps) => this.model.loss(toParams(this.specs, ps), bt.inputs, bt.fTest, bt.maskTest))(this.params);
      let applied: Tensor;
      try {
        applied = this.optimizer.guardedUpdate(this.params, grads, lr, value);
      } finally {
        for (const g of grads) g.dispose();
      }
      // lossAcc (see its comment) updated in place: its buffer stays the same for replays.
      E.tidy(() => {
        const acc = this.lossAcc;
        const at = (i: number) => E.slice(acc, [i], [1]);
        const skipped = E.sub(1, applied);
        const run = E.mul(E.add(at(2), skipped), skipped);
        const next = E.concat([
          E.add(at(0), E.where(applied, E.reshape(value, [1]), 0)),
          E.add(at(1), skipped),
          run,
          E.maximum(at(3), run),
        ], 0);
        this.backend.stridedWrite(acc.storage('loss'), next.storage('loss'), [4], [1], 0);
      });
      applied.dispose();
      value.dispose();
      this.lossCount++;
      return bt.uploaded.map((t) => t.storage('upload'));
    } finally {
      bt.dispose();
    }
  }

  /** Steps skipped so far by this trainer (non-finite loss or gradient; see TrainerOptions). */
  get skippedSteps(): number {
    return this.skippedTotal;
  }

  /**
   * Mean training loss of the applied steps since the last call (one readback); null if no step
   * ran or every one was skipped. Emits a 'skipped' event when steps were skipped, and throws
   * `TrainingDivergedError` once `maxSkippedInARow` steps in a row were skipped.
   */
  async readLoss(): Promise<number | null> {
    if (this.lossCount === 0) return null;
    const [sum, skipped, run, longest] = Array.from(await this.lossAcc.data());
    // Keep the current run (it may go on past this readback); zero the rest.
    E.tidy(() => this.backend.stridedWrite(this.lossAcc.storage('loss'), E.tensor(Float32Array.of(0, 0, run!, 0), [4], this.backend).storage('loss'), [4], [1], 0));
    const counted = this.lossCount - skipped!;
    this.lossCount = 0;
    if (skipped! > 0) {
      this.skippedTotal += skipped!;
      this.onEvent({ type: 'skipped', step: this.step, skipped: skipped!, total: this.skippedTotal });
    }
    if (longest! >= this.maxSkippedInARow) throw new TrainingDivergedError(this.step, NaN, longest!);
    if (counted <= 0) return null;
    const v = sum! / counted;
    if (!Number.isFinite(v)) throw new TrainingDivergedError(this.step, v);
    return v;
  }

  /** Scores the current parameters on the validation tasks (the same tasks every time). */
  async validate(batches = this.train.validBatches): Promise<EvalMetrics> {
    return evaluate(this.model, this.paramsByName(), this.backend, this.validGenerator, Rng.fromState(this.validKey), batches);
  }

  /** The model folder config.json written with the weights. */
  folderConfig(): ModelFolderConfig {
    return { formatVersion: MODEL_FOLDER_FORMAT_VERSION, model: this.model.config, data: this.data, training: this.train };
  }

  private state(elapsed: number): TrainerState {
    return {
      formatVersion: TRAINER_STATE_VERSION,
      step: this.step,
      rng: { data: this.stream.state(), valid: [...this.validKey] },
      schedule: { kind: this.train.schedule, lr0: this.train.lr, alpha: this.train.alpha, steps: this.train.steps, nextLr: scheduledLr(this.train, this.step) },
      best: this.best,
      validations: this.validations,
      elapsedSeconds: elapsed,
      train: this.train,
    };
  }

  /** Host copies of the parameters by name. */
  async weights(): Promise<Weights> {
    return toHost(this.specs, this.params);
  }

  /** Writes a checkpoint to `folder` (default: the trainer's `out`). */
  async save(folder = this.out, hooks: FolderWriteHooks = {}, elapsed = this.elapsedBefore): Promise<string> {
    if (folder === null) throw new Error('Trainer.save: no output folder (pass opts.out)');
    const best = this.bestWeights;
    this.bestWeights = undefined;
    const written = await saveCheckpoint(folder, {
      config: this.folderConfig(),
      weights: await this.weights(),
      moments: { m: await toHost(this.specs, this.optimizer.m), v: await toHost(this.specs, this.optimizer.v) },
      state: this.state(elapsed),
      ...(best ? { best } : {}),
    }, hooks);
    this.onEvent({ type: 'checkpoint', step: this.step, folder: written });
    return written;
  }

  /**
   * Trains until `untilStep` (default `train.steps`), reading the loss every `lossEvery` steps,
   * validating every `validEvery` and checkpointing every `checkpointEvery` steps and at the end.
   */
  async run(untilStep = this.train.steps, budget: TimeBudget | null = null): Promise<void> {
    const t0 = Date.now();
    const elapsed = () => this.elapsedBefore + (Date.now() - t0) / 1000;
    this.onEvent({ type: 'start', step: this.step, steps: untilStep, parameters: this.parameterCount, backend: this.backend.description, resumed: this.resumed });
    let lastT = Date.now();
    let lastStep = this.step;
    const k0 = this.step;
    let probe: { step: number; t: number } | null = null;
    while (this.step < untilStep && !this.stoppedEarly()) {
      if (this.stream.ready) await this.stream.ready();
      this.trainStep();
      const k = this.step;
      let deadline = false;
      if (budget !== null) {
        const used = (Date.now() - t0) / 1000;
        deadline = used >= budget.seconds;
        // Fix the schedule's length once the step rate is known (after warm-up): the steps that
        // fit in 97 % of the time left, as the reference's accuracy script does.
        const warm = budget.warmupSteps ?? 20;
        if (k - k0 === warm && budget.fitSchedule !== false) probe = { step: k, t: Date.now() };
        if (probe !== null && k - probe.step === (budget.probeSteps ?? 200)) {
          const rate = (k - probe.step) / Math.max(1e-3, (Date.now() - probe.t) / 1000);
          const total = Math.max(k + 1, Math.floor(k + 0.97 * (budget.seconds - used) * rate));
          untilStep = Math.min(untilStep, total);
          this.train = { ...this.train, steps: untilStep };
          probe = null;
        }
      }
      // A fitted schedule that the deadline cuts short (the rate fell after the probe) records the
      // steps that ran, so config.json and `info` say what the weights saw.
      if (deadline && budget !== null && budget.fitSchedule !== false && k < untilStep) {
        untilStep = k;
        this.train = { ...this.train, steps: k };
      }
      const end = k >= untilStep || deadline;
      if (k % this.lossEvery === 0 || end) {
        const loss = await this.readLoss();
        const now = Date.now();
        const sps = ((k - lastStep) * 1000) / Math.max(1, now - lastT);
        lastT = now;
        lastStep = k;
        if (loss !== null) this.onEvent({ type: 'loss', step: k, steps: untilStep, loss, lr: scheduledLr(this.train, k - 1), stepsPerSecond: sps });
      }
      let validated = false;
      if ((k % this.train.validEvery === 0 || end) && this.train.validBatches > 0) {
        const metrics = await this.validate();
        const rec: ValidationRecord = { step: k, nll: metrics.nll, rmse: metrics.rmse, mae: metrics.mae, coverage: metrics.coverage, oracleNll: metrics.oracleNll };
        this.validations.push(rec);
        const isBest = this.best === null || metrics.nll < this.best.nll;
        if (isBest) {
          this.best = rec;
          this.bestWeights = await this.weights();
        }
        this.onEvent({ type: 'validation', step: k, metrics, best: isBest });
        validated = true;
      }
      if (this.out !== null && (k % this.train.checkpointEvery === 0 || end || validated)) {
        await this.save(this.out, {}, elapsed());
      }
      // A validation always writes a checkpoint (above), so an early stop leaves one.
      if (deadline || (validated && this.stoppedEarly())) break;
    }
    this.elapsedBefore = elapsed();
    this.onEvent({ type: 'done', step: this.step, elapsedSeconds: this.elapsedBefore, best: this.best });
  }

  /** True once `patience` validations in a row have not improved on the best (see TrainerOptions). */
  stoppedEarly(): boolean {
    if (this.patience === null || this.best === null) return false;
    const bestStep = this.best.step;
    return this.validations.filter((v) => v.step > bestStep).length >= this.patience;
  }

  dispose(): void {
    this.stream.dispose?.();
    for (const p of this.params) p.dispose();
    this.optimizer.dispose();
    this.recorded?.rec.dispose();
    this.recorded = null;
    this.lossAcc.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
