/**
 * The paper's synthetic experiments as data (experiments.md §1, §3–§6, §8, §10): for each
 * experiment the training task and recipe, the models compared, the seeds and the evaluation
 * variants. `bsa-tnp experiment NAME` runs one of these (runner-node.ts); flags override the
 * steps, seeds, models, test batches and backend. Browser-safe (no Node built-ins).
 *
 * Models are named as in the model registry (models/registry.ts: bsa-tnp, tnp-d, te-tnp, convcnp,
 * sa-tnp, geo-bsa-tnp, only-embed, only-bias, …) plus two families of our own:
 * `bsa-tnp-fN` is BSA-TNP with N basis functions in its bias (the num_basis ablation), and
 * `bsa-tnp-embed` is BSA-TNP with s and t also embedded in the tokens ("embed+bias", §8).
 */
import type { TaskConfig } from '../models/config.js';
import { ConfigError } from '../models/config-checks.js';
import { modelConfigFor, MODEL_NAMES } from '../models/registry.js';
import type { AnyModelConfig, ModelConfig } from '../models/config.js';
import type { TaskShape } from '../train/tasks.js';

/** The pinned seeds of experiments.md §1. */
export const PAPER_SEEDS = [46, 61, 69, 79, 91] as const;

export interface TrainRecipe {
  steps: number;
  batchSize: number;
  lr: number;
  schedule: 'cosine' | 'constant';
  alpha: number;
  validEvery: number;
  validBatches: number;
  keep: 'last' | 'best';
}

export interface EvalVariant {
  /** Column label in the table. */
  label: string;
  task: TaskConfig;
  /** Test batches (the paper's count); `--batches` overrides. */
  batches: number;
  /** Batch size of the evaluation (default: the training batch size). */
  batchSize?: number;
  /** Batches run first and not counted (timing runs: the size sweep). */
  warmup?: number;
}

export interface Experiment {
  name: string;
  title: string;
  /** Cells of experiments with the same `trainGroup` share their trained models (sir, sir-sizes). */
  trainGroup: string;
  task: TaskConfig;
  recipe: TrainRecipe;
  models: readonly string[];
  variants: readonly EvalVariant[];
  /** The table reports seconds per batch instead of NLL (the size sweep). */
  timing?: boolean;
}

const GP_RECIPE: TrainRecipe = { steps: 100_000, batchSize: 8, lr: 1e-4, schedule: 'cosine', alpha: 2e-5, validEvery: 10_000, validBatches: 5000, keep: 'last' };
const SIR_RECIPE: TrainRecipe = { ...GP_RECIPE, alpha: 1e-5 };
const sirTask: TaskConfig = { name: 'sir', options: {} };

