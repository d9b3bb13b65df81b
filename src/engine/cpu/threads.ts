/**
 * Thread pool contract for the CPU backend, and the lock-free protocol its workers speak.
 *
 * A pool runs a *registered kernel* (an export of one of the CPU wasm kernel modules, each
 * instantiated in every worker on the same shared `WebAssembly.Memory`) over an index range [0, n), split into chunks that
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
   * `name(...args, tid, s, e)` (tid: 0 for the caller, 1.. for workers). Chunks are `grain`
   * long (last one shorter). Returns when all are done; rethrows if any chunk threw.
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

/**
 * Kernels a pool can run: exports of the kernel modules (`kernelModules` in wasm/kernels.ts: the
 * matmul module, the BSA module and the SIMD elementwise module, all instantiated in every worker) taking (...args, tid, start,
 * end).
 */
export const KERNEL_NAMES = ['pack_b', 'matmul_rows', 'bsa_forward', 'bsa_backward', 'bsa_sum_dq', 'ew_unary', 'ew_binary', 'bias_rows', 'dw_forward', 'dw_kgrad', 'ew_binary3', 'dw_forward9', 'red_sum16', 'dw_kgrad8'] as const;
export type KernelName = (typeof KERNEL_NAMES)[number];

export class ThreadPoolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ThreadPoolError';
  }
}

/**
 * Layout of the pool's control block: Int32 words over a SharedArrayBuffer, plus one 64-bit claim
 * word (BigInt64 index CLAIM64 over the same buffer) holding (generation << 32) | next index.
 *
 * Protocol. The caller writes a job (KERNEL, N, GRAIN, args, DONE = 0), then publishes it by
 * storing (gen, 0) in the claim word and bumping GEN (workers sleep on GEN). Every thread claims
 * chunks by compare-exchange on the claim word, succeeding only while the word's generation is the
 * job's and next < N; it runs the chunk and increments DONE. The caller returns once DONE equals
 * the number of chunks. A worker that wakes late claims nothing and is never waited for, so a
 * descheduled worker cannot stall small jobs. A claim can only succeed while its job is unfinished,
 * hence before the caller writes the next job: the arguments a worker read are the job's.
 */
export const CTRL = {
  GEN: 0,
  KERNEL: 1, // index into KERNEL_NAMES; -1 = shut down
  N: 2,
  GRAIN: 3,
  DONE: 4,
  ERROR: 5,
  NARGS: 6,
  CLAIM64: 4, // BigInt64Array index: Int32 words 8 and 9
  ARGS: 10, // up to MAX_ARGS int32 arguments
} as const;
export const MAX_ARGS = 24;
export const CTRL_INTS = CTRL.ARGS + MAX_ARGS;
