/**
 * Model registry: the paper's models by name (baselines.md) → a configuration for a task's shape,
 * and any configuration → a `NeuralProcess` (BSA-TNP, TNP-D, TE-TNP, ConvCNP) and its parameter
 * count. SA-TNP, Geo-BSA-TNP, only_embed and only_bias are BSA-TNP configurations; the rest have
 * their own `kind` (baseline-config.ts). The trainer, predictor and `eval` build models here; an
 * experiment runner asks `modelConfigFor(name, task)`.
 */
import { BsaTnp, type BsaTnpOptions } from './bsa-tnp.js';
import { baselineParameters, DEFAULT_CONVCNP, DEFAULT_TETNP, DEFAULT_TNPD } from './baseline-config.js';
import {
  ConfigError, DEFAULT_CONFIG, countParameters, type AnyModelConfig, type BiasConfig, type GroupConfig, type GroupName,
  type ModelConfig, type OutputConfig,
} from './config.js';
import { ConvCnp } from './convcnp.js';
import type { NeuralProcess } from './neural-process.js';
import { TeTnp } from './te-tnp.js';
import { TnpD } from './tnp-d.js';

export { parseAnyConfig } from './config.js';
export type { NeuralProcess, EncodedContext } from './neural-process.js';

export const MODEL_NAMES = [
  'bsa-tnp', 'tnp-d', 'tnp-d-prenorm', 'te-tnp', 'te-tnp-128', 'te-tnp-vanilla', 'convcnp',
  'sa-tnp', 'geo-bsa-tnp', 'only-embed', 'only-bias',
] as const;
export type ModelName = (typeof MODEL_NAMES)[number];

/** What a model needs to know of a task: coordinate dims per group, the output, the s-domain. */
export interface TaskShape {
  /** Dims of x (fixed effects), s (space), t (time); absent = none. Default { s: 2 }. */
  readonly dims?: { readonly x?: number; readonly s?: number; readonly t?: number };
  /** Default Gaussian, 1 value, min std 0. */
  readonly output?: OutputConfig;
  /** Bounding box of the s locations (ConvCNP grids it with 0.5 padding). Default [-2, 2]². */
  readonly domain?: { readonly lo: readonly number[]; readonly hi: readonly number[] };
}

const GAUSS: OutputConfig = { kind: 'gaussian', dims: 1, minStd: 0 };

function bias(g: GroupName, output: OutputConfig, distance: BiasConfig['distance'] = 'euclidean'): BiasConfig {
  // model.md §5.2 / §9: s → RBF F=5 (TISA for the categorical SIR configs), t → RBF F=3.
  if (g === 's') return { family: output.kind === 'categorical' ? 'tisa' : 'rbf', numBasis: 5, distance };
  return { family: 'rbf', numBasis: 3, distance: 'euclidean' };
}

/** Groups of a task: x always embedded without bias; s, t per `embed` / `biased`. */
function groupsOf(task: TaskShape, embed: boolean, biased: boolean, distance?: BiasConfig['distance']): ModelConfig['groups'] {
  const dims = task.dims ?? { s: 2 };
  const output = task.output ?? GAUSS;
  const group = (g: GroupName): GroupConfig | null => {
    const n = dims[g];
    if (n === undefined || n === 0) return null;
    if (g === 'x') return { dims: n, embed: true, bias: null };
    return { dims: n, embed, bias: biased ? bias(g, output, distance) : null };
  };
  return { x: group('x'), s: group('s'), t: group('t') };
}

/**
 * The configuration of a named model for a task shape (reference sizes, baselines.md):
 * `bsa-tnp` / `only-bias`: s, t only in the biases; `sa-tnp`: s, t in the tokens, scan attention
 * without bias; `only-embed`: the same with dense attention; `geo-bsa-tnp`: great-circle RBF bias on
 * s = (lon°, lat°); `tnp-d` (post-norm) / `tnp-d-prenorm`; `te-tnp` (M = 32), `te-tnp-128`,
 * `te-tnp-vanilla` (M = 0); `convcnp` (grid = domain ± 0.5, 16 points per unit; 2-D s only).
 * Throws `ConfigError` for a name it does not know or a task the model cannot take.
 */
