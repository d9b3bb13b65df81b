/**
 * `bsa-tnp demo`: the shipped 2-D GP checkpoint (models/demo-gp2d/) end to end. Samples one GP
 * field from the checkpoint's own training task (config.json `training.task`), observes a few
 * hundred noisy points, predicts a 128×128 grid, writes truth/mean/std PNGs, and scores the model
 * against the exact GP posterior under the true hyper-parameters (the oracle).
 *
 * The field is drawn on the grid exactly and cheaply: an RBF kernel on a regular grid is
 * separable, K = σ²·Ky ⊗ Kx, so F = σ·Ly Z Lxᵀ with two 128×128 Cholesky factors (a joint draw
 * over 16,384 points would need a 16,384² factorisation). Observations are distinct grid cells
 * plus N(0, noise²); the oracle conditions on them with one n×n solve and matrix products.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '../../engine/random.js';
import { choleskyInPlace } from '../../data/cholesky.js';
import { choose } from '../../data/distributions.js';
import { sampleKernel } from '../../data/gp.js';
import { gpPosterior } from '../../data/gp-posterior.js';
import type { KernelSpec } from '../../data/kernels.js';
import { gaussianMetrics, type GaussianMetrics } from '../../data/metrics.js';
import type { GpTaskConfig } from '../../data/tasks.js';
import { DEFAULT_TRAIN_CONFIG, type TaskConfig } from '../../models/config.js';
import { ConfigError } from '../../models/config-checks.js';
import { resolveGpTask } from '../../train/tasks.js';
import { type CliContext, CliError, type CommandSpec, EXIT_OK, type ParsedArgs, UsageError } from '../args.js';
import { writeCsv } from '../../io/csv.js';
import { type GridBounds, gridCell, makeGrid } from '../../api/grid.js';
import { renderField, writePng } from '../../io/png.js';
import { hconcat, renderMap, writeCanvasPng } from '../../io/png-maps.js';
import { gridTargets, streamPredictions } from '../../api/predict-stream.js';
import { type Predictor, type Prediction } from '../../api/predictor.js';
import { createBackend, explainBackendError, loadPredictor, parseBackendName } from '../../api/load-node.js';
import { intOption, pngScale } from './predict.js';

/** The shipped checkpoint, relative to this file (src/cli/commands → repository root). */
export const DEMO_MODEL_DIR = fileURLToPath(new URL('../../../models/demo-gp2d/', import.meta.url));
const GRID_SIDE = 128;
const DEFAULT_POINTS = 300;

/** One GP draw on a grid and its noisy observations at distinct grid cells. */
export interface DemoField {
  kernel: KernelSpec;
  bounds: GridBounds;
  side: number;
  /** Latent field [side·side], grid.ts order (row-major, y ascending). */
  truth: Float64Array;
  /** Observed grid cells and their noisy values. */
  cells: Int32Array;
  x: Float64Array;
  y: Float64Array;
  f: Float64Array;
  noiseStd: number;
  jitter: number;
}

/** Bounding box of the task's location regions (the grid spans it). */
export function taskBounds(cfg: GpTaskConfig): GridBounds {
  const lo = [Infinity, Infinity];
  const hi = [-Infinity, -Infinity];
  for (const r of cfg.regions) {
    for (let d = 0; d < 2; d++) {
      lo[d] = Math.min(lo[d]!, r.lo[d]!);
      hi[d] = Math.max(hi[d]!, r.hi[d]!);
    }
  }
  return { x0: lo[0]!, x1: hi[0]!, y0: lo[1]!, y1: hi[1]! };
}

/** Lower Cholesky factor of an RBF Gram matrix (unit variance) on evenly spaced 1-D points. */
function rbfFactor(lo: number, hi: number, n: number, lengthscale: number, jitter: number): Float64Array {
  const a = new Float64Array(n * n);
  const step = n === 1 ? 0 : (hi - lo) / (n - 1);
  const c = -1 / (2 * lengthscale * lengthscale);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) a[i * n + j] = Math.exp(c * ((i - j) * step) ** 2);
  choleskyInPlace(a, n, jitter);
  return a;
}

/**
 * Samples the demo field: hyper-parameters from the task's prior, F = σ·Ly Z Lxᵀ on a side×side
 * grid over the task's box, `points` distinct observed cells with N(0, noise²) noise.
 */
