/**
 * Task names of a training configuration (`train.task = { name, options }`) → seeded batch
 * generators: the GP tasks (experiments.md §2–§4), the gp-mixture prior task (issue 17,
 * task-mixture.ts) and the evaluation-only GP variants gp-smooth and gp-noisy.
 *
 * GP options (all optional, validated): `ncMin`, `ncMax` (context count in [ncMin, ncMax)), `nt`
 * (test points), `locations` (L, default ncMax + nt rounded up to the preset's), `lo`, `hi`
 * (box corners, one number per dimension or one number for all), `noiseStd`, `testIncludesContext`,
 * `sampling` ('joint' or 'marginal': test points drawn one by one given the context slots, the same
 * expected loss and metrics at about a quarter of the data cost on the 2-D task; see data/tasks.ts).
 *
 * Evaluation variants derive from the options the model was trained with, as in the paper:
 * `gp2d-shifted` moves the box by +10 in every dimension ([−2, 2]² → [8, 12]²); `gp2d-scaled`
 * doubles the box about its centre and multiplies every count by 4 (same density of points).
 * `gp-smooth` is the 2-D task with ℓ = 4 fixed: 4× the largest lengthscale of the 2-D task's
 * prior (ℓ ~ Beta(3, 7) has support (0, 1)), a field that is nearly a plane over [−2, 2]².
 * `gp-noisy` is the 2-D task with noise std 0.5 on the context values (the oracle uses the same).
 * A model with a time group can be evaluated on a task without time (`withConstantTime`): all
 * points then share t = 0, under which a separable space-time GP is exactly the spatial GP.
 */
import type { Batch, GroupGenerator, TaskGenerator } from '../data/batch.js';
import { GP_1D, GP_2D, GP_2D_NOISY, GP_2D_SMOOTH, gpTask, type GpTaskConfig } from '../data/tasks.js';
import { gpMixtureTask, type GpMixtureConfig } from '../data/gp-mixture.js';
import { gneitingTask } from '../data/gneiting.js';
import { sirTask, SIR_CLASSES, type SirTaskConfig } from '../data/sir.js';
import { rotateLonLat, SO3_GP, type SphereRotation } from '../data/sphere.js';
import { gpMixtureConfig } from './task-mixture.js';
import { gneitingConfig, SIR_TASK_NAMES, sirConfig, type GneitingTaskConfig } from './task-others.js';
import { MULTISCALE_2D } from '../data/multiscale.js';
import { CHOLESKY_TILE } from '../data/cholesky-js.js';
import { ConfigError, boolean, numberIn, object, oneOf, positiveInt, nonNegativeInt } from '../models/config-checks.js';
import type { OutputConfig, TaskConfig } from '../models/config.js';

export const SO3_TASK_NAMES = ['so3', 'so3-rot-60-30-0', 'so3-rot-60-30-20'] as const;
export const TASK_NAMES = ['gp1d', 'gp2d', 'gp2d-shifted', 'gp2d-scaled', 'gp-smooth', 'gp-noisy', 'multiscale', 'gp-mixture',
  ...SO3_TASK_NAMES, ...SIR_TASK_NAMES, 'gneiting'] as const;
export type TaskName = (typeof TASK_NAMES)[number];

const GP_OPTIONS = ['ncMin', 'ncMax', 'nt', 'locations', 'lo', 'hi', 'noiseStd', 'testIncludesContext', 'sampling'] as const;

function box(v: unknown, path: string, dim: number, fallback: readonly number[]): number[] {
  if (v === undefined) return [...fallback];
  if (typeof v === 'number') return Array.from({ length: dim }, () => numberIn(v, path, -1e9, 1e9));
  if (!Array.isArray(v) || v.length !== dim) throw new ConfigError(path, `expected a number or ${dim} numbers, got ${JSON.stringify(v)}`);
  return v.map((x, i) => numberIn(x, `${path}[${i}]`, -1e9, 1e9));
}

