// CPU matmul (src/engine/cpu/matmul.ts, wasm simd128 kernels) against a float64 JS reference:
// random shapes around the 4x8 micro-tile, transposes, batch stride 0, unit and empty dims,
// operands in the shared heap and outside it, with and without the Node worker pool.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MatmulArgs } from '../../src/engine/backend.js';
import { createHeap, type CpuHeap } from '../../src/engine/cpu/heap.js';
import { matmul, MatmulError, runPlain } from '../../src/engine/cpu/matmul.js';
import type { ThreadPool } from '../../src/engine/cpu/threads.js';
import { createNodeThreadPool } from '../../src/engine/cpu/worker-node.js';

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s / 2 ** 32;
  };
}

/** Float64 reference; also returns Σ|a·b| per output for the relative tolerance. */
function reference(a: Float32Array, b: Float32Array, s: MatmulArgs): { ref: Float64Array; mag: Float64Array } {
  const { batch, m, k, n, transA, transB, strideA, strideB } = s;
  const ref = new Float64Array(batch * m * n);
  const mag = new Float64Array(batch * m * n);
  for (let p = 0; p < batch; p++) {
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let acc = 0;
        let abs = 0;
        for (let l = 0; l < k; l++) {
          const t = a[p * strideA + (transA ? l * m + i : i * k + l)]! * b[p * strideB + (transB ? j * k + l : l * n + j)]!;
          acc += t;
          abs += Math.abs(t);
        }
        ref[(p * m + i) * n + j] = acc;
        mag[(p * m + i) * n + j] = abs;
      }
    }
  }
  return { ref, mag };
}

/** Tolerance 1e-5·Σ|a·b| + 1e-7 (relative 1e-5 for k ≤ 512); reports the first mismatches. */
function expectClose(got: Float32Array, ref: Float64Array, mag: Float64Array, label: string): void {
  const bad: string[] = [];
  for (let i = 0; i < ref.length; i++) {
    if (!(Math.abs(got[i]! - ref[i]!) <= 1e-5 * mag[i]! + 1e-7)) {
      if (bad.length < 5) bad.push(`[${i}] got ${got[i]}, expected ${ref[i]}`);
      else break;
    }
  }
  expect(bad, label).toEqual([]);
}

interface Case extends MatmulArgs { label: string }

function cases(): Case[] {
  const r = rng(7);
  const out: Case[] = [];
  const dims = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100];
  for (let t = 0; t < 40; t++) {
    const pick = (): number => dims[Math.floor(r() * dims.length)]!;
    const batch = 1 + Math.floor(r() * 3);
    const m = pick();
    const k = pick();
    const n = pick();
    const transA = r() < 0.5;
    const transB = r() < 0.5;
    const strideA = r() < 0.25 ? 0 : m * k + (r() < 0.3 ? 3 : 0);
    const strideB = r() < 0.25 ? 0 : k * n + (r() < 0.3 ? 5 : 0);
    out.push({ label: `random ${t}`, batch, m, k, n, transA, transB, strideA, strideB });
  }
  const named: [string, number, number, number, number][] = [
    ['1x1x1', 1, 1, 1, 1], ['m=1', 2, 1, 37, 29], ['n=1', 2, 29, 37, 1], ['k=1', 2, 13, 1, 19],
    ['k spans two KC blocks', 1, 19, 300, 23], ['k=512', 1, 9, 512, 70], ['wide n', 1, 5, 16, 1000],
    ['tall m (several row units)', 1, 301, 8, 9], ['batched, many units', 7, 150, 20, 33],
    // Above matmul.ts's PARALLEL_MIN_MACS (2^18), so the pool really splits these.
    ['pool-sized', 2, 130, 70, 45], ['pool-sized, k over KC', 1, 67, 300, 29],
  ];
  for (const [label, batch, m, k, n] of named) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        out.push({ label: `${label} tA=${transA} tB=${transB}`, batch, m, k, n, transA, transB, strideA: m * k, strideB: 0 });
      }
    }
  }
  return out;
}

function run(heap: CpuHeap | null, pool: ThreadPool | undefined, c: Case, seed: number): void {
  const r = rng(seed);
  const lenA = Math.max(1, (c.batch - 1) * c.strideA + c.m * c.k);
  const lenB = Math.max(1, (c.batch - 1) * c.strideB + c.k * c.n);
  const a = heap ? heap.alloc(lenA) : new Float32Array(lenA);
  const b = heap ? heap.alloc(lenB) : new Float32Array(lenB);
  const out = heap ? heap.alloc(c.batch * c.m * c.n) : new Float32Array(c.batch * c.m * c.n);
  for (let i = 0; i < a.length; i++) a[i] = r() * 2 - 1;
  for (let i = 0; i < b.length; i++) b[i] = r() * 2 - 1;
  out.fill(Number.NaN);
  matmul(a, b, out, c, pool);
  const { ref, mag } = reference(a, b, c);
  expectClose(out, ref, mag, c.label);
  if (heap) {
    heap.free(a);
    heap.free(b);
    heap.free(out);
  }
}