export function modelConfigFor(name: string, task: TaskShape = {}): AnyModelConfig {
  const output = task.output ?? GAUSS;
  const bsa = (embed: boolean, biased: boolean, attention: 'scan' | 'dense', distance?: BiasConfig['distance']): ModelConfig =>
    ({ ...DEFAULT_CONFIG, groups: groupsOf(task, embed, biased, distance), output, attention });
  const noBias = (embed: boolean) => groupsOf(task, embed, false);
  // TE-TNP reads every group, covariates x included, only through differences (baselines.md §2).
  const coordsOnly = () => { const g = noBias(false); return { ...g, x: g.x && { ...g.x, embed: false } }; };
  switch (name) {
    case 'bsa-tnp':
    case 'only-bias': return bsa(false, true, 'scan');
    case 'sa-tnp': return bsa(true, false, 'scan');
    case 'only-embed': return bsa(true, false, 'dense');
    case 'geo-bsa-tnp':
      if ((task.dims ?? { s: 2 }).s !== 2) throw new ConfigError('model', 'geo-bsa-tnp needs s = (lon°, lat°), 2 dims');
      return bsa(false, true, 'scan', 'great-circle');
    case 'tnp-d': return { ...DEFAULT_TNPD, groups: noBias(true), output };
    case 'tnp-d-prenorm': return { ...DEFAULT_TNPD, norm: 'pre' as const, groups: noBias(true), output };
    case 'te-tnp': return { ...DEFAULT_TETNP, groups: coordsOnly(), output };
    case 'te-tnp-128': return { ...DEFAULT_TETNP, pseudoTokens: 128, groups: coordsOnly(), output };
    case 'te-tnp-vanilla': return { ...DEFAULT_TETNP, pseudoTokens: 0, groups: coordsOnly(), output };
    case 'convcnp': {
      const d = task.dims ?? { s: 2 };
      if (d.s !== 2 || d.x || d.t) throw new ConfigError('model', 'convcnp is 2-D: it takes tasks with 2-D s and no x or t');
      return { ...DEFAULT_CONVCNP, groups: noBias(false), output, grid: convCnpGrid(task) };
    }
    default:
      throw new ConfigError('model', `unknown model '${name}'; expected one of ${MODEL_NAMES.join(', ')}`);
  }
}

/** ConvCNP's grid bounds for a task: its s-domain with 0.5 padding (baselines.md §3). */
export function convCnpGrid(task: TaskShape): { lo: number[]; hi: number[] } {
  const dom = task.domain ?? { lo: [-2, -2], hi: [2, 2] };
  return { lo: dom.lo.map((v) => v - 0.5), hi: dom.hi.map((v) => v + 0.5) };
}

/**
 * A trained configuration for evaluation on another task: ConvCNP re-gridded onto that task's
 * domain (baselines.md §3: "the shifted/scaled runs use re-gridded copies of the trained weights";
 * the grid size is not a parameter, so the weights fit any grid); every other model unchanged.
 */
export function regridFor(config: AnyModelConfig, task: TaskShape): AnyModelConfig {
  return config.kind === 'convcnp' ? { ...config, grid: convCnpGrid(task) } : config;
}

/** The model a configuration describes. `options` (precision, tiles) apply to BSA-TNP only. */
export function buildModel(config: AnyModelConfig, options: BsaTnpOptions = {}): NeuralProcess {
  switch (config.kind) {
    case 'tnp-d': return new TnpD(config);
    case 'te-tnp': return new TeTnp(config);
    case 'convcnp': return new ConvCnp(config);
    default: return new BsaTnp(config, options);
  }
}

/** Trainable parameters a configuration implies (without building the model). */
export function countModelParameters(config: AnyModelConfig): number {
  switch (config.kind) {
    case 'tnp-d':
    case 'te-tnp':
    case 'convcnp': return baselineParameters(config);
    default: return countParameters(config);
  }
}

/** `config` as a BSA-TNP configuration, for code that only BSA-TNP serves (f16 benchmarks); throws otherwise. */
export function asBsaTnpConfig(config: AnyModelConfig, where: string): ModelConfig {
  if (config.kind !== undefined && config.kind !== 'bsa-tnp') {
    throw new ConfigError(`${where}.kind`, `expected a BSA-TNP model, got "${config.kind}"`);
  }
  return config;
}
