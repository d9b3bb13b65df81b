/**
 * Options of the non-Gaussian-process-prior tasks of the registry (tasks.ts): the lattice SIR
 * epidemic (experiments.md §6) with its shifted, scaled and size-sweep variants, and the Gneiting
 * space-time task with fixed effects (§8). JSON options → validated generator configurations.
 *
 * SIR options: `size` (cells per axis), `lo`, `hi` (coordinate extent), `T` (frames per
 * simulation), `ncMin`, `ncMax`, `nt`. Variants: `sir` (64², [−2, 2], T 25, Nc [128, 512), Nt 1024),
 * `sir-shifted` ([8, 12]), `sir-scaled` (128², [−4, 4], T 50, Nc [512, 2048), Nt 4096), and the size
 * sweep `sir-128`, `sir-256`, `sir-512`, `sir-1024` (batch 1, every cell a test point; 1024²: exactly
 * 100,000 context points and 1,048,576 test points).
 * Gneiting options: `ncMin` (valid context per frame ~ U{ncMin … 15}), `covariate` (default true:
 * x = the standardised terrain T(s) that the mean function uses, the task's fixed effect).
 */
import { GNEITING_16, type GneitingConfig } from '../data/gneiting.js';
import { SIR_64, SIR_64_SHIFTED, SIR_128_SCALED, sirSweepConfig, type SirTaskConfig } from '../data/sir.js';
import { ConfigError, boolean, nonNegativeInt, numberIn, object, positiveInt } from '../models/config-checks.js';
import type { TaskConfig } from '../models/config.js';

export const SIR_TASK_NAMES = ['sir', 'sir-shifted', 'sir-scaled', 'sir-128', 'sir-256', 'sir-512', 'sir-1024'] as const;
export type SirTaskName = (typeof SIR_TASK_NAMES)[number];

/** The SIR configuration of a task name (a variant preset) with its options on top. */
export function sirConfig(task: TaskConfig, batch: number, path = 'train.task'): SirTaskConfig {
  const p = `${path}.options`;
  const o = object(task.options, p, ['size', 'lo', 'hi', 'T', 'ncMin', 'ncMax', 'nt']);
  const name = task.name as SirTaskName;
  const sweep = name.match(/^sir-(\d+)$/);
  const base: SirTaskConfig = sweep ? sirSweepConfig(Number(sweep[1]) as 128 | 256 | 512 | 1024)
    : name === 'sir-shifted' ? SIR_64_SHIFTED : name === 'sir-scaled' ? SIR_128_SCALED : SIR_64;
  const size = positiveInt(o.size ?? base.size, `${p}.size`);
  const cells = size * size;
  const lo = numberIn(o.lo ?? base.lo, `${p}.lo`, -1e9, 1e9);
  const hi = numberIn(o.hi ?? base.hi, `${p}.hi`, -1e9, 1e9);
  if (!(hi > lo)) throw new ConfigError(`${p}.hi`, `expected hi > lo, got lo ${lo}, hi ${hi}`);
  const ncMax = positiveInt(o.ncMax ?? Math.min(base.ncMax, cells), `${p}.ncMax`);
  const ncMin = nonNegativeInt(o.ncMin ?? Math.min(base.ncMin, ncMax), `${p}.ncMin`);
  if (ncMin > ncMax) throw new ConfigError(`${p}.ncMin`, `expected ncMin ≤ ncMax (${ncMax}), got ${ncMin}`);
  // The sweep tests every cell (128²: 4096 of them, §6): keep that when the size changes.
  const nt = positiveInt(o.nt ?? (sweep && o.size !== undefined ? cells : Math.min(base.nt, cells)), `${p}.nt`);
  if (ncMax > cells || nt > cells) throw new ConfigError(p, `a ${size}×${size} grid has ${cells} cells; got ncMax ${ncMax}, nt ${nt}`);
  // Sweep variants run with batch 1 (§6); the others with the batch size asked for.
  return { size, lo, hi, T: positiveInt(o.T ?? base.T, `${p}.T`), ncMin, ncMax, nt, batch: sweep ? 1 : batch };
}

export interface GneitingTaskConfig {
  gneiting: GneitingConfig;
  /** x = terrain T(s) at every point (Dx = 1). */
  covariate: boolean;
}

export function gneitingConfig(task: TaskConfig, batch: number, path = 'train.task'): GneitingTaskConfig {
  const p = `${path}.options`;
  const o = object(task.options, p, ['ncMin', 'covariate']);
  const ncMin = nonNegativeInt(o.ncMin ?? GNEITING_16.ctxMin, `${p}.ncMin`);
  if (ncMin > GNEITING_16.slotsPerFrame) throw new ConfigError(`${p}.ncMin`, `expected at most ${GNEITING_16.slotsPerFrame} (slots per frame), got ${ncMin}`);
  return { gneiting: { ...GNEITING_16, ctxMin: ncMin, batch }, covariate: boolean(o.covariate ?? true, `${p}.covariate`) };
}
