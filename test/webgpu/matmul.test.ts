/**
 * WebGPU matmul: which kernel `matmulPlan` picks (the vec4 64-tile `mm64a` for 64-aligned shapes,
 * split-K for few tiles over a long K) and every path against a plain triple-loop float64
 * reference, on shapes at the edges of each path's conditions.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { MatmulArgs } from '../../src/engine/backend.js';
import { Rng } from '../../src/engine/random.js';
import { type MatmulKernel, matmulColSums, matmulPlan } from '../../src/engine/webgpu/kernels/matmul.js';
import { expectClose, gpu, rand } from './util.js';

const be = await gpu();
afterAll(() => be?.destroy());

type Op = 'NN' | 'NT' | 'TN' | 'TT';

interface Case {
  op: Op;
  batch?: number;
  m: number;
  k: number;
  n: number;
  bias?: boolean;
  /** Batch strides; default contiguous (0 broadcasts one matrix to every batch entry). */
  strideA?: number;
  strideB?: number;
}

function argsOf(c: Case): MatmulArgs {
  const batch = c.batch ?? 1;
  return {
    batch, m: c.m, k: c.k, n: c.n, transA: c.op[0] === 'T', transB: c.op[1] === 'T',
    strideA: c.strideA ?? c.m * c.k, strideB: c.strideB ?? c.k * c.n,
  };
}

/** C[b][i][j] = Σ_p A[b](i, p)·B[b](p, j) + bias[j], straight from the definition. */
function reference(a: Float32Array, b: Float32Array, bias: Float32Array | null, s: MatmulArgs): Float64Array {
  const { batch, m, k, n } = s;
  const c = new Float64Array(batch * m * n);
  for (let q = 0; q < batch; q++) {
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let acc = bias ? bias[j]! : 0;
        for (let p = 0; p < k; p++) {
          const av = a[q * s.strideA + (s.transA ? p * m + i : i * k + p)]!;
          const bv = b[q * s.strideB + (s.transB ? j * k + p : p * n + j)]!;
          acc += av * bv;
        }
        c[(q * m + i) * n + j] = acc;
      }
    }
  }
  return c;
}

/** Runs case `c` on the GPU, after checking it takes `kernel` (split into layers or not). */
async function check(rng: Rng, c: Case, kernel: MatmulKernel, split: boolean): Promise<void> {
  const g = be!;
  const args = argsOf(c);
  const { batch, m, k, n, strideA, strideB } = args;
  const a = rand(rng, Math.max(0, batch - 1) * strideA + m * k);
  const b = rand(rng, Math.max(0, batch - 1) * strideB + k * n);
  const bias = c.bias ? rand(rng, n, -2, 2) : null;
  const withBias = { ...args, bias: bias && g.upload(bias) };
  const plan = matmulPlan(withBias);
  const what = `${c.op}${c.bias ? '+bias' : ''} ${JSON.stringify(args)} (plan ${JSON.stringify(plan)})`;
  expect(plan.kernel, what).toBe(kernel);
  expect(plan.layers > 1, `${what}: split`).toBe(split);
  const got = await g.read(g.matmul(g.upload(a), g.upload(b), withBias));
  // Sums of k products of values in [-1, 1): relative 1e-5 and a few ulps of √k absolute.
  expectClose(got, reference(a, b, bias, args), 1e-5, 2e-5 * Math.sqrt(Math.max(k, 1)), what);
}

const OPS: readonly Op[] = ['NN', 'NT', 'TN', 'TT'];