describe('cpu matmul', () => {
  let heap: CpuHeap;
  let pool: ThreadPool;
  beforeAll(async () => {
    heap = createHeap({ initialBytes: 1 << 20 });
    pool = await createNodeThreadPool({ memory: heap.memory!, threads: 3 });
  });
  afterAll(() => pool.destroy());

  it('matches the float64 reference, operands in the shared heap, single thread', () => {
    cases().forEach((c, i) => run(heap, undefined, c, i + 1));
  });

  it('matches the float64 reference with the worker pool', () => {
    expect(pool.size).toBe(3);
    cases().forEach((c, i) => run(heap, pool, c, i + 1));
  });

  it('matches with plain Float32Array operands (copied in), with and without the pool', () => {
    cases().slice(0, 20).forEach((c, i) => run(null, undefined, c, i + 100));
    cases().slice(20, 40).forEach((c, i) => run(null, pool, c, i + 200));
  });

  it('matches through the plain-memory fallback (no SharedArrayBuffer)', () => {
    for (const [i, c] of cases().slice(0, 25).entries()) {
      const r = rng(i + 300);
      const a = Float32Array.from({ length: Math.max(1, (c.batch - 1) * c.strideA + c.m * c.k) }, () => r() - 0.5);
      const b = Float32Array.from({ length: Math.max(1, (c.batch - 1) * c.strideB + c.k * c.n) }, () => r() - 0.5);
      const out = new Float32Array(c.batch * c.m * c.n);
      runPlain(a, b, out, c);
      const { ref, mag } = reference(a, b, c);
      expectClose(out, ref, mag, c.label);
    }
  });

  it('handles empty dims: batch, m or n = 0 write nothing; k = 0 writes zeros', () => {
    const base = { transA: false, transB: false, strideA: 0, strideB: 0 };
    const out = new Float32Array(6).fill(7);
    matmul(new Float32Array(0), new Float32Array(0), out, { ...base, batch: 0, m: 2, k: 3, n: 3 });
    matmul(new Float32Array(0), new Float32Array(0), out, { ...base, batch: 1, m: 0, k: 3, n: 3 });
    matmul(new Float32Array(6), new Float32Array(0), out, { ...base, batch: 1, m: 2, k: 3, n: 0 });
    expect([...out]).toEqual([7, 7, 7, 7, 7, 7]);
    matmul(new Float32Array(0), new Float32Array(0), out, { ...base, batch: 1, m: 2, k: 0, n: 3 }, pool);
    expect([...out]).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('larger product split across the pool equals the single-thread result bit for bit', () => {
    const args: MatmulArgs = { batch: 3, m: 257, k: 300, n: 131, transA: false, transB: true, strideA: 257 * 300, strideB: 0 };
    const r = rng(42);
    const a = heap.alloc(3 * 257 * 300);
    const b = heap.alloc(131 * 300);
    for (let i = 0; i < a.length; i++) a[i] = r() - 0.5;
    for (let i = 0; i < b.length; i++) b[i] = r() - 0.5;
    const one = heap.alloc(3 * 257 * 131);
    const many = heap.alloc(3 * 257 * 131);
    matmul(a, b, one, args);
    matmul(a, b, many, args, pool);
    expect(Buffer.from(many.buffer, many.byteOffset, many.byteLength).equals(
      Buffer.from(one.buffer, one.byteOffset, one.byteLength))).toBe(true);
    for (const v of [a, b, one, many]) heap.free(v);
  });

  it('rejects bad arguments with the expected sizes', () => {
    const base = { batch: 2, m: 3, k: 4, n: 5, transA: false, transB: false, strideA: 12, strideB: 20 };
    expect(() => matmul(new Float32Array(23), new Float32Array(40), new Float32Array(30), base))
      .toThrowError(/matmul: expected a of at least 24 elements, got 23/);
    expect(() => matmul(new Float32Array(24), new Float32Array(40), new Float32Array(29), base))
      .toThrowError(MatmulError);
    expect(() => matmul(new Float32Array(24), new Float32Array(40), new Float32Array(30), { ...base, m: 1.5 }))
      .toThrowError(/expected m to be a non-negative integer, got 1.5/);
  });
});
