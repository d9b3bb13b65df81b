/**
 * Typed configuration of a BSA-TNP model (model.md §3–§9), the data schema stored beside it in a
 * model folder's `config.json`; re-exports the training configuration (train-config.ts).
 *
 * Configuration is JSON only: no YAML parser is installed and we add no dependency for it.
 * `parseConfig` / `parseModelFolderConfig` / `parseTrainConfig` validate untrusted JSON; fields that
 * are absent take the value of the defaults below (explicit `null` disables an optional group),
 * unknown fields are errors. Files written by us always hold every field.
 * No Node built-ins here.
 */
import {
  ConfigError,
  boolean,
  numberIn,
  object,
  oneOf,
  or,
  positiveInt,
  positiveIntArray,
} from './config-checks.js';
import { parseGroup, parseOutput } from './config-groups.js';
import { type BaselineConfig, BASELINE_KINDS, parseBaselineConfig } from './baseline-config.js';

import { type TrainConfig, parseTrainConfig } from './train-config.js';
import { type DataSchema, parseDataSchema } from './data-schema.js';

export { ConfigError } from './config-checks.js';
// The data schema (column names, units, normalisation, categories, times, transforms) lives in data-schema.ts.
export {
  DEFAULT_DATA_SCHEMA, type CategoryList, type ColumnStats, type DataSchema, type TimeEncoding, type TimeUnit, type ValueTransform,
  TIME_UNITS,
} from './data-schema.js';
// The training configuration lives in train-config.ts; re-exported so one import serves both.
export { DEFAULT_TRAIN_CONFIG, type TaskConfig, type TrainConfig, learningRate, parseTrainConfig } from './train-config.js';

export type Activation = 'gelu' | 'relu';
/** `euclidean`: ‖cᵢ − cⱼ‖₂; `great-circle`: (lon°, lat°) → degrees of arc (model.md §5.1). */
export type Distance = 'euclidean' | 'great-circle';
/** Bias families of model.md §5.2. */
export type BiasFamily = 'rbf' | 'tisa' | 'exponential' | 'scalar';
/** `scan`: biased scan attention (bsa.md); `dense`: materialised softmax (only_embed ablation, tests). */
export type AttentionKind = 'scan' | 'dense';
export type GroupName = 'x' | 's' | 't';
export const GROUP_NAMES: readonly GroupName[] = ['x', 's', 't'];

export interface BiasConfig {
  readonly family: BiasFamily;
  /** Basis functions F per head (ignored by `scalar`, which has one parameter per head). */
  readonly numBasis: number;
  readonly distance: Distance;
  /**
   * RBF only (ours, off by default): start the basis functions untied, basis k ≥ 2 with lengthscale
   * `untie[k − 2]` and amplitude 0 (nn/bias.ts). numBasis − 1 positive numbers. Only the initial
   * values change, not the parameters: weights load whichever way they were started.
   */
  readonly untie?: readonly number[];
}

/** One coordinate group (`x` fixed effects, `s` space, `t` time). */
export interface GroupConfig {
  readonly dims: number;
  /** Concatenate this group into the tokens (model.md §3). Off for translation invariance. */
  readonly embed: boolean;
  /** Attention bias from this group's pairwise distances, or `null` for none. */
  readonly bias: BiasConfig | null;
}

export type OutputConfig =
  /**
   * Diagonal Gaussian over `dims` values; σ = minStd + (1 − minStd)·softplus(ρ) (model.md §6).
   * `standardize` (ours, BSA-TNP only; absent = false): each task's context values are centred and
   * scaled by their own mean and standard deviation before the model sees them, and the predicted
   * mean and std are mapped back (μ·s + m, σ·s), so predictions are equivariant to an affine change
   * of the values' units and a prior need not learn the signal's scale.
   * `trend` (ours, needs standardize and an `s` group; absent = none): a per-task least-squares
   * polynomial in the locations s ('linear' or 'quadratic', models/trend.ts) is taken off the
   * context values with their mean and added back to the predicted mean, and s is the residuals'
   * std (universal kriging's drift), so a smooth field's broad shape need not pass through the
   * attention.
   */
  | { readonly kind: 'gaussian'; readonly dims: number; readonly minStd: number; readonly standardize?: boolean; readonly trend?: 'linear' | 'quadratic' }
  /** Categorical over `classes` (one-hot `f` of width `classes` in the tokens). */
  | { readonly kind: 'categorical'; readonly classes: number };

