/** Worker-thread batch prefetching gives BatchStream's batches, order and resumable state. */
import { describe, expect, it } from 'vitest';
import type { Batch } from '../../src/data/batch.js';
import { BatchStream } from '../../src/data/stream.js';
import { Rng } from '../../src/engine/random.js';
import { WorkerBatchStream } from '../../src/train/prefetch-node.js';
import { resolveTask } from '../../src/train/tasks.js';

const TASK = { name: 'gp2d' as const, options: { ncMin: 20, ncMax: 40, nt: 30 } };

function same(a: Batch, b: Batch, what: string): void {
  expect(Array.from(a.s_ctx), `${what} s_ctx`).toEqual(Array.from(b.s_ctx));
  expect(Array.from(a.f_ctx), `${what} f_ctx`).toEqual(Array.from(b.f_ctx));
  expect(Array.from(a.mask_ctx), `${what} mask_ctx`).toEqual(Array.from(b.mask_ctx));
  expect(Array.from(a.s_test), `${what} s_test`).toEqual(Array.from(b.s_test));
  expect(Array.from(a.f_test), `${what} f_test`).toEqual(Array.from(b.f_test));
  expect(Array.from(a.n_ctx), `${what} n_ctx`).toEqual(Array.from(b.n_ctx));
}

describe('WorkerBatchStream', () => {
  it('same batches in the same order as BatchStream, and a state that resumes both alike', async () => {
    const { generator } = resolveTask(TASK, 3);
    const ref = new BatchStream(generator, Rng.fromSeed(7));
    const ws = new WorkerBatchStream(TASK, 3, Rng.fromSeed(7).state(), { workers: 2, depth: 3 });
    try {
      expect(ws.state()).toEqual(ref.state());
      for (let i = 0; i < 4; i++) {
        await ws.ready();
        same(ws.next(), ref.next(), `batch ${i}`);
        expect(ws.state()).toEqual(ref.state());
      }
      // Resume from the saved state: both continue with the same batches.
      const saved = ref.state();
      const ref2 = BatchStream.fromState(generator, saved);
      const ws2 = new WorkerBatchStream(TASK, 3, saved, { workers: 1 });
      try {
        for (let i = 0; i < 3; i++) {
          await ws2.ready();
          await ws.ready();
          const want = ref2.next();
          same(ws2.next(), want, `resumed batch ${i}`);
          same(ws.next(), want, `continued batch ${i}`);
        }
      } finally {
        ws2.dispose();
      }
    } finally {
      ws.dispose();
    }
    expect(() => ws.next()).toThrow(/disposed/);
  }, 60_000);

  it('a task the worker cannot build rejects ready() with its message', async () => {
    const ws = new WorkerBatchStream({ name: 'gp2d', options: { ncMin: 50, ncMax: 10 } }, 2, Rng.fromSeed(1).state(), { workers: 1 });
    try {
      await expect(ws.ready()).rejects.toThrow(/ncMin/);
      expect(() => ws.next()).toThrow(/ncMin/);
    } finally {
      ws.dispose();
    }
  }, 60_000);
});
