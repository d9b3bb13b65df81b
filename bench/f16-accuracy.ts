/**
 * Accuracy of the f16 attention path on trained weights (issue "GPU at scale", line 1): the same
 * model folder, the same batches, predictions with precision 'f32' and 'f16' on one backend.
 *
 *   npm run bench -- f16-accuracy [--model models/demo-gp2d] [--backend webgpu] [--batches 50]
 *                                 [--task gp2d] [--big 2000x20000] [--precision f16,f16-fast]
 *
 * One JSON line per precision: max and mean |μ16 − μ32| / σ32 and |σ16 − σ32| / σ32 over every test point,
 * mean NLL per point of both paths and their difference, over `batches` batches of the model's
 * training task (eval's test stream), plus the same on one big random problem (`--big` context ×
 * test points; points uniform on the task's domain, values from the model's own prediction scale).
 */
import * as path from 'node:path';
import type { Backend } from '../src/engine/backend.js';
import * as E from '../src/engine/ops.js';
import { Rng } from '../src/engine/random.js';
import type { Tensor } from '../src/engine/tensor.js';
import { gaussianMetrics } from '../src/data/metrics.js';
import { PRECISIONS, type Precision } from '../src/kernels/bsa/desc.js';
import { BsaTnp } from '../src/models/bsa-tnp.js';
import { asBsaTnpConfig } from '../src/models/registry.js';
import { DEFAULT_TRAIN_CONFIG } from '../src/models/config.js';
import { toParams } from '../src/nn/params.js';
import { batchToTensors } from '../src/train/batch-inputs.js';
import { loadModelFolder } from '../src/train/checkpoint.js';
import { resolveTask } from '../src/train/tasks.js';
import { openBackend } from './backends.js';
import { arg } from './args.js';

class Diff {
  maxMu = 0; sumMu = 0; maxSd = 0; sumSd = 0; n = 0;
  add(m32: Float32Array, s32: Float32Array, m16: Float32Array, s16: Float32Array): void {
    for (let i = 0; i < m32.length; i++) {
      const dm = Math.abs(m16[i]! - m32[i]!) / s32[i]!;
      const ds = Math.abs(s16[i]! - s32[i]!) / s32[i]!;
      if (!Number.isFinite(dm) || !Number.isFinite(ds)) throw new Error(`f16-accuracy: non-finite prediction at ${i}`);
      this.maxMu = Math.max(this.maxMu, dm); this.sumMu += dm;
      this.maxSd = Math.max(this.maxSd, ds); this.sumSd += ds;
      this.n++;
    }
  }
  json(): Record<string, number> {
    return { max_dmu_over_std: this.maxMu, mean_dmu_over_std: this.sumMu / this.n, max_dstd_over_std: this.maxSd,
      mean_dstd_over_std: this.sumSd / this.n, points: this.n };
  }
}

async function predict(model: BsaTnp, params: ReturnType<typeof toParams>, inputs: Parameters<BsaTnp['forward']>[1]):
  Promise<{ mean: Float32Array; std: Float32Array }> {
  const out = model.forward(params, inputs);
  if (out.kind !== 'gaussian') throw new Error('f16-accuracy: expected a Gaussian model');
  try {
    return { mean: await out.mean.data(), std: await out.std.data() };
  } finally {
    out.mean.dispose();
    out.std.dispose();
  }
}