export interface ModelConfig {
  /**
   * Absent (every model folder written before the baselines) or 'bsa-tnp'. Other kinds are the
   * baselines (baseline-config.ts); `AnyModelConfig` is the union.
   */
  readonly kind?: 'bsa-tnp';
  readonly groups: { readonly x: GroupConfig | null; readonly s: GroupConfig | null; readonly t: GroupConfig | null };
  readonly output: OutputConfig;
  /** L: KR blocks, each with its own parameters. */
  readonly blocks: number;
  /** R: repeats of each block (shared parameters). */
  readonly reps: number;
  /** E: token width. */
  readonly embedDim: number;
  readonly heads: number;
  /** Width of one head; the q/k/v projections are E → heads·headDim. */
  readonly headDim: number;
  /** Width of each row of the 2-row observed/unobserved embedding table. */
  readonly obsEmbedDim: number;
  /** MLP_in widths; the last must equal `embedDim`. */
  readonly inputMlp: readonly number[];
  /** FFN widths; the last must equal `embedDim`. */
  readonly ffn: readonly number[];
  /** Hidden widths of the head MLP; its output layer (2·Df or #classes) is implied by `output`. */
  readonly headHidden: readonly number[];
  readonly activation: Activation;
  readonly layerNormEps: number;
  readonly attention: AttentionKind;
  /** BSA tile sizes (queries × keys per chunk). */
  readonly tile: { readonly queries: number; readonly keys: number };
}

/** What the data side (batches, data schema, predictor) reads of any model's configuration. */
export interface ModelIo {
  readonly groups: { readonly x: GroupConfig | null; readonly s: GroupConfig | null; readonly t: GroupConfig | null };
  readonly output: OutputConfig;
}

/** BSA-TNP or one of the baselines (baselines.md), told apart by `kind` (absent = BSA-TNP). */
export type AnyModelConfig = ModelConfig | BaselineConfig;

/** The model kinds a configuration's `kind` field may name. */
export const MODEL_KINDS = ['bsa-tnp', ...BASELINE_KINDS] as const;
export type ModelKind = (typeof MODEL_KINDS)[number];

export function modelKind(config: AnyModelConfig): ModelKind {
  return config.kind ?? 'bsa-tnp';
}

/**
 * Validates any model configuration: `kind` absent or "bsa-tnp" → `parseConfig`, otherwise the
 * baseline's parser. Errors name the field as `parseConfig`'s do.
 */
export function parseAnyConfig(json: unknown, path = 'config'): AnyModelConfig {
  const kind = json !== null && typeof json === 'object' && !Array.isArray(json) ? (json as Record<string, unknown>).kind : undefined;
  if (kind === undefined || kind === 'bsa-tnp') return parseConfig(json, path);
  return parseBaselineConfig(json, path, oneOf(kind, `${path}.kind`, MODEL_KINDS));
}

/** The paper's 2-D GP BSA-TNP (model.md §8–§9): 475,770 parameters. */
export const DEFAULT_CONFIG = {
  groups: {
    x: null,
    s: { dims: 2, embed: false, bias: { family: 'rbf', numBasis: 5, distance: 'euclidean' } },
    t: null,
  },
  output: { kind: 'gaussian', dims: 1, minStd: 0 },
  blocks: 6,
  reps: 1,
  embedDim: 64,
  heads: 4,
  headDim: 32,
  obsEmbedDim: 4,
  inputMlp: [256, 128, 64],
  ffn: [256, 64],
  headHidden: [256, 64],
  activation: 'gelu',
  layerNormEps: 1e-6,
  attention: 'scan',
  tile: { queries: 1024, keys: 1024 },
} as const satisfies ModelConfig;

