/**
 * Task names of a training configuration (`train.task = { name, options }`) → seeded batch
 * generators. GP tasks only for now (experiments.md §2–§4); other generators exist in src/data and
 * can be added here.
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
 */
import type { TaskGenerator } from '../data/batch.js';
import { GP_1D, GP_2D, gpTask, type GpTaskConfig } from '../data/tasks.js';
import { MULTISCALE_2D } from '../data/multiscale.js';
import { CHOLESKY_TILE } from '../data/cholesky-js.js';
import { ConfigError, boolean, numberIn, object, oneOf, positiveInt, nonNegativeInt } from '../models/config-checks.js';
import type { TaskConfig } from '../models/config.js';

export const TASK_NAMES = ['gp1d', 'gp2d', 'gp2d-shifted', 'gp2d-scaled', 'multiscale'] as const;
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
  const base: GpTaskConfig = task.name === 'gp1d' ? GP_1D : task.name === 'multiscale' ? MULTISCALE_2D : GP_2D;
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
  if (sampling === 'marginal' && ncMax < needed && ncMax % CHOLESKY_TILE !== 0) {
    throw new ConfigError(`${path}.options.sampling`, `'marginal' needs ncMax a multiple of ${CHOLESKY_TILE}, got ${ncMax}`);
  }
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

/**
 * A generator for a task configuration. `gp2d-shifted` / `gp2d-scaled` given directly are the
 * `gp2d` options plus the variant.
 */
export function resolveTask(task: TaskConfig, batch: number, path = 'train.task'): { generator: TaskGenerator; config: GpTaskConfig } {
  if (!(TASK_NAMES as readonly string[]).includes(task.name)) {
    throw new ConfigError(`${path}.name`, `unknown task '${task.name}'; expected one of ${TASK_NAMES.join(', ')}`);
  }
  const name = task.name as TaskName;
  let config = gpTaskConfig(name === 'gp2d-shifted' || name === 'gp2d-scaled' ? { ...task, name: 'gp2d' } : task, batch, path);
  if (name === 'gp2d-shifted') config = evalVariant(config, 'shifted');
  if (name === 'gp2d-scaled') config = evalVariant(config, 'scaled');
  return { generator: gpTask(config), config };
}
