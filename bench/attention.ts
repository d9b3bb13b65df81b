/**
 * Biased attention benchmark: BSA-TNP's CPU kernel vs the same chunked online-softmax algorithm with
 * the same RBF bias written in TensorFlow.js ops on its wasm backend (the competitor, same run).
 *
 *   npm run bench -- attention [--sizes 1024,4096] [--reps 3] [--impl bsa-tnp-cpu,tfjs-wasm-chunked]
 *     [--tfjs-chunk 256] [--threads N]
 *
 * Prints one JSON line per (impl, size, pass) on stdout:
 *   {"bench":"attention","impl":…,"pass":"fwd"|"fwd+bwd","b":1,"heads":4,"d":32,"q":…,"k":…,
 *    "bias":"rbf5-2d","pairs_per_s":…,"ms":…}
 * pairs_per_s = B·H·Q·K / median time. Before timing, each implementation's output is checked
 * against bsa-tnp-cpu (max abs error printed to stderr). Problem: B=1, H=4, d=dv=32, self-attention
 * sized Q=K, one RBF group (s 2-D, F=5), no mask.
 *
 * bsa-tnp-cpu runs on the CPU backend's worker pool (`--threads`, default all cores; the inputs
 * live in the pool's heap as engine tensors do); tfjs-wasm has no threads in Node, so it runs on
 * one core. Each line also reports `threads` and the 1-minute load average when it was measured.
 * tfjs chunk: 256 by default — at 4096 chunk 512 runs out of tfjs-wasm memory in fwd+bwd (the
 * [H, F, chunk, chunk] basis intermediates are kept for the gradient); 256 vs 128 has not yet been
 * compared on a quiet machine (try --tfjs-chunk 128).
 */
import type * as TF from '@tensorflow/tfjs-core';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { availableParallelism, loadavg } from 'node:os';
import { createHeap } from '../src/engine/cpu/heap.js';
import type { ThreadPool } from '../src/engine/cpu/threads.js';
import { createNodeThreadPool } from '../src/engine/cpu/worker-node.js';
import { bsaBackwardCpu, bsaForwardCpu } from '../src/kernels/bsa/cpu.js';
import type { BsaData, BsaDesc } from '../src/kernels/bsa/desc.js';

const H = 4, D = 32, F = 5;

// tfjs-core's ESM build uses suffix-less imports that raw Node rejects: load the CommonJS builds.
const req = createRequire(import.meta.url);
const tf = req('@tensorflow/tfjs-core') as typeof TF;
const { setWasmPaths } = req('@tensorflow/tfjs-backend-wasm') as { setWasmPaths(prefix: string): void };

/**
 * The CommonJS build registers no gradients; bundle tfjs-core's ESM `register_all_gradients` with
 * esbuild and evaluate it: it registers into the same global registry (tfjs keeps it on globalThis).
 */
async function registerGradients(): Promise<void> {
  const esbuild = await import('esbuild');
  const out = esbuild.buildSync({
    stdin: { contents: "import '@tensorflow/tfjs-core/dist/register_all_gradients.js';", resolveDir: process.cwd() },
    bundle: true, format: 'cjs', platform: 'node', write: false, logLevel: 'silent',
  });
  const code = out.outputFiles[0]!.text;
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  new Function('require', 'module', 'exports', code)(req, { exports: {} }, {});
}
declare namespace tf {
  type Tensor = TF.Tensor;
  type Tensor2D = TF.Tensor2D;
  type Tensor3D = TF.Tensor3D;
}

function argOf(args: string[], name: string, def: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : def;
}

