/**
 * Probes the RBF bias rates `b` of a trained table model on its own training batches (CPU): the loss,
 * the global gradient norm, and per block/head the gradient of the loss with respect to the tied
 * `bias_s.b` (its sign says where AdamW moves b next; b is unconstrained, model.md §5.2, and
 * b < 0 makes exp(−b·δ²) grow with distance: it overflows float32 once −b·δ² > 88.7). Also the loss
 * with one head's b set to each of `--set-b` values (the loss along that direction).
 *
 * `--backend webgpu` runs on the WebGPU backend (lavapipe here); `--no-grad` skips the gradient.
 *
 * Usage (the kept Colorado model, step 3,000 of the NaN run):
 *   npx tsx scripts/analysis/bias-probe.ts --model models/real/colorado-tmax \
 *     --data data/colorado-monthly/colorado-monthly.csv --from 3001 --batches 3 \
 *     [--head blocks.2.attn.bias_s.b:0 --set-b 0.04,0,-0.2,-0.5,-1,-1.6]
 * Prints JSON lines.
 */
import { parseArgs } from 'node:util';
import { readDataTable } from '../../src/cli/commands/table-input.js';
import { BatchStream } from '../../src/data/stream.js';
import type { Backend } from '../../src/engine/backend.js';
import { CpuBackend } from '../../src/engine/cpu/backend.js';
import * as E from '../../src/engine/ops.js';
import { Rng } from '../../src/engine/random.js';
import { keep, type Tensor } from '../../src/engine/tensor.js';
import { buildModel } from '../../src/models/registry.js';
import { toParams } from '../../src/nn/params.js';
import { batchToTensors } from '../../src/train/batch-inputs.js';
import { loadModelFolder } from '../../src/train/checkpoint.js';
import { encodeRows } from '../../src/train/table-rows.js';
import { parseTableSettings, tableGenerators } from '../../src/train/table-run.js';

const { values: v } = parseArgs({
  options: {
    model: { type: 'string' }, data: { type: 'string' }, from: { type: 'string', default: '3001' },
    batches: { type: 'string', default: '2' }, head: { type: 'string' }, 'set-b': { type: 'string' },
    backend: { type: 'string', default: 'cpu' }, 'no-grad': { type: 'boolean', default: false },
  },
});

async function main(): Promise<void> {
  const folder = loadModelFolder(v.model!);
  const cfg = folder.config;
  const train = cfg.training!;
  const settings = parseTableSettings(train.task);
  const table = await readDataTable(v.data!, 'bias-probe', '--data');
  const rows = encodeRows(table, cfg.data, v.data!).rows;
  const gens = tableGenerators(rows, settings, train.seed, train.batchSize);
  const root = Rng.fromSeed(train.seed);
  root.split();
  const stream = new BatchStream(gens.train.generator(), root.split());
  const from = Number(v.from);
  for (let k = 1; k < from; k++) stream.next();
  let be: Backend = new CpuBackend();
  if (v.backend === 'webgpu') {
    process.env.LP_NUM_THREADS ??= '1';
    const res = await (await import('../../src/engine/webgpu/node.js')).createNodeWebGPUBackend();
    if (!res.backend) throw new Error(res.reason);
    be = res.backend as Backend;
  }
  const model = buildModel(cfg.model);
  const specs = model.specs(Rng.fromSeed(0));
  const params: Tensor[] = specs.map((s) => keep(E.tensor(folder.weights.get(s.name)!.data, s.shape, be)));
  const names = specs.map((s) => s.name);
  const bNames = names.filter((n) => /bias_[st]\.b$/.test(n));
  for (let i = 0; i < Number(v.batches); i++) {
    const batch = stream.next();
    const bt = batchToTensors(batch, cfg.model, be);
    const t0 = Date.now();
    if (!v['no-grad']) {
    const { value, grads } = E.valueAndGrad((ps) => model.loss(toParams(specs, ps), bt.inputs, bt.fTest, bt.maskTest))(params);
    const loss = await value.item();
    let sq = 0;
    const gb: Record<string, number[]> = {};
    for (let j = 0; j < grads.length; j++) {
      const g = await grads[j]!.data();
      for (const x of g) sq += x * x;
      if (bNames.includes(names[j]!)) {
        const H = specs[j]!.shape[0]!, F = specs[j]!.shape[1]!;
        gb[names[j]!] = Array.from({ length: H }, (_, h) => Number(g.slice(h * F, (h + 1) * F).reduce((a, x) => a + x, 0).toPrecision(3)));
      }
      grads[j]!.dispose();
    }
    value.dispose();
    console.log(JSON.stringify({ event: 'gradient', step: from + i, backend: v.backend, loss, gradNorm: Math.sqrt(sq), seconds: (Date.now() - t0) / 1000, dLoss_db_per_head: gb }));
    }
    if (v.head && v['set-b']) {
      const [pname, hs] = v.head.split(':');
      const j = names.indexOf(pname!);
      const h = Number(hs);
      const orig = folder.weights.get(pname!)!.data;
      const F = specs[j]!.shape[1]!;
      for (const bv of v['set-b'].split(',').map(Number)) {
        const data = Float32Array.from(orig);
        for (let f = 0; f < F; f++) data[h * F + f] = bv;
        const swapped = params.slice();
        swapped[j] = E.tensor(data, specs[j]!.shape, be);
        const l = E.tidy(() => model.loss(toParams(specs, swapped), bt.inputs, bt.fTest, bt.maskTest));
        console.log(JSON.stringify({ event: 'loss-at-b', step: from + i, backend: v.backend, param: pname, head: h, b: bv, loss: await l.item() }));
        l.dispose();
        swapped[j]!.dispose();
      }
    }
    bt.dispose();
  }
}

await main();