export function sampleDemoField(rng: Rng, cfg: GpTaskConfig, side: number, points: number): DemoField {
  if (cfg.prior.kind !== 'rbf' || cfg.regions[0]!.lo.length !== 2) {
    throw new CliError(`demo: expected a 2-D RBF GP task, the model was trained on a ${cfg.regions[0]!.lo.length}-D ${cfg.prior.kind} task`);
  }
  const rHyp = rng.split(), rField = rng.split(), rCells = rng.split(), rNoise = rng.split();
  const kernel = sampleKernel(rHyp, cfg.prior);
  const bounds = taskBounds(cfg);
  const lx = rbfFactor(bounds.x0, bounds.x1, side, kernel.lengthscale, cfg.jitter);
  const ly = rbfFactor(bounds.y0, bounds.y1, side, kernel.lengthscale, cfg.jitter);
  const z = new Float64Array(side * side);
  for (let i = 0; i < z.length; i++) z[i] = rField.normal();
  // T = Z Lxᵀ (T[r][c] = Σ_k Z[r][k] Lx[c][k]), then F = σ · Ly T.
  const t = new Float64Array(side * side);
  for (let r = 0; r < side; r++) {
    for (let c = 0; c < side; c++) {
      let s = 0;
      for (let k = 0; k <= c; k++) s += z[r * side + k]! * lx[c * side + k]!;
      t[r * side + c] = s;
    }
  }
  const sigma = Math.sqrt(kernel.variance);
  const truth = new Float64Array(side * side);
  for (let r = 0; r < side; r++) {
    for (let k = 0; k <= r; k++) {
      const l = sigma * ly[r * side + k]!;
      for (let c = 0; c < side; c++) truth[r * side + c]! += l * t[k * side + c]!;
    }
  }
  const grid = makeGrid(bounds, { width: side, height: side });
  const cells = choose(rCells, side * side, Math.min(points, side * side));
  const n = cells.length;
  const x = new Float64Array(n), y = new Float64Array(n), f = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const p = cells[i]!;
    x[i] = grid.x[p]!;
    y[i] = grid.y[p]!;
    f[i] = truth[p]! + cfg.noiseStd * rNoise.normal();
  }
  return { kernel, bounds, side, truth, cells, x, y, f, noiseStd: cfg.noiseStd, jitter: cfg.jitter };
}

function round(x: number, digits = 4): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function metricsJson(m: GaussianMetrics): Record<string, number> {
  return { nll: round(m.nll), rmse: round(m.rmse), mae: round(m.mae), coverage95: round(m.coverage) };
}

