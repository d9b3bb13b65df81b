/**
 * Whole-model benchmark (issue "GPU at scale"): BSA-TNP forward at context/test sizes, batch 1,
 * default 2-D GP configuration, random weights; and the training step on the 2-D GP shapes
 * (batch 8, context 512 padded, 1024 test).
 *
 *   npm run bench -- model [--backend cpu|webgpu] [--sizes 10000x100000,100000x1000000]
 *                          [--chunk 65536] [--train] [--steps 50] [--precision f32,f16,f16-fast]
 *                          [--tiles 32x32] [--replay [--ablate RE,…]] [--gpu-profile] [--train-shape BxCxT]   (attention tiles, rows × keys; default: the kernels')
 *
 * Prints one JSON line per measurement:
 *   {"bench":"model","impl":…,"pass":"forward","nc":…,"nt":…,"chunk":…,"seconds":…,"peak_gib":…}
 *   {"bench":"model","impl":…,"pass":"train-step","b":8,"nc":512,"nt":1024,"ms_pipelined":…,"ms_synced":…,
 *    "ms_host_median":…}   (host: the time to record one step, i.e. the call's own cost)
 * --gpu-profile adds a line "train-step-gpu-profile": GPU ms of one step per kernel family and key
 * ([dispatches, ms]; timestamp queries, WebGPU only), and "forward-gpu-profile" for each forward size
 * with at most 200,000 test points (at most 2048 dispatches are timed; `dropped` counts the rest).
 * --replay adds "train-step-replay": the step recorded once and replayed (Trainer's default on
 * WebGPU), timed the same way. --ablate RE,RE,… (with --replay) adds a "train-step-ablate" line per
 * pattern: the replay without the dispatches whose kernel key matches it (wrong results, but the
 * time those kernels take in a step, launch gaps included).
 * --train-shape 8x512x1024 sets the training batch (B × context × test); --sizes none skips forwards.
 * Forward time covers encoding the context, streaming every test chunk through the model and
 * reading the predictions back to the host; each size is first run once untimed with one chunk of
 * test points (pipeline compilation). Peak memory is the backend's own accounting of live
 * buffers (the WebGPU pool's, or the CPU heap's).
 */
import type { Precision } from '../src/kernels/bsa/desc.js';
import { ADAMW_STEP_LABEL, adamwStepScalars, type Backend } from '../src/engine/backend.js';
import type { WebGPUBackend } from '../src/engine/webgpu/backend.js';
import * as E from '../src/engine/ops.js';
import { Rng } from '../src/engine/random.js';
import type { Tensor } from '../src/engine/tensor.js';
import { BsaTnp } from '../src/models/bsa-tnp.js';
import { DEFAULT_CONFIG, type ModelConfig } from '../src/models/config.js';
import { materialise, toParams } from '../src/nn/params.js';
import { AdamW } from '../src/train/optimizer.js';
import { openBackend } from './backends.js';
import { arg } from './args.js';

function uniform(rng: Rng, n: number, lo: number, hi: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * rng.uniform();
  return a;
}

