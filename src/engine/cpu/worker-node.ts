/**
 * Node thread pool on `worker_threads` (ThreadPool in threads.ts). Node-only: import it from a
 * backend loader, never from engine code that must run in a browser.
 *
 * Each worker instantiates the CPU kernel modules (matmul, BSA) on the heap's shared memory and loops: wait for a
 * new job generation on the control block, claim chunks by compare-exchange until the range is
 * exhausted, count each finished chunk (protocol: CTRL in threads.ts). The worker source is a string evaluated by `new Worker(..., {eval})`, so
 * it needs no loader (tsx, vitest, a bundler) and works from src/ and dist/ alike. Workers spin
 * briefly after each job before sleeping in Atomics.wait, so back-to-back jobs (pack B, then
 * multiply) start within microseconds.
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { CTRL, CTRL_INTS, KERNEL_NAMES, MAX_ARGS, ThreadPoolError, type KernelName, type ThreadPool } from './threads.js';
import { kernelModules } from './wasm/kernels.js';

/** Milliseconds the caller spins waiting for workers' chunks before sleeping. */
const WAIT_SPIN_MS = 0.5;

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { modules, memory, control, names, tid, spin, C } = workerData;
const insts = modules.map((m) => new WebAssembly.Instance(m, { env: { memory } }));
const fns = names.map((n) => insts.find((i) => typeof i.exports[n] === 'function').exports[n]);
const c = new Int32Array(control);
const claim = new BigInt64Array(control);
const args = [];
parentPort.postMessage('ready');
let seen = 0;
for (;;) {
  // Spin up to \`spin\` ms for the next job (matmuls come in bursts), then sleep.
  let spins = 0;
  let t0 = performance.now();
  while (Atomics.load(c, C.GEN) === seen) {
    if ((++spins & 1023) === 0 && performance.now() - t0 > spin) {
      Atomics.wait(c, C.GEN, seen);
      t0 = performance.now();
    }
  }
  seen = Atomics.load(c, C.GEN);
  const kid = c[C.KERNEL];
  if (kid < 0) break;
  const n = c[C.N], grain = c[C.GRAIN], nargs = c[C.NARGS];
  args.length = nargs + 3;
  for (let i = 0; i < nargs; i++) args[i] = c[C.ARGS + i];
  args[nargs] = tid;
  const f = fns[kid];
  const gen = BigInt(seen) << 32n;
  for (;;) {
    const w = Atomics.load(claim, C.CLAIM64);
    if ((w & ~0xffffffffn) !== gen) break;
    const s = Number(w & 0xffffffffn);
    if (s >= n) break;
    if (Atomics.compareExchange(claim, C.CLAIM64, w, w + BigInt(grain)) !== w) continue;
    try {
      args[nargs + 1] = s;
      args[nargs + 2] = Math.min(n, s + grain);
      f(...args);
    } catch (e) {
      Atomics.store(c, C.ERROR, 1);
    }
    Atomics.add(c, C.DONE, 1);
    Atomics.notify(c, C.DONE);
  }
}
`;

export interface NodeThreadPoolOptions {
  /** Shared memory the kernels run on: the CPU heap's `memory` (createHeap() in heap.ts). */
  memory: WebAssembly.Memory;
  /** Total threads including the caller (default: os.availableParallelism(), at most 8). */
  threads?: number;
  /** Milliseconds a worker busy-waits for the next job before sleeping (default 1). */
  spin?: number;
}

class NodeThreadPool implements ThreadPool {
  readonly size: number;
  readonly memory: WebAssembly.Memory;
  private readonly ctrl: Int32Array;
  private readonly claim: BigInt64Array;
  private readonly workers: Worker[];
  private readonly fns: ((...a: number[]) => void)[];
  private readonly callArgs: number[] = [];
  private destroyed = false;
  private busy = false;

  constructor(memory: WebAssembly.Memory, ctrl: Int32Array, workers: Worker[]) {
    this.memory = memory;
    this.ctrl = ctrl;
    this.claim = new BigInt64Array(ctrl.buffer);
    this.workers = workers;
    this.size = workers.length + 1;
    const insts = kernelModules(true).map((m) => new WebAssembly.Instance(m, { env: { memory } }));
    this.fns = KERNEL_NAMES.map((n) => insts.find((i) => typeof i.exports[n] === 'function')!.exports[n] as (...a: number[]) => void);
  }

  run(name: KernelName, n: number, grain: number, args: readonly number[]): void {
    if (this.destroyed) throw new ThreadPoolError('ThreadPool.run: pool was destroyed');
    if (this.busy) throw new ThreadPoolError('ThreadPool.run: re-entrant call (a kernel called run)');
    if (args.length > MAX_ARGS) throw new ThreadPoolError(`ThreadPool.run: expected at most ${MAX_ARGS} args, got ${args.length}`);
    const kid = KERNEL_NAMES.indexOf(name);
    if (kid < 0) throw new ThreadPoolError(`ThreadPool.run: unknown kernel ${name}`);
    if (n <= 0) return;
    grain = Math.max(1, Math.floor(grain));
    const c = this.ctrl;
    const f = this.fns[kid]!;
    const a = this.callArgs;
    a.length = args.length + 3;
    for (let i = 0; i < args.length; i++) a[i] = args[i]!;
    a[args.length] = 0;
    // Work that fits in one chunk is not worth waking anyone for.
    if (n <= grain || this.workers.length === 0) {
      a[args.length + 1] = 0;
      a[args.length + 2] = n;
      f(...a);
      return;
    }
    this.busy = true;
    try {
      const gen = Atomics.load(c, CTRL.GEN) + 1;
      c[CTRL.KERNEL] = kid;
      c[CTRL.N] = n;
      c[CTRL.GRAIN] = grain;
      c[CTRL.NARGS] = args.length;
      for (let i = 0; i < args.length; i++) c[CTRL.ARGS + i] = args[i]! | 0;
      c[CTRL.ERROR] = 0;
      Atomics.store(c, CTRL.DONE, 0);
      const tag = BigInt(gen) << 32n;
      Atomics.store(this.claim, CTRL.CLAIM64, tag);
      Atomics.store(c, CTRL.GEN, gen);
      Atomics.notify(c, CTRL.GEN);
      const chunks = Math.ceil(n / grain);
      let error: unknown = null;
      let done = 0; // chunks this thread ran
      for (;;) {
        const w = Atomics.load(this.claim, CTRL.CLAIM64);
        const s = Number(w - tag);
        if (s >= n) break;
        if (Atomics.compareExchange(this.claim, CTRL.CLAIM64, w, w + BigInt(grain)) !== w) continue;
        a[args.length + 1] = s;
        a[args.length + 2] = Math.min(n, s + grain);
        try {
          f(...a);
        } catch (e) {
          error ??= e;
        }
        done++;
      }
      // Wait for chunks claimed by workers. Spin first: they are mid-chunk, and on a busy machine a
      // sleeping caller is woken a scheduler latency (up to milliseconds) after the notify.
      let spins = 0;
      const t0 = performance.now();
      for (;;) {
        const d = Atomics.load(c, CTRL.DONE);
        if (d + done >= chunks) break;
        if ((++spins & 1023) === 0 && performance.now() - t0 > WAIT_SPIN_MS) Atomics.wait(c, CTRL.DONE, d, 5);
      }
      if (error !== null) throw error;
      if (c[CTRL.ERROR] !== 0) throw new ThreadPoolError(`ThreadPool.run: kernel ${name} failed in a worker`);
    } finally {
      this.busy = false;
    }
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    const c = this.ctrl;
    c[CTRL.KERNEL] = -1;
    Atomics.store(this.claim, CTRL.CLAIM64, 0n);
    Atomics.add(c, CTRL.GEN, 1);
    Atomics.notify(c, CTRL.GEN);
    for (const w of this.workers) void w.terminate();
  }
}

/**
 * Starts `threads - 1` workers on `memory` and resolves once each has instantiated the kernels.
 * Workers are unref'd: an idle pool does not keep the process alive. Call `destroy()` when done.
 */
export async function createNodeThreadPool(options: NodeThreadPoolOptions): Promise<ThreadPool> {
  const { memory } = options;
  if (!(memory.buffer instanceof SharedArrayBuffer)) {
    throw new ThreadPoolError('createNodeThreadPool: expected a shared WebAssembly.Memory (createHeap() memory), got a plain one');
  }
  const threads = Math.max(1, Math.min(options.threads ?? Math.min(availableParallelism(), 8), 64));
  const control = new SharedArrayBuffer(CTRL_INTS * 4);
  const modules = kernelModules(true);
  const workers: Worker[] = [];
  const ready: Promise<void>[] = [];
  for (let tid = 1; tid < threads; tid++) {
    const w = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { modules, memory, control, names: [...KERNEL_NAMES], tid, spin: options.spin ?? 1, C: CTRL },
    });
    ready.push(new Promise((resolve, reject) => {
      w.once('message', () => resolve());
      w.once('error', reject);
    }));
    workers.push(w);
  }
  try {
    await Promise.all(ready);
  } catch (e) {
    for (const w of workers) void w.terminate();
    throw new ThreadPoolError(`createNodeThreadPool: a worker failed to start: ${String(e)}`);
  }
  for (const w of workers) w.unref();
  return new NodeThreadPool(memory, new Int32Array(control), workers);
}
