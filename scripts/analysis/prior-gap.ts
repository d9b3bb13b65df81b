/**
 * Where a model's gap to the exact GP posterior comes from, on a GP evaluation task (CPU): per test
 * point the model's and the oracle's mean and std. Reports the NLL gap, RMSE of each mean, the mean
 * log std ratio (model / oracle), and two counterfactual NLLs: the model's mean with the oracle's
 * std ("mean only") and the oracle's mean with the model's std ("std only"); plus the gap by the
 * number of context points and by the test point's distance to the box's edge (tasks on [−2, 2]^D). Same batches as `bsa-tnp eval --task T` (test stream seed 88).
 *
 * Usage: npx tsx scripts/analysis/prior-gap.ts --model models/prior-gp-mixture --task gp-smooth --batches 8
 */
import { parseArgs } from 'node:util';
import { CpuBackend } from '../../src/engine/cpu/backend.js';
import * as E from '../../src/engine/ops.js';
import { Rng } from '../../src/engine/random.js';
import { keep } from '../../src/engine/tensor.js';
import { buildModel } from '../../src/models/registry.js';
import { toParams } from '../../src/nn/params.js';
import { batchToTensors } from '../../src/train/batch-inputs.js';
import { loadModelFolder } from '../../src/train/checkpoint.js';
import { resolveTask, withZeroTime } from '../../src/train/tasks.js';
import { BatchStream } from '../../src/data/stream.js';
import { gpOracle } from '../../src/data/tasks.js';

const { values: v } = parseArgs({ options: {
  model: { type: 'string' }, task: { type: 'string', default: 'gp-smooth' }, batches: { type: 'string', default: '8' },
  seed: { type: 'string', default: '88' } } });

const LOG2PI = Math.log(2 * Math.PI);
const nll = (y: number, m: number, s: number) => 0.5 * (LOG2PI + 2 * Math.log(s) + ((y - m) / s) ** 2);

async function main(): Promise<void> {
  const folder = loadModelFolder(v.model!);
  const backend = new CpuBackend();
  const net = buildModel(folder.config.model);
  const specs = net.specs(Rng.fromSeed(0));
  const tensors = specs.map((s) => keep(E.tensor(folder.weights.get(s.name)!.data, s.shape, backend)));
  const params = toParams(specs, tensors);
  const task = resolveTask({ name: v.task!, options: {} }, 8);
  const stream = new BatchStream(task.groups, Rng.fromSeed(Number(v.seed)));
  const acc = { n: 0, model: 0, oracle: 0, meanOnly: 0, stdOnly: 0, se_m: 0, se_o: 0, logRatio: 0, z2: 0 };
  const byNc: Record<string, { n: number; gap: number }> = {};
  const byEdge: Record<string, { n: number; gap: number; se_m: number; se_o: number }> = {};
  for (let i = 0; i < Number(v.batches); i++) {
    const raw = stream.next() as never as Parameters<typeof gpOracle>[0];
    const batch = withZeroTime(raw, net.config.groups.t?.dims ?? 0);
    const bt = batchToTensors(batch, net.config, backend);
    const out = net.forward(params, bt.inputs);
    if (out.kind !== 'gaussian') throw new Error('expected a Gaussian model');
    const mean = await out.mean.data(), std = await out.std.data();
    out.mean.dispose(); out.std.dispose(); bt.dispose();
    const o = gpOracle(raw);
    const { B, Nc, Nt } = raw;
    for (let b = 0; b < B; b++) {
      let nc = 0;
      for (let j = 0; j < Nc; j++) nc += raw.mask_ctx[b * Nc + j]!;
      const bucket = nc < 200 ? '<200' : nc < 350 ? '200-350' : '≥350';
      byNc[bucket] ??= { n: 0, gap: 0 };
      for (let j = 0; j < Nt; j++) {
        const k = b * Nt + j;
        if (raw.mask_test && !raw.mask_test[k]) continue;
        const y = raw.f_test[k]!, m = mean[k]!, s = std[k]!, om = o.mean[k]!, os = o.std[k]!;
        const g = nll(y, m, s) - nll(y, om, os);
        acc.n++; acc.model += nll(y, m, s); acc.oracle += nll(y, om, os);
        acc.meanOnly += nll(y, m, os); acc.stdOnly += nll(y, om, s);
        acc.se_m += (y - m) ** 2; acc.se_o += (y - om) ** 2; acc.logRatio += Math.log(s / os); acc.z2 += ((y - m) / s) ** 2;
        byNc[bucket].n++; byNc[bucket].gap += g;
        const Ds = raw.dims.Ds;
        let edge = Infinity;
        for (let d = 0; d < Ds; d++) edge = Math.min(edge, 2 - Math.abs(raw.s_test[k * Ds + d]!));
        const eb = edge < 0.2 ? 'edge<0.2' : edge < 0.6 ? 'edge 0.2-0.6' : 'edge≥0.6';
        byEdge[eb] ??= { n: 0, gap: 0, se_m: 0, se_o: 0 };
        byEdge[eb].n++; byEdge[eb].gap += g; byEdge[eb].se_m += (y - m) ** 2; byEdge[eb].se_o += (y - om) ** 2;
      }
    }
  }
  const n = acc.n;
  console.log(JSON.stringify({
    task: v.task, points: n, nll_model: acc.model / n, nll_oracle: acc.oracle / n, gap: (acc.model - acc.oracle) / n,
    gap_mean_only: (acc.meanOnly - acc.oracle) / n, gap_std_only: (acc.stdOnly - acc.oracle) / n,
    rmse_model: Math.sqrt(acc.se_m / n), rmse_oracle: Math.sqrt(acc.se_o / n), mean_log_std_ratio: acc.logRatio / n,
    mean_z2_model: acc.z2 / n,
    gap_by_context: Object.fromEntries(Object.entries(byNc).map(([k, x]) => [k, x.gap / x.n])),
    by_edge_distance: Object.fromEntries(Object.entries(byEdge).map(([k, x]) => [k,
      { share: x.n / n, gap: x.gap / x.n, rmse_model: Math.sqrt(x.se_m / x.n), rmse_oracle: Math.sqrt(x.se_o / x.n) }])),
  }));
}
void main();
