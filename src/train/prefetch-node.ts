/**
 * Training batches generated ahead of time on worker threads (Node). The trainer's data stream
 * (`BatchStream`, data/stream.ts) generates each group of batches on the main thread when the
 * previous one is used up; a 2-D GP batch needs a 1536 × 1536 float64 Cholesky (~0.5–1 s on one
 * core), far longer than a GPU training step. `WorkerBatchStream` gives exactly the same batches in
 * the same order, and the same resumable `state()`, but computes the next `depth` groups on
 * `workers` threads while the GPU trains.
 *
 * Determinism: group g's key is still the g-th split of the stream's generator, made on the main
 * thread in order; a worker only evaluates `generate(key)`. `state()` describes the stream as if
 * nothing had been prefetched, so a checkpoint resumes on the batch that would have come next.
 *
 * The worker source is an eval'd string (no loader needed) that imports data-worker-entry: the
 * `.js` file beside this module in a bundle, or the TypeScript source through tsx's loader.
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import type { Batch } from '../data/batch.js';
import type { BatchStreamState } from '../data/stream.js';
import { Rng } from '../engine/random.js';
import type { TaskConfig } from '../models/config.js';

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  if (workerData.tsx) (await import(workerData.tsx)).register();
  const mod = await import(workerData.entry);
  const generate = mod.resolveTask(workerData.task, workerData.batch).groups;
  parentPort.on('message', ({ id, key }) => {
    try {
      const out = generate(mod.Rng.fromState(key));
      const list = Array.isArray(out) ? out : [out];
      if (workerData.oracle) for (const b of list) if (b.gp) b.oracleNll = mod.gpOracle(b).meanNll;
      const buffers = new Set();
      const walk = (v) => {
        if (ArrayBuffer.isView(v)) buffers.add(v.buffer);
        else if (v && typeof v === 'object') for (const x of Object.values(v)) walk(x);
      };
      walk(list);
      parentPort.postMessage({ id, batches: list }, [...buffers]);
    } catch (e) {
      parentPort.postMessage({ id, error: String(e && e.stack || e) });
    }
  });
  parentPort.postMessage({ ready: true });
})().catch((e) => parentPort.postMessage({ fatal: String(e && e.stack || e) }));
`;

interface Pending {
  key: [number, number, number];
  /** The stream generator's state right after this group's key was split off. */
  after: [number, number, number];
  batches: Batch[] | null;
  error: string | null;
  done: Promise<void>;
}

export interface WorkerBatchStreamOptions {
  /** Worker threads (default: available cores − 1, at least 1). */
  workers?: number;
  /** Groups generated ahead (default: 2 × workers). */
  depth?: number;
  /** Also compute each GP batch's exact-posterior NLL on the worker (`Batch.oracleNll`; evaluation). */
  oracle?: boolean;
}

/** Same interface as BatchStream (`next`, `state`), plus `ready()` before each `next()`. */
export class WorkerBatchStream {
  private readonly rng: Rng;
  private readonly queue: Pending[] = [];
  private current: Pending | null = null;
  private index = 0;
  private readonly startState: [number, number, number];
  private readonly workers: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly waiting: { id: number; key: [number, number, number] }[] = [];
  private readonly resolvers = new Map<number, (r: { batches?: Batch[]; error?: string }) => void>();
  private nextId = 0;
  private disposed = false;
  private readonly depth: number;

