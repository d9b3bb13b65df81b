/**
 * Node loader for the WebGPU backend: Dawn through the npm package `webgpu`, over Vulkan
 * (NVIDIA on the GPU machine, lavapipe — Mesa's CPU Vulkan — elsewhere).
 *
 * Dawn flags: `allow_unsafe_apis` exposes `chromium-experimental-subgroup-matrix` (tensor cores);
 * `vulkan_enable_f16_on_nvidia` turns on `shader-f16` there (/work/shared/gpu/README.md).
 * `disable_robustness` is on by default: Dawn's robustness pass clamps every array index of every
 * kernel (a guard for untrusted shaders in browsers). Our kernels bound their own indices, and the
 * test suite runs with the clamping off, as shipped. It costs 10–20 % (H200: BSA f32 1.81e11 vs
 * 2.22e11 scores/s, f16-fast 3.28e11 vs 3.54e11; 100K/1M forward 14.9 s vs 12.4 s).
 * `BSA_TNP_DAWN_ROBUSTNESS=on` keeps it. `BSA_TNP_DAWN_TOGGLES` (comma-separated) adds Dawn toggles.
 * `timestamp_quantization` is off: GPU profiles (WebGPUBackend.startGpuProfile) want exact times.
 * Limits are requested explicitly: the defaults (128 MiB bindings, 16 KiB workgroup memory,
 * 256 invocations) are far below what the kernels want.
 */

import { create } from 'webgpu';
import { requestBackendDevice, type WebGPUResult } from './device.js';
import type { WebGPUBackendOptions } from './backend.js';

export type { WebGPUResult } from './device.js';

let gpu: GPU | null = null;

function nodeGpu(): GPU {
  if (gpu) return gpu;
  const extra = (process.env.BSA_TNP_DAWN_TOGGLES ?? '').split(',').map((t) => t.trim()).filter(Boolean);
  for (const t of extra) {
    if (!/^[a-z0-9_]+$/.test(t)) throw new Error(`webgpu: expected BSA_TNP_DAWN_TOGGLES names like disable_robustness, got '${t}'`);
  }
  const robust = (process.env.BSA_TNP_DAWN_ROBUSTNESS ?? '').trim().toLowerCase();
  if (robust !== '' && robust !== 'on' && robust !== 'off') {
    throw new Error(`webgpu: expected BSA_TNP_DAWN_ROBUSTNESS=on or off, got '${robust}'`);
  }
  if (robust !== 'on') extra.push('disable_robustness');
  try {
    gpu = create(['backend=vulkan', `enable-dawn-features=${['allow_unsafe_apis', 'vulkan_enable_f16_on_nvidia', ...new Set(extra)].join(',')}`,
      'disable-dawn-features=timestamp_quantization']);
  } catch {
    gpu = create([]);
  }
  return gpu;
}

/**
 * Creates the WebGPU backend on the first Dawn adapter (high-performance preference).
 * **Returns**: `{ backend }`, or `{ backend: null, reason }` when no adapter or device exists.
 */
export async function createNodeWebGPUBackend(options: WebGPUBackendOptions = {}): Promise<WebGPUResult> {
  let g: GPU;
  try {
    g = nodeGpu();
  } catch (e) {
    return { backend: null, reason: `webgpu: Dawn failed to start: ${String(e)}` };
  }
  return requestBackendDevice(g, 'dawn', options);
}
