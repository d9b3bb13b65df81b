/**
 * Biased attention benchmark: BSA-TNP's CPU kernel vs the same chunked online-softmax algorithm with
 * the same RBF bias written in TensorFlow.js ops on its wasm backend (the competitor, same run).
 *
 *   npm run bench -- attention [--sizes 1024,4096] [--reps 3] [--impl bsa-tnp-cpu,tfjs-wasm-chunked]
 *     [--pass fwd,fwd+bwd] [--threads N] [--tfjs-chunk 512[,1024,…]] [--tfjs-layout per-head|batched]
 *     [--tfjs-bwd flash|autograd]
 *
 * Prints one JSON line per (impl, size, pass[, tfjs chunk, layout]) on stdout:
 *   {"bench":"attention","impl":…,"pass":"fwd"|"fwd+bwd","b":1,"heads":4,"d":32,"q":…,"k":…,
 *    "bias":"rbf5-2d","pairs_per_s":…,"ms":…,"cpu_ms":…,"threads":…,"load1":…}
 * pairs_per_s = B·H·Q·K / median wall time; cpu_ms is the process CPU time of that run (all
 * threads). Before timing, each tfjs configuration's O and (fwd+bwd) gradients dq, dk, dv, da, db are
 * checked against bsa-tnp-cpu (max abs errors printed to stderr). Problem: B=1, H=4, d=dv=32,
 * self-attention sized Q=K, one RBF group (s 2-D, F=5), no mask.
 *
 * bsa-tnp-cpu runs on the CPU backend's worker pool (`--threads`, default all cores; the inputs
 * live in the pool's heap as engine tensors do); tfjs-wasm has no threads in Node
 * (WASM_HAS_MULTITHREAD_SUPPORT is false there), so it runs on one core. Each line also reports
 * `threads` and the 1-minute load average when it was measured.
 *
 * The tfjs baseline (`tfjs-wasm-chunked`):
 * - forward: query chunk × key chunk tiles with the online softmax; per tile the bias basis
 *   E = exp(−b·δ²) for every head and basis function, bias = Σ_f a·E, S = scale·Q·Kᵀ + bias.
 * - fwd+bwd (`--tfjs-bwd flash`, default): tf.customGrad with a FlashAttention-2 style backward that
 *   keeps only O and the row log-normaliser L from the forward and recomputes each tile (memory
 *   linear in Q+K). `--tfjs-bwd autograd` differentiates the chunked forward with tfjs autograd
 *   instead; its tape keeps every tile's [H,F,c,c] basis, so it ran out of tfjs-wasm memory
 *   (4 GiB) at Q=K=4096 (batched layout, chunk 256).
 * - layout (`--tfjs-layout`): `per-head` (default) loops over heads with 2-D matMuls only, K and V
 *   pre-transposed where needed, because on tfjs-wasm only 2-D matMuls without transposes are fast
 *   (measured ~10× faster per 256-tile than batched or transposed ones); `batched` uses [H,…]
 *   batched matMuls with transposes, 2–3× slower overall at Q=K=1024.
 * - chunk (`--tfjs-chunk`, a list runs each): 512 by default, the fastest per CPU time at
 *   Q=K=4096 in a sweep of 256/512/1024/2048 (1024 and 2048 1–6% slower, 256 14–16% slower), in
 *   bench/results/2026-11-28-cpu-attention-4096.jsonl.
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
import { arg as argOf } from './args.js';

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

interface Timing { ms: number; cpuMs: number }

/**
 * Median wall time over `reps` runs (after one warm-up unless told otherwise), with the CPU time
 * (user + system, all threads of this process) of that same run: on a shared machine, cpu_ms ≈ ms
 * for a one-thread implementation says it had its core to itself.
 */
function time(reps: number, f: () => void, warmUp = true): Timing {
  if (warmUp) f();
  const ts: Timing[] = [];
  for (let i = 0; i < reps; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    f();
    const ms = performance.now() - t0;
    const c = process.cpuUsage(c0);
    ts.push({ ms, cpuMs: (c.user + c.system) / 1e3 });
  }
  ts.sort((a, b) => a.ms - b.ms);
  return ts[Math.floor(ts.length / 2)]!;
}

