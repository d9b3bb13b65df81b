/** WebGPU reduce, movement and matmul kernels against float64 references. */
import { afterAll, describe, expect, it } from 'vitest';
import type { ReduceOp } from '../../src/engine/backend.js';
import { Rng } from '../../src/engine/random.js';
import { matmulPlan } from '../../src/engine/webgpu/kernels/matmul.js';
import { expectClose, gpu, ints, prod, rand } from './util.js';

const be = await gpu();
afterAll(() => be?.destroy());

function reduceRef(op: ReduceOp, x: Float32Array, outer: number, r: number, inner: number): Float64Array {
  const out = new Float64Array(outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let acc = op === 'sum' ? 0 : op === 'max' ? -Infinity : Infinity;
      for (let j = 0; j < r; j++) {
        const v = x[(o * r + j) * inner + i]!;
        acc = op === 'sum' ? acc + v : op === 'max' ? Math.max(acc, v) : Math.min(acc, v);
      }
      out[o * inner + i] = acc;
    }
  }
  return out;
}

function matmulRef(a: Float32Array, b: Float32Array, batch: number, m: number, k: number, n: number,
  transA: boolean, transB: boolean, strideA: number, strideB: number): Float64Array {
  const c = new Float64Array(batch * m * n);
  for (let bi = 0; bi < batch; bi++) {
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) {
          const av = a[bi * strideA + (transA ? p * m + i : i * k + p)]!;
          const bv = b[bi * strideB + (transB ? j * k + p : p * n + j)]!;
          s += av * bv;
        }
        c[(bi * m + i) * n + j] = s;
      }
    }
  }
  return c;
}

describe.skipIf(!be)('webgpu reduce and movement', () => {
  const b = be!;

  it('reduce sum/max/min: loop, tree and column paths, r = 0', async () => {
    const rng = Rng.fromSeed(11);
    const cases: [number, number, number][] = [[3, 5, 4], [1, 1000, 1], [1, 20000, 1], [2, 17000, 3], [4, 300, 3], [7, 1, 9], [2, 129, 1], [5, 0, 2], [1, 7, 1],
      // Column sums: one chunk, many chunks with a ragged last one, ragged column groups, outer > 1.
      [1, 256, 16], [1, 12288, 128], [1, 3001, 70], [3, 700, 130], [1, 255, 64], [1, 20000, 16]];
    for (const op of ['sum', 'max', 'min'] as ReduceOp[]) {
      for (const [outer, r, inner] of cases) {
        const x = rand(rng, outer * r * inner, -2, 2);
        const got = await b.read(b.reduce(op, b.upload(x), outer, r, inner));
        expectClose(got, reduceRef(op, x, outer, r, inner), 1e-5, 1e-5, `${op} ${outer}x${r}x${inner}`);
      }
    }
  });

  it('strided gather: permute, slice with offset, expand (stride 0), ranks 1..4', async () => {
    const rng = Rng.fromSeed(12);
    const x = rand(rng, 2 * 3 * 4 * 5);
    const cases: [number[], number[], number][] = [
      [[5, 4, 3, 2], [1, 5, 20, 60], 0], // permute (reverse axes)
      [[2, 2, 3], [60, 5, 1], 7], // slice
      [[3, 4, 6], [0, 5, 0], 2], // expand
      [[10], [3], 1],
      [[1, 3, 1, 2], [99, 20, 99, 1], 0],
      [[0, 3], [3, 1], 0],
    ];
    for (const [shape, strides, offset] of cases) {
      const n = prod(shape);
      const ref = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        let rem = i;
        let src = offset;
        for (let d = shape.length - 1; d >= 0; d--) {
          src += (rem % shape[d]!) * strides[d]!;
          rem = Math.floor(rem / shape[d]!);
        }
        ref[i] = x[src]!;
      }
      expectClose(await b.read(b.strided(b.upload(x), shape, strides, offset)), ref, 0, 0, `strided ${shape}`);
    }
  });

  it('stridedWrite into a sub-block (concat and slice gradient)', async () => {
    const dstInit = new Float32Array(4 * 6).fill(-1);
    const dst = b.upload(dstInit);
    const src = new Float32Array([1, 2, 3, 4, 5, 6]);
    // Write a [3, 2] block at rows 1..3, cols 2..3 of a [4, 6] matrix.
    b.stridedWrite(dst, b.upload(src), [3, 2], [6, 1], 6 + 2);
    const ref = Array.from(dstInit);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 2; j++) ref[(1 + i) * 6 + 2 + j] = src[i * 2 + j]!;
    expect(Array.from(await b.read(dst))).toEqual(ref);
  });

  it('gather and scatterAdd (repeated indices)', async () => {
    const rng = Rng.fromSeed(13);
    const V = 9;
    const D = 5;
    const n = 23;
    const table = rand(rng, V * D);
    const idx = ints(rng, n, 0, V);
    idx[0] = idx[1]!;
    const got = await b.read(b.gather(b.upload(table), V, D, b.upload(idx), n));
    const ref = new Float64Array(n * D);
    for (let i = 0; i < n; i++) for (let d = 0; d < D; d++) ref[i * D + d] = table[idx[i]! * D + d]!;
    expectClose(got, ref, 0, 0, 'gather');
    const g = rand(rng, n * D);
    const sa = await b.read(b.scatterAdd(b.upload(g), b.upload(idx), n, V, D));
    const sref = new Float64Array(V * D);
    for (let i = 0; i < n; i++) for (let d = 0; d < D; d++) sref[idx[i]! * D + d] += g[i * D + d]!;
    expectClose(sa, sref, 1e-5, 1e-6, 'scatterAdd');
  });
});

