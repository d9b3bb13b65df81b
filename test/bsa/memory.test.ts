/**
 * BSA memory at the full size: forward + backward with B=1, H=4, d=32, Q=65,536, K=8,192
 * (2.1·10⁹ pair-heads per pass) never allocate a buffer of size ≥ Q×K×4 bytes / 8 (every
 * allocation of the CPU path, scratch included, is reported to a MemoryAccount), and the peak extra
 * memory is reported. Runs on a worker pool over the CPU heap (all cores), with the inputs in the
 * heap as engine tensors are; the bias is the model's init (all F = 5 basis functions tied), so the
 * tied-basis path evaluates one exp per pair. BSA_MEMORY_Q / BSA_MEMORY_K override the size.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createHeap, type CpuHeap } from '../../src/engine/cpu/heap.js';
import type { ThreadPool } from '../../src/engine/cpu/threads.js';
import { createNodeThreadPool } from '../../src/engine/cpu/worker-node.js';
import { MemoryAccount } from '../../src/engine/memory.js';
import { bsaBackwardCpu, bsaForwardCpu } from '../../src/kernels/bsa/cpu.js';
import type { BsaData, BsaDesc } from '../../src/kernels/bsa/desc.js';
import { randomF32 } from './helpers.js';

let heap: CpuHeap;
let pool: ThreadPool;
beforeAll(async () => {
  heap = createHeap();
  pool = await createNodeThreadPool({ memory: heap.memory! });
});
afterAll(() => pool.destroy());

function run(Q: number, K: number): void {
  const H = 4, d = 32, F = 5;
  const inHeap = (x: Float32Array): Float32Array => { const v = heap.alloc(x.length); v.set(x); return v; };
  const desc: BsaDesc = { B: 1, H, Q, K, d, dv: d, hasMask: true,
    groups: [{ M: 2, distance: 'euclidean', family: 'rbf', F }] };
  const data: BsaData = {
    q: inHeap(randomF32(H * Q * d, 1)), k: inHeap(randomF32(H * K * d, 2)), v: inHeap(randomF32(H * K * d, 3)),
    mask: inHeap(new Float32Array(K).fill(1)),
    groups: [{ cq: inHeap(randomF32(Q * 2, 4)), ck: inHeap(randomF32(K * 2, 5)), a: new Float32Array(H * F).fill(1),
      b: new Float32Array(H * F).fill(1) }],
  };
  const dO = inHeap(randomF32(H * Q * d, 6));
  const mem = new MemoryAccount();
  const t0 = performance.now();
  const f = bsaForwardCpu(desc, data, { memory: mem, pool });
  const t1 = performance.now();
  const g = bsaBackwardCpu(desc, data, f, dO, { memory: mem, pool });
  const t2 = performance.now();
  const limit = (Q * K * 4) / 8;
  const s = mem.stats();
  console.log(`bsa memory Q=${Q} K=${K} (${pool.size} threads): fwd ${(t1 - t0).toFixed(0)} ms, bwd ${(t2 - t1).toFixed(0)} ms, ` +
    `largest buffer ${(s.largestBytes / 2 ** 20).toFixed(1)} MiB (limit ${(limit / 2 ** 20).toFixed(1)} MiB), ` +
    `peak extra ${(s.peakBytes / 2 ** 20).toFixed(1)} MiB over ${s.allocations} allocations`);
  expect(s.largestBytes).toBeLessThan(limit);
  expect(Number.isFinite(g.groups[0]!.da[0]!)).toBe(true);
  expect(Number.isFinite(g.dq[0]!) && Number.isFinite(f.o[0]!)).toBe(true);
}

it('forward + backward allocate no Q×K/8-sized buffer (B=1, H=4, d=32, Q=65,536, K=8,192)', () =>
  run(Number(process.env.BSA_MEMORY_Q ?? 65536), Number(process.env.BSA_MEMORY_K ?? 8192)), 600_000);