/** The GP task configuration for a task name, options and batch size (before any eval variant). */
export function gpTaskConfig(task: TaskConfig, batch: number, path = 'train.task'): GpTaskConfig {
  const base: GpTaskConfig = task.name === 'gp1d' ? GP_1D : task.name === 'multiscale' ? MULTISCALE_2D
    : task.name === 'gp-smooth' ? GP_2D_SMOOTH : task.name === 'gp-noisy' ? GP_2D_NOISY
      : task.name.startsWith('so3') ? SO3_GP : GP_2D;
  const o = object(task.options, `${path}.options`, GP_OPTIONS);
  const dim = base.regions[0]!.lo.length;
  const ncMax = positiveInt(o.ncMax ?? base.ncMax, `${path}.options.ncMax`);
  const ncMin = nonNegativeInt(o.ncMin ?? Math.min(base.ncMin, ncMax), `${path}.options.ncMin`);
  if (ncMin > ncMax) throw new ConfigError(`${path}.options.ncMin`, `expected ncMin ≤ ncMax (${ncMax}), got ${ncMin}`);
  const nt = positiveInt(o.nt ?? base.nt, `${path}.options.nt`);
  const testIncludesContext = boolean(o.testIncludesContext ?? base.testIncludesContext, `${path}.options.testIncludesContext`);
  const needed = testIncludesContext ? Math.max(ncMax, nt) : ncMax + nt;
  const baseL = base.regions.reduce((n, r) => n + r.count, 0);
  const touched = o.ncMax !== undefined || o.nt !== undefined;
  const locations = positiveInt(o.locations ?? (touched ? needed : baseL), `${path}.options.locations`);
  if (locations < needed) {
    throw new ConfigError(`${path}.options.locations`, `needs at least ncMax + nt = ${needed} locations, got ${locations}`);
  }
  const noiseStd = numberIn(o.noiseStd ?? base.noiseStd, `${path}.options.noiseStd`, 0, 1e6);
  let regions = base.regions;
  if (o.lo !== undefined || o.hi !== undefined || locations !== baseL) {
    if (base.regions.length !== 1 && (o.lo !== undefined || o.hi !== undefined)) {
      throw new ConfigError(`${path}.options`, `'${task.name}' has ${base.regions.length} regions; lo/hi cannot be set`);
    }
    if (base.regions.length === 1) {
      const lo = box(o.lo, `${path}.options.lo`, dim, base.regions[0]!.lo);
      const hi = box(o.hi, `${path}.options.hi`, dim, base.regions[0]!.hi);
      lo.forEach((l, d) => { if (!(hi[d]! > l)) throw new ConfigError(`${path}.options.hi`, `expected hi > lo in every dimension, got lo ${JSON.stringify(lo)}, hi ${JSON.stringify(hi)}`); });
      regions = [{ lo, hi, count: locations }];
    } else {
      const scale = locations / baseL;
      regions = base.regions.map((r) => ({ ...r, count: Math.ceil(r.count * scale) }));
    }
  }
  const sampling = oneOf(o.sampling ?? 'joint', `${path}.options.sampling`, ['joint', 'marginal'] as const);
  return { ...base, regions, ncMin, ncMax, nt, batch, noiseStd, testIncludesContext, sampling };
}

/** The shifted / scaled evaluation variant of a trained GP task (see the file comment). */
export function evalVariant(cfg: GpTaskConfig, variant: 'shifted' | 'scaled'): GpTaskConfig {
  if (variant === 'shifted') {
    return { ...cfg, regions: cfg.regions.map((r) => ({ ...r, lo: r.lo.map((x) => x + 10), hi: r.hi.map((x) => x + 10) })) };
  }
  return {
    ...cfg,
    regions: cfg.regions.map((r) => {
      const c = r.lo.map((l, d) => (l + r.hi[d]!) / 2);
      return { lo: r.lo.map((l, d) => c[d]! + 2 * (l - c[d]!)), hi: r.hi.map((h, d) => c[d]! + 2 * (h - c[d]!)), count: r.count * 4 };
    }),
    ncMin: cfg.ncMin * 4, ncMax: cfg.ncMax * 4, nt: cfg.nt * 4,
  };
}

/** What a model needs of a task (models/registry.ts `TaskShape`): group dims, output, s-domain. */
export interface TaskShape {
  dims: { x?: number; s: number; t?: number };
  output: OutputConfig;
  domain: { lo: number[]; hi: number[] };
}

/** A resolved task: its generators, its configuration by kind, and its shape. */
export interface ResolvedTask {
  /** One batch per key (for multi-batch tasks such as SIR: the first batch of the key's group). */
  generator: TaskGenerator;
  /** One batch or a group of batches per key: what training and evaluation stream (`BatchStream`). */
  groups: GroupGenerator;
  /** The GP task configuration (gp1d, gp2d*, gp-smooth, gp-noisy, multiscale, so3*), else null. */
  config: GpTaskConfig | null;
  /** The gp-mixture configuration, else null. */
  mixture: GpMixtureConfig | null;
  /** The SIR configuration, else null. */
  sir: SirTaskConfig | null;
  /** The Gneiting configuration, else null. */
  gneiting: GneitingTaskConfig | null;
  shape: TaskShape;
}

const GAUSSIAN: OutputConfig = { kind: 'gaussian', dims: 1, minStd: 0 };

/** Rotation (north, east, tilt) of an `so3-rot-N-E-T` task name. */
export function so3Rotation(name: string): SphereRotation | null {
  const m = name.match(/^so3-rot-(\d+)-(\d+)-(\d+)$/);
  return m ? { north: Number(m[1]), east: Number(m[2]), tilt: Number(m[3]) } : null;
}

