/**
 * Node loader for the WebGPU backend: Dawn through the npm package `webgpu`, over Vulkan
 * (NVIDIA on the GPU machine, lavapipe — Mesa's CPU Vulkan — elsewhere).
 *
 * Dawn flags: `allow_unsafe_apis` exposes `chromium-experimental-subgroup-matrix` (tensor cores);
 * `vulkan_enable_f16_on_nvidia` turns on `shader-f16` there (/work/shared/gpu/README.md).
 * `BSA_TNP_DAWN_TOGGLES` (comma-separated) adds Dawn toggles, e.g. `disable_robustness` (drops the
 * index clamping Dawn adds to every array access; the kernels never index out of bounds, which the
 * clamping would otherwise hide).
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
  try {
    gpu = create(['backend=vulkan', `enable-dawn-features=${['allow_unsafe_apis', 'vulkan_enable_f16_on_nvidia', ...extra].join(',')}`,
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