/** The bias basis of one (query chunk, key chunk) pair: E[h,f,i,j] = exp(−b_hf·δ²_ij) and δ² [1,1,nq,nk]. */
function tfBasis(cqI: tf.Tensor2D, ckJ: tf.Tensor2D, nb4: tf.Tensor): { E: tf.Tensor; d2: tf.Tensor } {
  const nq = cqI.shape[0], nk = ckJ.shape[0];
  const diff = tf.sub(tf.reshape(cqI, [nq, 1, 2]), tf.reshape(ckJ, [1, nk, 2]));
  const d2 = tf.reshape(tf.sum(tf.square(diff), -1), [1, 1, nq, nk]);
  return { E: tf.exp(tf.mul(nb4, d2)), d2 };
}

/**
 * The chunked online-softmax BSA forward in tfjs ops (bsa.md §2), all heads at once. Returns O
 * [H,Q,D] and the per-row log-normaliser L = m + log l [H,Q,1] (what the backward needs).
 * Differentiable by tfjs autograd as written (`tfBsa`), but then the tape keeps every chunk's
 * intermediates, [H,F,chunk,chunk] basis tensors included: memory O(Q·K·H·F).
 */
export function tfBsaForward(q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, a: tf.Tensor2D, b: tf.Tensor2D,
  cq: tf.Tensor2D, ck: tf.Tensor2D, chunk: number): { o: tf.Tensor3D; lse: tf.Tensor3D } {
  const [Hh, Q, Dd] = q.shape, K = k.shape[1], Ff = a.shape[1];
  const scale = 1 / Math.sqrt(Dd);
  const outs: tf.Tensor3D[] = [], lses: tf.Tensor3D[] = [];
  const [a4, nb4] = tf.tidy(() => [tf.reshape(a, [Hh, Ff, 1, 1]), tf.reshape(tf.neg(b), [Hh, Ff, 1, 1])]);
  for (let i0 = 0; i0 < Q; i0 += chunk) {
    const [oI, lI] = tf.tidy(() => {
      const nq = Math.min(chunk, Q - i0);
      const qI = tf.mul(tf.slice(q, [0, i0, 0], [Hh, nq, Dd]), scale) as tf.Tensor3D;
      const cqI = tf.slice(cq, [i0, 0], [nq, 2]);
      let m: tf.Tensor = tf.fill([Hh, nq, 1], -Infinity);
      let l: tf.Tensor = tf.zeros([Hh, nq, 1]);
      let acc: tf.Tensor = tf.zeros([Hh, nq, Dd]);
      for (let j0 = 0; j0 < K; j0 += chunk) {
        const nk = Math.min(chunk, K - j0);
        const { E } = tfBasis(cqI, tf.slice(ck, [j0, 0], [nk, 2]), nb4!);
        const bias = tf.sum(tf.mul(a4!, E), 1); // [H, nq, nk]
        const S = tf.add(tf.matMul(qI, tf.slice(k, [0, j0, 0], [Hh, nk, Dd]), false, true), bias);
        const mN = tf.maximum(m, tf.max(S, -1, true));
        const P = tf.exp(tf.sub(S, mN));
        const c = tf.exp(tf.sub(m, mN));
        acc = tf.add(tf.mul(acc, c), tf.matMul(P as tf.Tensor3D, tf.slice(v, [0, j0, 0], [Hh, nk, Dd])));
        l = tf.add(tf.mul(l, c), tf.sum(P, -1, true));
        m = mN;
      }
      return [tf.div(acc, l) as tf.Tensor3D, tf.add(m, tf.log(l)) as tf.Tensor3D];
    });
    outs.push(oI!);
    lses.push(lI!);
  }
  a4!.dispose();
  nb4!.dispose();
  const o = tf.concat(outs, 1), lse = tf.concat(lses, 1);
  for (const t of [...outs, ...lses]) t.dispose();
  return { o, lse };
}

