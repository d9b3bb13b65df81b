/** Opens a backend by name for benchmarks: 'cpu' (with the worker pool when available) or 'webgpu'. */
import type { Backend } from '../src/engine/backend.js';
import { createNodeCpuBackend } from '../src/engine/cpu/node.js';

export async function openBackend(name: string): Promise<Backend> {
  if (name === 'cpu') return createNodeCpuBackend();
  if (name === 'webgpu') {
    const { createNodeWebGPUBackend } = await import('../src/engine/webgpu/node.js');
    const r = await createNodeWebGPUBackend();
    if (!r.backend) throw new Error(`bench: no WebGPU adapter: ${r.reason}`);
    return r.backend;
  }
  throw new Error(`bench: expected --backend cpu|webgpu, got '${name}'`);
}