describe.skipIf(!be)('webgpu matmul', () => {
  const b = be!;

  it('random shapes, transposes, batch strides (incl. 0), both kernels', async () => {
    const rng = Rng.fromSeed(21);
    const shapes: [number, number, number, number][] = [
      [1, 1, 1, 1], [2, 3, 5, 7], [1, 17, 33, 9], [3, 65, 20, 70], [1, 128, 64, 128], [2, 130, 9, 129],
      [1, 64, 0, 64], [1, 200, 37, 67],
    ];
    for (const [batch, m, k, n] of shapes) {
      for (const [transA, transB] of [[false, false], [true, false], [false, true], [true, true]] as const) {
        const bcastA = batch > 1 && rng.uniform() < 0.4;
        const strideA = bcastA ? 0 : m * k;
        const strideB = batch > 1 && !bcastA && rng.uniform() < 0.4 ? 0 : k * n;
        const a = rand(rng, (bcastA ? 1 : batch) * m * k);
        const bb = rand(rng, (strideB === 0 ? 1 : batch) * k * n);
        const args = { batch, m, k, n, transA, transB, strideA, strideB };
        const got = await b.read(b.matmul(b.upload(a), b.upload(bb), args));
        expectClose(got, matmulRef(a, bb, batch, m, k, n, transA, transB, strideA, strideB), 1e-5, 2e-5,
          `matmul ${JSON.stringify(args)}`);
      }
    }
  });

  it('bias epilogue (a dense layer): every kernel (mm16, mm128, aligned mm128a), batched, against the float64 reference', async () => {
    const rng = Rng.fromSeed(23);
    for (const [batch, m, k, n] of [[1, 5, 7, 9], [2, 130, 9, 129], [1, 256, 16, 128]] as const) {
      const a = rand(rng, batch * m * k);
      const bb = rand(rng, k * n);
      const bias = rand(rng, n, -2, 2);
      const args = { batch, m, k, n, transA: false, transB: false, strideA: m * k, strideB: 0 };
      const got = await b.read(b.matmul(b.upload(a), b.upload(bb), { ...args, bias: b.upload(bias) }));
      const ref = matmulRef(a, bb, batch, m, k, n, false, false, m * k, 0);
      for (let r = 0; r < batch * m; r++) for (let c = 0; c < n; c++) ref[r * n + c]! += bias[c]!;
      expectClose(got, ref, 1e-5, 2e-5, `matmul + bias ${JSON.stringify([batch, m, k, n])}`);
    }
  });

  it('split-K (few output tiles, long K): mm16, mm128, aligned mm128a, ragged last run, all transposes', async () => {
    const rng = Rng.fromSeed(24);
    // [m, k, n]: weight-gradient shapes (k = tokens) and a k that leaves a short last run.
    const cases: [number, number, number][] = [[64, 3000, 128], [128, 4096, 128], [5, 2500, 3], [70, 1030, 66], [1, 1024, 1]];
    for (const [m, k, n] of cases) {
      expect(matmulPlan({ batch: 1, m, k, n, transA: false, transB: false, strideA: m * k, strideB: k * n }).layers).toBeGreaterThan(1);
      for (const [transA, transB] of [[true, false], [false, false], [false, true], [true, true]] as const) {
        const a = rand(rng, m * k);
        const bb = rand(rng, k * n);
        const args = { batch: 1, m, k, n, transA, transB, strideA: m * k, strideB: k * n };
        const got = await b.read(b.matmul(b.upload(a), b.upload(bb), args));
        // Sums of ~k products: a relative tolerance on the float64 value, and an absolute one of
        // a few ulps of √k (the size of the terms' sum).
        expectClose(got, matmulRef(a, bb, 1, m, k, n, transA, transB, m * k, k * n), 1e-5, 2e-5 * Math.sqrt(k),
          `matmul split-K ${JSON.stringify(args)}`);
      }
    }
  });

  it('aligned 128-tile path: 256x136x128 (k ≡ 0 mod 8), batched with broadcast B', async () => {
    const rng = Rng.fromSeed(22);
    const [batch, m, k, n] = [2, 256, 136, 128];
    for (const [transA, transB] of [[false, false], [true, true]] as const) {
      const a = rand(rng, batch * m * k);
      const bb = rand(rng, k * n);
      const args = { batch, m, k, n, transA, transB, strideA: m * k, strideB: 0 };
      const got = await b.read(b.matmul(b.upload(a), b.upload(bb), args));
      expectClose(got, matmulRef(a, bb, batch, m, k, n, transA, transB, m * k, 0), 1e-5, 5e-5, 'matmul aligned');
    }
  });
});
