/**
 * Where `bsa-tnp experiment gp2d` spends its time, phase by phase, on one backend: generating one
 * test batch and its exact GP posterior per variant, one training step per model (valueAndGrad of
 * the loss on a base batch, random initial weights) and one evaluation forward per model and
 * variant (ConvCNP re-gridded as the runner does). Issue 18's smoke command is the sum of these
 * (5 steps, 2 batches per variant) plus validation and checkpoints.
 *
 *   npm run bench -- experiment-phases [--models bsa-tnp,tnp-d,te-tnp,convcnp] [--variants base,scaled]
 *                                      [--phases train,eval] [--steps 1] [--backend cpu]
 *
 * JSON lines: {"bench":"experiment-phases","phase":"data","variant","gen_s","oracle_s"},
 * {"phase":"train-step","model","s"}, {"phase":"eval-forward","model","variant","s"}.
 */
import * as E from '../src/engine/ops.js';
import { Rng } from '../src/engine/random.js';
import { BatchStream } from '../src/data/stream.js';
import { gpOracle } from '../src/data/tasks.js';
import { experimentByName, modelConfigForTask } from '../src/experiment/recipes.js';
import { buildModel, regridFor } from '../src/models/registry.js';
import { materialise, toParams } from '../src/nn/params.js';
import { resolveTask } from '../src/train/tasks.js';
import { batchToTensors } from '../src/train/batch-inputs.js';
import { openBackend } from './backends.js';
import { arg } from './args.js';

export async function run(args: string[]): Promise<void> {
  const models = arg(args, 'models', 'bsa-tnp,tnp-d,te-tnp,convcnp').split(',');
  const variants = arg(args, 'variants', 'base,scaled').split(',');
  const phases = arg(args, 'phases', 'train,eval').split(',');
  const steps = Number(arg(args, 'steps', '1'));
  const backend = await openBackend(arg(args, 'backend', 'cpu'));
  const exp = experimentByName('gp2d');
  const now = () => performance.now() / 1000;
  const emit = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify({ bench: 'experiment-phases', ...o })}\n`);
  const shape = resolveTask(exp.task, exp.recipe.batchSize, 'gp2d').shape;
  const data = new Map<string, { batch: ReturnType<BatchStream['next']>; shape: typeof shape }>();
  for (const label of variants) {
    const v = exp.variants.find((x) => x.label === label);
    if (!v) throw new Error(`experiment-phases: unknown variant '${label}'; expected one of ${exp.variants.map((x) => x.label).join(', ')}`);
    const r = resolveTask(v.task, exp.recipe.batchSize, label);
    const stream = new BatchStream(r.groups, Rng.fromSeed(88).split());
    let t0 = now();
    const batch = stream.next();
    const gen = now() - t0;
    t0 = now();
    if (batch.gp) batch.oracleNll = gpOracle(batch).meanNll;
    emit({ phase: 'data', variant: label, gen_s: gen, oracle_s: now() - t0 });
    data.set(label, { batch, shape: r.shape });
  }
  const trainBatch = data.get('base')?.batch ?? new BatchStream(resolveTask(exp.task, exp.recipe.batchSize, 'gp2d').groups, Rng.fromSeed(88).split()).next();
  for (const m of models) {
    const cfg = modelConfigForTask(m, shape);
    const net = buildModel(cfg);
    const specs = net.specs(Rng.fromSeed(1));
    const ts = materialise(specs, backend);
    const params = toParams(specs, ts);
    try {
      if (phases.includes('train')) {
        for (let i = 0; i < steps; i++) {
          const bt = batchToTensors(trainBatch, cfg, backend);
          const t0 = now();
          const { value, grads } = E.valueAndGrad((ps) => net.loss(toParams(specs, ps), bt.inputs, bt.fTest, bt.maskTest))(ts);
          await value.data();
          for (const g of grads) await g.data();
          emit({ phase: 'train-step', model: m, s: now() - t0 });
          value.dispose();
          grads.forEach((g) => g.dispose());
          bt.dispose();
        }
      }
      if (phases.includes('eval')) {
        for (const [label, d] of data) {
          const c2 = regridFor(cfg, d.shape);
          const n2 = c2 === cfg ? net : buildModel(c2);
          const bt = batchToTensors(d.batch, c2, backend);
          const t0 = now();
          const out = n2.forward(params, bt.inputs);
          if (out.kind === 'gaussian') {
            await out.mean.data();
            await out.std.data();
            out.mean.dispose();
            out.std.dispose();
          } else {
            await out.logits.data();
            out.logits.dispose();
          }
          emit({ phase: 'eval-forward', model: m, variant: label, s: now() - t0 });
          bt.dispose();
        }
      }
    } finally {
      ts.forEach((t) => t.dispose());
    }
  }
  backend.destroy();
}
