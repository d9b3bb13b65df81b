/**
 * Model folders and training checkpoints on disk (Node only), laid out as Hugging Face users expect:
 *
 *   <folder>/config.json             { formatVersion, model, data, training }  (models/config.ts)
 *   <folder>/model.safetensors       weights by dotted parameter name (F32)
 *   -- a training checkpoint adds --
 *   <folder>/optimizer.safetensors   AdamW moments: "m.<name>", "v.<name>" for every parameter
 *   <folder>/trainer_state.json      step, Rng states of every stream, schedule, best validation,
 *                                    the train config, wall time
 *   <folder>/best/                   model folder (config.json + model.safetensors) of the best
 *                                    validation NLL so far, when a validation has run
 *
 * Every write replaces the whole folder atomically (atomic.ts: temp folder, fsync, rename swap), so
 * a crash or SIGKILL at any point leaves the previous complete checkpoint. Loading recovers an
 * interrupted swap first, then validates everything: JSON syntax and schema, tensor names (missing
 * or extra), shapes against the configuration, and the safetensors framing (truncation, bad
 * offsets). Every error is a `CheckpointError` naming the file and the problem.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Rng } from '../engine/random.js';
import { buildModel } from '../models/registry.js';
import {
  ConfigError, MODEL_FOLDER_FORMAT_VERSION, parseModelFolderConfig, parseTrainConfig,
  type AnyModelConfig, type ModelFolderConfig, type TrainConfig,
} from '../models/config.js';
import { type FolderWriteHooks, recoverFolder, writeFolderAtomic } from './atomic.js';
import { SafetensorsError, type TensorF32 } from './safetensors.js';
import { readSafetensorsFile, writeSafetensorsFile } from './safetensors-file.js';

export const CONFIG_FILE = 'config.json';
export const WEIGHTS_FILE = 'model.safetensors';
export const OPTIMIZER_FILE = 'optimizer.safetensors';
export const TRAINER_STATE_FILE = 'trainer_state.json';
export const BEST_DIR = 'best';
export const TRAINER_STATE_VERSION = 1;
const METADATA = { library: 'bsa-tnp', format: 'pt' } as const;

export class CheckpointError extends Error {
  constructor(file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'CheckpointError';
  }
}

/** Weights by dotted name, host side. */
export type Weights = Map<string, TensorF32>;

/** Serialisable state of `BatchStream` (data/stream.ts). */
export interface StreamState {
  rng: [number, number, number];
  group: [number, number, number] | null;
  index: number;
}

export interface ValidationRecord {
  step: number;
  nll: number;
  rmse: number;
  mae: number;
  coverage: number;
  oracleNll: number | null;
}

/** trainer_state.json */
export interface TrainerState {
  formatVersion: number;
  /** Completed optimiser steps. */
  step: number;
  /** Rng states: `data` (training batches), `valid` (fixed key of the validation tasks). */
  rng: { data: StreamState; valid: [number, number, number] };
  /** The schedule the steps follow, and the lr of the next step (informational). */
  schedule: { kind: 'cosine' | 'constant'; lr0: number; alpha: number; steps: number; nextLr: number };
  best: ValidationRecord | null;
  validations: ValidationRecord[];
  /** Wall-clock seconds spent training, over all runs. */
  elapsedSeconds: number;
  train: TrainConfig;
}

export interface Checkpoint {
  config: ModelFolderConfig;
  weights: Weights;
  /** m, v per parameter name. */
  moments: { m: Weights; v: Weights };
  state: TrainerState;
}

// ------------------------------------------------------------------ shapes expected by a config

/** Parameter names and shapes of a model configuration, in the model's order. */
export function expectedShapes(model: AnyModelConfig): { name: string; shape: readonly number[] }[] {
  return buildModel(model).specs(Rng.fromSeed(0)).map((s) => ({ name: s.name, shape: s.shape }));
}

