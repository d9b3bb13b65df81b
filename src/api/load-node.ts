/**
 * Node side of the prediction API: compute backends (CPU worker pool, Dawn WebGPU) and loading a
 * model folder from disk into a `Predictor`. Browser code builds its backend and reads the folder's
 * files itself, then calls `Predictor.fromWeights`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type Backend, UnsupportedKernelError } from '../engine/backend.js';
import { createNodeCpuBackend } from '../engine/cpu/node.js';
import type { BsaTnpOptions } from '../models/bsa-tnp.js';
import { CheckpointError, loadModelFolder } from '../train/checkpoint.js';
import { UserError } from './errors.js';
import { Predictor } from './predictor.js';

export type BackendName = 'cpu' | 'webgpu';

/** A compute backend and how to release it (CPU worker pool, GPU device). */
export interface BackendHandle {
  backend: Backend;
  description: string;
  dispose(): void;
}

/** Parses `--backend` (default cpu). */
export function parseBackendName(value: string | boolean | undefined, command: string): BackendName {
  if (value === undefined) return 'cpu';
  if (value === 'cpu' || value === 'webgpu') return value;
  throw new UserError(`${command}: --backend must be 'cpu' or 'webgpu', got '${String(value)}'`);
}

/**
 * Creates the backend. `cpu`: shared wasm heap plus a worker pool of `threads` threads
 * (default: all cores, at most 8) for matmul (engine/cpu/node.ts). `webgpu`: the first Dawn adapter; a clear error
 * when there is none.
 */
export async function createBackend(name: BackendName, command: string, threads?: number): Promise<BackendHandle> {
  if (name === 'webgpu') {
    const mod = await import('../engine/webgpu/node.js');
    const res = await mod.createNodeWebGPUBackend();
    if (!res.backend) throw new UserError(`${command}: --backend webgpu: no WebGPU device (${res.reason}); use --backend cpu`);
    const backend = res.backend as Backend;
    return { backend, description: backend.description, dispose() {} };
  }
  const backend = await createNodeCpuBackend(threads === undefined ? {} : { threads });
  return { backend, description: backend.description, dispose() { backend.pool?.destroy(); } };
}

/**
 * Turns "this backend cannot run that kernel" into a user-facing `UserError` suggesting another
 * backend; any other error is returned unchanged (a bug stays an internal error).
 */
export function explainBackendError(e: unknown, handle: BackendHandle, command: string): unknown {
  const msg = e instanceof Error ? e.message : '';
  if (e instanceof UnsupportedKernelError || /no implementation registered for the \w+ backend/.test(msg)) {
    return new UserError(`${command}: the ${handle.backend.kind} backend cannot run this model yet (${msg}); use --backend cpu`);
  }
  return e;
}

/**
 * Loads `folder` (config.json + model.safetensors, every tensor checked against the config)
 * and uploads the weights. Problems become `UserError`s naming the file.
 */
export function loadPredictor(folder: string, backend: Backend, command: string, options: BsaTnpOptions = {}): Predictor {
  const abs = path.resolve(folder);
  if (!fs.existsSync(abs)) throw new UserError(`${command}: model folder '${abs}' does not exist (pass --model DIR, a folder with config.json and model.safetensors)`);
  if (!fs.statSync(abs).isDirectory()) throw new UserError(`${command}: --model '${abs}' is not a folder (expected a model folder with config.json and model.safetensors)`);
  const loaded = readModelFolder(abs, command);
  return Predictor.fromWeights(abs, loaded.config, loaded.weights, backend, command, options);
}

/** `loadModelFolder` with its `CheckpointError` turned into a `UserError` ("eval: cannot load the model: …"). */
export function readModelFolder(folder: string, command: string): ReturnType<typeof loadModelFolder> {
  try {
    return loadModelFolder(folder);
  } catch (e) {
    if (e instanceof CheckpointError) throw new UserError(`${command}: cannot load the model: ${e.message}`);
    throw e;
  }
}
