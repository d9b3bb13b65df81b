/**
 * The CPU backend's SIMD elementwise kernels (wasm/ew-wasm.ts, scripts/build-ew-wasm.ts) and its
 * per-op JS loops (engine/cpu/elementwise.ts), on the shared heap with and without the worker pool
 * and on the plain-JS heap, against a per-element float64 reference rounded to float32 (bitwise:
 * these ops are correctly rounded), including NaN, ±0, ±∞, odd lengths (scalar tails) and
 * broadcasting (one element, rows, columns, middle axes). Also the committed module is what the
 * build script makes (wabt, no C toolchain). The depthwise convolution's SIMD kernels give the same
 * bits as its JavaScript kernels (kernels/conv/cpu.ts), forward and both gradients (9×9 float32
 * interior sums: within 1e-5); column sums over a middle axis give the JS reduce's bits.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import type { BinaryOp, UnaryOp } from '../../src/engine/backend.js';
import { CpuBackend } from '../../src/engine/cpu/backend.js';
import { createHeap } from '../../src/engine/cpu/heap.js';
import { createNodeThreadPool } from '../../src/engine/cpu/worker-node.js';
import { Rng } from '../../src/engine/random.js';
import * as E from '../../src/engine/ops.js';
import { depthwiseConv2d } from '../../src/kernels/conv/op.js';

const UN: Record<string, (x: number) => number> = {
  relu: (x) => (x > 0 ? x : 0), neg: (x) => -x, abs: Math.abs, square: (x) => x * x, sqrt: Math.sqrt, recip: (x) => 1 / x,
  exp: Math.exp, tanh: Math.tanh,
};
const BIN: Record<string, (a: number, b: number) => number> = {
  add: (a, b) => a + b, sub: (a, b) => a - b, mul: (a, b) => a * b, div: (a, b) => a / b,
  gt: (a, b) => +(a > b), ge: (a, b) => +(a >= b), lt: (a, b) => +(a < b), le: (a, b) => +(a <= b),
  eq: (a, b) => +(a === b), ne: (a, b) => +(a !== b),
  // The engine's rule: a >= b or a is NaN ? a : b (ties keep a, so max(−0, +0) = −0).
  max: (a, b) => (a >= b || Number.isNaN(a) ? a : b),
  min: (a, b) => (a <= b || Number.isNaN(a) ? a : b),
};

const SPECIAL = [0, -0, NaN, Infinity, -Infinity, 1, -1, 2.5, -2.5, 1e-40, 3e38];

function values(n: number, seed: number): Float32Array {
  const r = Rng.fromSeed(seed);
  const x = Float32Array.from({ length: n }, () => (r.uniform() - 0.5) * 8);
  for (let i = 0; i < Math.min(n, 40); i++) x[i] = SPECIAL[(i * 7 + seed) % SPECIAL.length]!;
  for (let i = 40; i < n; i += 13) x[i] = x[i - 1]!; // ties for comparisons
  return x;
}

const same = (got: Float32Array, want: Float32Array): string | null => {
  for (let i = 0; i < want.length; i++) if (!Object.is(got[i], want[i])) return `index ${i}: got ${got[i]}, want ${want[i]}`;
  return null;
};

function refBinary(f: (a: number, b: number) => number, a: Float32Array, as: number[], b: Float32Array, bs: number[], out: number[]): Float32Array {
  const n = out.reduce((p, d) => p * d, 1);
  const o = new Float32Array(n);
  const idx = (i: number, shape0: number[]) => {
    const shape = [...Array<number>(out.length - shape0.length).fill(1), ...shape0];
    let off = 0; let stride = 1; let rem = i;
    const pos: number[] = [];
    for (let d = out.length - 1; d >= 0; d--) { pos[d] = rem % out[d]!; rem = Math.floor(rem / out[d]!); }
    for (let d = out.length - 1; d >= 0; d--) { off += (shape[d] === 1 ? 0 : pos[d]!) * stride; stride *= shape[d]!; }
    return off;
  };
  for (let i = 0; i < n; i++) o[i] = f(a[idx(i, as)]!, b[idx(i, bs)]!);
  return o;
}

const pools: { destroy(): void }[] = [];
afterAll(() => pools.forEach((p) => p.destroy()));

async function backends(): Promise<[string, CpuBackend][]> {
  const heap = createHeap();
  const pool = await createNodeThreadPool({ memory: heap.memory!, threads: 3 });
  pools.push(pool);
  return [['shared heap, pool', new CpuBackend({ heap, pool })], ['shared heap, no pool', new CpuBackend()],
    ['plain JS heap', new CpuBackend({ heap: createHeap({ plain: true }) })]];
}

describe('cpu elementwise kernels', () => {
  it('unary and same-shape / one-element binary ops match float64 rounded to float32 bit for bit (exp: within one ulp)', async () => {
    for (const [name, be] of await backends()) {
      // 70001 elements: above the pool threshold (chunks with 4-element tails); 67: one thread.
      for (const n of [67, 70001]) {
        const x = values(n, 3);
        x[41] = 88.72; x[42] = 88.73; x[43] = -103.9; x[44] = -104; x[45] = 1e-8; x[46] = -87.3;
        const y = values(n, 5);
        for (const op of Object.keys(UN) as UnaryOp[]) {
          const got = await be.read(be.unary(op, be.upload(x)));
          const want = Float32Array.from(x, UN[op]!);
          if (op === 'exp') {
            // The SIMD exp: within one float32 ulp of Math.exp (exact at 0, ∞, NaN, underflow).
            const bad = want.findIndex((w, i) => !(Object.is(w, got[i]) || Math.abs(got[i]! - w) <= w * 2 ** -23));
            expect(bad, `${name} exp n=${n} at ${bad}: got ${got[bad]}, want ${want[bad]}`).toBe(-1);
            const ulps = want.filter((w, i) => !Object.is(w, got[i])).length;
            expect(ulps, `${name} exp: elements one ulp off`).toBeLessThan(n * 1e-3 + 1);
          } else {
            expect(same(got, want), `${name} ${op} n=${n}`).toBeNull();
          }
        }
        for (const op of Object.keys(BIN) as BinaryOp[]) {
          const f = BIN[op]!;
          const got = await be.read(be.binary(op, be.upload(x), [n], be.upload(y), [n], [n]));
          expect(same(got, Float32Array.from(x, (v, i) => f(v, y[i]!))), `${name} ${op} n=${n}`).toBeNull();
          for (const s of [0, -0, NaN, 1.5]) {
            const sv = new Float32Array([s]);
            const gb = await be.read(be.binary(op, be.upload(x), [n], be.upload(sv), [1], [n]));
            expect(same(gb, Float32Array.from(x, (v) => f(v, s))), `${name} ${op} scalar b=${s}`).toBeNull();
            const ga = await be.read(be.binary(op, be.upload(sv), [1], be.upload(x), [n], [n]));
            expect(same(ga, Float32Array.from(x, (v) => f(s, v))), `${name} ${op} scalar a=${s}`).toBeNull();
          }
        }
      }
    }
  });

  it('broadcast binary ops and where match a per-element reference', async () => {
    const cases: [number[], number[], number[]][] = [
      [[5, 7], [1, 7], [5, 7]], [[5, 7], [5, 1], [5, 7]], [[3, 1, 6], [1, 4, 6], [3, 4, 6]],
      [[2, 3, 4, 5], [2, 1, 1, 5], [2, 3, 4, 5]], [[2, 1, 4, 1], [1, 3, 1, 5], [2, 3, 4, 5]], [[1, 1, 9], [4, 3, 9], [4, 3, 9]], [[4, 1, 9], [4, 3, 9], [4, 3, 9]],
      // Rows of 16+ elements: the SIMD broadcast kernel (above 2^16 elements, on the pool).
      [[3, 1, 40], [1, 5, 40], [3, 5, 40]], [[6, 50], [6, 1], [6, 50]], [[4, 1, 33], [4, 7, 33], [4, 7, 33]], [[64, 1, 40], [64, 30, 40], [64, 30, 40]], [[1, 30, 41], [64, 30, 41], [64, 30, 41]],
    ];
    for (const [name, be] of await backends()) {
      for (const [as, bs, os] of cases) {
        const a = values(as.reduce((p, d) => p * d, 1), 7);
        const b = values(bs.reduce((p, d) => p * d, 1), 11);
        for (const op of ['add', 'sub', 'mul', 'max', 'gt'] as BinaryOp[]) {
          const got = await be.read(be.binary(op, be.upload(a), as, be.upload(b), bs, os));
          expect(same(got, refBinary(BIN[op]!, a, as, b, bs, os)), `${name} ${op} ${as}|${bs}`).toBeNull();
        }
        const cond = Float32Array.from(b, (v) => (v > 0 ? 1 : 0));
        const got = await be.read(be.where(be.upload(cond), bs, be.upload(a), as, be.upload(b), bs, os));
        const [cw, aw, bw] = [refBinary((c) => c, cond, bs, cond, bs, os), refBinary((x) => x, a, as, a, as, os), refBinary((x) => x, b, bs, b, bs, os)];
        const want = cw.map((c, i) => (c !== 0 ? aw[i]! : bw[i]!));
        expect(same(got, want), `${name} where ${as}|${bs}`).toBeNull();
      }
    }
  });

  it('matmul with bias and residual adds them (SIMD epilogue) as the JS heap does', async () => {
    const [[, pooled], , [, plain]] = await backends();
    for (const [m, k, n] of [[300, 16, 130], [3, 5, 7]]) {
      const a = values(m * k, 1).map((v) => (Number.isFinite(v) ? v : 0));
      const w = values(k * n, 2).map((v) => (Number.isFinite(v) ? v : 0));
      const bias = values(n, 4);
      const res = values(m * n, 6);
      const run = (be: CpuBackend) => be.read(be.matmul(be.upload(a), be.upload(w), {
        batch: 1, m, k, n, transA: false, transB: false, strideA: 0, strideB: 0, bias: be.upload(bias), residual: be.upload(res),
      }));
      expect(same(await run(pooled!), await run(plain!))).toBeNull();
    }
  });

  it('depthwise convolution: SIMD kernels (pool, no pool) give the JS kernels\' bits (9x9, C % 16 = 0: within 1e-5), forward and gradients', async () => {
    const [[, pooled], [, single], [, plain]] = await backends();
    for (const [B, H, W, C, k] of [[2, 11, 13, 6, 9], [1, 5, 4, 4, 9], [3, 7, 6, 8, 3], [2, 10, 12, 8, 9], [1, 3, 9, 16, 9], [1, 12, 20, 24, 9], [2, 11, 14, 32, 9]]) {
      const x = values(B * H * W * C, 21).map((v) => (Number.isFinite(v) ? v : 0.5));
      const w = values(k * k * C, 22).map((v) => (Number.isFinite(v) ? v : -0.25));
      const bias = values(C, 23).map((v) => (Number.isFinite(v) ? v : 1));
      const R = values(B * H * W * C, 24).map((v) => (Number.isFinite(v) ? v : 2));
      const run = async (be: CpuBackend) => {
        const [xt, wt, bt, rt] = [E.tensor(x, [B, H, W, C], be), E.tensor(w, [k, k, C], be), E.tensor(bias, [C], be), E.tensor(R, [B, H, W, C], be)];
        const y = await depthwiseConv2d(xt, wt, bt).data();
        const { grads } = E.valueAndGrad(([a, b2, c]) => E.sum(E.mul(depthwiseConv2d(a!, b2!, c!), rt)))([xt, wt, bt]);
        return [y, ...(await Promise.all(grads.map((t) => t.data())))];
      };
      const want = await run(plain!);
      for (const be of [pooled!, single!]) {
        const got = await run(be);
        got.forEach((v, i) => {
          // 9×9 with C % 16 = 0: interior sums in float32 (forward and input gradient); else the same bits.
          if (k === 9 && C % 16 === 0 && i !== 2) {
            const bad = v.findIndex((g, j) => !(Object.is(g, want[i]![j]!) || Math.abs(g - want[i]![j]!) <= 1e-5 * (1 + Math.abs(want[i]![j]!))));
            expect(bad, `conv ${[B, H, W, C, k]} output ${i} at ${bad}: ${v[bad]} vs ${want[i]![bad]}`).toBe(-1);
          } else {
            expect(same(v, want[i]!), `conv ${[B, H, W, C, k]} output ${i}`).toBeNull();
          }
        });
      }
    }
  });

  it('sums over a middle axis (SIMD for 16-column blocks) give the JS reduce\'s bits', async () => {
    const [[, pooled], [, single], [, plain]] = await backends();
    for (const [outer, r, inner] of [[1, 3000, 128], [3, 50, 32], [2, 7, 48], [2, 9, 20], [4, 1, 16]]) {
      const x = values(outer * r * inner, 31).map((v) => (Number.isFinite(v) ? v : 3));
      const run = (be: CpuBackend) => be.read(be.reduce('sum', be.upload(x), outer, r, inner));
      const want = await run(plain!);
      // Independent check of the reference itself: float64 column sums rounded once.
      const direct = new Float32Array(outer * inner);
      for (let i = 0; i < outer; i++) for (let k = 0; k < inner; k++) {
        let acc = 0;
        for (let j = 0; j < r; j++) acc += x[(i * r + j) * inner + k]!;
        direct[i * inner + k] = acc;
      }
      expect(same(want, direct), `reference ${[outer, r, inner]}`).toBeNull();
      for (const be of [pooled!, single!]) expect(same(await run(be), want), `sum ${[outer, r, inner]}`).toBeNull();
    }
  });

  it('the committed module is what scripts/build-ew-wasm.ts builds', () => {
    expect(() => execFileSync('node', ['--import', 'tsx', 'scripts/build-ew-wasm.ts', '--check'], { stdio: ['ignore', 'pipe', 'pipe'] })).not.toThrow();
  });
});
