/**
 * Adapter and device request shared by the Node and browser loaders: the limits and optional
 * features the kernels need, requested by name (style.md: "Request device limits by name").
 */

import { createWebGPUBackend, type WebGPUBackend, type WebGPUBackendOptions } from './backend.js';

export type WebGPUResult = { backend: WebGPUBackend; reason?: undefined } | { backend: null; reason: string };

/** Limits raised to the adapter's maximum. */
const LIMITS = [
  'maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup', 'maxStorageBuffersPerShaderStage', 'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY', 'maxComputeWorkgroupsPerDimension',
] as const;

/** Optional features enabled when the adapter has them. */
const FEATURES = ['shader-f16', 'subgroups', 'timestamp-query', 'chromium-experimental-subgroup-matrix'];

/** Requests an adapter and device from `gpu` and wraps them in the backend. */
export async function requestBackendDevice(gpu: GPU, via: string, options: WebGPUBackendOptions):
  Promise<WebGPUResult> {
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (e) {
    return { backend: null, reason: `webgpu: requestAdapter failed: ${String(e)}` };
  }
  if (!adapter) return { backend: null, reason: `webgpu: no adapter found (${via})` };
  const requiredLimits: Record<string, number> = {};
  for (const name of LIMITS) {
    const v = adapter.limits[name];
    if (typeof v === 'number') requiredLimits[name] = v;
  }
  const requiredFeatures = FEATURES.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  } catch (e) {
    return { backend: null, reason: `webgpu: requestDevice failed: ${String(e)}` };
  }
  const info = adapter.info;
  const name = [info.vendor, info.architecture, info.device, info.description].filter((s) => s).join(' ');
  const description = `${name || 'unknown adapter'} (${via}; f16 ${device.features.has('shader-f16') ? 'yes' : 'no'}, ` +
    `subgroup-matrix ${device.features.has('chromium-experimental-subgroup-matrix') ? 'yes' : 'no'})`;
  const sg = info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
  const subgroupSize = sg.subgroupMinSize !== undefined && sg.subgroupMinSize === sg.subgroupMaxSize ? sg.subgroupMinSize : null;
  return { backend: createWebGPUBackend(device, { description, subgroupSize }, options) };
}
