/**
 * Matmul benchmark: bsa-tnp's CPU matmul (wasm simd128 + worker threads, src/engine/cpu/matmul.ts)
 * against @tensorflow/tfjs-backend-wasm (XNNPACK, SIMD build; single-threaded in Node), same run.
 *
 *   npm run bench -- matmul [--reps N] [--threads T]
 *
 * Prints per (impl, shape) one line {"bench":"matmul","impl","batch","m","k","n","gflops"} on
 * stdout: the median over N timed repetitions after warm-up, the two libraries alternating. Before timing, both results are
 * checked against a float64 reference on sampled rows (style.md, "Check before timing").
 * Timed spans hold only the multiply: operands are already in each library's memory and nothing
 * is read back (tfjs-wasm runs synchronously inside tf.matMul).
 */
import { availableParallelism, loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import type { MatmulArgs } from '../src/engine/backend.js';
import { createHeap } from '../src/engine/cpu/heap.js';
import { matmul } from '../src/engine/cpu/matmul.js';
import { createNodeThreadPool } from '../src/engine/cpu/worker-node.js';
import { openBackend } from './backends.js';

const SHAPES: readonly { batch: number; m: number; k: number; n: number }[] = [
  { batch: 1, m: 4096, k: 64, n: 4096 },
  { batch: 1, m: 256, k: 256, n: 256 },
  { batch: 32, m: 512, k: 32, n: 512 },
];

function option(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(args[i + 1]);
  if (!Number.isFinite(v) || v < 1) throw new Error(`bench matmul: expected a positive number after ${name}, got ${args[i + 1]}`);
  return v;
}

/** Deterministic values in [-1, 1) (xorshift32). */
function fill(x: Float32Array, seed: number): void {
  let s = seed >>> 0 || 1;
  for (let i = 0; i < x.length; i++) {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    x[i] = s / 2 ** 31 - 1;
  }
}

/** Compares `c` with a float64 reference on up to 16 rows per batch entry; throws on mismatch. */
function verify(impl: string, a: Float32Array, b: Float32Array, c: Float32Array, s: MatmulArgs): void {
  const { batch, m, k, n } = s;
  let bad = 0;
  for (let p = 0; p < batch; p += Math.max(1, Math.floor(batch / 4))) {
    for (let i = 0; i < m; i += Math.max(1, Math.floor(m / 16))) {
      for (let j = 0; j < n; j++) {
        let ref = 0;
        let mag = 0;
        for (let l = 0; l < k; l++) {
          const t = a[p * m * k + i * k + l]! * b[p * k * n + l * n + j]!;
          ref += t;
          mag += Math.abs(t);
        }
        const got = c[(p * m + i) * n + j]!;
        if (!(Math.abs(got - ref) <= 1e-5 * mag + 1e-6)) {
          if (bad++ < 5) process.stderr.write(`${impl}: [${p},${i},${j}] got ${got}, expected ${ref}\n`);
        }
      }
    }
  }
  if (bad > 0) throw new Error(`bench matmul: ${impl} gives wrong results (${bad} mismatches); not timing it`);
}

/**
 * Median milliseconds of each function over `reps` rounds after `warm` untimed ones. Rounds
 * alternate between the functions so that load from other processes hits both alike.
 */
function timeInterleaved(fns: readonly (() => void)[], reps: number, warm: number): number[] {
  for (let i = 0; i < warm; i++) for (const fn of fns) fn();
  const ts = fns.map((): number[] => []);
  for (let i = 0; i < reps; i++) {
    fns.forEach((fn, j) => {
      const t0 = performance.now();
      fn();
      ts[j]!.push(performance.now() - t0);
    });
  }
  return ts.map((t) => t.sort((x, y) => x - y)[Math.floor(t.length / 2)]!);
}

/**
 * `--backend webgpu`: our WebGPU matmul on 4096³ and the CPU shapes. Each timing records `reps`
 * products in one submission and waits for the GPU (`sync`), so dispatch overhead is included;
 * results are checked on sampled entries against float64 before timing.
 */
async function runWebGPU(reps: number, quick: boolean): Promise<void> {
  const be = await openBackend('webgpu');
  const shapes = quick ? [{ batch: 1, m: 256, k: 256, n: 256 }] : [{ batch: 1, m: 4096, k: 4096, n: 4096 }, ...SHAPES];
  for (const { batch, m, k, n } of shapes) {
    const a = new Float32Array(batch * m * k);
    const b = new Float32Array(batch * k * n);
    fill(a, 1);
    fill(b, 2);
    const args2: MatmulArgs = { batch, m, k, n, transA: false, transB: false, strideA: m * k, strideB: k * n };
    const sa = be.upload(a);
    const sb = be.upload(b);
    const c0 = be.matmul(sa, sb, args2);
    const c = await be.read(c0);
    be.free(c0);
    // Sampled float64 check (a full reference of 4096³ on the host would take minutes).
    for (let t = 0; t < 64; t++) {
      const p = (t * 7919) % batch, i = (t * 104729) % m, j = (t * 1299709) % n;
      let ref = 0, mag = 0;
      for (let q = 0; q < k; q++) { const x = a[p * m * k + i * k + q]! * b[p * k * n + q * n + j]!; ref += x; mag += Math.abs(x); }
      const got = c[p * m * n + i * n + j]!;
      if (Math.abs(got - ref) > 1e-5 * mag + 1e-6) throw new Error(`bench matmul: bsa-tnp-webgpu [${p},${i},${j}] got ${got}, expected ${ref}`);
    }
    const n1 = Math.max(3, Math.min(reps, Math.ceil(2e12 / (2 * batch * m * k * n))));
    for (let w = 0; w < 3; w++) be.free(be.matmul(sa, sb, args2));
    await be.sync();
    const times: number[] = [];
    for (let rep = 0; rep < 5; rep++) {
      const t0 = performance.now();
      for (let i = 0; i < n1; i++) be.free(be.matmul(sa, sb, args2));
      await be.sync();
      times.push((performance.now() - t0) / n1);
    }
    const ms = times.sort((x, y) => x - y)[2]!;
    const gflops = Math.round((2 * batch * m * k * n) / ms / 1e4) / 100;
    process.stdout.write(`${JSON.stringify({ bench: 'matmul', impl: 'bsa-tnp-webgpu', batch, m, k, n, gflops, tflops: +(gflops / 1000).toFixed(2), device: be.description, date: new Date().toISOString() })}\n`);
    be.free(sa);
    be.free(sb);
  }
  be.destroy();
}

export async function run(args: string[]): Promise<void> {
  if (args.includes('--backend') && args[args.indexOf('--backend') + 1] === 'webgpu') {
    await runWebGPU(option(args, '--reps', 20), args.includes('--quick'));
    return;
  }
  const reps = option(args, '--reps', 15);
  const threads = option(args, '--threads', 2);
  await tf.setBackend('wasm');
  await tf.ready();
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  const mt = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
  process.stderr.write(`tfjs ${tf.version_core} backend ${tf.getBackend()} simd=${String(simd)} threads=${String(mt)}; ` +
    `${availableParallelism()} cpus, load average ${loadavg().map((x) => x.toFixed(1)).join(' ')} ` +
    '(timings are wall-clock: other processes on the cores distort them)\n');

  const heap = createHeap();
  if (!heap.memory) throw new Error('bench matmul: shared WebAssembly memory unavailable in this Node');
  const pool = await createNodeThreadPool({ memory: heap.memory, threads });
  try {
    for (const shape of SHAPES) {
      const { batch, m, k, n } = shape;
      const args2: MatmulArgs = { batch, m, k, n, transA: false, transB: false, strideA: m * k, strideB: k * n };
      const flops = 2 * batch * m * k * n;
      const a = heap.alloc(batch * m * k);
      const b = heap.alloc(batch * k * n);
      const c = heap.alloc(batch * m * n);
      fill(a, 1);
      fill(b, 2);

      const ta = tf.tensor3d(a.slice(), [batch, m, k]);
      const tb = tf.tensor3d(b.slice(), [batch, k, n]);
      const tc = tf.matMul(ta, tb);
      verify('tfjs-wasm', a, b, tc.dataSync() as Float32Array, args2);
      tc.dispose();
      c.fill(NaN);
      matmul(a, b, c, args2, pool);
      verify('bsa-tnp-cpu', a, b, c, args2);

      const [msOurs, msTf] = timeInterleaved([
        () => matmul(a, b, c, args2, pool),
        () => tf.matMul(ta, tb).dispose(),
      ], reps, 3) as [number, number];
      ta.dispose();
      tb.dispose();
      heap.free(a);
      heap.free(b);
      heap.free(c);
      for (const [impl, ms] of [['bsa-tnp-cpu', msOurs], ['tfjs-wasm', msTf]] as const) {
        const gflops = Math.round((flops / ms / 1e6) * 100) / 100;
        process.stdout.write(`${JSON.stringify({ bench: 'matmul', impl, batch, m, k, n, gflops })}\n`);
      }
      process.stderr.write(`  ${batch}x[${m}x${k}]·[${k}x${n}]: ours ${msOurs.toFixed(2)} ms (${threads} threads), ` +
        `tfjs-wasm ${msTf.toFixed(2)} ms, ratio ${(msTf / msOurs).toFixed(2)}x\n`);
    }
  } finally {
    pool.destroy();
  }
}
