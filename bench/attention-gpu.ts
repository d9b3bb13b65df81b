/**
 * Biased attention benchmark, WebGPU rows: BSA-TNP's fused WebGPU kernels (src/kernels/bsa/webgpu).
 *
 *   npm run bench -- attention-gpu [--quick] [--reps 3] [--untied] [--precision f32,f16,f16-fast]
 *                                  [--f16-tiles default,32x64,16x32] [--fwd-sizes QxK,…] [--no-train]
 *   bash scripts/gpu-bundle.sh && node .gpu/bundle/bench.js attention-gpu [--quick]   (GPU machine)
 *
 * Prints one JSON line per measurement on stdout:
 *   {"bench":"attention","impl":"bsa-tnp-webgpu","precision":"f32","pass":"fwd"|"fwd+bwd","b":…,
 *    "heads":4,"d":32,"q":…,"k":…,"bias":"rbf5-2d","scores_per_s":…,"pairs_per_s":…,"seconds":…}
 * scores_per_s = B·H·Q·K / median seconds (a score is one query-key pair in one head);
 * pairs_per_s is the same number, named as in bench/attention.ts (whose pairs are per head too).
 * Sizes: forward B=1, Q=1,048,576, K=100,000 (the paper's inference claim) and Q=65,536, K=10,000;
 * forward+backward at training shapes B=8, Q=1536, K=512. `--quick`: small sizes (lavapipe).
 * Problem: H=4, d=dv=32, one RBF group (s 2-D, F=5), no mask; the basis functions of a head are
 * tied as at initialisation and in trained BSA-TNP models (model.md §5.2), with different rates per
 * head (`--untied` gives every basis its own rate: the general path, 5 exps per pair).
 * Before timing, the same kernels (default tiles) are checked against the dense float64 reference on
 * a small problem. Timing: one warm-up, then `reps` runs, each recording the GPU work and ending
 * with `await backend.sync()`; inputs are generated on the GPU (no 512 MiB host arrays).
 * f16, f16-fast (`--precision`; forward only, see kernels/bsa/webgpu/forward-f16.ts): checked
 * against dense at the small size, timed at each `--f16-tiles` (rows×keys) at the large sizes, and
 * compared with the f32 kernel on the Q=65,536, K=10,000 problem (line `attention-accuracy`:
 * max and mean |O16 − O32| relative to max |O32|).
 */
import type { Storage } from '../src/engine/backend.js';
import type { WebGPUBackend } from '../src/engine/webgpu/backend.js';
import { bsaDenseBackward, bsaDenseForward } from '../src/kernels/bsa/dense.js';
import type { BsaData, BsaDesc, Precision as BsaPrecision } from '../src/kernels/bsa/desc.js';
import { bsaBackwardWebGPU, bsaForwardWebGPU, type BsaWebGPUData } from '../src/kernels/bsa/webgpu.js';
import { arg as argOf } from './args.js';

const H = 4, D = 32, F = 5;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Bias parameters: per head rate 0.5 + 0.5h (tied within the head) or per basis (untied). */
function params(untied: boolean): { a: Float32Array; b: Float32Array } {
  const a = new Float32Array(H * F), b = new Float32Array(H * F);
  for (let h = 0; h < H; h++) {
    for (let k = 0; k < F; k++) {
      a[h * F + k] = 0.2 + 0.1 * k;
      b[h * F + k] = untied ? 0.3 + 0.4 * h + 0.25 * k : 0.5 + 0.5 * h;
    }
  }
  return { a, b };
}

type Precision = BsaPrecision;

/** `--bias none`: no bias group at all (plain scan attention), to separate the bias cost. */
let noBias = false;

function desc(B: number, Q: number, K: number, precision: Precision = 'f32', tiles?: [number, number]): BsaDesc {
  return { B, H, Q, K, d: D, dv: D, hasMask: false, groups: noBias ? [] : [{ M: 2, distance: 'euclidean', family: 'rbf', F }],
    precision, tileQ: tiles?.[0], tileK: tiles?.[1] };
}

/** Inputs generated on the GPU: q, k, v ~ U(−1, 1)·scale-free, coordinates ~ U(0, 4)². */
function gpuInputs(be: WebGPUBackend, ds: BsaDesc, untied: boolean): { x: BsaWebGPUData; all: Storage[] } {
  const all: Storage[] = [];
  const uni = (n: number, seed: number, lo: number, hi: number): Storage => {
    const u = be.random('uniform', n, [seed, 7], 0);
    const w = be.upload(new Float32Array([hi - lo])), o = be.upload(new Float32Array([lo]));
    const s = be.binary('mul', u, [n], w, [1], [n]);
    const t = be.binary('add', s, [n], o, [1], [n]);
    for (const z of [u, s, w, o]) be.free(z);
    all.push(t);
    return t;
  };
  const { B, Q, K } = ds;
  const p = params(untied);
  const a = be.upload(p.a), b = be.upload(p.b);
  all.push(a, b);
  return {
    x: {
      q: uni(B * H * Q * D, 1, -1, 1), k: uni(B * H * K * D, 2, -1, 1), v: uni(B * H * K * D, 3, -1, 1), mask: null,
      groups: noBias ? [] : [{ cq: uni(B * Q * 2, 4, 0, 4), ck: uni(B * K * 2, 5, 0, 4), a, b }],
    },
    all,
  };
}

