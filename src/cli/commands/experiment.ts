/**
 * `bsa-tnp experiment NAME`: runs one of the paper's synthetic experiments (src/experiment/):
 * trains and evaluates every model × seed cell and writes results.json and results.md. This file
 * only parses flags; the work is in src/experiment/runner-node.ts.
 */
import * as path from 'node:path';
import { type CliContext, CliError, type CommandSpec, EXIT_OK, type ParsedArgs, UsageError } from '../args.js';
import { createBackend, explainBackendError, parseBackendName } from '../../api/load-node.js';
import { ConfigError } from '../../models/config-checks.js';
import { experimentByName, EXPERIMENT_NAMES, EXPERIMENTS } from '../../experiment/recipes.js';
import { runExperiment } from '../../experiment/runner-node.js';
import { intOption } from './predict.js';
import { dataWorkersOption, num } from './train.js';

function str(args: ParsedArgs, name: string): string | undefined {
  const v = args.values[name];
  return typeof v === 'string' ? v : undefined;
}

function list(v: string | undefined): string[] | undefined {
  return v === undefined ? undefined : v.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

/** `--seeds N` (the first N of the paper's seeds), `--seeds 61` (one of the paper's seeds: that one), or `--seeds 46,61` (these). */
export function parseSeeds(v: string | undefined, paper: readonly number[]): number[] | undefined {
  if (v === undefined) return undefined;
  const parts = list(v)!;
  const nums = parts.map(Number);
  if (parts.length === 0 || nums.some((n) => !Number.isInteger(n) || n < 0)) {
    throw new UsageError(`bsa-tnp experiment: --seeds expects a count (e.g. 2) or a comma-separated list of seeds (e.g. 46,61), got '${v}'`);
  }
  if (parts.length === 1 && !v.includes(',')) {
    // A single paper seed (46, 61, …) is that seed: no count that large exists, and running one seed
    // of a protocol per process is how a run is spread over processes or machines.
    if (nums[0]! > paper.length && paper.includes(nums[0]!)) return [nums[0]!];
    if (nums[0]! < 1 || nums[0]! > paper.length) throw new UsageError(`bsa-tnp experiment: --seeds N takes 1 to ${paper.length} of the paper's seeds (${paper.join(', ')}), got ${v}; list seeds with commas for others`);
    return paper.slice(0, nums[0]!);
  }
  return nums;
}

async function run(args: ParsedArgs, ctx: CliContext): Promise<number> {
  const cmd = 'experiment';
  const name = args.positionals[0];
  if (name === undefined) throw new UsageError(`bsa-tnp experiment: missing the experiment name; expected one of ${EXPERIMENT_NAMES.join(', ')}`);
  let exp;
  try {
    exp = experimentByName(name);
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(`bsa-tnp experiment: ${e.detail}`);
    throw e;
  }
  const out = path.resolve(ctx.cwd, str(args, 'out') ?? 'experiments');
  const steps = str(args, 'steps') === undefined ? undefined : intOption(args, 'steps', cmd, 1);
  const batches = str(args, 'batches') === undefined ? undefined : intOption(args, 'batches', cmd, 1);
  const stopAfter = num(args, 'stop-after', cmd);
  const lr = num(args, 'lr', cmd);
  if (lr !== undefined && lr >= 1) throw new UsageError(`bsa-tnp experiment: --lr expected a number in (0, 1), got ${str(args, 'lr')}`);
  const seeds = parseSeeds(str(args, 'seeds'), [46, 61, 69, 79, 91]);
  const models = list(str(args, 'models'));
  const variants = list(str(args, 'variants'));
  let taskOptions: Record<string, unknown> | undefined;
  const to = str(args, 'task-options');
  if (to !== undefined) {
    let o: unknown;
    try {
      o = JSON.parse(to);
    } catch (e) {
      throw new UsageError(`bsa-tnp experiment: --task-options is not valid JSON (${(e as Error).message})`);
    }
    if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new UsageError(`bsa-tnp experiment: --task-options must be a JSON object, got ${to}`);
    taskOptions = o as Record<string, unknown>;
  }
  const threads = str(args, 'threads') === undefined ? undefined : intOption(args, 'threads', cmd, 1);
  const handle = await createBackend(parseBackendName(args.values.backend ?? args.values.device, cmd), cmd, threads);
  const sink = ctx.stderr;
  try {
    const results = await runExperiment(exp, {
      out, backend: handle.backend, dataWorkers: dataWorkersOption(args, cmd, handle.backend.kind),
      ...(steps !== undefined ? { steps } : {}), ...(batches !== undefined ? { batches } : {}), ...(lr !== undefined ? { lr } : {}), ...(stopAfter !== undefined ? { stopAfter } : {}),
      ...(seeds ? { seeds } : {}), ...(taskOptions ? { taskOptions } : {}), ...(models ? { models } : {}), ...(variants ? { variants } : {}),
      onEvent: (e) => {
        if (e.type === 'cell') sink.write(`${JSON.stringify({ event: 'cell', model: e.model, seed: e.seed, phase: e.phase, ...(e.detail ? { detail: e.detail } : {}) })}\n`);
        else if (e.type === 'variant') sink.write(`${JSON.stringify({ event: 'variant', model: e.model, seed: e.seed, variant: e.variant, ...e.result })}\n`);
        else if (e.event.type === 'loss') sink.write(`${JSON.stringify({ event: 'loss', model: e.model, seed: e.seed, step: e.event.step, steps: e.event.steps, loss: e.event.loss })}\n`);
      },
    });
    const dir = path.join(out, exp.name);
    ctx.stdout.write(`${JSON.stringify({ event: 'experiment_done', experiment: exp.name, cells: results.cells.length, ...(results.stopped ? { stopped: true } : {}),
      failed: results.cells.filter((c) => c.status !== 'ok').length, results: path.join(dir, 'results.json'), table: path.join(dir, 'results.md') })}\n`);
    return EXIT_OK;
  } catch (e) {
    if (e instanceof ConfigError) throw new CliError(`${cmd}: ${e.message}`);
    throw explainBackendError(e, handle, cmd);
  } finally {
    handle.dispose();
  }
}

export const experimentCommand: CommandSpec = {
  name: 'experiment',
  summary: 'Run one of the paper\'s synthetic experiments: train and evaluate every model × seed, write the table.',
  positionals: { names: ['<name>'], min: 1, max: 1 },
  description: `
Trains every model × seed cell of an experiment with the paper's recipe (experiments.md §1), then
evaluates it on each evaluation variant, and writes OUT/NAME/results.json and OUT/NAME/results.md
(mean ± standard error over seeds of NLL, RMSE, MAE, coverage and runtime). Cells already done are
skipped; an interrupted cell resumes from its checkpoint. Flags override the protocol, e.g. for a
quick run on a CPU.

Experiments: ${EXPERIMENTS.map((e) => `${e.name} (${e.models.join(', ')})`).join('; ')}.

Example:
  bsa-tnp experiment gp2d --models bsa-tnp,tnp-d,te-tnp,convcnp --seeds 1 --steps 5 --batches 2
  bsa-tnp experiment sir-sizes --models bsa-tnp --variants 128²,256² --backend webgpu`,
  options: {
    out: { type: 'string', short: 'o', value: 'FOLDER', description: 'output folder', default: 'experiments' },
    steps: { type: 'string', value: 'N', description: 'training steps per cell (default: the paper\'s)' },
    seeds: { type: 'string', value: 'N|S1,S2', description: 'the first N of the paper\'s seeds 46,61,69,79,91, or a list (default: all 5)' },
    models: { type: 'string', value: 'M1,M2', description: 'models to compare (default: the experiment\'s)' },
    batches: { type: 'string', value: 'N', description: 'test batches per evaluation variant (default: the paper\'s)' },
    'stop-after': { type: 'string', value: 'SECONDS', description: 'end this call after SECONDS: the cell in training stops with a checkpoint, later cells wait; the same command again resumes' },
    lr: { type: 'string', value: 'LR', description: 'peak learning rate of every cell (default: the recipe\'s); stated in the table' },
    variants: { type: 'string', value: 'V1,V2', description: 'evaluation variants by label (default: all)' },
    'task-options': { type: 'string', value: 'JSON', description: 'options merged into the training task and every variant, e.g. \'{"ncMax":16,"nt":16}\' for a quick run' },
    backend: { type: 'string', value: 'cpu|webgpu', description: 'compute backend', default: 'cpu' },
    device: { type: 'string', value: 'cpu|webgpu', description: 'compute backend (same as --backend)' },
    threads: { type: 'string', value: 'N', description: 'CPU threads for matmul (default: all cores, at most 8)' },
    'data-workers': { type: 'string', value: 'N|auto', description: 'threads generating training batches ahead (auto: cores − 1 on webgpu, 0 on cpu)', default: 'auto' },
  },
  run,
};
