/** Browser loader for the WebGPU backend: `navigator.gpu`, same limits and features as Node. */

import { requestBackendDevice, type WebGPUResult } from './device.js';
import type { WebGPUBackendOptions } from './backend.js';

export type { WebGPUResult } from './device.js';

/**
 * Creates the WebGPU backend from `navigator.gpu`.
 * **Returns**: `{ backend }`, or `{ backend: null, reason }` when WebGPU or an adapter is missing.
 */
export async function createBrowserWebGPUBackend(options: WebGPUBackendOptions = {}): Promise<WebGPUResult> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (!nav?.gpu) return { backend: null, reason: 'webgpu: navigator.gpu is missing (browser without WebGPU)' };
  return requestBackendDevice(nav.gpu, 'browser', options);
}
