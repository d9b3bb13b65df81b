/**
 * Model folders (Node only): `config.json` (format version, model config, data schema, training
 * config) + `model.safetensors` (F32 weights by dotted parameter name), written atomically as one
 * folder (atomic.ts) and read with errors that say which file is wrong and how.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  MODEL_FOLDER_FORMAT_VERSION,
  type DataSchema,
  type ModelConfig,
  type ModelFolderConfig,
  type TrainConfig,
  parseModelFolderConfig,
} from '../models/config.js';
import { ConfigError } from '../models/config-checks.js';
import { recoverFolder, writeFolderAtomic } from './atomic.js';
import type { SafetensorsContents, SafetensorsHeader, TensorF32 } from './safetensors.js';
import { SafetensorsError, encodeSafetensors } from './safetensors.js';
import { readSafetensorsFile, readSafetensorsHeaderFile } from './safetensors-file.js';

export const CONFIG_FILE = 'config.json';
export const WEIGHTS_FILE = 'model.safetensors';

/** A model folder is missing, incomplete or corrupt; the message names the file and the problem. */
export class ModelFolderError extends Error {
  override name = 'ModelFolderError';
}

export interface ModelFolderInfo {
  /** Absolute path of the folder. */
  folder: string;
  config: ModelFolderConfig;
  header: SafetensorsHeader;
  /** True when the folder was missing and restored from `<folder>.old` (an interrupted write). */
  recovered: boolean;
}

/** Reads and validates config.json and the header of model.safetensors (no weights). */
export function readModelFolderInfo(folder: string): ModelFolderInfo {
  const abs = path.resolve(folder);
  const state = recoverFolder(abs);
  if (state === 'missing') throw new ModelFolderError(`model folder '${abs}' does not exist`);
  if (!fs.statSync(abs).isDirectory()) throw new ModelFolderError(`'${abs}' is not a folder (expected a model folder with ${CONFIG_FILE} and ${WEIGHTS_FILE})`);
  const configPath = path.join(abs, CONFIG_FILE);
  const weightsPath = path.join(abs, WEIGHTS_FILE);
  const missing = [CONFIG_FILE, WEIGHTS_FILE].filter((f) => !fs.existsSync(path.join(abs, f)));
  if (missing.length > 0) {
    throw new ModelFolderError(`'${abs}' is not a complete model folder: ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} missing`);
  }
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(configPath, 'utf8'));
  } catch (e) {
    throw new ModelFolderError(`${configPath} is not valid JSON (${(e as Error).message})`);
  }
  let config: ModelFolderConfig;
  try {
    config = parseModelFolderConfig(json, CONFIG_FILE);
  } catch (e) {
    if (e instanceof ConfigError) {
      const field = e.path.replace(/^config\.json\.?/, '');
      throw new ModelFolderError(`${configPath}: ${field === '' ? '' : `${field}: `}${e.detail}`);
    }
    throw e;
  }
  let header: SafetensorsHeader;
  try {
    header = readSafetensorsHeaderFile(weightsPath);
  } catch (e) {
    if (e instanceof SafetensorsError) throw new ModelFolderError(e.message);
    throw e;
  }
  return { folder: abs, config, header, recovered: state === 'recovered' };
}

/** Reads a model folder completely: validated config and all weights. */
export function readModelFolder(folder: string): ModelFolderInfo & { weights: SafetensorsContents } {
  const info = readModelFolderInfo(folder);
  try {
    return { ...info, weights: readSafetensorsFile(path.join(info.folder, WEIGHTS_FILE)) };
  } catch (e) {
    if (e instanceof SafetensorsError) throw new ModelFolderError(e.message);
    throw e;
  }
}

/** Number of float values stored in a safetensors header. */
export function storedParameterCount(header: SafetensorsHeader): number {
  return header.entries.reduce((n, e) => n + e.shape.reduce((a, b) => a * b, 1), 0);
}

export interface ModelFolderContents {
  model: ModelConfig;
  data: DataSchema;
  training?: TrainConfig | null;
  weights: ReadonlyMap<string, TensorF32> | Readonly<Record<string, TensorF32>>;
  /** Extra safetensors metadata (strings), e.g. {"step": "100000"}. */
  metadata?: Readonly<Record<string, string>>;
}

/**
 * Writes a model folder atomically (a crash leaves the previous folder intact; see atomic.ts).
 * The config is validated before anything is written.
 */
export async function writeModelFolder(folder: string, contents: ModelFolderContents): Promise<string> {
  const config: ModelFolderConfig = {
    formatVersion: MODEL_FOLDER_FORMAT_VERSION,
    model: contents.model,
    data: contents.data,
    training: contents.training ?? null,
  };
  parseModelFolderConfig(JSON.parse(JSON.stringify(config)), CONFIG_FILE);
  const weights = encodeSafetensors(contents.weights, contents.metadata ?? {});
  return writeFolderAtomic(folder, (tmp) => {
    fs.writeFileSync(path.join(tmp, CONFIG_FILE), `${JSON.stringify(config, null, 2)}\n`);
    fs.writeFileSync(path.join(tmp, WEIGHTS_FILE), weights);
  });
}
