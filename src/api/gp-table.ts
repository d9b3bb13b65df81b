/**
 * Tables → float64 arrays for the exact GP baseline (data/gp-fit), and the GP as a table model:
 * fit on a context table, predict a target table, return a `Predictive` in data units. Column
 * roles follow the model's schema flags: `s` (space: lon/lat-like names use great-circle distance
 * unless told otherwise), `t` (number or ISO date/time text → days since 1970-01-01 UTC), `x`
 * (numeric covariates, one ARD lengthscale each), `f` (the value; optional log / log1p transform).
 *
 * This is the one adapter between tables and the GP. It reads float64 columns itself instead of the
 * schema encoder (data/schema, float32 model space); `gpDesign` is the function to swap if wanted.
 * No Node built-ins.
 */
import { type Column, type Table, TableError, getColumn } from '../data/table.js';
import { type FittedGp, fitGp, predictGp, type GpFitOptions, type GpPredictOptions } from '../data/gp-fit/fit.js';
import { type GpKernel, type GpKernelKind, type InputGroup } from '../data/gp-fit/kernel.js';
import { parseIsoMs } from '../data/schema/time.js';
import { UserError } from './errors.js';
import type { Predictive } from './predictive.js';

export type GpTransform = 'none' | 'log' | 'log1p';

export interface GpColumns {
  s: readonly string[];
  t?: string;
  x: readonly string[];
  f: string;
  kernel: GpKernelKind;
  /** 'auto': great-circle when `s` is two lon/lat-like names (lon first), else Euclidean. */
  distance?: 'auto' | 'great-circle' | 'euclidean';
  transform?: GpTransform;
}

const LON = /^(lon|long|lng|longitude|x_lon)$/i;
const LAT = /^(lat|latitude|y_lat)$/i;

/** The product kernel for these columns (input order: s…, t, x…). */
export function gpKernelFor(cols: GpColumns): GpKernel {
  const groups: InputGroup[] = [];
  let d = 0;
  if (cols.s.length > 0) {
    const gc = cols.distance === 'great-circle' || ((cols.distance ?? 'auto') === 'auto' && cols.s.length === 2 && LON.test(cols.s[0]!) && LAT.test(cols.s[1]!));
    if (gc && cols.s.length !== 2) throw new UserError(`gp: great-circle distance needs exactly two s columns (lon,lat), got ${cols.s.length}`);
    groups.push({ name: 's', cols: cols.s.map((_, i) => d + i), metric: gc ? 'great-circle' : 'euclidean', ard: false });
    d += cols.s.length;
  }
  if (cols.t !== undefined) groups.push({ name: 't', cols: [d++], metric: 'euclidean', ard: false });
  if (cols.x.length > 0) {
    groups.push({ name: 'x', cols: cols.x.map((_, i) => d + i), metric: 'euclidean', ard: true });
    d += cols.x.length;
  }
  if (d === 0) throw new UserError('gp: no input columns: give --s, --t or --x');
  return { kind: cols.kernel, groups, dim: d };
}

const DAY_MS = 86_400_000;

/** A column as float64; text holding ISO dates/times (`time`) becomes days since 1970-01-01 UTC. */
export function numbers(table: Table, name: string, time: boolean, label: string): Float64Array {
  const c: Column = getColumn(table, name, label);
  if (c.kind === 'number') return c.values;
  const out = new Float64Array(table.rows);
  c.values.forEach((v, i) => {
    if (v === null || v.trim() === '') { out[i] = NaN; return; }
    const num = Number(v);
    if (Number.isFinite(num)) { out[i] = num; return; }
    if (time) {
      const ms = parseIsoMs(v.trim()); // the schema's strict ISO 8601 reader: no zone = UTC
      if (Number.isFinite(ms)) { out[i] = ms / DAY_MS; return; }
    }
    throw new TableError(`${label}: row ${i + 1}, column '${name}': expected a number${time ? ' or an ISO date (YYYY-MM-DD)' : ''}, got '${v}'`);
  });
  return out;
}

export interface GpDesign {
  /** Inputs [n, D] of the kept rows. */
  x: Float64Array;
  /** Transformed values [n] (null when values were not asked for). */
  y: Float64Array | null;
  /** Table row of each kept row. */
  rows: Int32Array;
  /** Rows left out (a missing input, or a missing value when values were asked for). */
  dropped: number;
}

