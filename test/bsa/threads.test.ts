/**
 * BSA CPU kernel on the worker pool, and the tied-basis merge (model.md §5.2: all F basis functions
 * of a head tied at init): tied, partly tied and untied parameters against the dense float64
 * reference, single-threaded and on a pool; pool results are deterministic and the forward does
 * not depend on the thread count; engine tensors (views in the heap) are used in place.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHeap, type CpuHeap } from '../../src/engine/cpu/heap.js';
import type { ThreadPool } from '../../src/engine/cpu/threads.js';
import { createNodeThreadPool } from '../../src/engine/cpu/worker-node.js';
import { MemoryAccount } from '../../src/engine/memory.js';
import { bsaBackwardCpu, bsaForwardCpu } from '../../src/kernels/bsa/cpu.js';
import { bsaDenseBackward, bsaDenseForward } from '../../src/kernels/bsa/dense.js';
import type { BsaData, BsaDesc, BsaGroup } from '../../src/kernels/bsa/desc.js';
import { makeProblem, randomF32, relErr } from './helpers.js';

const TOL = 1e-5;
let heap: CpuHeap;
let pool: ThreadPool;

beforeAll(async () => {
  heap = createHeap();
  pool = await createNodeThreadPool({ memory: heap.memory!, threads: 3 });
});
afterAll(() => pool.destroy());

function check(desc: BsaDesc, data: BsaData, label: string, p?: ThreadPool): void {
  const ref = bsaDenseForward(desc, data);
  const got = bsaForwardCpu(desc, data, { pool: p });
  expect(relErr(got.o, ref.o), `${label}: O`).toBeLessThanOrEqual(TOL);
  const dO = randomF32(got.o.length, 99);
  const gRef = bsaDenseBackward(desc, data, dO);
  const g = bsaBackwardCpu(desc, data, got, dO, { pool: p });
  expect(relErr(g.dq, gRef.dq), `${label}: dq`).toBeLessThanOrEqual(TOL);
  expect(relErr(g.dk, gRef.dk), `${label}: dk`).toBeLessThanOrEqual(TOL);
  expect(relErr(g.dv, gRef.dv), `${label}: dv`).toBeLessThanOrEqual(TOL);
  desc.groups.forEach((_, gi) => {
    const a = g.groups[gi]!, e = gRef.groups[gi]!;
    expect(relErr(a.da, e.da), `${label}: group ${gi} da`).toBeLessThanOrEqual(TOL);
    if (e.db) expect(relErr(a.db!, e.db), `${label}: group ${gi} db`).toBeLessThanOrEqual(TOL);
    if (e.dc) expect(relErr(a.dc!, e.dc), `${label}: group ${gi} dc`).toBeLessThanOrEqual(TOL);
  });
}

/** Ties parameters: `mode` 'all' = every basis of every head equal; 'head' = tied within a head,
 * heads differ; 'partial' = basis k takes the parameters of basis ⌊k/2⌋·2 (pairs tied). */
function tie(desc: BsaDesc, data: BsaData, mode: 'all' | 'head' | 'partial'): void {
  desc.groups.forEach((g, gi) => {
    if (g.family === 'scalar') return;
    const gd = data.groups[gi]!;
    for (const arr of [gd.a, gd.b, gd.c]) {
      if (!arr) continue;
      for (let h = 0; h < desc.H; h++) {
        for (let k = 0; k < g.F; k++) {
          const src = mode === 'all' ? 0 : mode === 'head' ? h * g.F : h * g.F + 2 * Math.floor(k / 2);
          // amplitudes stay distinct in 'partial' so the merged sum is exercised
          if (arr === gd.a && mode === 'partial') continue;
          arr[h * g.F + k] = arr[src]!;
        }
      }
    }
  });
}

const GROUPS: BsaGroup[][] = [
  [{ M: 2, distance: 'euclidean', family: 'rbf', F: 5 }],
  [{ M: 2, distance: 'euclidean', family: 'tisa', F: 3 }, { M: 1, distance: 'euclidean', family: 'exp', F: 4 }],
  [{ M: 2, distance: 'greatCircle', family: 'rbf', F: 3 }, { M: 1, distance: 'euclidean', family: 'scalar', F: 1 }],
];

