/**
 * Training configuration (experiments.md §1): optimiser, schedule, validation cadence, seed and
 * task. JSON only; absent fields take `DEFAULT_TRAIN_CONFIG`'s values, unknown fields are errors.
 * No Node built-ins. Also re-exported by models/config.ts.
 */
import {
  ConfigError,
  nonEmptyString,
  nonNegativeInt,
  numberIn,
  object,
  oneOf,
  or,
  positiveInt,
} from './config-checks.js';

export interface TaskConfig {
  /** Task generator name (resolved by the data module, which validates `options`). */
  readonly name: string;
  readonly options: Readonly<Record<string, unknown>>;
}

export interface TrainConfig {
  readonly steps: number;
  readonly batchSize: number;
  /** lr0. */
  readonly lr: number;
  /** `cosine`: lr(k) = lr0·((1 − α)·½(1 + cos(π·min(k, K)/K)) + α); `constant`: lr0. */
  readonly schedule: 'cosine' | 'constant';
  /** α: final lr as a fraction of lr0. */
  readonly alpha: number;
  /** Global L2 gradient-norm clip. */
  readonly clipNorm: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  /** Decoupled weight decay, applied to all parameters. */
  readonly weightDecay: number;
  readonly validEvery: number;
  readonly validBatches: number;
  readonly testBatches: number;
  /** Which state becomes the model: the last, or the best validation NLL. */
  readonly keep: 'last' | 'best';
  /** Steps between checkpoints (ours; not in the paper). */
  readonly checkpointEvery: number;
  /** Steps between progress/log lines (ours). */
  readonly logEvery: number;
  readonly seed: number;
  readonly task: TaskConfig;
  /**
   * Steps the starting weights had been trained before this schedule (`train --init`, a warm
   * restart), in all; absent when training started from scratch. Informational (`info`).
   */
  readonly initSteps?: number;
  /**
   * Learning-rate multiplier of the attention-bias parameters (a, b, c of every bias group; absent:
   * 1, as the paper). Ours: with lr 1e-4 the bias bandwidths move about lr per step from their
   * initial value 1, so a wide range of lengthscales is out of reach within a run.
   */
  readonly biasLrScale?: number;
}

/** experiments.md §1, 2D GP row. Seed: the first of the pinned seeds [46, 61, 69, 79, 91]. */
export const DEFAULT_TRAIN_CONFIG = {
  steps: 100_000,
  batchSize: 8,
  lr: 1e-4,
  schedule: 'cosine',
  alpha: 2e-5,
  clipNorm: 0.5,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  weightDecay: 1e-4,
  validEvery: 10_000,
  validBatches: 5000,
  testBatches: 5000,
  keep: 'last',
  checkpointEvery: 1000,
  logEvery: 100,
  seed: 46,
  task: { name: 'gp2d', options: {} },
} as const satisfies TrainConfig;

/** Validates a training configuration; absent fields take `DEFAULT_TRAIN_CONFIG`'s values. */
export function parseTrainConfig(json: unknown, path = 'train'): TrainConfig {
  const d: TrainConfig = DEFAULT_TRAIN_CONFIG;
  const o = object(json, path, [...Object.keys(DEFAULT_TRAIN_CONFIG), 'initSteps', 'biasLrScale']);
  const taskIn = object(or(o.task, {}), `${path}.task`, ['name', 'options']);
  const options = or(taskIn.options, {});
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new ConfigError(`${path}.task.options`, `expected an object, got ${Array.isArray(options) ? 'an array' : String(options)}`);
  }
  const n = (k: keyof TrainConfig) => or(o[k], d[k]);
  return {
    steps: positiveInt(n('steps'), `${path}.steps`),
    batchSize: positiveInt(n('batchSize'), `${path}.batchSize`),
    lr: numberIn(n('lr'), `${path}.lr`, 0, 1, { lo: true }),
    schedule: oneOf(n('schedule'), `${path}.schedule`, ['cosine', 'constant'] as const),
    alpha: numberIn(n('alpha'), `${path}.alpha`, 0, 1),
    clipNorm: numberIn(n('clipNorm'), `${path}.clipNorm`, 0, Number.MAX_VALUE, { lo: true }),
    beta1: numberIn(n('beta1'), `${path}.beta1`, 0, 1, { hi: true }),
    beta2: numberIn(n('beta2'), `${path}.beta2`, 0, 1, { hi: true }),
    eps: numberIn(n('eps'), `${path}.eps`, 0, 1, { lo: true }),
    weightDecay: numberIn(n('weightDecay'), `${path}.weightDecay`, 0, 1),
    validEvery: positiveInt(n('validEvery'), `${path}.validEvery`),
    validBatches: nonNegativeInt(n('validBatches'), `${path}.validBatches`),
    testBatches: nonNegativeInt(n('testBatches'), `${path}.testBatches`),
    keep: oneOf(n('keep'), `${path}.keep`, ['last', 'best'] as const),
    checkpointEvery: positiveInt(n('checkpointEvery'), `${path}.checkpointEvery`),
    logEvery: positiveInt(n('logEvery'), `${path}.logEvery`),
    seed: nonNegativeInt(n('seed'), `${path}.seed`),
    task: {
      name: nonEmptyString(or(taskIn.name, d.task.name), `${path}.task.name`),
      options: structuredClone(options as Record<string, unknown>),
    },
    ...(o.initSteps === undefined ? {} : { initSteps: nonNegativeInt(o.initSteps, `${path}.initSteps`) }),
    ...(o.biasLrScale === undefined ? {} : { biasLrScale: numberIn(o.biasLrScale, `${path}.biasLrScale`, 0, 1e4, { lo: true }) }),
  };
}

/** Learning rate at step k (0-based) under `config`'s schedule (experiments.md §1). */
export function learningRate(config: TrainConfig, k: number): number {
  if (config.schedule === 'constant') return config.lr;
  const K = config.steps;
  const cosine = 0.5 * (1 + Math.cos((Math.PI * Math.min(k, K)) / K));
  return config.lr * ((1 - config.alpha) * cosine + config.alpha);
}
