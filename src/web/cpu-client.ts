/**
 * The page's side of the CPU worker (cpu-worker.ts): the message types, the page's wording of
 * errors, and a client that sends one request at a time and resolves with its answer. An error
 * answered by the worker is rethrown here as a `UserError` with the text the page would have
 * shown had the work run on the main thread.
 */
import { UserError } from '../api/errors.js';
import { type Table, TableError } from '../data/table.js';
import { ConfigError } from '../models/config-checks.js';

export type CpuWorkerRequest =
  | { type: 'load'; url: string }
  | { type: 'predict'; context: Table; label: string; grid: { x: Float64Array; y: Float64Array } };

export type CpuWorkerReply =
  | { type: 'loaded' }
  | { type: 'predicted'; mean: Float64Array; std: Float64Array }
  | { type: 'error'; message: string; known: boolean };

/** The page's wording of an error (main.ts `showError`): known errors as they are, TableError with the command. */
export function errorText(e: unknown, command: string): { message: string; known: boolean } {
  if (e instanceof TableError) return { message: `${command}: ${e.message}`, known: true };
  if (e instanceof UserError || e instanceof ConfigError) return { message: e.message, known: true };
  return { message: e instanceof Error ? e.message : String(e), known: false };
}

export class CpuWorkerClient {
  private readonly worker: Worker;
  private pending: Promise<unknown> = Promise.resolve();

  constructor(url: URL) {
    this.worker = new Worker(url, { type: 'module' });
  }

  /** Loads the model folder at `url` (absolute) in the worker. */
  async load(url: string): Promise<void> {
    await this.request({ type: 'load', url });
  }

  /** Mean and std of the model's value at the grid nodes, given the context table. */
  async predict(context: Table, label: string, grid: { x: Float64Array; y: Float64Array }): Promise<{ mean: Float64Array; std: Float64Array }> {
    const r = await this.request({ type: 'predict', context, label, grid });
    if (r.type !== 'predicted') throw new Error(`cpu worker: expected predictions, got '${r.type}'`);
    return r;
  }

  private request(req: CpuWorkerRequest): Promise<CpuWorkerReply> {
    const next = this.pending.then(() => new Promise<CpuWorkerReply>((resolve, reject) => {
      this.worker.onmessage = (ev: MessageEvent<CpuWorkerReply>) => {
        const r = ev.data;
        if (r.type === 'error') reject(r.known ? new UserError(r.message) : new Error(r.message));
        else resolve(r);
      };
      this.worker.onerror = (ev) => reject(new Error(`cpu worker: ${ev.message || 'failed to start'}`));
      this.worker.postMessage(req);
    }));
    this.pending = next.catch(() => undefined);
    return next;
  }
}
