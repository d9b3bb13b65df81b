/**
 * GPU path vs CPU path on the same weights and inputs (issue "GPU at scale", line 4: relative 1e-4
 * in float32 mode).
 *
 *   npm run bench -- backend-match [--model models/demo-gp2d] [--batches 4] [--sizes 1000x10000]
 *
 * One JSON line: the largest relative difference max|μ_gpu − μ_cpu| / max|μ_cpu| (and the same for
 * σ) over `batches` eval batches of the trained model's task, and over random problems of the
 * default 2-D GP configuration (475,770 parameters, random weights) at each size (context × test).
 */
import * as path from 'node:path';
import type { Backend } from '../src/engine/backend.js';
import * as E from '../src/engine/ops.js';
import { Rng } from '../src/engine/random.js';
import type { Tensor } from '../src/engine/tensor.js';
import { BsaTnp } from '../src/models/bsa-tnp.js';
import { asBsaTnpConfig } from '../src/models/registry.js';
import { DEFAULT_CONFIG, DEFAULT_TRAIN_CONFIG, type ModelConfig } from '../src/models/config.js';
import { materialise, toParams } from '../src/nn/params.js';
import { batchToTensors } from '../src/train/batch-inputs.js';
import { loadModelFolder } from '../src/train/checkpoint.js';
import { resolveTask } from '../src/train/tasks.js';
import type { Batch } from '../src/data/batch.js';
import { openBackend } from './backends.js';
import { arg } from './args.js';

function relDiff(a: Float32Array, e: Float32Array): number {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - e[i]!));
    den = Math.max(den, Math.abs(e[i]!));
  }
  return Number.isNaN(num) ? Infinity : num / den;
}

type Inputs = Parameters<BsaTnp['forward']>[1];

async function predict(b: Backend, config: ModelConfig, weights: Float32Array[], make: (b: Backend) => { inputs: Inputs; dispose(): void }):
  Promise<{ mean: Float32Array; std: Float32Array }> {
  const model = new BsaTnp(config);
  const specs = model.specs(Rng.fromSeed(0));
  const ts: Tensor[] = specs.map((s, i) => E.tensor(weights[i]!, s.shape, b));
  const x = make(b);
  try {
    const out = model.forward(toParams(specs, ts), x.inputs);
    if (out.kind !== 'gaussian') throw new Error('backend-match: expected a Gaussian model');
    const r = { mean: await out.mean.data(), std: await out.std.data() };
    out.mean.dispose(); out.std.dispose();
    return r;
  } finally {
    x.dispose();
    for (const t of ts) t.dispose();
  }
}

export async function run(args: string[]): Promise<void> {
  const cpu = await openBackend('cpu');
  const gpu = await openBackend('webgpu');
  const rows: Record<string, unknown>[] = [];
  const compare = async (label: string, config: ModelConfig, weights: Float32Array[], make: (b: Backend) => { inputs: Inputs; dispose(): void }) => {
    const a = await predict(cpu, config, weights, make);
    const g = await predict(gpu, config, weights, make);
    rows.push({ case: label, points: a.mean.length, rel_mean: relDiff(g.mean, a.mean), rel_std: relDiff(g.std, a.std) });
  };
  // Trained weights on the model's own task.
  const folder = path.resolve(arg(args, 'model', 'models/demo-gp2d'));
  const loaded = loadModelFolder(folder);
  const specs = new BsaTnp(asBsaTnpConfig(loaded.config.model, 'config.json:model')).specs(Rng.fromSeed(0));
  const trained = specs.map((s) => loaded.weights.get(s.name)!.data);
  const { generator } = resolveTask(loaded.config.training?.task ?? DEFAULT_TRAIN_CONFIG.task, loaded.config.training?.batchSize ?? 16, 'task');
  const rng = Rng.fromSeed(88).split();
  for (let i = 0; i < Number(arg(args, 'batches', '4')); i++) {
    const batch: Batch = generator(rng.split());
    await compare(`${path.basename(folder)} batch ${i}`, asBsaTnpConfig(loaded.config.model, 'config.json:model'), trained, (b) => {
      const bt = batchToTensors(batch, loaded.config.model, b);
      return { inputs: bt.inputs, dispose: () => bt.dispose() };
    });
  }
  // The default configuration with random weights at larger sizes.
  const dspecs = new BsaTnp(DEFAULT_CONFIG).specs(Rng.fromSeed(0));
  const dweights = await Promise.all(materialise(dspecs, cpu).map(async (t) => { const d = await t.data(); t.dispose(); return d; }));
  for (const [nc, nt] of arg(args, 'sizes', '1000x10000').split(',').map((s) => s.split('x').map(Number) as [number, number])) {
    const r = Rng.fromSeed(nc + nt);
    const u = (n: number, lo: number, hi: number): Float32Array => Float32Array.from({ length: n }, () => lo + (hi - lo) * r.uniform());
    const f = u(nc, -1, 1), sc = u(nc * 2, -2, 2), st = u(nt * 2, -2, 2);
    await compare(`default config ${nc}x${nt}`, DEFAULT_CONFIG, dweights, (b) => {
      const inputs = { ctx: { f: E.tensor(f, [1, nc, 1], b), coords: { s: E.tensor(sc, [1, nc, 2], b) } }, test: { s: E.tensor(st, [1, nt, 2], b) } };
      return { inputs, dispose: () => { inputs.ctx.f.dispose(); inputs.ctx.coords.s.dispose(); inputs.test.s.dispose(); } };
    });
  }
  console.log(JSON.stringify({
    bench: 'backend-match', cases: rows, worst_rel_mean: Math.max(...rows.map((r) => r.rel_mean as number)),
    worst_rel_std: Math.max(...rows.map((r) => r.rel_std as number)), date: new Date().toISOString(), cpu: cpu.description, gpu: gpu.description,
  }));
  cpu.destroy();
  gpu.destroy();
}
