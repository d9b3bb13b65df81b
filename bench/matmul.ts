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
 *
 *   npm run bench -- matmul --backend webgpu [--reps N] [--quick | --shapes train|default|LIST]
 *
 * times bsa-tnp's WebGPU matmul alone (see `runWebGPU`): one line per shape
 * {"bench":"matmul","impl":"bsa-tnp-webgpu","op","bias","batch","m","k","n","gflops","tflops","ms",
 * "gpu_ms","gpu_gflops","kernels",…}, and for `train` (every matmul of one training step) a last
 * line with their GPU time per step. LIST: comma-separated `[B*]OP[b]:MxKxN`, e.g.
 * `TN:64x12288x64,NNb:12288x256x64` (see `parseShape`). Default: 4096³, the CPU shapes and `train`.
 */
import { availableParallelism, loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import type { MatmulArgs } from '../src/engine/backend.js';
import { createHeap } from '../src/engine/cpu/heap.js';
import { matmul } from '../src/engine/cpu/matmul.js';
import { createNodeThreadPool } from '../src/engine/cpu/worker-node.js';
import type { WebGPUBackend } from '../src/engine/webgpu/backend.js';
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

/** A WebGPU product: batch × op(A)[m×k] · op(B)[k×n] (+ a bias row). */
interface GpuShape {
  op: 'NN' | 'NT' | 'TN' | 'TT';
  bias: boolean;
  batch: number;
  m: number;
  k: number;
  n: number;
}

/**
 * Every matmul of one training step of the default model (batch 8 of 512 context + 1024 test
 * points: 12,288 tokens, embed dim 64, MLP width 256; bench model --train's shape) and how many
 * times one step runs it, logged from a CPU step of bsa-tnp at a0765bc. Forward dense layers are
 * NN with bias (M = tokens), input gradients NT (M = tokens), weight gradients TN (K = tokens).
 */
const TRAIN_STEP: readonly (readonly [string, number])[] = [
  ['TN:128x12288x64', 7], ['TN:256x12288x64', 6], ['TN:256x8192x64', 1], ['TN:64x12288x128', 6], ['TN:64x12288x256', 6],
  ['TN:64x4096x128', 12], ['TN:64x8192x256', 1], ['TN:256x12288x128', 1], ['TN:5x12288x256', 1], ['TN:64x8192x2', 1],
  ['NT:12288x128x64', 6], ['NT:12288x256x64', 6], ['NT:4096x128x64', 12], ['NT:8192x256x64', 1], ['NT:12288x64x128', 7],
  ['NT:12288x64x256', 6], ['NT:12288x128x256', 1], ['NT:8192x64x256', 1], ['NT:12288x256x5', 1], ['NT:8192x2x64', 1],
  ['NNb:12288x128x64', 7], ['NNb:12288x256x64', 6], ['NNb:8192x256x64', 1], ['NNb:12288x64x128', 6], ['NNb:12288x64x256', 6],
  ['NNb:4096x64x128', 12], ['NNb:8192x64x256', 1], ['NNb:12288x256x128', 1], ['NNb:12288x5x256', 1], ['NNb:8192x64x2', 1],
];

/**
 * Parses `[B*]OP[b]:MxKxN`: B products (default 1) of op(A)[M×K] · op(B)[K×N], OP one of NN NT TN
 * TT (T: that operand stored transposed), `b` a bias row added. E.g. `TN:64x12288x64`,
 * `8*NNb:512x64x64`.
 */
function parseShape(item: string): GpuShape {
  const r = /^(?:(\d+)\*)?(NN|NT|TN|TT)(b?):(\d+)x(\d+)x(\d+)$/.exec(item);
  if (!r) throw new Error(`bench matmul: expected a shape like TN:64x12288x64 or 8*NNb:512x64x64, got '${item}'`);
  return { op: r[2] as GpuShape['op'], bias: r[3] === 'b', batch: Number(r[1] ?? 1), m: Number(r[4]), k: Number(r[5]), n: Number(r[6]) };
}

/** Checks 64 sampled entries of C against a float64 dot product; throws on a mismatch. */
function verifySampled(a: Float32Array, b: Float32Array, bias: Float32Array | null, c: Float32Array, s: MatmulArgs): void {
  const { batch, m, k, n } = s;
  for (let t = 0; t < 64; t++) {
    const p = (t * 7919) % batch, i = (t * 104729) % m, j = (t * 1299709) % n;
    let ref = bias ? bias[j]! : 0, mag = Math.abs(ref);
    for (let q = 0; q < k; q++) {
      const x = a[p * s.strideA + (s.transA ? q * m + i : i * k + q)]! * b[p * s.strideB + (s.transB ? j * k + q : q * n + j)]!;
      ref += x;
      mag += Math.abs(x);
    }
    const got = c[(p * m + i) * n + j]!;
    if (!(Math.abs(got - ref) <= 1e-5 * mag + 1e-6)) throw new Error(`bench matmul: bsa-tnp-webgpu [${p},${i},${j}] got ${got}, expected ${ref}`);
  }
}

/**
 * GPU milliseconds of one product (median over `reps`, each the sum of its dispatches: the
 * multiply and, for split-K, the sum of the layers) and the pipeline keys it ran. Timestamp
 * queries put every dispatch in its own compute pass, which adds a little.
 */
async function gpuTime(be: WebGPUBackend, product: () => void, reps: number): Promise<{ ms: number; kernels: string } | null> {
  if (!be.device.features.has('timestamp-query')) return null;
  await be.sync();
  be.startGpuProfile();
  const d0 = be.dispatches;
  for (let i = 0; i < reps; i++) product();
  const per = (be.dispatches - d0) / reps;
  const { dispatches } = await be.stopGpuProfile();
  const ms: number[] = [];
  for (let i = 0; i < reps; i++) ms.push(dispatches.slice(i * per, (i + 1) * per).reduce((x, d) => x + d.ms, 0));
  return { ms: ms.sort((x, y) => x - y)[Math.floor(reps / 2)]!, kernels: dispatches.slice(0, per).map((d) => d.key).join('+') };
}

/**
 * `--backend webgpu`: our WebGPU matmul on `shapes` ('quick', 'train', 'default' or a list for
 * `parseShape`), checked on sampled entries against float64, then timed two ways: `ms`/`gflops`
 * wall-clock (a run of products in one submission, then `sync`; includes dispatch overhead) and
 * `gpu_ms`/`gpu_gflops` from timestamp queries (null without 'timestamp-query'). With the
 * training step's list ('train'; 'default' adds 4096³ and the CPU shapes) a last line
 * `"pass":"train-step-matmuls"` sums count × gpu_ms: the matmul GPU time of one training step.
 */
async function runWebGPU(reps: number, shapes: string): Promise<void> {
  const be = await openBackend('webgpu') as WebGPUBackend;
  const step = shapes === 'train' || shapes === 'default' ? TRAIN_STEP : [];
  const extra = shapes === 'quick' ? ['NN:256x256x256']
    : shapes === 'default' ? ['NN:4096x4096x4096', ...SHAPES.map((x) => `${x.batch}*NN:${x.m}x${x.k}x${x.n}`)]
      : shapes === 'train' ? [] : shapes.split(',');
  let stepMs = 0;
  let stepCovered = true;
  for (const [item, count] of [...extra.map((x) => [x, 0] as const), ...step]) {
    const { op, bias: withBias, batch, m, k, n } = parseShape(item);
    const a = new Float32Array(batch * m * k);
    const b = new Float32Array(batch * k * n);
    const bias = withBias ? new Float32Array(n) : null;
    fill(a, 1);
    fill(b, 2);
    if (bias) fill(bias, 3);
    const sa = be.upload(a);
    const sb = be.upload(b);
    const sbias = bias && be.upload(bias);
    const args2: MatmulArgs = { batch, m, k, n, transA: op[0] === 'T', transB: op[1] === 'T', strideA: m * k, strideB: k * n, bias: sbias };
    const c0 = be.matmul(sa, sb, args2);
    verifySampled(a, b, bias, await be.read(c0), args2);
    be.free(c0);
    const product = (): void => be.free(be.matmul(sa, sb, args2));
    const flops = 2 * batch * m * k * n;
    const n1 = Math.max(3, Math.min(reps, Math.ceil(2e12 / flops)));
    for (let w = 0; w < 3; w++) product();
    await be.sync();
    const times: number[] = [];
    for (let rep = 0; rep < 5; rep++) {
      const t0 = performance.now();
      for (let i = 0; i < n1; i++) product();
      await be.sync();
      times.push((performance.now() - t0) / n1);
    }
    const ms = times.sort((x, y) => x - y)[2]!;
    const gflops = Math.round(flops / ms / 1e4) / 100;
    const gpu = await gpuTime(be, product, Math.min(reps, 20));
    if (gpu) stepMs += count * gpu.ms;
    else stepCovered = false;
    process.stdout.write(`${JSON.stringify({
      bench: 'matmul', impl: 'bsa-tnp-webgpu', op, bias: withBias, batch, m, k, n, gflops, tflops: +(gflops / 1000).toFixed(2), ms: +ms.toFixed(4),
      gpu_ms: gpu && +gpu.ms.toFixed(4), gpu_gflops: gpu && Math.round(flops / gpu.ms / 1e4) / 100, kernels: gpu?.kernels ?? null,
      device: be.description, date: new Date().toISOString(),
    })}\n`);
    be.free(sa);
    be.free(sb);
    if (sbias) be.free(sbias);
  }
  if (step.length > 0 && stepCovered) {
    process.stdout.write(`${JSON.stringify({ bench: 'matmul', impl: 'bsa-tnp-webgpu', pass: 'train-step-matmuls', products: step.reduce((x, [, c]) => x + c, 0),
      gpu_ms: +stepMs.toFixed(4), device: be.description, date: new Date().toISOString() })}\n`);
  }
  be.destroy();
}

export async function run(args: string[]): Promise<void> {
  if (args.includes('--backend') && args[args.indexOf('--backend') + 1] === 'webgpu') {
    const i = args.indexOf('--shapes');
    if (i >= 0 && !args[i + 1]) throw new Error('bench matmul: expected quick, train, default or a list like TN:64x12288x64,NNb:12288x256x64 after --shapes');
    await runWebGPU(option(args, '--reps', 20), args.includes('--quick') ? 'quick' : i >= 0 ? args[i + 1]! : 'default');
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