/** Deterministic problem (xorshift; bench data only). */
function problem(n: number): { desc: BsaDesc; data: BsaData; dO: Float32Array } {
  let s = 0x9e3779b9;
  const r = (): number => {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
  const arr = (len: number, lo: number, hi: number): Float32Array =>
    Float32Array.from({ length: len }, () => lo + (hi - lo) * r());
  const desc: BsaDesc = { B: 1, H, Q: n, K: n, d: D, dv: D, hasMask: false,
    groups: [{ M: 2, distance: 'euclidean', family: 'rbf', F }] };
  const coords = arr(n * 2, 0, 4);
  const data: BsaData = {
    q: arr(H * n * D, -1, 1), k: arr(H * n * D, -1, 1), v: arr(H * n * D, -1, 1),
    groups: [{ cq: coords, ck: coords, a: arr(H * F, 0.5, 1.5), b: arr(H * F, 0.5, 2) }],
  };
  return { desc, data, dO: arr(H * n * D, -1, 1) };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function time(reps: number, f: () => void): number {
  f(); // warm-up
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    f();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

/** The chunked online-softmax BSA forward in tfjs ops (bsa.md §2), all heads at once. */
function tfBsa(q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, a: tf.Tensor2D, b: tf.Tensor2D,
  cq: tf.Tensor2D, ck: tf.Tensor2D, chunk: number): tf.Tensor3D {
  const Q = q.shape[1], K = k.shape[1];
  const scale = 1 / Math.sqrt(D);
  const outs: tf.Tensor3D[] = [];
  const a4 = tf.reshape(a, [H, F, 1, 1]), nb4 = tf.reshape(tf.neg(b), [H, F, 1, 1]);
  for (let i0 = 0; i0 < Q; i0 += chunk) outs.push(tf.tidy(() => {
    const nq = Math.min(chunk, Q - i0);
    const qI = tf.mul(tf.slice(q, [0, i0, 0], [H, nq, D]), scale) as tf.Tensor3D;
    const cqI = tf.slice(cq, [i0, 0], [nq, 2]);
    let m: tf.Tensor = tf.fill([H, nq, 1], -Infinity);
    let l: tf.Tensor = tf.zeros([H, nq, 1]);
    let acc: tf.Tensor = tf.zeros([H, nq, D]);
    for (let j0 = 0; j0 < K; j0 += chunk) {
      const nk = Math.min(chunk, K - j0);
      const ckJ = tf.slice(ck, [j0, 0], [nk, 2]);
      const diff = tf.sub(tf.reshape(cqI, [nq, 1, 2]), tf.reshape(ckJ, [1, nk, 2]));
      const d2 = tf.reshape(tf.sum(tf.square(diff), -1), [1, 1, nq, nk]);
      const bias = tf.sum(tf.mul(a4, tf.exp(tf.mul(nb4, d2))), 1); // [H, nq, nk]
      const S = tf.add(tf.matMul(qI, tf.slice(k, [0, j0, 0], [H, nk, D]), false, true), bias);
      const mN = tf.maximum(m, tf.max(S, -1, true));
      const P = tf.exp(tf.sub(S, mN));
      const c = tf.exp(tf.sub(m, mN));
      acc = tf.add(tf.mul(acc, c), tf.matMul(P as tf.Tensor3D, tf.slice(v, [0, j0, 0], [H, nk, D])));
      l = tf.add(tf.mul(l, c), tf.sum(P, -1, true));
      m = mN;
    }
    return tf.div(acc, l) as tf.Tensor3D;
  }));
  return tf.concat(outs, 1);
}

export async function run(args: string[]): Promise<void> {
  const sizes = argOf(args, 'sizes', '1024,4096').split(',').map(Number);
  const reps = Number(argOf(args, 'reps', '3'));
  const impls = argOf(args, 'impl', 'bsa-tnp-cpu,tfjs-wasm-chunked').split(',');
  const threads = Number(argOf(args, 'threads', String(Math.min(availableParallelism(), 8))));
  const tfChunk = Number(argOf(args, 'tfjs-chunk', '256'));
  const emit = (impl: string, pass: string, n: number, ms: number, extra: Record<string, number>): void => {
    process.stdout.write(JSON.stringify({ bench: 'attention', impl, pass, b: 1, heads: H, d: D, q: n, k: n,
      bias: 'rbf5-2d', pairs_per_s: Math.round((H * n * n) / (ms / 1e3)), ms: Math.round(ms * 10) / 10, ...extra,
      load1: Math.round(loadavg()[0]! * 100) / 100 }) + '\n');
  };
  const heap = createHeap();
  const pool: ThreadPool | undefined = threads > 1 && heap.memory
    ? await createNodeThreadPool({ memory: heap.memory, threads }) : undefined;
  const inHeap = (x: Float32Array): Float32Array => {
    if (!heap.memory) return x;
    const v = heap.alloc(x.length);
    v.set(x);
    return v;
  };
  let tfReady = false;
  for (const n of sizes) {
    const { desc, data, dO } = problem(n);
    const ref = bsaForwardCpu(desc, data, { pool });
    if (impls.includes('bsa-tnp-cpu')) {
      const hd: BsaData = { ...data, q: inHeap(data.q), k: inHeap(data.k), v: inHeap(data.v),
        groups: data.groups.map((g) => ({ ...g, cq: inHeap(g.cq), ck: inHeap(g.ck) })) };
      const hdO = inHeap(dO);
      const extra = { threads: pool?.size ?? 1 };
      emit('bsa-tnp-cpu', 'fwd', n, time(reps, () => { bsaForwardCpu(desc, hd, { pool }); }), extra);
      emit('bsa-tnp-cpu', 'fwd+bwd', n, time(reps, () => {
        const f = bsaForwardCpu(desc, hd, { pool });
        bsaBackwardCpu(desc, hd, f, hdO, { pool });
      }), extra);
    }
    if (impls.includes('tfjs-wasm-chunked')) {
      if (!tfReady) {
        setWasmPaths(dirname(req.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm')) + '/');
        await registerGradients();
        await tf.setBackend('wasm');
        await tf.ready();
        tfReady = true;
      }
      // Per-chunk intermediates include [H, F, chunk, chunk] basis tensors (tfjs-wasm memory ≤ 4 GiB).
      const chunk = Math.min(n, tfChunk);
      const gd = data.groups[0]!;
      const q = tf.tensor3d(data.q, [H, n, D]), k = tf.tensor3d(data.k, [H, n, D]), v = tf.tensor3d(data.v, [H, n, D]);
      const a = tf.tensor2d(gd.a, [H, F]), b = tf.tensor2d(gd.b!, [H, F]);
      const cq = tf.tensor2d(gd.cq, [n, 2]), ck = tf.tensor2d(gd.ck, [n, 2]);
      const g = tf.tensor3d(dO, [H, n, D]);
      const out = tf.tidy(() => tfBsa(q, k, v, a, b, cq, ck, chunk));
      const o = out.dataSync();
      let err = 0;
      for (let i = 0; i < o.length; i++) err = Math.max(err, Math.abs(o[i]! - ref.o[i]!));
      out.dispose();
      process.stderr.write(`attention: tfjs-wasm-chunked n=${n} max |O − bsa-tnp-cpu| = ${err.toExponential(2)}\n`);
      const extra = { threads: 1, chunk };
      emit('tfjs-wasm-chunked', 'fwd', n, time(reps, () => {
        tf.tidy(() => tfBsa(q, k, v, a, b, cq, ck, chunk)).dataSync();
      }), extra);
      const gradF = tf.grads((qq: tf.Tensor, kk: tf.Tensor, vv: tf.Tensor, aa: tf.Tensor, bb: tf.Tensor) =>
        tf.sum(tf.mul(tfBsa(qq as tf.Tensor3D, kk as tf.Tensor3D, vv as tf.Tensor3D, aa as tf.Tensor2D,
          bb as tf.Tensor2D, cq, ck, chunk), g)));
      emit('tfjs-wasm-chunked', 'fwd+bwd', n, time(reps, () => {
        const gs = tf.tidy(() => gradF([q, k, v, a, b]));
        for (const t of gs) { t.dataSync(); t.dispose(); }
      }), extra);
      for (const t of [q, k, v, a, b, cq, ck, g]) t.dispose();
    }
  }
  pool?.destroy();
}