describe('matmulPlan', () => {
  // The plan only asks whether there is a bias, not for its storage.
  const plan = (c: Case): ReturnType<typeof matmulPlan> => matmulPlan({ ...argsOf(c), bias: c.bias ? ({ length: c.n } as never) : null });

  it('the training step\'s 64-wide shapes take vec4 kernels, never the checked mm128', () => {
    // Every matmul of one training step of the default model (batch 8, 512 context + 1024 test
    // points: 12,288 tokens), logged from a CPU run. Weight gradients (TN, K = tokens) are split.
    const shapes: Case[] = [
      { op: 'TN', m: 128, k: 12288, n: 64 }, { op: 'TN', m: 256, k: 12288, n: 64 }, { op: 'TN', m: 256, k: 8192, n: 64 },
      { op: 'TN', m: 64, k: 12288, n: 128 }, { op: 'TN', m: 64, k: 12288, n: 256 }, { op: 'TN', m: 64, k: 4096, n: 128 },
      { op: 'TN', m: 64, k: 8192, n: 256 }, { op: 'TN', m: 256, k: 12288, n: 128 },
      { op: 'NT', m: 12288, k: 128, n: 64 }, { op: 'NT', m: 12288, k: 256, n: 64 }, { op: 'NT', m: 4096, k: 128, n: 64 },
      { op: 'NT', m: 8192, k: 256, n: 64 }, { op: 'NT', m: 12288, k: 64, n: 256 }, { op: 'NT', m: 12288, k: 128, n: 256 },
      { op: 'NN', m: 12288, k: 128, n: 64, bias: true }, { op: 'NN', m: 12288, k: 256, n: 64, bias: true },
      { op: 'NN', m: 8192, k: 256, n: 64, bias: true }, { op: 'NN', m: 12288, k: 64, n: 256, bias: true },
      { op: 'NN', m: 4096, k: 64, n: 128, bias: true },
    ];
    for (const c of shapes) {
      const p = plan(c);
      expect(p.kernel, JSON.stringify(c)).not.toBe('mm128');
      expect(p.kernel, JSON.stringify(c)).toBe(c.m % 128 === 0 && c.n % 128 === 0 ? 'mm128a' : 'mm64a');
      if (c.op === 'TN') {
        // Split to about two workgroups per SM of an H200 (132 SMs), in runs of whole K-steps.
        expect(p.layers, JSON.stringify(c)).toBeGreaterThan(1);
        expect(p.workgroups, JSON.stringify(c)).toBeGreaterThanOrEqual(128);
        expect(p.workgroups, JSON.stringify(c)).toBeLessThanOrEqual(264 + (c.m / p.tile) * (c.n / p.tile));
        expect(p.runK % p.kStep).toBe(0);
        expect((p.layers - 1) * p.runK).toBeLessThan(c.k);
        expect(p.layers * p.runK).toBeGreaterThanOrEqual(c.k);
      } else {
        expect(p.layers).toBe(1);
      }
    }
    expect(plan({ op: 'TN', m: 64, k: 12288, n: 256 })).toMatchObject({ kernel: 'mm64a', tile: 64, kStep: 16, layers: 64, runK: 192, workgroups: 256 });
    expect(plan({ op: 'NT', m: 12288, k: 256, n: 64 })).toMatchObject({ kernel: 'mm64a', layers: 1, workgroups: 192 });
  });

  it('alignment edges: 63 → mm16, 65 → mm128, K ≡ 8 mod 16 or odd batch strides → mm128, K < 8 → mm16', () => {
    expect(plan({ op: 'NN', m: 63, k: 32, n: 64 }).kernel).toBe('mm16');
    expect(plan({ op: 'NN', m: 64, k: 32, n: 63 }).kernel).toBe('mm16');
    expect(plan({ op: 'NN', m: 65, k: 32, n: 64 }).kernel).toBe('mm128');
    expect(plan({ op: 'NN', m: 64, k: 32, n: 65 }).kernel).toBe('mm128');
    expect(plan({ op: 'NN', m: 64, k: 32, n: 64 }).kernel).toBe('mm64a');
    expect(plan({ op: 'NN', m: 192, k: 16, n: 128 }).kernel).toBe('mm64a');
    expect(plan({ op: 'NN', m: 64, k: 24, n: 64 }).kernel).toBe('mm128');
    expect(plan({ op: 'NN', m: 128, k: 24, n: 128 }).kernel).toBe('mm128a');
    expect(plan({ op: 'NN', m: 64, k: 4, n: 64 }).kernel).toBe('mm16');
    expect(plan({ op: 'NN', batch: 2, m: 64, k: 32, n: 64, strideA: 64 * 32 + 2 }).kernel).toBe('mm128');
    expect(plan({ op: 'NN', batch: 2, m: 64, k: 32, n: 64, strideA: 64 * 32 + 4, strideB: 0 }).kernel).toBe('mm64a');
  });

  it('split-K only for a single product without bias, few tiles and K ≥ 1024', () => {
    expect(plan({ op: 'TN', m: 64, k: 1024, n: 64 }).layers).toBe(16);
    expect(plan({ op: 'TN', m: 64, k: 1008, n: 64 }).layers).toBe(1);
    expect(plan({ op: 'TN', m: 64, k: 4096, n: 64, bias: true }).layers).toBe(1);
    expect(plan({ op: 'TN', batch: 2, m: 64, k: 4096, n: 64 }).layers).toBe(1);
    // 132 tiles of 64 (one per SM) are enough.
    expect(plan({ op: 'NN', m: 64 * 12, k: 4096, n: 64 * 11 }).layers).toBe(1);
    expect(plan({ op: 'NN', m: 64 * 11, k: 4096, n: 64 * 11 }).layers).toBe(3);
  });
});

