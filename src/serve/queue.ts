/**
 * A bounded first-in-first-out queue that runs one task at a time. The predictor holds one
 * encoded context, so predictions on one backend must not interleave; requests wait here instead.
 * At most `capacity` tasks wait while one runs; one more is refused at once (`QueueFullError`,
 * answered 503 with Retry-After), so a burst cannot pile up unbounded memory and latency. A waiting
 * task whose signal aborts (deadline passed, client gone) leaves the queue without running.
 */

export class QueueFullError extends Error {
  override name = 'QueueFullError';
}

interface Waiting {
  start: () => void;
  fail: (reason: unknown) => void;
}

export class SerialQueue {
  private busy = false;
  private readonly waiting: Waiting[] = [];
  private idleWaiters: (() => void)[] = [];
  /** Seconds the last tasks took (exponential moving average), for Retry-After estimates. */
  private meanSeconds = 1;
  private completed = 0;

  constructor(readonly capacity: number) {}

  /** Tasks waiting (not counting the one running). */
  get length(): number {
    return this.waiting.length;
  }

  get running(): boolean {
    return this.busy;
  }

  /** Seconds until a task queued now would likely start: for Retry-After. */
  estimatedWaitSeconds(): number {
    return Math.max(1, Math.ceil(this.meanSeconds * (this.waiting.length + (this.busy ? 1 : 0))));
  }

  /**
   * Runs `task` when its turn comes. Throws `QueueFullError` at once when `capacity` tasks already
   * wait; rejects with `signal.reason` if the signal aborts before the task starts.
   */
  async run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    signal?.throwIfAborted();
    if (this.busy) {
      if (this.waiting.length >= this.capacity) throw new QueueFullError(`${this.waiting.length} requests are waiting`);
      await new Promise<void>((resolve, reject) => {
        const entry: Waiting = {
          start: () => { signal?.removeEventListener('abort', onAbort); resolve(); },
          fail: reject,
        };
        const onAbort = () => {
          const i = this.waiting.indexOf(entry);
          if (i >= 0) this.waiting.splice(i, 1);
          reject(signal!.reason);
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        this.waiting.push(entry);
      });
    }
    this.busy = true;
    const t0 = performance.now();
    try {
      return await task();
    } finally {
      const s = (performance.now() - t0) / 1000;
      this.meanSeconds = this.completed === 0 ? s : 0.8 * this.meanSeconds + 0.2 * s;
      this.completed++;
      this.next();
    }
  }

  private next(): void {
    const entry = this.waiting.shift();
    if (entry) {
      // busy stays true: the next task takes over the slot directly.
      entry.start();
      return;
    }
    this.busy = false;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /** Resolves once nothing runs and nothing waits (graceful shutdown). */
  drain(): Promise<void> {
    if (!this.busy && this.waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}