function relErr(a: ArrayLike<number>, e: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - e[i]!));
    den = Math.max(den, Math.abs(e[i]!));
  }
  return Number.isNaN(num) ? Infinity : num / Math.max(den, 1e-30);
}

/**
 * The small check problem (B=2, Q=150, K=70), seeded: host data, the same uploaded, and the
 * generator (drawn on after the data).
 */
function smallProblem(be: WebGPUBackend, untied: boolean, seed: number):
  { ds: BsaDesc; data: BsaData; x: BsaWebGPUData; arr: (n: number, lo: number, hi: number) => Float32Array; free(): void } {
  const ds = desc(2, 150, 70);
  let s = seed;
  const r = (): number => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 4294967296; };
  const arr = (n: number, lo: number, hi: number): Float32Array => Float32Array.from({ length: n }, () => lo + (hi - lo) * r());
  const p = params(untied);
  const data: BsaData = {
    q: arr(2 * H * 150 * D, -1, 1), k: arr(2 * H * 70 * D, -1, 1), v: arr(2 * H * 70 * D, -1, 1),
    groups: [{ cq: arr(2 * 150 * 2, 0, 4), ck: arr(2 * 70 * 2, 0, 4), a: p.a, b: p.b }],
  };
  const g0 = data.groups[0]!;
  const up = (v: Float32Array): Storage => be.upload(v);
  const x: BsaWebGPUData = { q: up(data.q), k: up(data.k), v: up(data.v), mask: null,
    groups: [{ cq: up(g0.cq), ck: up(g0.ck), a: up(g0.a), b: up(g0.b!) }] };
  const free = (): void => {
    for (const st of [x.q, x.k, x.v, x.groups[0]!.cq, x.groups[0]!.ck, x.groups[0]!.a, x.groups[0]!.b!]) be.free(st);
  };
  return { ds, data, x, arr, free };
}

/** Small check of forward and backward against the dense reference (same tiles as timed). */
async function check(be: WebGPUBackend, untied: boolean): Promise<void> {
  const { ds, data, x, arr, free } = smallProblem(be, untied, 12345);
  const dO = arr(2 * H * 150 * D, -1, 1);
  const up = (v: Float32Array): Storage => be.upload(v);
  const f = bsaForwardWebGPU(be, ds, x);
  const gO = up(dO);
  const g = bsaBackwardWebGPU(be, ds, x, f.o, f.lse, gO);
  const ref = bsaDenseForward(ds, data);
  const gr = bsaDenseBackward(ds, data, dO);
  const errs = {
    o: relErr(await be.read(f.o), ref.o), dq: relErr(await be.read(g.dq), gr.dq), dk: relErr(await be.read(g.dk), gr.dk),
    dv: relErr(await be.read(g.dv), gr.dv), da: relErr(await be.read(g.groups[0]!.da), gr.groups[0]!.da),
    db: relErr(await be.read(g.groups[0]!.db!), gr.groups[0]!.db!),
  };
  process.stderr.write(`attention-gpu: check vs dense (rel. max error) ${JSON.stringify(errs)}\n`);
  const worst = Math.max(...Object.values(errs));
  if (!(worst <= 1e-4)) throw new Error(`attention-gpu: expected rel. error ≤ 1e-4 against dense, got ${worst}`);
  free();
  for (const st of [f.o, f.lse, gO, g.dq, g.dk, g.dv, g.groups[0]!.da, g.groups[0]!.db!]) be.free(st);
}