describe('tied basis functions vs dense reference', () => {
  for (const groups of GROUPS) {
    for (const mode of ['all', 'head', 'partial'] as const) {
      const name = `${groups.map((g) => `${g.family}/${g.distance}`).join(' + ')}, tied ${mode}`;
      it(name, () => {
        const { desc, data } = makeProblem({ B: 2, H: 3, Q: 37, K: 45, d: 8, dv: 6, groups, tileQ: 8, tileK: 16,
          maskFrac: 0.2, seed: 17 });
        tie(desc, data, mode);
        check(desc, data, `${name} (1 thread)`);
        check(desc, data, `${name} (pool)`, pool);
      });
    }
  }
});

describe('bsa on the worker pool', () => {
  it('matches the dense reference, untied, ragged tiles, masks', () => {
    const { desc, data } = makeProblem({ B: 2, H: 2, Q: 130, K: 77, d: 32, dv: 16,
      groups: [{ M: 2, distance: 'euclidean', family: 'rbf', F: 5 }, { M: 1, distance: 'euclidean', family: 'rbf', F: 3 }],
      tileQ: 32, tileK: 16, maskFrac: 0.3, seed: 5 });
    check(desc, data, 'pool', pool);
  });

  it('forward is identical to one thread; backward is deterministic run to run', () => {
    const { desc, data } = makeProblem({ B: 1, H: 4, Q: 200, K: 300, d: 32, dv: 32, maskFrac: 0.1, seed: 9 });
    const f1 = bsaForwardCpu(desc, data);
    const fp = bsaForwardCpu(desc, data, { pool });
    expect(fp.o).toEqual(f1.o);
    expect(fp.lse).toEqual(f1.lse);
    const dO = randomF32(f1.o.length, 4);
    const g1 = bsaBackwardCpu(desc, data, fp, dO, { pool });
    const g2 = bsaBackwardCpu(desc, data, fp, dO, { pool });
    expect(g2.dq).toEqual(g1.dq);
    expect(g2.dk).toEqual(g1.dk);
    expect(g2.groups[0]!.db).toEqual(g1.groups[0]!.db);
    const gs = bsaBackwardCpu(desc, data, fp, dO);
    expect(relErr(g1.dq, gs.dq)).toBeLessThan(1e-6);
    expect(g1.dk).toEqual(gs.dk);
  });

  it('uses heap tensors and output views in place (no copies reported)', () => {
    const { desc, data } = makeProblem({ B: 1, H: 2, Q: 64, K: 48, d: 16, dv: 16, maskFrac: 0.1, seed: 3 });
    const inHeap = (x: Float32Array): Float32Array => { const v = heap.alloc(x.length); v.set(x); return v; };
    const hd: BsaData = { q: inHeap(data.q), k: inHeap(data.k), v: inHeap(data.v), mask: inHeap(data.mask!),
      groups: data.groups.map((g) => ({ ...g, cq: inHeap(g.cq), ck: inHeap(g.ck) })) };
    const out = { o: heap.alloc(data.q.length), lse: heap.alloc(desc.B * desc.H * desc.Q) };
    const mem = new MemoryAccount();
    const sizes: number[] = [];
    const stop = mem.onAlloc((b) => sizes.push(b));
    const f = bsaForwardCpu(desc, hd, { pool, memory: mem, out });
    stop();
    expect(f.o).toBe(out.o);
    // scratch and tables only: no copy of q, o (4·2048 bytes) or k, v (4·1536 bytes)
    expect(sizes).not.toContain(4 * data.q.length);
    expect(sizes).not.toContain(4 * data.k.length);
    expect(relErr(f.o, bsaDenseForward(desc, data).o)).toBeLessThanOrEqual(TOL);
    expect(mem.liveBytes).toBe(0);
  });
});