function checkTensors(file: string, got: Weights, expected: readonly { name: string; shape: readonly number[] }[], prefix = ''): void {
  const want = new Map(expected.map((e) => [prefix + e.name, e.shape]));
  const missing = [...want.keys()].filter((n) => !got.has(n));
  const extra = [...got.keys()].filter((n) => !want.has(n));
  const list = (xs: string[]) => xs.slice(0, 5).join(', ') + (xs.length > 5 ? `, … (${xs.length} in all)` : '');
  if (missing.length > 0) throw new CheckpointError(file, `missing tensor(s) ${list(missing)} that the configuration needs`);
  if (extra.length > 0) throw new CheckpointError(file, `unexpected tensor(s) ${list(extra)} not in the configuration`);
  for (const [n, shape] of want) {
    const t = got.get(n)!;
    if (t.shape.join() !== shape.join()) {
      throw new CheckpointError(file, `tensor '${n}' has shape [${t.shape.join(', ')}], the configuration needs [${shape.join(', ')}]`);
    }
  }
}

// ------------------------------------------------------------------ reading

function readJson(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CheckpointError(file, code === 'ENOENT' ? 'file not found' : `cannot read (${String(e)})`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(file, `not valid JSON (${(e as Error).message}); the file is corrupt or truncated`);
  }
}

function readTensors(file: string): Weights {
  if (!fs.existsSync(file)) throw new CheckpointError(file, 'file not found');
  try {
    return readSafetensorsFile(file).tensors;
  } catch (e) {
    if (e instanceof SafetensorsError) throw new CheckpointError(file, e.message.replace(`${file}: `, ''));
    throw e;
  }
}

/** Reads and validates `<folder>/config.json`. */
export function readModelConfig(folder: string): ModelFolderConfig {
  const file = path.join(folder, CONFIG_FILE);
  try {
    return parseModelFolderConfig(readJson(file), CONFIG_FILE);
  } catch (e) {
    if (e instanceof ConfigError) throw new CheckpointError(file, e.message);
    throw e;
  }
}

/**
 * Loads a model folder: config.json + model.safetensors, with every tensor checked against the
 * configuration. Recovers an interrupted atomic write first.
 */
export function loadModelFolder(folder: string): { config: ModelFolderConfig; weights: Weights } {
  if (recoverFolder(folder) === 'missing') throw new CheckpointError(folder, 'model folder not found');
  const config = readModelConfig(folder);
  const file = path.join(folder, WEIGHTS_FILE);
  const weights = readTensors(file);
  checkTensors(file, weights, expectedShapes(config.model));
  return { config, weights };
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);
const isU32 = (v: unknown): v is number => isInt(v) && v >= 0 && v <= 0xffffffff;
const isTriple = (v: unknown): v is [number, number, number] =>
  Array.isArray(v) && v.length === 3 && isU32(v[0]) && isU32(v[1]) && isInt(v[2]) && v[2] >= 0;

function parseRecord(v: unknown, file: string, where: string): ValidationRecord {
  const o = v as Record<string, unknown> | null;
  // null: oracleNll off GP tasks; rmse, mae, coverage of a categorical output (NaN written as null).
  const num = (k: string) => typeof o?.[k] === 'number' || (k !== 'nll' && o?.[k] === null);
  if (!o || typeof o !== 'object' || !isInt(o.step) || !['nll', 'rmse', 'mae', 'coverage', 'oracleNll'].every(num)) {
    throw new CheckpointError(file, `${where}: expected { step, nll, rmse, mae, coverage, oracleNll }, got ${JSON.stringify(v)}`);
  }
  const nan = (x: unknown) => (x === null ? NaN : x as number);
  return { step: o.step, nll: o.nll as number, rmse: nan(o.rmse), mae: nan(o.mae), coverage: nan(o.coverage), oracleNll: o.oracleNll as number | null };
}