/** Df: width of `f` in the tokens (Gaussian dims, or one-hot classes). */
export function valueDims(config: ModelIo): number {
  return config.output.kind === 'gaussian' ? config.output.dims : config.output.classes;
}

/** P: width of the head's output layer (2·Df for Gaussian, #classes for categorical). */
export function headOutputDims(config: ModelIo): number {
  return config.output.kind === 'gaussian' ? 2 * config.output.dims : config.output.classes;
}

/** Width of a token before MLP_in: obs embedding + embedded groups + Df. */
export function tokenDims(config: ModelConfig): number {
  let n = config.obsEmbedDim + valueDims(config);
  for (const g of GROUP_NAMES) {
    const group = config.groups[g];
    if (group !== null && group.embed) n += group.dims;
  }
  return n;
}

function mlpParameters(input: number, widths: readonly number[]): number {
  let n = 0;
  let fanIn = input;
  for (const w of widths) {
    n += fanIn * w + w;
    fanIn = w;
  }
  return n;
}

/** Parameters of one bias function (per block). */
export function biasParameters(bias: BiasConfig, heads: number): number {
  switch (bias.family) {
    case 'rbf':
    case 'exponential':
      return 2 * heads * bias.numBasis;
    case 'tisa':
      return 3 * heads * bias.numBasis;
    case 'scalar':
      return heads;
  }
}

/** Number of trainable parameters implied by the layer layout of model.md §3–§4 (§10 test 5). */
export function countParameters(config: ModelConfig): number {
  const e = config.embedDim;
  const inner = config.heads * config.headDim;
  const ln = 2 * e;
  let block = 2 * ln + 3 * (e * inner + inner) + (inner * e + e) + mlpParameters(e, config.ffn);
  for (const g of GROUP_NAMES) {
    const bias = config.groups[g]?.bias;
    if (bias) block += biasParameters(bias, config.heads);
  }
  return (
    2 * config.obsEmbedDim +
    mlpParameters(tokenDims(config), config.inputMlp) + ln +
    config.blocks * block +
    ln + mlpParameters(e, [...config.headHidden, headOutputDims(config)])
  );
}

// ---------------------------------------------------------------------------------------------
// Model config parsing

const MODEL_FIELDS = [...Object.keys(DEFAULT_CONFIG), 'kind'] as (keyof ModelConfig)[];

/**
 * Validates a model configuration (the `model` section of a model folder's `config.json`, or a
 * stand-alone file). Absent fields take `DEFAULT_CONFIG`'s values.
 *
 * **Arguments**: `json` – parsed JSON; `path` – name used in error messages (default `config`).
 * **Returns** a complete `ModelConfig`. Throws `ConfigError` naming the field, e.g.
 * `config.blocks: expected a positive integer, got -1`.
 */