  /**
   * **Arguments**: the training task and batch size (as in `resolveTask`), and the stream state to
   * start from: a checkpoint's `BatchStreamState`, or a fresh generator state (`Rng.state()`).
   */
  constructor(task: TaskConfig, batchSize: number, start: BatchStreamState | [number, number, number],
    opts: WorkerBatchStreamOptions = {}) {
    const n = Math.max(1, Math.floor(opts.workers ?? Math.max(1, availableParallelism() - 1)));
    this.depth = Math.max(1, Math.floor(opts.depth ?? 2 * n));
    const s: BatchStreamState = Array.isArray(start) ? { rng: [...start] as [number, number, number], group: null, index: 0 } : start;
    this.rng = Rng.fromState(s.rng);
    this.startState = [...s.rng] as [number, number, number];
    const entryTs = new URL('./data-worker-entry.ts', import.meta.url);
    const isTs = import.meta.url.endsWith('.ts');
    const workerData = {
      entry: isTs ? entryTs.href : new URL('./data-worker-entry.js', import.meta.url).href,
      tsx: isTs ? import.meta.resolve('tsx/esm/api') : null,
      task: task, batch: batchSize, oracle: opts.oracle === true,
    };
    for (let i = 0; i < n; i++) {
      const w = new Worker(WORKER_SOURCE, { eval: true, workerData });
      w.on('message', (m: { ready?: boolean; fatal?: string; id?: number; batches?: Batch[]; error?: string }) => {
        if (m.fatal) { this.fail(`data worker failed to start: ${m.fatal}`); return; }
        if (m.ready) { this.idle.push(w); this.pump(); return; }
        const r = this.resolvers.get(m.id!);
        this.resolvers.delete(m.id!);
        this.idle.push(w);
        this.pump();
        r?.(m);
      });
      w.on('error', (e) => this.fail(`data worker error: ${String(e)}`));
      this.workers.push(w);
    }
    if (s.group !== null) {
      // Resume inside a group: regenerate it (its key is saved), then continue after it.
      this.current = this.request([...s.group] as [number, number, number], [...s.rng] as [number, number, number]);
      this.index = s.index;
    }
    this.fill();
  }

  /** Waits until `next()` can return without blocking. Throws a worker's error. */
  async ready(): Promise<void> {
    this.fill();
    const c = this.current;
    if (c !== null) {
      await c.done;
      if (c.error) throw new Error(`WorkerBatchStream: generating a batch failed: ${c.error}`);
      if (this.index < c.batches!.length) return;
    }
    const h = this.queue[0]!;
    await h.done;
    if (h.error) throw new Error(`WorkerBatchStream: generating a batch failed: ${h.error}`);
  }

  /** The next batch (call `await ready()` first). */
  next(): Batch {
    if (this.disposed) throw new Error('WorkerBatchStream.next: stream already disposed');
    if (this.current === null || (this.current.batches !== null && this.index >= this.current.batches.length)) {
      const head = this.queue.shift();
      if (!head) throw new Error('WorkerBatchStream.next: no group queued');
      this.current = head;
      this.index = 0;
      this.fill();
    }
    const c = this.current;
    if (c.error) throw new Error(`WorkerBatchStream: generating a batch failed: ${c.error}`);
    if (c.batches === null) throw new Error('WorkerBatchStream.next: batch not ready; await ready() first');
    if (c.batches.length === 0) throw new Error('WorkerBatchStream: the generator returned no batches');
    return c.batches[this.index++]!;
  }

  /** The resumable state, as BatchStream's after the same batches (prefetching not included). */
  state(): BatchStreamState {
    if (this.current === null) return { rng: [...this.startState] as [number, number, number], group: null, index: 0 };
    return { rng: [...this.current.after] as [number, number, number], group: [...this.current.key] as [number, number, number], index: this.index };
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const w of this.workers) void w.terminate();
  }

  private fill(): void {
    while (!this.disposed && this.queue.length < this.depth) {
      const key = this.rng.split().state();
      this.queue.push(this.request(key, this.rng.state()));
    }
  }

  private request(key: [number, number, number], after: [number, number, number]): Pending {
    const id = this.nextId++;
    const p: Pending = { key, after, batches: null, error: null, done: Promise.resolve() };
    p.done = new Promise<void>((resolve) => {
      this.resolvers.set(id, (r) => {
        if (r.error !== undefined) p.error = r.error;
        else p.batches = r.batches ?? [];
        resolve();
      });
    });
    this.waiting.push({ id, key });
    this.pump();
    return p;
  }

  private pump(): void {
    while (this.idle.length > 0 && this.waiting.length > 0) {
      const w = this.idle.shift()!;
      const job = this.waiting.shift()!;
      w.postMessage(job);
    }
  }

  private fail(msg: string): void {
    for (const [id, r] of this.resolvers) {
      this.resolvers.delete(id);
      r({ error: msg });
    }
  }
}