/** Validates trainer_state.json. */
export function parseTrainerState(json: unknown, file = TRAINER_STATE_FILE): TrainerState {
  const o = json as Record<string, unknown> | null;
  if (!o || typeof o !== 'object' || Array.isArray(o)) throw new CheckpointError(file, `expected an object, got ${JSON.stringify(json)}`);
  if (o.formatVersion !== TRAINER_STATE_VERSION) {
    throw new CheckpointError(file, `formatVersion: expected ${TRAINER_STATE_VERSION}, got ${JSON.stringify(o.formatVersion)}`);
  }
  if (!isInt(o.step) || o.step < 0) throw new CheckpointError(file, `step: expected a non-negative integer, got ${JSON.stringify(o.step)}`);
  const rng = o.rng as Record<string, unknown> | undefined;
  const data = rng?.data as Record<string, unknown> | undefined;
  if (!rng || !data || !isTriple(data.rng) || !(data.group === null || isTriple(data.group)) || !isInt(data.index) || !isTriple(rng.valid)) {
    throw new CheckpointError(file, `rng: expected { data: { rng: [k0, k1, n], group: [k0, k1, n] | null, index }, valid: [k0, k1, n] }, got ${JSON.stringify(o.rng)}`);
  }
  const s = o.schedule as Record<string, unknown> | undefined;
  if (!s || (s.kind !== 'cosine' && s.kind !== 'constant') || typeof s.lr0 !== 'number' || typeof s.alpha !== 'number' ||
    !isInt(s.steps) || typeof s.nextLr !== 'number') {
    throw new CheckpointError(file, `schedule: expected { kind, lr0, alpha, steps, nextLr }, got ${JSON.stringify(o.schedule)}`);
  }
  if (typeof o.elapsedSeconds !== 'number' || !(o.elapsedSeconds >= 0)) {
    throw new CheckpointError(file, `elapsedSeconds: expected a number ≥ 0, got ${JSON.stringify(o.elapsedSeconds)}`);
  }
  if (!Array.isArray(o.validations)) throw new CheckpointError(file, `validations: expected an array, got ${JSON.stringify(o.validations)}`);
  let train: TrainConfig;
  try {
    train = parseTrainConfig(o.train, 'train');
  } catch (e) {
    if (e instanceof ConfigError) throw new CheckpointError(file, e.message);
    throw e;
  }
  const known = ['formatVersion', 'step', 'rng', 'schedule', 'best', 'validations', 'elapsedSeconds', 'train'];
  const unknown = Object.keys(o).filter((k) => !known.includes(k));
  if (unknown.length > 0) throw new CheckpointError(file, `unknown field(s) ${unknown.join(', ')}`);
  return {
    formatVersion: TRAINER_STATE_VERSION,
    step: o.step,
    rng: {
      data: { rng: data.rng, group: data.group as [number, number, number] | null, index: data.index },
      valid: rng.valid,
    },
    schedule: { kind: s.kind, lr0: s.lr0, alpha: s.alpha, steps: s.steps, nextLr: s.nextLr },
    best: o.best === null || o.best === undefined ? null : parseRecord(o.best, file, 'best'),
    validations: o.validations.map((v, i) => parseRecord(v, file, `validations[${i}]`)),
    elapsedSeconds: o.elapsedSeconds,
    train,
  };
}

/**
 * Loads a full training checkpoint (model folder + optimizer.safetensors + trainer_state.json),
 * validating every file. Recovers an interrupted atomic write first.
 */