function single(generator: TaskGenerator): { generator: TaskGenerator; groups: GroupGenerator } {
  return { generator, groups: generator };
}

/**
 * The generators of a task configuration. `gp2d-shifted` / `gp2d-scaled` given directly are the
 * `gp2d` options plus the variant; `sir-*` and `so3-rot-*` are presets with the options on top.
 */
export function resolveTask(task: TaskConfig, batch: number, path = 'train.task'): ResolvedTask {
  if (!(TASK_NAMES as readonly string[]).includes(task.name)) {
    throw new ConfigError(`${path}.name`, `unknown task '${task.name}'; expected one of ${TASK_NAMES.join(', ')}`);
  }
  const name = task.name as TaskName;
  const none = { config: null, mixture: null, sir: null, gneiting: null };
  if (name === 'gp-mixture') {
    const mixture = gpMixtureConfig(task, batch, path);
    return { ...single(gpMixtureTask(mixture)), ...none, mixture,
      shape: { dims: { s: 2, t: 1 }, output: GAUSSIAN, domain: { lo: [...mixture.lo], hi: [...mixture.hi] } } };
  }
  if ((SIR_TASK_NAMES as readonly string[]).includes(name)) {
    const sir = sirConfig(task, batch, path);
    const groups = sirTask(sir);
    return { generator: (rng) => groups(rng)[0]!, groups, ...none, sir,
      shape: { dims: { s: 2 }, output: { kind: 'categorical', classes: SIR_CLASSES }, domain: { lo: [sir.lo, sir.lo], hi: [sir.hi, sir.hi] } } };
  }
  if (name === 'gneiting') {
    const g = gneitingConfig(task, batch, path);
    const c = g.gneiting;
    return { ...single(gneitingTask(c, g.covariate)), ...none, gneiting: g,
      // experiments.md §8: minimum predictive std 0.05.
      shape: { dims: { ...(g.covariate ? { x: 1 } : {}), s: 2, t: 1 }, output: { kind: 'gaussian', dims: 1, minStd: 0.05 }, domain: { lo: [c.lo, c.lo], hi: [c.hi, c.hi] } } };
  }
  const rotation = so3Rotation(name);
  let config = gpTaskConfig(name === 'gp2d-shifted' || name === 'gp2d-scaled' ? { ...task, name: 'gp2d' } : task, batch, path);
  if (name === 'gp2d-shifted') config = evalVariant(config, 'shifted');
  if (name === 'gp2d-scaled') config = evalVariant(config, 'scaled');
  if (rotation) config = { ...config, mapLocations: (locs, n) => rotateLonLat(locs, n, rotation) };
  // Checked after the variant, which may scale ncMax (gp2d-scaled: ×4).
  const needed = config.testIncludesContext ? Math.max(config.ncMax, config.nt) : config.ncMax + config.nt;
  if (config.sampling === 'marginal' && config.ncMax < needed && config.ncMax % CHOLESKY_TILE !== 0) {
    throw new ConfigError(`${path}.options.sampling`, `'marginal' needs ncMax a multiple of ${CHOLESKY_TILE}, got ${config.ncMax}`);
  }
  const D = config.regions[0]!.lo.length;
  const domain = {
    lo: Array.from({ length: D }, (_, d) => Math.min(...config.regions.map((r) => r.lo[d]!))),
    hi: Array.from({ length: D }, (_, d) => Math.max(...config.regions.map((r) => r.hi[d]!))),
  };
  if (rotation) { domain.lo = [-180, -90]; domain.hi = [180, 90]; }
  return { ...single(gpTask(config)), ...none, config, shape: { dims: { s: D }, output: GAUSSIAN, domain } };
}

/** The GP task configuration of a task, or a `ConfigError` if it is not one of the single-GP tasks. */
export function resolveGpTask(task: TaskConfig, batch: number, path = 'train.task'): GpTaskConfig {
  const r = resolveTask(task, batch, path);
  if (r.config === null) throw new ConfigError(`${path}.name`, `'${task.name}' is not a single-GP task; expected one of gp1d, gp2d, gp-smooth, gp-noisy, multiscale`);
  return r.config;
}

/**
 * A batch without time (Dt = 0) given `dt` time coordinates equal to 0 at every context and test
 * point: how a model with a time group is scored on a spatial task. A batch with time is returned
 * unchanged. Shares the other arrays with `b`.
 */
export function withZeroTime(b: Batch, dt: number): Batch {
  if (b.dims.Dt > 0 || dt === 0) return b;
  return { ...b, dims: { ...b.dims, Dt: dt }, t_ctx: new Float32Array(b.B * b.Nc * dt), t_test: new Float32Array(b.B * b.Nt * dt) };
}
