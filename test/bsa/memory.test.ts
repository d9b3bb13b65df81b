/**
 * BSA memory: forward + backward never allocate a buffer of size ≥ Q×K×4 bytes / 8 (every
 * allocation of the CPU path, scratch included, is reported to a MemoryAccount).
 *
 * The brief's full size (B=1, H=4, d=32, Q=65,536, K=8,192: 2.1·10⁹ pair-heads per pass) takes
 * several minutes single-threaded on the 2-core dev machine (~12 M pairs/s fwd, ~5 M fwd+bwd), so
 * it runs only with BSA_SLOW=1 (measured 2026-11-28: fwd 340 s, bwd 499 s, largest buffer 32 MiB vs the
 * 256 MiB limit, peak 188 MiB); by default the same check runs at Q=4,096, K=2,048 (~15 s).
 */
import { expect, it } from 'vitest';
import { MemoryAccount } from '../../src/engine/memory.js';
import { bsaBackwardCpu, bsaForwardCpu } from '../../src/kernels/bsa/cpu.js';
import type { BsaData, BsaDesc } from '../../src/kernels/bsa/desc.js';
import { randomF32 } from './helpers.js';

function run(Q: number, K: number): void {
  const H = 4, d = 32, F = 5;
  const desc: BsaDesc = { B: 1, H, Q, K, d, dv: d, hasMask: true,
    groups: [{ M: 2, distance: 'euclidean', family: 'rbf', F }] };
  const data: BsaData = {
    q: randomF32(H * Q * d, 1), k: randomF32(H * K * d, 2), v: randomF32(H * K * d, 3),
    mask: new Float32Array(K).fill(1),
    groups: [{ cq: randomF32(Q * 2, 4), ck: randomF32(K * 2, 5), a: new Float32Array(H * F).fill(1),
      b: new Float32Array(H * F).fill(1) }],
  };
  const dO = randomF32(H * Q * d, 6);
  const mem = new MemoryAccount();
  const t0 = performance.now();
  const f = bsaForwardCpu(desc, data, { memory: mem });
  const t1 = performance.now();
  const g = bsaBackwardCpu(desc, data, f, dO, { memory: mem });
  const t2 = performance.now();
  const limit = (Q * K * 4) / 8;
  const s = mem.stats();
  console.log(`bsa memory Q=${Q} K=${K}: fwd ${(t1 - t0).toFixed(0)} ms, bwd ${(t2 - t1).toFixed(0)} ms, ` +
    `largest buffer ${(s.largestBytes / 2 ** 20).toFixed(1)} MiB (limit ${(limit / 2 ** 20).toFixed(1)} MiB), ` +
    `peak ${(s.peakBytes / 2 ** 20).toFixed(1)} MiB over ${s.allocations} allocations`);
  expect(s.largestBytes).toBeLessThan(limit);
  expect(Number.isFinite(g.groups[0]!.da[0]!)).toBe(true);
}

it('forward + backward allocate no Q×K-sized buffer (Q=4096, K=2048)', () => run(4096, 2048));

it.skipIf(process.env.BSA_SLOW !== '1')('forward + backward at Q=65,536, K=8,192 (BSA_SLOW=1; minutes)', () =>
  run(65536, 8192), 1_800_000);