describe.skipIf(!be)('webgpu matmul paths against a triple loop', () => {
  // Bias only with NN, a dense layer's forward (the epilogue does not depend on the transposes):
  // each extra pipeline costs seconds of shader compilation on lavapipe.
  it('mm64a: M or N = 64 or 192, all transposes, bias', async () => {
    const rng = Rng.fromSeed(31);
    for (const [m, k, n] of [[64, 48, 64], [192, 32, 64], [64, 80, 192], [128, 16, 64]] as const) {
      for (const op of OPS) await check(rng, { op, m, k, n }, 'mm64a', false);
      await check(rng, { op: 'NN', m, k, n, bias: true }, 'mm64a', false);
    }
  });

  it('mm64a batched: padded batch strides and a broadcast operand (stride 0)', async () => {
    const rng = Rng.fromSeed(32);
    for (const op of OPS) {
      await check(rng, { op, batch: 3, m: 128, k: 32, n: 64, strideA: 128 * 32 + 4, strideB: 0 }, 'mm64a', false);
      await check(rng, { op, batch: 2, m: 64, k: 48, n: 192, strideA: 0, strideB: 48 * 192 + 8, bias: op === 'NN' }, 'mm64a', false);
    }
  });

  it('mm64a split-K: one to three tiles, ragged last run, all transposes', async () => {
    const rng = Rng.fromSeed(33);
    // k = 1072: 14 runs of 80 rows, the last one 32.
    for (const [m, k, n] of [[64, 2048, 64], [192, 1024, 64], [64, 1072, 128]] as const) {
      for (const op of OPS) await check(rng, { op, m, k, n }, 'mm64a', true);
    }
  });

  it('training-step shapes at full size: TN 64×12288·12288×128 (split), NT 12288×256·256×64, NN 12288×256·256×64 + bias', async () => {
    const rng = Rng.fromSeed(34);
    await check(rng, { op: 'TN', m: 64, k: 12288, n: 128 }, 'mm64a', true);
    await check(rng, { op: 'NT', m: 12288, k: 256, n: 64 }, 'mm64a', false);
    await check(rng, { op: 'NN', m: 12288, k: 256, n: 64, bias: true }, 'mm64a', false);
  });

  it('shapes next to the 64 boundary: 63 and 65 wide, K ≡ 8 mod 16, odd batch stride', async () => {
    const rng = Rng.fromSeed(35);
    for (const op of OPS) {
      await check(rng, { op, m: 63, k: 32, n: 64 }, 'mm16', false);
      await check(rng, { op, m: 64, k: 32, n: 65, bias: op === 'NN' }, 'mm128', false);
      await check(rng, { op, m: 65, k: 40, n: 64 }, 'mm128', false);
      await check(rng, { op, m: 64, k: 24, n: 128 }, 'mm128', false);
      await check(rng, { op, batch: 2, m: 64, k: 32, n: 64, strideA: 64 * 32 + 1 }, 'mm128', false);
    }
  });

  it('split-K sum with M·N not a multiple of 32 (checked kernels)', async () => {
    const rng = Rng.fromSeed(36);
    await check(rng, { op: 'TN', m: 65, k: 1100, n: 70 }, 'mm128', true);
    await check(rng, { op: 'NT', m: 7, k: 3000, n: 9 }, 'mm16', true);
  });
});