/**
 * The GP inputs (and transformed values, `withValues`) of `table`'s complete rows.
 * **Throws** `UserError` naming table, row and column (unknown column, text that is no number,
 * a value ≤ 0 under log / ≤ −1 under log1p).
 */
export function gpDesign(table: Table, cols: GpColumns, withValues: boolean, label: string): GpDesign {
  try {
    const inputs = [...cols.s.map((n) => numbers(table, n, false, label)), ...(cols.t !== undefined ? [numbers(table, cols.t, true, label)] : []),
      ...cols.x.map((n) => numbers(table, n, false, label))];
    const f = withValues ? numbers(table, cols.f, false, label) : null;
    const D = inputs.length;
    const keep: number[] = [];
    for (let i = 0; i < table.rows; i++) {
      if (inputs.every((c) => Number.isFinite(c[i]!)) && (f === null || Number.isFinite(f[i]!))) keep.push(i);
    }
    const x = new Float64Array(keep.length * D);
    keep.forEach((r, i) => { for (let d = 0; d < D; d++) x[i * D + d] = inputs[d]![r]!; });
    let y: Float64Array | null = null;
    if (f !== null) {
      const tr = cols.transform ?? 'none';
      y = Float64Array.from(keep, (r) => {
        const v = f[r]!;
        if (tr === 'none') return v;
        const w = tr === 'log' ? v : v + 1;
        if (!(w > 0)) throw new TableError(`${label}: row ${r + 1}, column '${cols.f}': ${tr} needs values ${tr === 'log' ? '> 0' : '> -1'}, got ${v}; use --transform ${cols.f}=log1p or none`);
        return Math.log(w);
      });
    }
    return { x, y, rows: Int32Array.from(keep), dropped: table.rows - keep.length };
  } catch (e) {
    if (e instanceof TableError) throw new UserError(`gp: ${e.message}`);
    throw e;
  }
}

export interface GpTableResult {
  fit: FittedGp;
  /** One entry per target row (NaN where a target input is missing). */
  predictive: Predictive;
  contextRows: number;
  contextDropped: number;
  targetsDropped: number;
  contextUsed: number;
  fitSeconds: number;
  predictSeconds: number;
}

/** Fits the GP to `context` and predicts every row of `targets`. */
export function gpPredictTables(context: Table, targets: Table, cols: GpColumns, fitOpts: GpFitOptions = {}, predOpts: GpPredictOptions = {}): GpTableResult {
  const kernel = gpKernelFor(cols);
  const ctx = gpDesign(context, cols, true, 'context');
  if (ctx.rows.length < 3) throw new UserError(`gp: the context has ${ctx.rows.length} complete rows (of ${context.rows}); at least 3 are needed`);
  const tgt = gpDesign(targets, cols, false, 'targets');
  const t0 = performance.now();
  let fit: FittedGp;
  try {
    fit = fitGp(kernel, ctx.x, ctx.y!, ctx.rows.length, fitOpts);
  } catch (e) {
    if (e instanceof RangeError && e.message.startsWith('lbfgs:')) throw new UserError(`gp: the likelihood cannot be evaluated at the starting hyper-parameters (${e.message}); check for duplicated rows or rescale the inputs`);
    throw e;
  }
  const t1 = performance.now();
  const p = predictGp(fit, ctx.x, ctx.y!, ctx.rows.length, tgt.x, tgt.rows.length, predOpts);
  const t2 = performance.now();
  const mean = new Float64Array(targets.rows).fill(NaN);
  const std = new Float64Array(targets.rows).fill(NaN);
  tgt.rows.forEach((r, i) => { mean[r] = p.mean[i]!; std[r] = p.std[i]!; });
  const tr = cols.transform ?? 'none';
  const predictive: Predictive = tr === 'none' ? { mean, std } : { mean, std, logShift: tr === 'log' ? 0 : 1 };
  return { fit, predictive, contextRows: ctx.rows.length, contextDropped: ctx.dropped, targetsDropped: tgt.dropped, contextUsed: p.contextUsed,
    fitSeconds: (t1 - t0) / 1000, predictSeconds: (t2 - t1) / 1000 };
}