export const EXPERIMENTS: readonly Experiment[] = [
  {
    name: 'gp2d', title: '2-D GP: translation invariance (base, shifted, scaled)', trainGroup: 'gp2d',
    task: { name: 'gp2d', options: {} }, recipe: GP_RECIPE, models: ['bsa-tnp', 'tnp-d', 'te-tnp', 'convcnp'],
    variants: [
      { label: 'base', task: { name: 'gp2d', options: {} }, batches: 5000 },
      { label: 'shifted', task: { name: 'gp2d-shifted', options: {} }, batches: 5000 },
      // Marginal test sampling: the same expected metrics at a fraction of the 6144-point Cholesky.
      { label: 'scaled', task: { name: 'gp2d-scaled', options: { sampling: 'marginal' } }, batches: 5000 },
    ],
  },
  {
    name: 'num-basis', title: '2-D GP: number of bias basis functions F', trainGroup: 'gp2d',
    task: { name: 'gp2d', options: {} }, recipe: GP_RECIPE, models: ['bsa-tnp-f1', 'bsa-tnp-f3', 'bsa-tnp', 'bsa-tnp-f10'],
    variants: [{ label: 'base', task: { name: 'gp2d', options: {} }, batches: 5000 }],
  },
  {
    name: 'multiscale', title: 'Multiscale 2-D GP', trainGroup: 'multiscale',
    task: { name: 'multiscale', options: {} }, recipe: { ...GP_RECIPE, batchSize: 32 }, models: ['bsa-tnp', 'te-tnp'],
    variants: [{ label: 'multiscale', task: { name: 'multiscale', options: {} }, batches: 5000 }],
  },
  {
    name: 'so3', title: 'SO(3) GP on the sphere: rotations', trainGroup: 'so3',
    task: { name: 'so3', options: {} }, recipe: GP_RECIPE, models: ['bsa-tnp', 'geo-bsa-tnp', 'sa-tnp'],
    variants: [
      { label: 'none', task: { name: 'so3', options: {} }, batches: 5000 },
      { label: '(60, 30, 0)', task: { name: 'so3-rot-60-30-0', options: {} }, batches: 5000 },
      { label: '(60, 30, 20)', task: { name: 'so3-rot-60-30-20', options: {} }, batches: 5000 },
    ],
  },
  {
    name: 'sir', title: 'Lattice SIR 64×64 (base, shifted, scaled)', trainGroup: 'sir',
    task: sirTask, recipe: SIR_RECIPE, models: ['bsa-tnp', 'tnp-d', 'te-tnp', 'convcnp'],
    variants: [
      { label: 'base', task: sirTask, batches: 5000 },
      { label: 'shifted', task: { name: 'sir-shifted', options: {} }, batches: 5000 },
      { label: 'scaled', task: { name: 'sir-scaled', options: {} }, batches: 1000 },
    ],
  },
  {
    name: 'sir-sizes', title: 'SIR size sweep: seconds per batch (models trained on 64×64)', trainGroup: 'sir',
    task: sirTask, recipe: SIR_RECIPE, models: ['bsa-tnp', 'tnp-d', 'te-tnp', 'convcnp'], timing: true,
    variants: ([128, 256, 512, 1024] as const).map((n) => ({
      label: `${n}²`, task: { name: `sir-${n}`, options: {} }, batches: 10, batchSize: 1, warmup: 1,
    })),
  },
  {
    name: 'gneiting', title: 'Gneiting space-time GP with a fixed effect: forecast of the 5th frame', trainGroup: 'gneiting',
    task: { name: 'gneiting', options: {} },
    recipe: { steps: 50_000, batchSize: 4, lr: 1e-3, schedule: 'cosine', alpha: 1e-5, validEvery: 5000, validBatches: 500, keep: 'best' },
    models: ['bsa-tnp-embed', 'only-embed', 'only-bias', 'tnp-d-prenorm', 'te-tnp'],
    variants: [{ label: 'forecast', task: { name: 'gneiting', options: {} }, batches: 500 }],
  },
];

export const EXPERIMENT_NAMES = EXPERIMENTS.map((e) => e.name);

export function experimentByName(name: string): Experiment {
  const e = EXPERIMENTS.find((x) => x.name === name);
  if (!e) throw new ConfigError('experiment', `unknown experiment '${name}'; expected one of ${EXPERIMENT_NAMES.join(', ')}`);
  return e;
}

/**
 * The configuration of a named model for a task: the model registry's `modelConfigFor`, plus
 * `bsa-tnp-fN` (N basis functions in every bias) and `bsa-tnp-embed` (s and t embedded too).
 * The model registry (another module) can grow; names it knows resolve there first.
 */
export function modelConfigForTask(name: string, shape: TaskShape): AnyModelConfig {
  const f = name.match(/^bsa-tnp-f(\d+)$/);
  if (f) {
    const n = Number(f[1]);
    if (!(n >= 1)) throw new ConfigError('model', `'${name}': expected a positive number of basis functions`);
    const c = modelConfigFor('bsa-tnp', shape) as ModelConfig;
    const g = (x: ModelConfig['groups']['s']) => (x && x.bias ? { ...x, bias: { ...x.bias, numBasis: n } } : x);
    return { ...c, groups: { x: c.groups.x, s: g(c.groups.s), t: g(c.groups.t) } };
  }
  if (name === 'bsa-tnp-embed') {
    const c = modelConfigFor('bsa-tnp', shape) as ModelConfig;
    const g = (x: ModelConfig['groups']['s']) => (x ? { ...x, embed: true } : x);
    return { ...c, groups: { x: c.groups.x, s: g(c.groups.s), t: g(c.groups.t) } };
  }
  if (!(MODEL_NAMES as readonly string[]).includes(name)) {
    throw new ConfigError('model', `unknown model '${name}'; expected one of ${[...MODEL_NAMES, 'bsa-tnp-fN', 'bsa-tnp-embed'].join(', ')}`);
  }
  return modelConfigFor(name, shape);
}
