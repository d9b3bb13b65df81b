/**
 * Browser side of the prediction API (no Node built-ins): a compute backend from what the browser
 * offers (WebGPU through `navigator.gpu`, else the single-threaded WebAssembly CPU backend) and a
 * model folder loaded from a URL (`config.json` + `model.safetensors` fetched) or from files the
 * user picked, into a `Predictor`. The Node counterpart is load-node.ts.
 *
 * The CPU backend runs on the calling thread without a worker pool: the pool's `run` blocks with
 * `Atomics.wait`, which a browser's main thread may not do.
 */
import type { Backend } from '../engine/backend.js';
import { CpuBackend } from '../engine/cpu/backend.js';
import { createBrowserWebGPUBackend } from '../engine/webgpu/browser.js';
import { ConfigError } from '../models/config-checks.js';
import { type ModelFolderConfig, parseModelFolderConfig } from '../models/config.js';
import type { BsaTnpOptions } from '../models/bsa-tnp.js';
import { decodeSafetensors, SafetensorsError } from '../train/safetensors.js';
import { UserError } from './errors.js';
import { Predictor } from './predictor.js';

/** Which backend to use: 'auto' tries WebGPU and falls back to the CPU. */
export type BrowserBackendChoice = 'auto' | 'webgpu' | 'cpu';

export interface BrowserBackend {
  backend: Backend;
  /** 'webgpu' or 'cpu'. */
  kind: Backend['kind'];
  description: string;
  /** With 'auto' on the CPU: why WebGPU was not used. */
  fallbackReason?: string;
}

/**
 * Creates a backend. `webgpu` fails with a `UserError` when the browser has no usable WebGPU;
 * `auto` falls back to the CPU and says why in `fallbackReason`.
 */
export async function createBrowserBackend(choice: BrowserBackendChoice = 'auto', command = 'bsa-tnp'): Promise<BrowserBackend> {
  let reason: string | undefined;
  if (choice !== 'cpu') {
    const res = await createBrowserWebGPUBackend();
    if (res.backend) return { backend: res.backend, kind: 'webgpu', description: res.backend.description };
    if (choice === 'webgpu') throw new UserError(`${command}: no WebGPU device (${res.reason}); use the CPU backend`);
    reason = res.reason;
  }
  const backend = new CpuBackend();
  return { backend, kind: 'cpu', description: `WebAssembly ${backend.description}`, ...(reason !== undefined ? { fallbackReason: reason } : {}) };
}

/** The two files of a model folder, as bytes and parsed JSON. */
export interface ModelFolderFiles {
  /** Names the source in messages (a URL or "picked files"). */
  name: string;
  config: unknown;
  weights: Uint8Array;
}

/** A file-like object (a browser `File` or `Blob` with a name). */
export interface NamedBlob {
  readonly name: string;
  arrayBuffer(): Promise<ArrayBuffer>;
  text(): Promise<string>;
}

async function fetchBytes(url: string, command: string): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new UserError(`${command}: cannot load the model: fetching '${url}' failed (${e instanceof Error ? e.message : String(e)})`);
  }
  if (!res.ok) throw new UserError(`${command}: cannot load the model: '${url}' answered ${res.status} ${res.statusText}`.trimEnd());
  return res;
}

/** Fetches `config.json` and `model.safetensors` from a folder URL (relative URLs resolve against the page). */
export async function fetchModelFolder(url: string, command = 'bsa-tnp'): Promise<ModelFolderFiles> {
  const base = url.endsWith('/') ? url : `${url}/`;
  const [c, w] = await Promise.all([fetchBytes(`${base}config.json`, command), fetchBytes(`${base}model.safetensors`, command)]);
  let config: unknown;
  const text = await c.text();
  try {
    config = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${command}: cannot load the model: ${base}config.json is not valid JSON (${(e as Error).message})`);
  }
  return { name: url, config, weights: new Uint8Array(await w.arrayBuffer()) };
}

/** Reads a model folder from picked files: one named `config.json`, one ending in `.safetensors`. */
export async function readModelFiles(files: Iterable<NamedBlob> | ArrayLike<NamedBlob>, command = 'bsa-tnp'): Promise<ModelFolderFiles> {
  const list = Array.from(files as ArrayLike<NamedBlob>);
  const config = list.find((f) => f.name === 'config.json');
  const weights = list.find((f) => f.name.endsWith('.safetensors'));
  if (!config || !weights) {
    throw new UserError(`${command}: cannot load the model: pick both config.json and model.safetensors of a model folder, got ${list.map((f) => `'${f.name}'`).join(', ') || 'no files'}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(await config.text());
  } catch (e) {
    throw new UserError(`${command}: cannot load the model: config.json is not valid JSON (${(e as Error).message})`);
  }
  return { name: weights.name.replace(/\/?[^/]*$/, '') || 'picked files', config: json, weights: new Uint8Array(await weights.arrayBuffer()) };
}

/** Builds a predictor from a model folder's contents; every problem is a `UserError` naming the file. */
export function predictorFromFiles(files: ModelFolderFiles, backend: Backend, command = 'bsa-tnp', options: BsaTnpOptions = {}): Predictor {
  let config: ModelFolderConfig;
  try {
    config = parseModelFolderConfig(files.config, `${files.name}/config.json`);
  } catch (e) {
    if (e instanceof ConfigError) throw new UserError(`${command}: cannot load the model: ${e.message}`);
    throw e;
  }
  let weights: ReturnType<typeof decodeSafetensors>;
  try {
    weights = decodeSafetensors(files.weights);
  } catch (e) {
    if (e instanceof SafetensorsError) throw new UserError(`${command}: cannot load the model: ${files.name}/model.safetensors: ${e.message}`);
    throw e;
  }
  return Predictor.fromWeights(files.name, config, weights.tensors, backend, command, options);
}

/** Where a model comes from: a folder URL, or the picked files of a folder. */
export type ModelSource = string | URL | Iterable<NamedBlob> | ArrayLike<NamedBlob> | ModelFolderFiles;

export interface LoadModelOptions extends BsaTnpOptions {
  /** A backend, or which one to create (default 'auto': WebGPU when available, else CPU). */
  backend?: Backend | BrowserBackendChoice;
  /** Prefix of error messages (default 'bsa-tnp'). */
  command?: string;
}

/**
 * Loads a model folder onto a backend: `loadModel('models/demo-gp2d/')`, or
 * `loadModel(input.files)` with the folder's config.json and model.safetensors picked.
 */
export async function loadModel(source: ModelSource, options: LoadModelOptions = {}): Promise<Predictor> {
  const command = options.command ?? 'bsa-tnp';
  const files = typeof source === 'string' || source instanceof URL
    ? await fetchModelFolder(String(source), command)
    : 'weights' in source && 'config' in source ? source as ModelFolderFiles
      : await readModelFiles(source as Iterable<NamedBlob>, command);
  const b = options.backend;
  const backend = b === undefined || typeof b === 'string' ? (await createBrowserBackend(b ?? 'auto', command)).backend : b;
  const { backend: _b, command: _c, ...modelOptions } = options;
  return predictorFromFiles(files, backend, command, modelOptions);
}