async function run(args: ParsedArgs, ctx: CliContext): Promise<number> {
  const cmd = 'demo';
  const t0 = performance.now();
  const str = (k: string) => (typeof args.values[k] === 'string' ? (args.values[k] as string) : undefined);
  if (str('backend') !== undefined && str('device') !== undefined) throw new UsageError('bsa-tnp demo: give --backend or --device, not both');
  const outDir = path.resolve(ctx.cwd, str('out') ?? 'demo-out');
  const seed = intOption(args, 'seed', cmd, 1, 0);
  const points = intOption(args, 'points', cmd, DEFAULT_POINTS);
  const backendName = parseBackendName(args.values.backend ?? args.values.device, cmd);
  const modelDir = str('model') !== undefined ? path.resolve(ctx.cwd, str('model')!) : DEMO_MODEL_DIR;
  if (str('model') === undefined && !fs.existsSync(path.join(modelDir, 'config.json'))) {
    throw new CliError(`demo: the shipped demo checkpoint is missing: '${modelDir}' should hold config.json and model.safetensors ` +
      `(a 2-D GP BSA-TNP, see models/demo-gp2d/TRAINING.md). Restore it from the repository, or pass --model DIR with a model trained on the 'gp2d' task`);
  }
  if (fs.existsSync(outDir) && !fs.statSync(outDir).isDirectory()) throw new CliError(`demo: --out '${outDir}' exists and is not a folder`);

  const handle = await createBackend(backendName, cmd);
  let predictor: Predictor | null = null;
  try {
    predictor = loadPredictor(modelDir, handle.backend, cmd);
    const { layout, config } = predictor;
    if (layout.coordinates.length !== 2 || config.data.columns.s.length !== 2 || predictor.valueKind !== 'gaussian' || layout.values.length !== 1) {
      throw new CliError(`demo: the model in '${modelDir}' must take 2 spatial coordinates and predict 1 Gaussian value; it takes ` +
        `${layout.coordinates.join(', ') || 'no coordinates'} and predicts ${predictor.valueKind} ${layout.values.join(', ')}`);
    }
    const task: TaskConfig = config.training?.task ?? DEFAULT_TRAIN_CONFIG.task;
    let taskCfg: GpTaskConfig;
    try {
      taskCfg = resolveGpTask(task, 1, 'config.json.training.task');
    } catch (e) {
      if (e instanceof ConfigError) throw new CliError(`demo: cannot rebuild the model's training task from ${path.join(modelDir, 'config.json')}: ${e.message}`);
      throw e;
    }
    const field = sampleDemoField(Rng.fromSeed(seed), taskCfg, GRID_SIDE, points);
    const side = field.side;
    const n = field.cells.length;

    // Model: encode the observations once, stream the grid through decode (written as a CSV too).
    fs.mkdirSync(outDir, { recursive: true });
    const [sx, sy] = layout.coordinates as [string, string];
    const fName = layout.values[0]!;
    writeCsv(path.join(outDir, 'context.csv'), [sx, sy, fName], [field.x, field.y, field.f]);
    predictor.setContext([field.x, field.y, field.f], n);
    const mean = new Float64Array(side * side);
    const std = new Float64Array(side * side);
    const tModel = performance.now();
    await streamPredictions({
      predictor, targets: gridTargets(field.bounds, { width: side, height: side }, 4096), total: side * side,
      out: path.join(outDir, 'prediction.csv'), progress: ctx.stderr, label: cmd,
      onChunk: (p: Prediction, start: number, m: number) => {
        if (p.kind !== 'gaussian') return;
        mean.set(p.mean[0]!.subarray(0, m), start);
        std.set(p.std[0]!.subarray(0, m), start);
      },
    });
    const modelSeconds = (performance.now() - tModel) / 1000;

    // Oracle: exact posterior under the true kernel and noise.
    const tOracle = performance.now();
    const grid = makeGrid(field.bounds, { width: side, height: side });
    const gridLocs = new Float64Array(2 * side * side);
    for (let i = 0; i < side * side; i++) {
      gridLocs[2 * i] = grid.x[i]!;
      gridLocs[2 * i + 1] = grid.y[i]!;
    }
    const ctxLocs = new Float64Array(2 * n);
    for (let i = 0; i < n; i++) {
      ctxLocs[2 * i] = field.x[i]!;
      ctxLocs[2 * i + 1] = field.y[i]!;
    }
    // One call: gpPosterior bounds its own memory by factorising in chunks of test points.
    const oracle = gpPosterior(field.kernel, ctxLocs, field.f, n, gridLocs, side * side, 2, field.noiseStd, { jitter: field.jitter });
    const oracleSeconds = (performance.now() - tOracle) / 1000;

    const modelMetrics = gaussianMetrics(field.truth, mean, std);
    const oracleMetrics = gaussianMetrics(field.truth, oracle.mean, oracle.std);

    // Pictures: truth and both means share one colour range; std maps share another.
    let lo = Infinity, hi = -Infinity;
    for (const a of [field.truth, mean, oracle.mean]) for (const v of a) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    let sHi = 0;
    for (const a of [std, oracle.std]) for (const v of a) sHi = Math.max(sHi, v);
    const scale = Math.max(3, pngScale(side, side));
    const markers = Array.from(field.cells, (_, i) => gridCell(grid, field.x[i]!, field.y[i]!));
    const valueOpts = { cmap: 'viridis' as const, vmin: lo, vmax: hi, scale };
    const stdOpts = { cmap: 'magma' as const, vmin: 0, vmax: sHi, scale };
    writePng(path.join(outDir, 'truth.png'), renderField(field.truth, side, side, { ...valueOpts, markers, markerRadius: 1.5 }));
    writePng(path.join(outDir, 'mean.png'), renderField(mean, side, side, valueOpts));
    writePng(path.join(outDir, 'std.png'), renderField(std, side, side, stdOpts));
    writePng(path.join(outDir, 'oracle-mean.png'), renderField(oracle.mean, side, side, valueOpts));
    writePng(path.join(outDir, 'oracle-std.png'), renderField(oracle.std, side, side, stdOpts));
    // One figure with axes and colour bars: truth | mean | std, observations marked on truth and std.
    const spec = { ...field.bounds, width: side, height: side };
    const panel = { points: { x: field.x, y: field.y }, pointRadius: 1.4, size: 320 };
    writeCanvasPng(path.join(outDir, 'figure.png'), hconcat([
      renderMap(field.truth, spec, { ...panel, title: 'truth (GP draw)', vmin: lo, vmax: hi }),
      renderMap(mean, spec, { size: panel.size, title: 'BSA-TNP mean', vmin: lo, vmax: hi }),
      renderMap(std, spec, { ...panel, title: 'BSA-TNP std', cmap: 'magma', vmin: 0, vmax: sHi }),
    ], 16));

    const seconds = (performance.now() - t0) / 1000;
    const result = {
      event: 'demo_done', out: outDir, model: modelDir, seed, task: task.name,
      lengthscale: round(field.kernel.lengthscale), noise_std: field.noiseStd, context_points: n, grid: `${side}x${side}`,
      model_metrics: metricsJson(modelMetrics), oracle_metrics: metricsJson(oracleMetrics),
      model_seconds: round(modelSeconds, 3), oracle_seconds: round(oracleSeconds, 3), seconds: round(seconds, 3),
      backend: handle.description,
      files: ['figure.png', 'truth.png', 'mean.png', 'std.png', 'oracle-mean.png', 'oracle-std.png', 'context.csv', 'prediction.csv'],
    };
    if (ctx.stdout.isTTY) {
      const row = (name: string, m: GaussianMetrics) =>
        `  ${name.padEnd(18)}${m.nll.toFixed(3).padStart(9)}${m.rmse.toFixed(4).padStart(9)}${(100 * m.coverage).toFixed(1).padStart(10)}%`;
      ctx.stdout.write([
        `GP draw: RBF, lengthscale ${field.kernel.lengthscale.toFixed(3)} (task '${task.name}'), ${n} noisy observations (noise std ${field.noiseStd}), ` +
        `${side}x${side} grid over [${field.bounds.x0}, ${field.bounds.x1}] x [${field.bounds.y0}, ${field.bounds.y1}], seed ${seed}`,
        '',
        `  ${'scored at the grid'.padEnd(18)}${'NLL'.padStart(9)}${'RMSE'.padStart(9)}${'95% cov.'.padStart(11)}`,
        row('BSA-TNP', modelMetrics),
        row('exact GP (oracle)', oracleMetrics),
        '',
        `model ${modelSeconds.toFixed(1)} s, oracle ${oracleSeconds.toFixed(1)} s, total ${seconds.toFixed(1)} s (${handle.description})`,
        `wrote figure.png (truth | mean | std), truth.png (observations marked), mean.png, std.png, oracle-mean.png, oracle-std.png, context.csv, prediction.csv to ${outDir}`,
        '',
      ].join('\n'));
    }
    ctx.stdout.write(`${JSON.stringify(result)}\n`);
    return EXIT_OK;
  } catch (e) {
    throw explainBackendError(e, handle, cmd);
  } finally {
    predictor?.dispose();
    handle.dispose();
  }
}

