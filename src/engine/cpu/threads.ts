/**
 * Thread pool contract for the CPU backend, and the lock-free protocol its workers speak.
 *
 * A pool runs a *registered kernel* (an export of the CPU wasm kernel module, instantiated in every
 * worker on the same shared `WebAssembly.Memory`) over an index range [0, n), split into chunks that
 * the workers and the calling thread claim from a shared counter. `run` is synchronous: the caller
 * takes chunks too, then blocks (`Atomics.wait`) until every worker is done.
 *
 * This file is platform-neutral (no Node built-ins). The Node implementation, on `worker_threads`,
 * is `worker-node.ts`, imported only by backend loaders. Browsers cannot block their main thread,
 * so there the CPU backend runs single-threaded (no pool).
 */

export interface ThreadPool {
  /** Threads that run kernels, including the calling thread (workers + 1). */
  readonly size: number;
  /** The shared memory every worker's kernel instance uses; kernels see only this memory. */
  readonly memory: WebAssembly.Memory;
  /**
   * Runs kernel `name` over [0, n): for each claimed chunk [s, e) some thread calls
   * `name(...args, tid, s, e)` (tid: 0 for the caller, 1.. for workers). Chunks are `grain` long (last one shorter). Returns when all are done;
   * rethrows if any chunk threw.
   *
   * **Arguments**
   * - `name`: an export of the kernel module (see `wasm/kernels.ts`, `KERNEL_NAMES`).
   * - `n`: size of the index range; `grain`: chunk length (≥ 1).
   * - `args`: int32 arguments passed before (s, e): byte pointers into `memory`, sizes, flags.
   */
  run(name: KernelName, n: number, grain: number, args: readonly number[]): void;
  /** Stops the workers. The pool must not be used afterwards. */
  destroy(): void;
}

/** Kernels a pool can run: exports of the kernel module taking (...args, start, end). */
export const KERNEL_NAMES = ['pack_b', 'matmul_rows'] as const;
export type KernelName = (typeof KERNEL_NAMES)[number];

export class ThreadPoolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ThreadPoolError';
  }
}

/**
 * Layout of the pool's control block (an Int32Array over a SharedArrayBuffer).
 * The main thread writes a job, bumps GEN and notifies; each worker claims chunks with
 * Atomics.add(NEXT, grain), then decrements PENDING and notifies when it reaches 0.
 */
export const CTRL = {
  GEN: 0,
  KERNEL: 1, // index into KERNEL_NAMES; -1 = shut down
  N: 2,
  GRAIN: 3,
  NEXT: 4,
  PENDING: 5,
  ERROR: 6,
  NARGS: 7,
  ARGS: 8, // up to MAX_ARGS int32 arguments
} as const;
export const MAX_ARGS = 24;
export const CTRL_INTS = CTRL.ARGS + MAX_ARGS;