/** A pipeline key's kernel family: the name before its variant suffix (`mm128_TN` → `mm128`). */
function kernelFamily(key: string): string {
  return key.split(/[_:(\[]/)[0]!;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function forward(b: Backend, impl: string, model: BsaTnp, params: ReturnType<typeof toParams>, nc: number, nt: number, chunk: number): Promise<void> {
  const rng = Rng.fromSeed(nc + nt);
  const sCtx = uniform(rng, nc * 2, -2, 2);
  const fCtx = uniform(rng, nc, -1, 1);
  const sTest = uniform(rng, nt * 2, -2, 2);
  const mem = (b as { memory?: { resetPeak(): unknown; peakBytes: number } }).memory;
  await b.sync();
  mem?.resetPeak();
  const t0 = performance.now();
  const ctx = { f: E.tensor(fCtx, [1, nc, 1], b), coords: { s: E.tensor(sCtx, [1, nc, 2], b) } };
  const cache = model.encode(params, ctx);
  const mean = new Float32Array(nt);
  const std = new Float32Array(nt);
  let pending: Promise<void> | null = null;
  for (let start = 0; start < nt; start += chunk) {
    const n = Math.min(chunk, nt - start);
    const s = E.tensor(sTest.subarray(2 * start, 2 * (start + n)), [1, n, 2], b);
    const out = model.decode(params, cache, { s });
    s.dispose();
    if (out.kind !== 'gaussian') throw new Error('model bench: expected a Gaussian model');
    // Read this chunk back while the next one is recorded.
    const prev = pending;
    pending = (async () => {
      await prev;
      mean.set(await out.mean.data(), start);
      std.set(await out.std.data(), start);
      out.mean.dispose();
      out.std.dispose();
    })();
  }
  await pending;
  cache.dispose();
  ctx.f.dispose();
  ctx.coords.s.dispose();
  const seconds = (performance.now() - t0) / 1000;
  if (!mean.every(Number.isFinite) || !std.every((v) => v > 0)) throw new Error('model bench: non-finite predictions');
  const peak = mem ? mem.peakBytes / 2 ** 30 : null;
  console.log(JSON.stringify({ bench: 'model', impl, pass: 'forward', nc, nt, chunk, seconds: +seconds.toFixed(4), peak_gib: peak && +peak.toFixed(3), date: new Date().toISOString(), device: b.description }));
}

/**
 * GPU time of the work `fn` records, by kernel family and by key (timestamp queries; each dispatch
 * in its own pass, so the sum is a little above the pipelined time).
 */
async function gpuProfile(gpu: WebGPUBackend, fn: () => Promise<void>): Promise<Record<string, unknown>> {
  await gpu.sync();
  gpu.startGpuProfile();
  await fn();
  const { dispatches, dropped } = await gpu.stopGpuProfile();
  const fam = new Map<string, { n: number; ms: number }>();
  const byKey = new Map<string, { n: number; ms: number }>();
  for (const d of dispatches) {
    for (const [m, k] of [[fam, kernelFamily(d.key)], [byKey, d.key]] as const) {
      const e = m.get(k) ?? { n: 0, ms: 0 };
      e.n++;
      e.ms += d.ms;
      m.set(k, e);
    }
  }
  const total = dispatches.reduce((a, d) => a + d.ms, 0);
  const top = (m: Map<string, { n: number; ms: number }>, n: number): Record<string, [number, number]> =>
    Object.fromEntries([...m].sort((x, y) => y[1].ms - x[1].ms).slice(0, n).map(([k, v]) => [k, [v.n, +v.ms.toFixed(3)]]));
  return { gpu_ms_sum: +total.toFixed(3), dispatches: dispatches.length, dropped, by_family: top(fam, 40), top_keys: top(byKey, Number(process.env.BSA_TNP_PROFILE_KEYS ?? 25)) };
}

/**
 * Times `run` (one training step): `steps` calls with no readback until the end (ms_pipelined per
 * step, and the host time of each call), then up to 10 calls each followed by `readLoss`
 * (ms_synced, median). Returns the fields of a train-step line, with the last loss.
 */
async function timeSteps(steps: number, run: () => void, readLoss: () => Promise<number>): Promise<Record<string, number>> {
  const host: number[] = [];
  const t0 = performance.now();
  for (let k = 0; k < steps; k++) {
    const th = performance.now();
    run();
    host.push(performance.now() - th);
  }
  const loss = await readLoss();
  const pipelined = (performance.now() - t0) / steps;
  const synced: number[] = [];
  for (let k = 0; k < Math.min(steps, 10); k++) {
    const t = performance.now();
    run();
    await readLoss();
    synced.push(performance.now() - t);
  }
  return { ms_pipelined: +pipelined.toFixed(3), ms_synced: +median(synced).toFixed(3), ms_host_median: +median(host).toFixed(3), loss };
}

async function trainStep(b: Backend, impl: string, config: ModelConfig, steps: number,
  shape: readonly [number, number, number], profileGpu: boolean, replay: boolean, ablate: readonly string[] = []): Promise<void> {
  const model = new BsaTnp(config);
  const specs = model.specs(Rng.fromSeed(0));
  const values = materialise(specs, b);
  const names = specs.map((s) => s.name);
  const opt = AdamW.create(values, { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 1e-4, clipNorm: 0.5 });
  const rng = Rng.fromSeed(5);
  const [B, Nc, Nt] = shape;
  const mask = new Float32Array(B * Nc);
  for (let i = 0; i < B; i++) { const n = rng.int(Math.ceil(Nc / 4), Nc); mask.fill(1, i * Nc, i * Nc + n); }
  const batch = {
    ctx: { f: E.tensor(uniform(rng, B * Nc, -1, 1), [B, Nc, 1], b), mask: E.tensor(mask, [B, Nc], b), coords: { s: E.tensor(uniform(rng, B * Nc * 2, -2, 2), [B, Nc, 2], b) } },
    test: { s: E.tensor(uniform(rng, B * Nt * 2, -2, 2), [B, Nt, 2], b) },
  };
  const fTest = E.tensor(uniform(rng, B * Nt, -1, 1), [B, Nt, 1], b);
  const step = (): Tensor => {
    const { value, grads } = E.valueAndGrad((ps) => model.loss(new Map(names.map((n, i) => [n, ps[i]!])), batch, fTest))(values);
    // Global-norm clipping to 0.5 on the device, then AdamW (the trainer's optimiser).
    opt.update(values, grads, 1e-4);
    grads.forEach((g) => g.dispose());
    return value;
  };
  // Warm-up (pipeline compilation), then pipelined (no readback) and synced timings.
  for (let k = 0; k < 3; k++) step().dispose();
  await b.sync();
  // Dispatches of one step, by pipeline key (WebGPU only): where fusion would pay.
  let dispatchesPerStep: number | undefined;
  let bindGroupsPerStep: number | undefined;
  if (b.kind === 'webgpu') {
    const gpu = b as WebGPUBackend;
    const byKey = new Map<string, number>();
    gpu.dispatchesByKey = byKey;
    const n0 = gpu.dispatches;
    const bg0 = gpu.bindGroupsCreated;
    step().dispose();
    dispatchesPerStep = gpu.dispatches - n0;
    bindGroupsPerStep = gpu.bindGroupsCreated - bg0;
    gpu.dispatchesByKey = null;
    const byFamily = new Map<string, number>();
    for (const [k, v] of byKey) {
      const fam = kernelFamily(k);
      byFamily.set(fam, (byFamily.get(fam) ?? 0) + v);
    }
    const top = [...byFamily].filter(([, v]) => v > 0).sort((x, y) => y[1] - x[1]);
    process.stderr.write(`model: ${dispatchesPerStep} dispatches per training step: ${top.map(([k, v]) => `${k} ${v}`).join(', ')}\n`);
  }
  // GPU time of one step by kernel family (timestamp queries; each dispatch in its own pass).
  if (b.kind === 'webgpu' && profileGpu) {
    const p = await gpuProfile(b as WebGPUBackend, async () => { step().dispose(); });
    console.log(JSON.stringify({ bench: 'model', impl, pass: 'train-step-gpu-profile', b: B, nc: Nc, nt: Nt, ...p,
      date: new Date().toISOString(), device: b.description }));
  }
  let last: Tensor | null = null;
  const eager = await timeSteps(steps, () => { last?.dispose(); last = step(); }, async () => (await last!.data())[0]!);
  (last as Tensor | null)?.dispose();
  console.log(JSON.stringify({ bench: 'model', impl, pass: 'train-step', b: B, nc: Nc, nt: Nt, steps, ...eager, dispatches_per_step: dispatchesPerStep, bind_groups_created_per_step: bindGroupsPerStep, date: new Date().toISOString(), device: b.description }));
  if (replay && b.beginCapture && b.endCapture) {
    // The same step recorded once and replayed (what Trainer does on WebGPU): only the GPU commands
    // are encoded per step, with the optimiser's step-dependent scalars as the one changing input.
    b.beginCapture();
    const lossT = step();
    const rec = b.endCapture([...values, ...opt.m, ...opt.v].map((t) => t.storage()));
    const slots = rec.slotsLabelled(ADAMW_STEP_LABEL);
    const again = (): void => {
      const sc = adamwStepScalars(opt.nextArgs(1e-4));
      rec.replay(new Map(slots.map((k) => [k, sc])));
      opt.countReplayedUpdate();
    };
    for (let k = 0; k < 3; k++) again();
    await b.sync();
    const replayed = await timeSteps(steps, again, async () => (await lossT.data())[0]!);
    console.log(JSON.stringify({ bench: 'model', impl, pass: 'train-step-replay', b: B, nc: Nc, nt: Nt, steps, ...replayed, dispatches_per_step: rec.dispatchCount, date: new Date().toISOString(), device: b.description }));
    // --ablate RE,RE,…: the replay again without the dispatches whose pipeline key matches each
    // pattern (results wrong, time right: what those kernels cost, launch gaps included).
    for (const pattern of rec.ablate ? ablate : []) {
      const issued = rec.ablate!(new RegExp(pattern));
      for (let k = 0; k < 3; k++) again();
      await b.sync();
      const t = await timeSteps(steps, again, async () => (await lossT.data())[0]!);
      console.log(JSON.stringify({ bench: 'model', impl, pass: 'train-step-ablate', skip: pattern, dispatches_issued: issued,
        dispatches_per_step: rec.dispatchCount, ms_pipelined: t.ms_pipelined, ms_host_median: t.ms_host_median,
        date: new Date().toISOString(), device: b.description }));
    }
    rec.ablate?.(null);
    rec.dispose();
    lossT.dispose();
  }
}

export async function run(args: string[]): Promise<void> {
  const which = arg(args, 'backend', 'cpu');
  const b = await openBackend(which);
  const impl = `bsa-tnp-${which}`;
  const config: ModelConfig = { ...DEFAULT_CONFIG };
  const model = new BsaTnp(config);
  const specs = model.specs(Rng.fromSeed(0));
  const params = toParams(specs, materialise(specs, b));
  const precisions = arg(args, 'precision', 'f32').split(',') as Precision[];
  const chunk = Number(arg(args, 'chunk', '65536'));
  const sizes = arg(args, 'sizes', which === 'cpu' ? '1000x10000' : '1000x10000,10000x100000,100000x1000000')
    .split(',').filter((s) => s !== 'none').map((s) => s.split('x').map(Number) as [number, number]);
  // Warm-up: compile every pipeline once.
  await forward(b, `${impl}-warmup`, model, params, 256, 1024, chunk);
  const tiles = arg(args, 'tiles', '');
  const [tileQ, tileK] = tiles ? tiles.split('x').map(Number) : [undefined, undefined];
  for (const p of precisions) {
    const m = new BsaTnp(config, { precision: p, tileQ, tileK });
    if (p !== 'f32') await forward(b, `${impl}-${p}-warmup`, m, params, 256, 1024, chunk);
    for (const [nc, nt] of sizes) {
      const name = p === 'f32' ? impl : `${impl}-${p}`;
      // Warm-up at this context size and one chunk of test points: kernel choices (matmul plans,
      // attention grids) depend on the sizes, and their first use compiles pipelines.
      await forward(b, `${name}-warmup`, m, params, nc, Math.min(nt, chunk), chunk);
      await forward(b, name, m, params, nc, nt, chunk);
      if (b.kind === 'webgpu' && args.includes('--gpu-profile') && nt <= 200_000) {
        const prof = await gpuProfile(b as WebGPUBackend, () => forward(b, `${name}-profiled`, m, params, nc, nt, chunk));
        console.log(JSON.stringify({ bench: 'model', impl: name, pass: 'forward-gpu-profile', nc, nt, chunk, ...prof,
          date: new Date().toISOString(), device: b.description }));
      }
    }
  }
  const shape = arg(args, 'train-shape', '8x512x1024').split('x').map(Number) as [number, number, number];
  if (args.includes('--train')) await trainStep(b, impl, config, Number(arg(args, 'steps', '50')), shape,
    args.includes('--gpu-profile'), args.includes('--replay'), args.includes('--ablate') ? arg(args, 'ablate', '').split(',') : []);
  b.destroy();
}
