/**
 * Node loader for the CPU backend: the shared wasm heap plus a worker-thread pool on the same
 * memory (so the SIMD matmul runs on every core without copies). Browsers construct
 * `CpuBackend` directly (single-threaded).
 */
import { CpuBackend } from './backend.js';
import { createHeap } from './heap.js';
import { createNodeThreadPool } from './worker-node.js';

export interface NodeCpuOptions {
  /** Threads including the calling one (default: available parallelism, at most 8). 1 = no pool. */
  threads?: number;
}

export async function createNodeCpuBackend(opts: NodeCpuOptions = {}): Promise<CpuBackend> {
  const heap = createHeap();
  const pool = heap.memory && opts.threads !== 1
    ? await createNodeThreadPool({ memory: heap.memory, threads: opts.threads })
    : undefined;
  return new CpuBackend({ heap, pool });
}