/** The forward above, O only, differentiated by tfjs autograd (memory grows with Q·K·H·F). */
export function tfBsa(q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, a: tf.Tensor2D, b: tf.Tensor2D,
  cq: tf.Tensor2D, ck: tf.Tensor2D, chunk: number): tf.Tensor3D {
  return tf.tidy(() => tfBsaForward(q, k, v, a, b, cq, ck, chunk).o);
}

/**
 * The same forward with a FlashAttention-style backward in tfjs ops (tf.customGrad): the forward
 * saves only O and L; the backward (FlashAttention-2 order: key chunks outside, query chunks inside)
 * recomputes each chunk pair's basis, scores and P = exp(S − L), and accumulates
 *   dV_J += Pᵀ·dO_I,  dS = P∘(dO_I·V_Jᵀ − Δ_I) with Δ = rowsum(dO∘O),
 *   dQ_I += scale·dS·K_J,  dK_J += scale·dSᵀ·Q_I,
 *   da_hf += Σ_ij dS·E_hf,  db_hf += −a_hf·Σ_ij dS·δ²·E_hf  (both as one batched matmul with E).
 * Memory: O((Q+K)·H·D) plus one chunk pair's intermediates. Gradients for q, k, v, a, b; the
 * coordinates cq, ck are constants.
 */
