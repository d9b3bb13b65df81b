/**
 * Naive baselines for the real-data experiments (docs/real-data.md), as CV models:
 * - climatology: each station's mean over the context (training) rows, std from that station's
 *   residuals (pooled over all stations when a station has fewer than 2 rows; a station absent
 *   from the context gets the overall mean and std);
 * - persistence: the value at the same station one time step earlier (`step`, in the time
 *   column's units: days for ISO dates), std = RMS of one-step changes over the context; where the
 *   previous value is missing it falls back to climatology.
 * With a log / log1p transform both work on log(y + shift) and return a log-normal predictive.
 * No Node built-ins.
 */
import { type Table, getColumn, numericColumn } from '../data/table.js';
import type { CvModel } from './cv.js';
import { type GpTransform, numbers } from './gp-table.js';
import type { Predictive } from './predictive.js';

export interface NaiveColumns {
  station: string;
  t: string;
  f: string;
  transform?: GpTransform;
}

function shiftOf(tr: GpTransform | undefined): number | undefined {
  return tr === 'log' ? 0 : tr === 'log1p' ? 1 : undefined;
}

function keys(table: Table, col: string): string[] {
  const c = getColumn(table, col, 'naive baseline');
  return Array.from({ length: table.rows }, (_, i) => String(c.values[i] ?? ''));
}

function values(table: Table, cols: NaiveColumns): Float64Array {
  const y = numericColumn(table, cols.f, 'naive baseline');
  const shift = shiftOf(cols.transform);
  return shift === undefined ? y : y.map((v) => Math.log(v + shift));
}

interface Clim { mean: Map<string, number>; std: Map<string, number>; all: { mean: number; std: number } }

function climatology(context: Table, cols: NaiveColumns): Clim {
  const st = keys(context, cols.station);
  const y = values(context, cols);
  const sum = new Map<string, { n: number; s: number; ss: number }>();
  let n = 0; let s = 0; let ss = 0;
  y.forEach((v, i) => {
    if (!Number.isFinite(v)) return;
    const a = sum.get(st[i]!) ?? { n: 0, s: 0, ss: 0 };
    a.n++; a.s += v; a.ss += v * v;
    sum.set(st[i]!, a);
    n++; s += v; ss += v * v;
  });
  const allMean = s / n;
  const allStd = Math.sqrt(Math.max(ss / n - allMean * allMean, 0));
  // pooled within-station residual variance, for stations with too few rows
  let rn = 0; let rss = 0;
  for (const a of sum.values()) { rn += a.n; rss += a.ss - a.s * a.s / a.n; }
  const pooled = Math.sqrt(Math.max(rss / Math.max(rn - sum.size, 1), 1e-12));
  const mean = new Map<string, number>();
  const std = new Map<string, number>();
  for (const [k, a] of sum) {
    const m = a.s / a.n;
    mean.set(k, m);
    std.set(k, a.n >= 2 ? Math.sqrt(Math.max((a.ss - a.n * m * m) / (a.n - 1), 1e-12)) : pooled);
  }
  return { mean, std, all: { mean: allMean, std: allStd } };
}

function wrap(mean: Float64Array, std: Float64Array, tr: GpTransform | undefined): Predictive {
  const shift = shiftOf(tr);
  return shift === undefined ? { mean, std } : { mean, std, logShift: shift };
}

/** Station climatology (see the file comment). */
export function climatologyModel(cols: NaiveColumns): CvModel {
  return async (context, targets) => {
    const c = climatology(context, cols);
    const st = keys(targets, cols.station);
    return wrap(Float64Array.from(st, (k) => c.mean.get(k) ?? c.all.mean), Float64Array.from(st, (k) => c.std.get(k) ?? c.all.std), cols.transform);
  };
}

/** Persistence at lag `step` (see the file comment). */
export function persistenceModel(cols: NaiveColumns, step = 1): CvModel {
  return async (context, targets) => {
    const st = keys(context, cols.station);
    const t = numbers(context, cols.t, true, 'context');
    const y = values(context, cols);
    const at = new Map<string, number>();
    y.forEach((v, i) => { if (Number.isFinite(v) && Number.isFinite(t[i]!)) at.set(`${st[i]}|${t[i]}`, v); });
    let n = 0; let ss = 0;
    y.forEach((v, i) => {
      const prev = at.get(`${st[i]}|${t[i]! - step}`);
      if (Number.isFinite(v) && prev !== undefined) { n++; ss += (v - prev) ** 2; }
    });
    const clim = climatology(context, cols);
    const std = n > 0 ? Math.sqrt(ss / n) : clim.all.std;
    const tst = keys(targets, cols.station);
    const tt = numbers(targets, cols.t, true, 'targets');
    const mean = new Float64Array(targets.rows);
    const sd = new Float64Array(targets.rows);
    tst.forEach((k, i) => {
      const prev = at.get(`${k}|${tt[i]! - step}`);
      if (prev !== undefined) { mean[i] = prev; sd[i] = std; } else {
        mean[i] = clim.mean.get(k) ?? clim.all.mean;
        sd[i] = clim.std.get(k) ?? clim.all.std;
      }
    });
    return wrap(mean, sd, cols.transform);
  };
}
