/**
 * Options of the `gp-mixture` training task (data/gp-mixture.ts, issue 17): JSON → a validated
 * `GpMixtureConfig`. Every option is optional; the defaults are `GP_MIXTURE` (documented there).
 *
 * Options: `ncMin`, `ncMax`, `nt`, `lo`, `hi` (space box: one number for both axes, or two),
 * `tMax`, and the log-uniform ranges `lengthscaleS`, `lengthscaleT`, `variance`, `noiseStd` (each
 * [lo, hi], or one number for a fixed value), `families` (a subset of "rbf", "matern12",
 * "matern32", "matern52"), `sliceProbability`, `maxSlices`, `noisyTest`.
 */
import { GP_MIXTURE, type GpMixtureConfig } from '../data/gp-mixture.js';
import type { SeparableFamily } from '../data/kernels.js';
import { ConfigError, boolean, nonNegativeInt, numberIn, object, oneOf, positiveInt } from '../models/config-checks.js';
import type { TaskConfig } from '../models/config.js';

const OPTIONS = ['ncMin', 'ncMax', 'nt', 'lo', 'hi', 'tMax', 'lengthscaleS', 'lengthscaleT', 'variance', 'noiseStd',
  'families', 'sliceProbability', 'maxSlices', 'noisyTest'] as const;

/** User-facing family names → kernel kinds (Matérn 1/2 is the exponential kernel). */
const FAMILY_NAMES = { rbf: 'rbf', matern12: 'exponential', matern32: 'matern32', matern52: 'matern52' } as const satisfies Record<string, SeparableFamily>;

function range(v: unknown, path: string, fallback: readonly [number, number]): [number, number] {
  if (v === undefined) return [fallback[0], fallback[1]];
  if (typeof v === 'number') {
    const x = numberIn(v, path, 0, 1e9, { lo: true });
    return [x, x];
  }
  if (!Array.isArray(v) || v.length !== 2) throw new ConfigError(path, `expected [lo, hi] (log-uniform) or one number, got ${JSON.stringify(v)}`);
  const lo = numberIn(v[0], `${path}[0]`, 0, 1e9, { lo: true });
  const hi = numberIn(v[1], `${path}[1]`, 0, 1e9, { lo: true });
  if (hi < lo) throw new ConfigError(path, `expected lo ≤ hi, got [${lo}, ${hi}]`);
  return [lo, hi];
}

function corner(v: unknown, path: string, fallback: readonly number[]): number[] {
  if (v === undefined) return [...fallback];
  if (typeof v === 'number') return [numberIn(v, path, -1e9, 1e9), numberIn(v, path, -1e9, 1e9)];
  if (!Array.isArray(v) || v.length !== 2) throw new ConfigError(path, `expected a number or 2 numbers, got ${JSON.stringify(v)}`);
  return v.map((x, i) => numberIn(x, `${path}[${i}]`, -1e9, 1e9));
}

/** The gp-mixture configuration for a task's options and a batch size. */
export function gpMixtureConfig(task: TaskConfig, batch: number, path = 'train.task'): GpMixtureConfig {
  const p = `${path}.options`;
  const o = object(task.options, p, OPTIONS);
  const d: GpMixtureConfig = GP_MIXTURE;
  const ncMax = positiveInt(o.ncMax ?? d.ncMax, `${p}.ncMax`);
  const ncMin = nonNegativeInt(o.ncMin ?? Math.min(d.ncMin, ncMax), `${p}.ncMin`);
  if (ncMin > ncMax) throw new ConfigError(`${p}.ncMin`, `expected ncMin ≤ ncMax (${ncMax}), got ${ncMin}`);
  const lo = corner(o.lo, `${p}.lo`, d.lo);
  const hi = corner(o.hi, `${p}.hi`, d.hi);
  if (!(hi[0]! > lo[0]! && hi[1]! > lo[1]!)) throw new ConfigError(`${p}.hi`, `expected hi > lo on both axes, got lo ${JSON.stringify(lo)}, hi ${JSON.stringify(hi)}`);
  let families: SeparableFamily[] = [...d.families];
  if (o.families !== undefined) {
    if (!Array.isArray(o.families) || o.families.length === 0) throw new ConfigError(`${p}.families`, `expected a non-empty array of ${Object.keys(FAMILY_NAMES).join(', ')}, got ${JSON.stringify(o.families)}`);
    families = o.families.map((f, i) => FAMILY_NAMES[oneOf(f, `${p}.families[${i}]`, Object.keys(FAMILY_NAMES) as (keyof typeof FAMILY_NAMES)[])]);
  }
  return {
    lo, hi, tMax: numberIn(o.tMax ?? d.tMax, `${p}.tMax`, 0, 1e9),
    ncMin, ncMax, nt: positiveInt(o.nt ?? d.nt, `${p}.nt`), batch,
    lengthscaleS: range(o.lengthscaleS, `${p}.lengthscaleS`, d.lengthscaleS),
    lengthscaleT: range(o.lengthscaleT, `${p}.lengthscaleT`, d.lengthscaleT),
    variance: range(o.variance, `${p}.variance`, d.variance),
    noiseStd: range(o.noiseStd, `${p}.noiseStd`, d.noiseStd),
    families,
    sliceProbability: numberIn(o.sliceProbability ?? d.sliceProbability, `${p}.sliceProbability`, 0, 1),
    maxSlices: positiveInt(o.maxSlices ?? d.maxSlices, `${p}.maxSlices`),
    noisyTest: boolean(o.noisyTest ?? d.noisyTest, `${p}.noisyTest`),
    relativeJitter: d.relativeJitter,
  };
}