export async function run(args: string[]): Promise<void> {
  const folder = path.resolve(arg(args, 'model', 'models/demo-gp2d'));
  const b: Backend = await openBackend(arg(args, 'backend', 'webgpu'));
  const batches = Number(arg(args, 'batches', '50'));
  const loaded = loadModelFolder(folder);
  const bsaConfig = asBsaTnpConfig(loaded.config.model, 'config.json:model');
  const m32 = new BsaTnp(bsaConfig);
  // Entries separated by ';' (or ',' when none has a split list): 'f16', 'f16-fast', or 'f16:qk+p'
  // (precision f16 with only the named products split, see BSA_TNP_F16_SPLIT in forward-f16.ts).
  const raw = arg(args, 'precision', 'f16');
  const labels = raw.split(raw.includes(';') ? ';' : ',');
  const precisions = labels.map((l) => l.split(':')[0] as Precision);
  const splits = labels.map((l) => (l.includes(':') ? l.split(':')[1]!.replace(/\+/g, ',') : undefined));
  for (const p of precisions) {
    if (p === 'f32' || !PRECISIONS.includes(p)) throw new Error(`f16-accuracy: expected --precision from ${PRECISIONS.slice(1).join(', ')}, got '${p}'`);
  }
  const m16 = precisions.map((precision) => new BsaTnp(bsaConfig, { precision }));
  const envSplit = process.env.BSA_TNP_F16_SPLIT;
  const withSplit = <T>(k: number, f: () => Promise<T>): Promise<T> => {
    if (splits[k] === undefined) {
      if (envSplit === undefined) delete process.env.BSA_TNP_F16_SPLIT; else process.env.BSA_TNP_F16_SPLIT = envSplit;
    } else process.env.BSA_TNP_F16_SPLIT = splits[k];
    return f();
  };
  const specs = m32.specs(Rng.fromSeed(0));
  const tensors: Tensor[] = specs.map((s) => E.tensor(loaded.weights.get(s.name)!.data, s.shape, b));
  const params = toParams(specs, tensors);
  const task = { ...(loaded.config.training?.task ?? DEFAULT_TRAIN_CONFIG.task) };
  task.name = arg(args, 'task', task.name);
  const { generator } = resolveTask(task, loaded.config.training?.batchSize ?? 16, 'task');
  const rng = Rng.fromSeed(88).split();
  const diff = precisions.map(() => new Diff());
  let nll32 = 0;
  const nll16 = precisions.map(() => 0);
  for (let i = 0; i < batches; i++) {
    const batch = generator(rng.split());
    const bt = batchToTensors(batch, loaded.config.model, b);
    try {
      const a = await predict(m32, params, bt.inputs);
      nll32 += gaussianMetrics(batch.f_test, a.mean, a.std, batch.dims.Df, batch.mask_test).nll;
      for (const [k, m] of m16.entries()) {
        const c = await withSplit(k, () => predict(m, params, bt.inputs));
        diff[k]!.add(a.mean, a.std, c.mean, c.std);
        nll16[k]! += gaussianMetrics(batch.f_test, c.mean, c.std, batch.dims.Df, batch.mask_test).nll;
      }
    } finally {
      bt.dispose();
    }
  }
  const [nc, nt] = arg(args, 'big', '2000x20000').split('x').map(Number) as [number, number];
  const big = precisions.map(() => new Diff());
  {
    const r = Rng.fromSeed(3);
    const u = (n: number, lo: number, hi: number): Float32Array => Float32Array.from({ length: n }, () => lo + (hi - lo) * r.uniform());
    const inputs = {
      ctx: { f: E.tensor(u(nc, -1.5, 1.5), [1, nc, 1], b), coords: { s: E.tensor(u(nc * 2, -2, 2), [1, nc, 2], b) } },
      test: { s: E.tensor(u(nt * 2, -2, 2), [1, nt, 2], b) },
    };
    const a = await predict(m32, params, inputs);
    for (const [k, m] of m16.entries()) {
      const c = await withSplit(k, () => predict(m, params, inputs));
      big[k]!.add(a.mean, a.std, c.mean, c.std);
    }
    inputs.ctx.f.dispose(); inputs.ctx.coords.s.dispose(); inputs.test.s.dispose();
  }
  for (const [k, precision] of precisions.entries()) {
    console.log(JSON.stringify({
      bench: 'f16-accuracy', precision: labels[k], model: path.relative(process.cwd(), folder), task: task.name, batches,
      ...diff[k]!.json(), nll_f32: nll32 / batches, nll_f16: nll16[k]! / batches, nll_diff: (nll16[k]! - nll32) / batches,
      big: { nc, nt, ...big[k]!.json() }, date: new Date().toISOString(), device: b.description,
    }));
  }
  for (const t of tensors) t.dispose();
  b.destroy();
}