export const demoCommand: CommandSpec = {
  name: 'demo',
  summary: 'Predict a sampled 2-D GP field with the shipped checkpoint; write truth/mean/std images and compare with the exact GP.',
  description: `
Loads the shipped checkpoint models/demo-gp2d/ (or --model DIR), samples one GP field from the
task the checkpoint was trained on (config.json 'training.task'; the 2-D GP task of the paper if
none is recorded) on a 128x128 grid, observes --points distinct grid cells with the task's noise,
predicts the whole grid, and scores the model at the grid points (NLL, RMSE, 95% coverage) next
to the exact GP posterior with the true hyper-parameters.

Writes into --out: figure.png (truth | mean | std with axes, colour bars and the observations),
truth.png (observation locations marked), mean.png, std.png, oracle-mean.png,
oracle-std.png (truth and means share one colour range, the std maps another), context.csv and
prediction.csv. Prints a table on a terminal and always a final JSON line on stdout; progress
goes to stderr.

Example:
  bsa-tnp demo --out demo-out --seed 7`,
  options: {
    out: { type: 'string', short: 'o', value: 'FOLDER', description: 'output folder', default: 'demo-out' },
    seed: { type: 'string', value: 'N', description: 'random seed of the GP draw and the observations', default: '1' },
    points: { type: 'string', value: 'N', description: 'number of noisy observations', default: String(DEFAULT_POINTS) },
    model: { type: 'string', short: 'm', value: 'DIR', description: 'model folder to use instead of the shipped models/demo-gp2d/' },
    backend: { type: 'string', value: 'cpu|webgpu', description: 'compute backend', default: 'cpu' },
    device: { type: 'string', value: 'cpu|webgpu', description: 'same as --backend' },
  },
  run,
};