export function tfBsaFlash(cq: tf.Tensor2D, ck: tf.Tensor2D, chunk: number):
  (q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor3D {
  const f = tf.customGrad(((q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, a: tf.Tensor2D, b: tf.Tensor2D,
    save: TF.GradSaveFunc) => {
    const { o, lse } = tfBsaForward(q, k, v, a, b, cq, ck, chunk);
    save([o, lse]);
    const gradFunc = (dO: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
      const [O, L] = saved as [tf.Tensor3D, tf.Tensor3D];
      const [Hh, Q, Dd] = q.shape, K = k.shape[1], Ff = a.shape[1];
      const scale = 1 / Math.sqrt(Dd);
      const [nb4, delta] = tf.tidy(() => [tf.reshape(tf.neg(b), [Hh, Ff, 1, 1]), tf.sum(tf.mul(dO, O), -1, true)]);
      const nQ = Math.ceil(Q / chunk);
      const dqs: tf.Tensor[] = [];
      for (let i = 0; i < nQ; i++) dqs.push(tf.zeros([Hh, Math.min(chunk, Q - i * chunk), Dd]));
      let dab: tf.Tensor = tf.zeros([Hh, Ff, 2]); // [Σ dS·E, Σ dS·δ²·E]
      const dks: tf.Tensor[] = [], dvs: tf.Tensor[] = [];
      for (let j0 = 0; j0 < K; j0 += chunk) {
        const nk = Math.min(chunk, K - j0);
        const [ckJ, kJ, vJ] = tf.tidy(() => [tf.slice(ck, [j0, 0], [nk, 2]), tf.slice(k, [0, j0, 0], [Hh, nk, Dd]),
          tf.slice(v, [0, j0, 0], [Hh, nk, Dd])]);
        let dkJ: tf.Tensor = tf.zeros([Hh, nk, Dd]), dvJ: tf.Tensor = tf.zeros([Hh, nk, Dd]);
        for (let i = 0; i < nQ; i++) {
          const i0 = i * chunk, nq = Math.min(chunk, Q - i0);
          const next = tf.tidy(() => {
            const qI = tf.mul(tf.slice(q, [0, i0, 0], [Hh, nq, Dd]), scale) as tf.Tensor3D;
            const dOI = tf.slice(dO, [0, i0, 0], [Hh, nq, Dd]) as tf.Tensor3D;
            const { E, d2 } = tfBasis(tf.slice(cq, [i0, 0], [nq, 2]), ckJ! as tf.Tensor2D, nb4!);
            const bias = tf.sum(tf.mul(tf.reshape(a, [Hh, Ff, 1, 1]), E), 1);
            const S = tf.add(tf.matMul(qI, kJ! as tf.Tensor3D, false, true), bias);
            const P = tf.exp(tf.sub(S, tf.slice(L, [0, i0, 0], [Hh, nq, 1]))) as tf.Tensor3D;
            const dP = tf.matMul(dOI, vJ! as tf.Tensor3D, false, true);
            const dS = tf.mul(P, tf.sub(dP, tf.slice(delta!, [0, i0, 0], [Hh, nq, 1]))) as tf.Tensor3D;
            const dSr = tf.reshape(dS, [Hh, 1, nq * nk]);
            const dSd = tf.concat([dSr, tf.mul(dSr, tf.reshape(d2, [1, 1, nq * nk]))], 1) as tf.Tensor3D; // [H, 2, nq·nk]
            return [
              tf.add(dqs[i]!, tf.mul(tf.matMul(dS, kJ! as tf.Tensor3D), scale)),
              tf.add(dkJ, tf.matMul(dS, qI, true, false)),
              tf.add(dvJ, tf.matMul(P, dOI, true, false)),
              tf.add(dab, tf.matMul(tf.reshape(E, [Hh, Ff, nq * nk]) as tf.Tensor3D, dSd, false, true)),
            ];
          });
          for (const t of [dqs[i]!, dkJ, dvJ, dab]) t.dispose();
          [dqs[i], dkJ, dvJ, dab] = next as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        }
        dks.push(dkJ);
        dvs.push(dvJ);
        for (const t of [ckJ!, kJ!, vJ!]) t.dispose();
      }
      const grads = tf.tidy(() => {
        const [da, dbr] = tf.unstack(dab, 2);
        return [tf.concat(dqs, 1), tf.concat(dks, 1), tf.concat(dvs, 1), da!, tf.mul(tf.neg(a), dbr!)];
      });
      for (const t of [...dqs, ...dks, ...dvs, dab, nb4!, delta!]) t.dispose();
      return grads;
    };
    return { value: o, gradFunc };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return (q, k, v, a, b) => f(q, k, v, a, b) as tf.Tensor3D;
}

/**
 * Head `h` of x [H,N,D] cut along N into chunks: [n,D] each, or transposed [D,n] (on tfjs-wasm a
 * 2-D matMul without transposes is ~10× faster than a batched or transposed one, so the per-head
 * layout below transposes explicitly and keeps every matMul 2-D and untransposed).
 */
function headChunks(x: tf.Tensor, chunk: number, transpose: boolean): tf.Tensor2D[][] {
  const [Hh, N, Dd] = x.shape as [number, number, number];
  const out: tf.Tensor2D[][] = [];
  for (let h = 0; h < Hh; h++) {
    const row: tf.Tensor2D[] = [];
    for (let s0 = 0; s0 < N; s0 += chunk) {
      const n = Math.min(chunk, N - s0);
      const p = tf.reshape(tf.slice(x, [h, s0, 0], [1, n, Dd]), [n, Dd]) as tf.Tensor2D;
      row.push(transpose ? tf.transpose(p) : p);
    }
    out.push(row);
  }
  return out;
}

function rowChunks(x: tf.Tensor2D, chunk: number): tf.Tensor2D[] {
  const out: tf.Tensor2D[] = [];
  for (let s0 = 0; s0 < x.shape[0]; s0 += chunk) {
    out.push(tf.slice(x, [s0, 0], [Math.min(chunk, x.shape[0] - s0), x.shape[1]]));
  }
  return out;
}

/** δ² between a query chunk and a key chunk, flattened to [1, nq·nk]. */
function tfDist2(cqI: tf.Tensor2D, ckJ: tf.Tensor2D): tf.Tensor2D {
  const nq = cqI.shape[0], nk = ckJ.shape[0];
  const diff = tf.sub(tf.reshape(cqI, [nq, 1, 2]), tf.reshape(ckJ, [1, nk, 2]));
  return tf.reshape(tf.sum(tf.square(diff), -1), [1, nq * nk]);
}

/**
 * The same chunked online-softmax forward as `tfBsaForward`, one head at a time with 2-D matMuls
 * only: per (query chunk, key chunk, head) E = exp(−b_h·δ²) [F, nq·nk], bias = a_h·E (a [1,F]
 * matMul), S = (scale·Q_I)·K_Jᵀ + bias with K_Jᵀ transposed once up front. Returns O [H,Q,D] and
 * L [H,Q,1].
 */
export function tfBsaForwardPerHead(q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, a: tf.Tensor2D,
  b: tf.Tensor2D, cq: tf.Tensor2D, ck: tf.Tensor2D, chunk: number): { o: tf.Tensor3D; lse: tf.Tensor3D } {
  return tf.tidy(() => {
    const [Hh, , Dd] = q.shape, Ff = a.shape[1];
    const scale = 1 / Math.sqrt(Dd);
    const qs = headChunks(tf.mul(q, scale), chunk, false), kT = headChunks(k, chunk, true);
    const vs = headChunks(v, chunk, false);
    const aH = tf.unstack(a).map((x) => tf.reshape(x, [1, Ff]) as tf.Tensor2D);
    const nbH = tf.unstack(tf.neg(b)).map((x) => tf.reshape(x, [Ff, 1]));
    const cqs = rowChunks(cq, chunk), cks = rowChunks(ck, chunk);
    const oH: tf.Tensor[][] = aH.map(() => []), lH: tf.Tensor[][] = aH.map(() => []);
    cqs.forEach((cqI, i) => {
      const res = tf.tidy(() => {
        const nq = cqI.shape[0];
        const m: tf.Tensor[] = [], l: tf.Tensor[] = [], acc: tf.Tensor[] = [];
        for (let h = 0; h < Hh; h++) {
          m.push(tf.fill([nq, 1], -Infinity));
          l.push(tf.zeros([nq, 1]));
          acc.push(tf.zeros([nq, Dd]));
        }
        cks.forEach((ckJ, j) => {
          const nk = ckJ.shape[0];
          const d2 = tfDist2(cqI, ckJ);
          for (let h = 0; h < Hh; h++) {
            const E = tf.exp(tf.mul(nbH[h]!, d2)) as tf.Tensor2D;
            const S = tf.add(tf.matMul(qs[h]![i]!, kT[h]![j]!), tf.reshape(tf.matMul(aH[h]!, E), [nq, nk]));
            const mN = tf.maximum(m[h]!, tf.max(S, -1, true));
            const P = tf.exp(tf.sub(S, mN)) as tf.Tensor2D;
            const c = tf.exp(tf.sub(m[h]!, mN));
            acc[h] = tf.add(tf.mul(acc[h]!, c), tf.matMul(P, vs[h]![j]!));
            l[h] = tf.add(tf.mul(l[h]!, c), tf.sum(P, -1, true));
            m[h] = mN;
          }
        });
        return [acc.map((x, h) => tf.div(x, l[h]!)), m.map((x, h) => tf.add(x, tf.log(l[h]!)))];
      });
      res[0]!.forEach((x, h) => oH[h]!.push(x));
      res[1]!.forEach((x, h) => lH[h]!.push(x));
    });
    return { o: tf.stack(oH.map((xs) => tf.concat(xs, 0))) as tf.Tensor3D,
      lse: tf.stack(lH.map((xs) => tf.concat(xs, 0))) as tf.Tensor3D };
  });
}

/** The per-head forward, O only, differentiated by tfjs autograd. */
export function tfBsaPerHead(q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, a: tf.Tensor2D, b: tf.Tensor2D,
  cq: tf.Tensor2D, ck: tf.Tensor2D, chunk: number): tf.Tensor3D {
  return tf.tidy(() => tfBsaForwardPerHead(q, k, v, a, b, cq, ck, chunk).o);
}

/**
 * `tfBsaFlash` in the per-head layout: forward `tfBsaForwardPerHead` (saves O and L), backward in
 * FlashAttention-2 order with 2-D matMuls only (Pᵀ and dSᵀ transposed explicitly; da, db as
 * E·dS and E·(dS∘δ²) matrix-vector products).
 */
export function tfBsaFlashPerHead(cq: tf.Tensor2D, ck: tf.Tensor2D, chunk: number):
  (q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor3D {
  const f = tf.customGrad(((q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, a: tf.Tensor2D, b: tf.Tensor2D,
    save: TF.GradSaveFunc) => {
    const { o, lse } = tfBsaForwardPerHead(q, k, v, a, b, cq, ck, chunk);
    save([o, lse]);
    const gradFunc = (dO: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
      const [O, L] = saved as [tf.Tensor3D, tf.Tensor3D];
      const [Hh, , Dd] = q.shape, Ff = a.shape[1];
      const scale = 1 / Math.sqrt(Dd);
      const setup = tf.tidy(() => ({
        qs: headChunks(tf.mul(q, scale), chunk, false), kC: headChunks(k, chunk, false),
        kT: headChunks(k, chunk, true), vT: headChunks(v, chunk, true), dOs: headChunks(dO, chunk, false),
        Ls: headChunks(L, chunk, false), Ds: headChunks(tf.sum(tf.mul(dO, O), -1, true), chunk, false),
        aH: tf.unstack(a).map((x) => tf.reshape(x, [1, Ff]) as tf.Tensor2D),
        nbH: tf.unstack(tf.neg(b)).map((x) => tf.reshape(x, [Ff, 1]) as tf.Tensor2D),
        cqs: rowChunks(cq, chunk), cks: rowChunks(ck, chunk),
      }));
      const { qs, kC, kT, vT, dOs, Ls, Ds, aH, nbH, cqs, cks } = setup;
      const dq = qs.map((row) => row.map((x) => tf.zerosLike(x) as tf.Tensor));
      let da: tf.Tensor[] = aH.map(() => tf.zeros([Ff, 1])), dbr: tf.Tensor[] = aH.map(() => tf.zeros([Ff, 1]));
      const dkH: tf.Tensor[][] = aH.map(() => []), dvH: tf.Tensor[][] = aH.map(() => []);
      cks.forEach((ckJ, j) => {
        const nk = ckJ.shape[0];
        let dk: tf.Tensor[] = aH.map(() => tf.zeros([nk, Dd])), dv: tf.Tensor[] = aH.map(() => tf.zeros([nk, Dd]));
        cqs.forEach((cqI, i) => {
          const nq = cqI.shape[0];
          const next = tf.tidy(() => {
            const d2 = tfDist2(cqI, ckJ);
            const d2c = tf.reshape(d2, [nq * nk, 1]);
            const r: tf.Tensor[][] = [[], [], [], [], []];
            for (let h = 0; h < Hh; h++) {
              const E = tf.exp(tf.mul(nbH[h]!, d2)) as tf.Tensor2D;
              const S = tf.add(tf.matMul(qs[h]![i]!, kT[h]![j]!), tf.reshape(tf.matMul(aH[h]!, E), [nq, nk]));
              const P = tf.exp(tf.sub(S, Ls[h]![i]!)) as tf.Tensor2D;
              const dP = tf.matMul(dOs[h]![i]!, vT[h]![j]!);
              const dS = tf.mul(P, tf.sub(dP, Ds[h]![i]!)) as tf.Tensor2D;
              const dSc = tf.reshape(dS, [nq * nk, 1]) as tf.Tensor2D;
              r[0]!.push(tf.add(dq[h]![i]!, tf.mul(tf.matMul(dS, kC[h]![j]!), scale)));
              r[1]!.push(tf.add(dk[h]!, tf.matMul(tf.transpose(dS), qs[h]![i]!)));
              r[2]!.push(tf.add(dv[h]!, tf.matMul(tf.transpose(P), dOs[h]![i]!)));
              r[3]!.push(tf.add(da[h]!, tf.matMul(E, dSc)));
              r[4]!.push(tf.add(dbr[h]!, tf.matMul(E, tf.mul(dSc, d2c) as tf.Tensor2D)));
            }
            return r;
          });
          for (let h = 0; h < Hh; h++) {
            for (const t of [dq[h]![i]!, dk[h]!, dv[h]!, da[h]!, dbr[h]!]) t.dispose();
            dq[h]![i] = next[0]![h]!;
          }
          [, dk, dv, da, dbr] = next as [tf.Tensor[], tf.Tensor[], tf.Tensor[], tf.Tensor[], tf.Tensor[]];
        });
        dk.forEach((x, h) => dkH[h]!.push(x));
        dv.forEach((x, h) => dvH[h]!.push(x));
      });
      const grads = tf.tidy(() => [
        tf.stack(dq.map((xs) => tf.concat(xs, 0))), tf.stack(dkH.map((xs) => tf.concat(xs, 0))),
        tf.stack(dvH.map((xs) => tf.concat(xs, 0))), tf.reshape(tf.stack(da), [Hh, Ff]),
        tf.mul(tf.neg(a), tf.reshape(tf.stack(dbr), [Hh, Ff])),
      ]);
      tf.dispose([dq, dkH, dvH, da, dbr, setup] as unknown as TF.TensorContainer);
      return grads;
    };
    return { value: o, gradFunc };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return (q, k, v, a, b) => f(q, k, v, a, b) as tf.Tensor3D;
}

let tfReady = false;

/** tfjs on its wasm backend with all gradients registered (once per process). */
export async function initTfjs(): Promise<typeof TF> {
  if (!tfReady) {
    setWasmPaths(dirname(req.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm')) + '/');
    await registerGradients();
    await tf.setBackend('wasm');
    await tf.ready();
    tfReady = true;
  }
  return tf;
}

function maxAbsDiff(x: ArrayLike<number>, y: ArrayLike<number>): number {
  let err = 0;
  for (let i = 0; i < x.length; i++) err = Math.max(err, Math.abs(x[i]! - y[i]!));
  return err;
}

export async function run(args: string[]): Promise<void> {
  const sizes = argOf(args, 'sizes', '1024,4096').split(',').map(Number);
  const reps = Number(argOf(args, 'reps', '3'));
  const impls = argOf(args, 'impl', 'bsa-tnp-cpu,tfjs-wasm-chunked').split(',');
  const passes = argOf(args, 'pass', 'fwd,fwd+bwd').split(',');
  const threads = Number(argOf(args, 'threads', String(Math.min(availableParallelism(), 8))));
  const tfChunks = argOf(args, 'tfjs-chunk', '512').split(',').map(Number);
  const tfBwd = argOf(args, 'tfjs-bwd', 'flash');
  const tfLayouts = argOf(args, 'tfjs-layout', 'per-head').split(',');
  for (const l of tfLayouts) if (l !== 'per-head' && l !== 'batched') throw new Error(`--tfjs-layout per-head|batched, not ${l}`);
  if (tfBwd !== 'flash' && tfBwd !== 'autograd') throw new Error(`--tfjs-bwd flash|autograd, not ${tfBwd}`);
  const emit = (impl: string, pass: string, n: number, t: Timing, extra: Record<string, number | string>): void => {
    process.stdout.write(JSON.stringify({ bench: 'attention', impl, pass, b: 1, heads: H, d: D, q: n, k: n,
      bias: 'rbf5-2d', pairs_per_s: Math.round((H * n * n) / (t.ms / 1e3)), ms: Math.round(t.ms * 10) / 10,
      cpu_ms: Math.round(t.cpuMs), ...extra,
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
  for (const n of sizes) {
    const { desc, data, dO } = problem(n);
    const ref = bsaForwardCpu(desc, data, { pool });
    if (impls.includes('bsa-tnp-cpu')) {
      const hd: BsaData = { ...data, q: inHeap(data.q), k: inHeap(data.k), v: inHeap(data.v),
        groups: data.groups.map((g) => ({ ...g, cq: inHeap(g.cq), ck: inHeap(g.ck) })) };
      const hdO = inHeap(dO);
      const extra = { threads: pool?.size ?? 1 };
      if (passes.includes('fwd')) {
        emit('bsa-tnp-cpu', 'fwd', n, time(reps, () => { bsaForwardCpu(desc, hd, { pool }); }), extra);
      }
      if (passes.includes('fwd+bwd')) {
        emit('bsa-tnp-cpu', 'fwd+bwd', n, time(reps, () => {
          const f = bsaForwardCpu(desc, hd, { pool });
          bsaBackwardCpu(desc, hd, f, hdO, { pool });
        }), extra);
      }
    }
    if (impls.includes('tfjs-wasm-chunked')) {
      await initTfjs();
      const gd = data.groups[0]!;
      const q = tf.tensor3d(data.q, [H, n, D]), k = tf.tensor3d(data.k, [H, n, D]), v = tf.tensor3d(data.v, [H, n, D]);
      const a = tf.tensor2d(gd.a, [H, F]), b = tf.tensor2d(gd.b!, [H, F]);
      const cq = tf.tensor2d(gd.cq, [n, 2]), ck = tf.tensor2d(gd.ck, [n, 2]);
      const g = tf.tensor3d(dO, [H, n, D]);
      const refG = passes.includes('fwd+bwd') ? bsaBackwardCpu(desc, data, ref, dO, { pool }) : undefined;
      for (const layout of tfLayouts) for (const tfChunk of tfChunks) {
        const chunk = Math.min(n, tfChunk);
        const fwd = layout === 'per-head' ? tfBsaPerHead : tfBsa;
        const out = fwd(q, k, v, a, b, cq, ck, chunk);
        const err = maxAbsDiff(out.dataSync(), ref.o);
        out.dispose();
        const tag = `n=${n} layout=${layout} chunk=${chunk}`;
        process.stderr.write(`attention: tfjs-wasm-chunked ${tag} max |O − bsa-tnp-cpu| = ${err.toExponential(2)}\n`);
        const extra = { threads: 1, chunk, layout };
        if (passes.includes('fwd')) {
          emit('tfjs-wasm-chunked', 'fwd', n, time(reps, () => {
            const o = fwd(q, k, v, a, b, cq, ck, chunk);
            o.dataSync();
            o.dispose();
          }), extra);
        }
        if (!passes.includes('fwd+bwd')) continue;
        // flash: forward saves O and L, backward recomputes chunk by chunk (tfBsaFlash*);
        // autograd: tfjs differentiates the chunked forward, keeping every chunk's intermediates.
        const attn = tfBwd === 'flash' ? (layout === 'per-head' ? tfBsaFlashPerHead : tfBsaFlash)(cq, ck, chunk)
          : (qq: tf.Tensor3D, kk: tf.Tensor3D, vv: tf.Tensor3D, aa: tf.Tensor2D, bb: tf.Tensor2D): tf.Tensor3D =>
            fwd(qq, kk, vv, aa, bb, cq, ck, chunk);
        const gradF = tf.grads((qq: tf.Tensor, kk: tf.Tensor, vv: tf.Tensor, aa: tf.Tensor, bb: tf.Tensor) =>
          tf.sum(tf.mul(attn(qq as tf.Tensor3D, kk as tf.Tensor3D, vv as tf.Tensor3D, aa as tf.Tensor2D,
            bb as tf.Tensor2D), g)));
        const step = (): Float32Array[] => {
          const gs = tf.tidy(() => gradF([q, k, v, a, b]));
          const vals = gs.map((t) => t.dataSync() as Float32Array);
          for (const t of gs) t.dispose();
          return vals;
        };
        // The warm-up run doubles as the gradient check against bsa-tnp-cpu's backward.
        const [dq, dk, dv, da, db] = step();
        const rg = refG!.groups[0]!;
        const gErr = [maxAbsDiff(dq!, refG!.dq), maxAbsDiff(dk!, refG!.dk), maxAbsDiff(dv!, refG!.dv),
          maxAbsDiff(da!, rg.da), maxAbsDiff(db!, rg.db!)].map((x) => x.toExponential(2));
        const zero = new Float32Array(H * F);
        process.stderr.write(`attention: tfjs-wasm-chunked (${tfBwd}) ${tag} max |grad − bsa-tnp-cpu| ` +
          `dq ${gErr[0]} dk ${gErr[1]} dv ${gErr[2]} da ${gErr[3]} db ${gErr[4]} (max |da| ` +
          `${maxAbsDiff(rg.da, zero).toExponential(2)}, |db| ${maxAbsDiff(rg.db!, zero).toExponential(2)})\n`);
        emit('tfjs-wasm-chunked', 'fwd+bwd', n, time(reps, () => { step(); }, false),
          { ...extra, bwd: tfBwd === 'flash' ? 'flash-recompute' : 'tfjs-autograd' });
      }
      for (const t of [q, k, v, a, b, cq, ck, g]) t.dispose();
    }
  }
  pool?.destroy();
}