/** f16 forward vs dense (small) and vs the f32 kernel (Q × K), printed as `attention-accuracy`. */
async function checkF16(be: WebGPUBackend, untied: boolean, Q: number, K: number, precision: Precision): Promise<void> {
  const { ds: small, data, x, free } = smallProblem(be, untied, 777);
  const f = bsaForwardWebGPU(be, { ...small, precision }, x);
  const errDense = relErr(await be.read(f.o), bsaDenseForward(small, data).o);
  free();
  be.free(f.o);
  be.free(f.lse);
  const big = desc(1, Q, K);
  const { x: xb, all } = gpuInputs(be, big, untied);
  const o32 = bsaForwardWebGPU(be, big, xb);
  const o16 = bsaForwardWebGPU(be, { ...big, precision }, xb);
  const a = await be.read(o32.o), b = await be.read(o16.o);
  let mx = 0, sum = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i]! - b[i]!);
    mx = Math.max(mx, e);
    sum += e;
    den = Math.max(den, Math.abs(a[i]!));
  }
  for (const st of [...all, o32.o, o32.lse, o16.o, o16.lse]) be.free(st);
  process.stdout.write(`${JSON.stringify({
    bench: 'attention-accuracy', precision, dialect: be.hasSubgroupMatrix ? 'matrix' : 'emulate', q: Q, k: K,
    heads: H, d: D, rel_err_vs_dense_small: errDense, max_rel_err_vs_f32: mx / den, mean_rel_err_vs_f32: sum / a.length / den,
  })}\n`);
  if (!(errDense <= 2e-2)) throw new Error(`attention-gpu: f16 forward off the dense reference by ${errDense}`);
}

async function measure(be: WebGPUBackend, B: number, Q: number, K: number, pass: 'fwd' | 'fwd+bwd', reps: number,
  untied: boolean, precision: Precision = 'f32', tiles?: [number, number]): Promise<void> {
  const ds = desc(B, Q, K, precision, tiles);
  const { x, all } = gpuInputs(be, ds, untied);
  const dO = pass === 'fwd+bwd' ? be.random('uniform', B * H * Q * D, [9, 9], 0) : null;
  const once = (): Storage[] => {
    const f = bsaForwardWebGPU(be, ds, x);
    if (!dO) return [f.o, f.lse];
    const g = bsaBackwardWebGPU(be, ds, x, f.o, f.lse, dO);
    return [f.o, f.lse, g.dq, g.dk, g.dv, g.groups[0]!.da, g.groups[0]!.db!];
  };
  for (const s of once()) be.free(s); // warm-up (pipeline compilation)
  await be.sync();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    const outs = once();
    await be.sync();
    ts.push((performance.now() - t0) / 1000);
    for (const s of outs) be.free(s);
  }
  const seconds = median(ts);
  const scores = B * H * Q * K;
  process.stdout.write(`${JSON.stringify({
    bench: 'attention', impl: 'bsa-tnp-webgpu', precision, split: precision === 'f16' ? process.env.BSA_TNP_F16_SPLIT ?? 'qk,p,v' : undefined,
    prefetch: process.env.BSA_TNP_F16_PREFETCH ?? '1', tiles: tiles ? `${tiles[0]}x${tiles[1]}` : 'default', pass, b: B, heads: H, d: D, q: Q, k: K,
    bias: noBias ? 'none' : untied ? 'rbf5-2d-untied' : 'rbf5-2d', scores_per_s: scores / seconds, pairs_per_s: scores / seconds, seconds,
  })}\n`);
  for (const s of all) be.free(s);
  if (dO) be.free(dO);
}

export async function run(args: string[]): Promise<void> {
  const quick = args.includes('--quick');
  const untied = args.includes('--untied');
  noBias = argOf(args, 'bias', 'rbf5') === 'none';
  const reps = Number(argOf(args, 'reps', quick ? '2' : '3'));
  const precisions = argOf(args, 'precision', 'f32,f16,f16-fast').split(',') as Precision[];
  const f16Tiles = argOf(args, 'f16-tiles', 'default').split(',')
    .map((t) => (t === 'default' ? undefined : t.split('x').map(Number) as [number, number]));
  const { createNodeWebGPUBackend } = await import('../src/engine/webgpu/node.js');
  const res = await createNodeWebGPUBackend();
  if (!res.backend) throw new Error(`attention-gpu: ${res.reason}`);
  const be = res.backend;
  process.stderr.write(`attention-gpu: ${be.description}\n`);
  try {
    if (!noBias) await check(be, untied);
    const sizes = argOf(args, 'fwd-sizes', '');
    const fwd = sizes !== '' ? sizes.split(',').map((z) => [1, ...z.split('x').map(Number)])
      : quick ? [[1, 2048, 500], [1, 1024, 300]] : [[1, 1_048_576, 100_000], [1, 65_536, 10_000]];
    const halves = be.hasF16 ? precisions.filter((p) => p !== 'f32') : [];
    if (!noBias) for (const p of halves) await checkF16(be, untied, quick ? 1024 : 65_536, quick ? 300 : 10_000, p);
    for (const [B, Q, K] of fwd) {
      if (precisions.includes('f32')) await measure(be, B!, Q!, K!, 'fwd', reps, untied);
      for (const p of halves) for (const t of f16Tiles) await measure(be, B!, Q!, K!, 'fwd', reps, untied, p, t);
    }
    const [B, Q, K] = quick ? [2, 192, 64] : [8, 1536, 512];
    if (!args.includes('--no-train')) await measure(be, B, Q, K, 'fwd+bwd', reps, untied);
  } finally {
    be.destroy();
  }
}