export function loadCheckpoint(folder: string): Checkpoint {
  const { config, weights } = loadModelFolder(folder);
  const optFile = path.join(folder, OPTIMIZER_FILE);
  const stateFile = path.join(folder, TRAINER_STATE_FILE);
  if (!fs.existsSync(optFile) || !fs.existsSync(stateFile)) {
    throw new CheckpointError(folder, `not a training checkpoint: ${OPTIMIZER_FILE} and ${TRAINER_STATE_FILE} are needed to resume (a model folder has only ${CONFIG_FILE} and ${WEIGHTS_FILE})`);
  }
  const all = readTensors(optFile);
  const shapes = expectedShapes(config.model);
  const m: Weights = new Map();
  const v: Weights = new Map();
  for (const [n, t] of all) {
    if (n.startsWith('m.')) m.set(n.slice(2), t);
    else if (n.startsWith('v.')) v.set(n.slice(2), t);
    else throw new CheckpointError(optFile, `unexpected tensor '${n}' (expected "m.<param>" or "v.<param>")`);
  }
  checkTensors(optFile, prefixed(m, 'm.'), shapes, 'm.');
  checkTensors(optFile, prefixed(v, 'v.'), shapes, 'v.');
  const state = parseTrainerState(readJson(stateFile), stateFile);
  return { config, weights, moments: { m, v }, state };
}

function prefixed(w: Weights, p: string): Weights {
  return new Map([...w].map(([k, t]) => [p + k, t]));
}

// ------------------------------------------------------------------ writing

function configJson(config: ModelFolderConfig): string {
  return `${JSON.stringify({ ...config, formatVersion: MODEL_FOLDER_FORMAT_VERSION }, null, 2)}\n`;
}

/** Writes config.json + model.safetensors into an existing directory (non-atomic; used inside folder writes). */
function writeModelFiles(dir: string, config: ModelFolderConfig, weights: Weights): void {
  checkTensors(path.join(dir, WEIGHTS_FILE), weights, expectedShapes(config.model));
  fs.writeFileSync(path.join(dir, CONFIG_FILE), configJson(config));
  writeSafetensorsFile(path.join(dir, WEIGHTS_FILE), weights, METADATA);
}

/** Writes a model folder (config.json + model.safetensors) atomically. */
export async function saveModelFolder(folder: string, config: ModelFolderConfig, weights: Weights, hooks: FolderWriteHooks = {}): Promise<string> {
  return writeFolderAtomic(folder, (tmp) => writeModelFiles(tmp, config, weights), hooks);
}

export interface SaveCheckpointArgs {
  config: ModelFolderConfig;
  weights: Weights;
  moments: { m: Weights; v: Weights };
  state: TrainerState;
  /** New best weights to store in `best/`; absent keeps the folder's current `best/` (if any). */
  best?: Weights;
}

/**
 * Writes a training checkpoint atomically (the whole folder is swapped in one rename; `best/` is
 * carried over from the previous checkpoint unless new best weights are given).
 */
export async function saveCheckpoint(folder: string, args: SaveCheckpointArgs, hooks: FolderWriteHooks = {}): Promise<string> {
  const abs = path.resolve(folder);
  return writeFolderAtomic(abs, (tmp) => {
    writeModelFiles(tmp, args.config, args.weights);
    const opt: Weights = new Map();
    for (const [n, t] of args.moments.m) opt.set(`m.${n}`, t);
    for (const [n, t] of args.moments.v) opt.set(`v.${n}`, t);
    const shapes = expectedShapes(args.config.model);
    checkTensors(path.join(tmp, OPTIMIZER_FILE), opt, [...shapes.map((s) => ({ ...s, name: `m.${s.name}` })), ...shapes.map((s) => ({ ...s, name: `v.${s.name}` }))]);
    writeSafetensorsFile(path.join(tmp, OPTIMIZER_FILE), opt, METADATA);
    fs.writeFileSync(path.join(tmp, TRAINER_STATE_FILE), `${JSON.stringify(args.state, null, 2)}\n`);
    const bestDir = path.join(tmp, BEST_DIR);
    if (args.best) {
      fs.mkdirSync(bestDir);
      writeModelFiles(bestDir, args.config, args.best);
    } else {
      const prev = path.join(abs, BEST_DIR);
      if (fs.existsSync(prev)) fs.cpSync(prev, bestDir, { recursive: true });
    }
  }, hooks);
}