describe('matmulColSums (a dense layer\'s weight and bias gradients from one pass)', () => {
  /** Σ_k op(B)[k][j], straight from the definition. */
  function colSums(b: Float32Array, s: MatmulArgs): Float64Array {
    const out = new Float64Array(s.n);
    for (let j = 0; j < s.n; j++) for (let p = 0; p < s.k; p++) out[j] += b[s.transB ? j * s.k + p : p * s.n + j]!;
    return out;
  }

  it('fused in split tile products (mm64a, mm128a, checked mm128, all transposes) and by a reduction otherwise', async () => {
    if (!be) return;
    const rng = Rng.fromSeed(37);
    const cases: [Case, MatmulKernel, boolean][] = [
      [{ op: 'TN', m: 64, k: 2048, n: 128 }, 'mm64a', true],
      [{ op: 'NT', m: 64, k: 1072, n: 64 }, 'mm64a', true],
      [{ op: 'TN', m: 128, k: 1536, n: 128 }, 'mm128a', true],
      [{ op: 'TT', m: 65, k: 1100, n: 70 }, 'mm128', true],
      [{ op: 'NN', m: 70, k: 1100, n: 66 }, 'mm128', true],
      [{ op: 'TN', m: 64, k: 256, n: 64 }, 'mm64a', false],
      [{ op: 'NT', m: 7, k: 3000, n: 9 }, 'mm16', true],
    ];
    for (const [c, kernel, split] of cases) {
      const args = argsOf(c);
      const plan = matmulPlan(args);
      const what = `${c.op} ${c.m}×${c.k}×${c.n}`;
      expect(plan.kernel, what).toBe(kernel);
      expect(plan.layers > 1, `${what}: split`).toBe(split);
      const a = rand(rng, c.m * c.k);
      const b = rand(rng, c.k * c.n);
      const r = matmulColSums(be, be.upload(a), be.upload(b), args);
      expectClose(await be.read(r.c), reference(a, b, null, args), 1e-5, 2e-5 * Math.sqrt(c.k), `${what}: product`);
      expectClose(await be.read(r.sums), colSums(b, args), 1e-5, 2e-5 * Math.sqrt(c.k), `${what}: column sums`);
    }
  });
});

/** GELU (tanh form) in float64, straight from its definition. */
function gelu64(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
}

describe('matmul epilogues: + residual, and GELU writing z and gelu(z) (dense layers, fused)', () => {
  // One shape per kernel: mm128a (128-aligned), mm64a (64-aligned), checked mm128, mm16; the K of
  // the mm64a case (2048, few tiles) would be split without an epilogue.
  const shapes: readonly [number, number, number, MatmulKernel][] = [
    [128, 32, 128, 'mm128a'], [64, 2048, 64, 'mm64a'], [100, 24, 70, 'mm128'], [5, 7, 9, 'mm16']];
  it.each(shapes)('%i×%i·%i×… (%s): bias + residual, and bias + gelu, against float64', async (m, k, n, kernel) => {
    if (!be) return;
    const rng = Rng.fromSeed(40 + m);
    const a = rand(rng, m * k);
    const b = rand(rng, k * n);
    const bias = rand(rng, n, -2, 2);
    const res = rand(rng, m * n, -3, 3);
    const args: MatmulArgs = { batch: 1, m, k, n, transA: false, transB: false, strideA: m * k, strideB: k * n };
    const ref = reference(a, b, bias, args);
    const tol = 2e-5 * Math.sqrt(k);
    const withRes = { ...args, bias: be.upload(bias), residual: be.upload(res) };
    const plan = matmulPlan(withRes);
    expect(plan.kernel).toBe(kernel);
    expect(plan.layers, 'an epilogue is never split').toBe(1);
    const got = await be.read(be.matmul(be.upload(a), be.upload(b), withRes));
    expectClose(got, ref.map((x, i) => x + res[i]!), 1e-5, tol, `residual ${kernel}`);
    const { z, y } = be.matmulGelu(be.upload(a), be.upload(b), { ...args, bias: be.upload(bias) });
    expectClose(await be.read(z), ref, 1e-5, tol, `z ${kernel}`);
    // gelu' ≤ 1.13: the product's error passes through at most slightly amplified.
    expectClose(await be.read(y), ref.map(gelu64), 1e-5, 1.2 * tol, `gelu ${kernel}`);
  });

  it('rejects a short residual and a residual with gelu', () => {
    if (!be) return;
    const args: MatmulArgs = { batch: 1, m: 4, k: 4, n: 4, transA: false, transB: false, strideA: 16, strideB: 16 };
    const x = be.upload(new Float32Array(16));
    expect(() => be.matmul(x, x, { ...args, residual: be.upload(new Float32Array(15)) })).toThrow(/expected a residual of 16 elements, got 15/);
    expect(() => be.matmulGelu(x, x, { ...args, residual: x })).toThrow(/expected no residual/);
  });
});