export function parseConfig(json: unknown, path = 'config'): ModelConfig {
  const o = object(json, path, MODEL_FIELDS);
  if (o.kind !== undefined && o.kind !== 'bsa-tnp') {
    throw new ConfigError(`${path}.kind`, `parseConfig reads BSA-TNP configurations only, got ${JSON.stringify(o.kind)} (use parseAnyConfig)`);
  }
  const d: ModelConfig = DEFAULT_CONFIG;
  const groupsIn = object(or(o.groups, {}), `${path}.groups`, GROUP_NAMES);
  const groups = {
    x: parseGroup(or(groupsIn.x, d.groups.x), `${path}.groups.x`, 'x', d.groups.x),
    s: parseGroup(or(groupsIn.s, d.groups.s), `${path}.groups.s`, 's', d.groups.s),
    t: parseGroup(or(groupsIn.t, d.groups.t), `${path}.groups.t`, 't', d.groups.t),
  };
  const tileIn = object(or(o.tile, {}), `${path}.tile`, ['queries', 'keys']);
  const config: ModelConfig = {
    groups,
    output: parseOutput(or(o.output, {}), `${path}.output`, d.output),
    blocks: positiveInt(or(o.blocks, d.blocks), `${path}.blocks`),
    reps: positiveInt(or(o.reps, d.reps), `${path}.reps`),
    embedDim: positiveInt(or(o.embedDim, d.embedDim), `${path}.embedDim`),
    heads: positiveInt(or(o.heads, d.heads), `${path}.heads`),
    headDim: positiveInt(or(o.headDim, d.headDim), `${path}.headDim`),
    obsEmbedDim: positiveInt(or(o.obsEmbedDim, d.obsEmbedDim), `${path}.obsEmbedDim`),
    inputMlp: positiveIntArray(or(o.inputMlp, d.inputMlp), `${path}.inputMlp`),
    ffn: positiveIntArray(or(o.ffn, d.ffn), `${path}.ffn`),
    headHidden: positiveIntArray(or(o.headHidden, d.headHidden), `${path}.headHidden`),
    activation: oneOf(or(o.activation, d.activation), `${path}.activation`, ['gelu', 'relu'] as const),
    layerNormEps: numberIn(or(o.layerNormEps, d.layerNormEps), `${path}.layerNormEps`, 0, 1, { lo: true }),
    attention: oneOf(or(o.attention, d.attention), `${path}.attention`, ['scan', 'dense'] as const),
    tile: {
      queries: positiveInt(or(tileIn.queries, d.tile.queries), `${path}.tile.queries`),
      keys: positiveInt(or(tileIn.keys, d.tile.keys), `${path}.tile.keys`),
    },
  };
  const e = config.embedDim;
  if (config.inputMlp.at(-1) !== e) {
    throw new ConfigError(`${path}.inputMlp`, `last width must equal embedDim (${e}), got ${JSON.stringify(config.inputMlp)}`);
  }
  if (config.ffn.at(-1) !== e) {
    throw new ConfigError(`${path}.ffn`, `last width must equal embedDim (${e}) for the residual, got ${JSON.stringify(config.ffn)}`);
  }
  if (config.output.kind === 'gaussian' && config.output.trend && groups.s === null) {
    throw new ConfigError(`${path}.output.trend`, 'is a trend in the locations s, and the model has no s group');
  }
  return config;
}

// ---------------------------------------------------------------------------------------------
// Data schema and model folder config

/** Format version written into every model folder's config.json. */
export const MODEL_FOLDER_FORMAT_VERSION = 1;

/** A model folder's `config.json`. */
export interface ModelFolderConfig {
  readonly formatVersion: number;
  readonly model: AnyModelConfig;
  readonly data: DataSchema;
  /** How the weights were trained, when known. */
  readonly training: TrainConfig | null;
}

/**
 * The data schema a model gets when none is given: default column names for its own group dims
 * and output (s0, s1, … per group; `f` or f0, f1, …), no units, no normalisation.
 */
export function defaultDataSchema(model: ModelIo): DataSchema {
  return parseDataSchema({}, 'data', model);
}

/**
 * Validates a model folder's `config.json`:
 * `{ formatVersion: 1, model: AnyModelConfig (BSA-TNP or a baseline), data: DataSchema, training: TrainConfig | null }`.
 * `data.columns` must agree with the model's group dims and output.
 */
export function parseModelFolderConfig(json: unknown, path = 'config.json'): ModelFolderConfig {
  const o = object(json, path, ['formatVersion', 'model', 'data', 'training']);
  if (o.formatVersion === undefined) throw new ConfigError(`${path}.formatVersion`, `required (this version of bsa-tnp writes ${MODEL_FOLDER_FORMAT_VERSION})`);
  const formatVersion = positiveInt(o.formatVersion, `${path}.formatVersion`);
  if (formatVersion !== MODEL_FOLDER_FORMAT_VERSION) {
    throw new ConfigError(`${path}.formatVersion`, `expected ${MODEL_FOLDER_FORMAT_VERSION}, got ${formatVersion} (written by a different version of bsa-tnp)`);
  }
  if (o.model === undefined) throw new ConfigError(`${path}.model`, 'required (the model configuration)');
  const model = parseAnyConfig(o.model, `${path}.model`);
  const data = parseDataSchema(or(o.data, {}), `${path}.data`, model);
  const training = o.training === undefined || o.training === null ? null : parseTrainConfig(o.training, `${path}.training`);
  return { formatVersion, model, data, training };
}
