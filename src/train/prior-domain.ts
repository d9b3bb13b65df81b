/**
 * The coordinate domain a model was trained on, and the map that brings a user's coordinates into
 * it (`fit` and, through the stored normalisation, `predict`), so users never rescale by hand.
 *
 * A model trained on a synthetic task records its domain in config.json's `training.task`: the 2-D
 * GP tasks their box (`lo`, `hi`, default [−2, 2]²), `gp-mixture` its box and times [0, tMax]
 * (default [−2, 2]² × [0, 4]). A model trained on a user's table has no such domain: its own data
 * schema (normalisation learned from its training data) already says how to read coordinates.
 *
 * The map is an affine z = (v − mean) / std per column, stored as the fitted model's normalisation:
 *  - space: ONE scale for every spatial axis (distance ratios, hence the field's shape, are kept),
 *    chosen so that the bounding box of the observations fits the prior's box, centre on centre;
 *  - lon/lat (great-circle distance in the user's schema) and a prior with Euclidean distance: the
 *    coordinates are first projected onto a local equirectangular plane in km about the centre of
 *    the data (x = R·cos φ0·Δλ, y = R·Δφ, R = 6371 km), which is affine in lon and lat, so the whole
 *    map is still one (mean, std) per column. Within a few hundred km the distortion is small (the
 *    scale along x is exact at φ0 and off by cos φ / cos φ0 elsewhere: 3 % at ±2° of latitude at 50°).
 *    A prior that itself uses great-circle distance takes lon/lat as they are.
 *  - time: the observations' time span onto [t0, t1] of the prior (a single time maps to t0).
 * No Node built-ins.
 */
import type { ColumnStats, ModelFolderConfig } from '../models/config.js';

export const EARTH_RADIUS_KM = 6371.0088;

export interface PriorDomain {
  /** Box of the spatial coordinates. */
  s: { lo: number[]; hi: number[] } | null;
  /** Time range. */
  t: { lo: number; hi: number } | null;
  /** Where it came from, for messages. */
  source: string;
}

function corners(v: unknown, dims: number, fallback: number): number[] {
  if (typeof v === 'number') return Array.from({ length: dims }, () => v);
  if (Array.isArray(v) && v.length === dims && v.every((x) => typeof x === 'number')) return [...(v as number[])];
  return Array.from({ length: dims }, () => fallback);
}

/** Tasks whose domain we know: name → default box half-width and time span. */
const SYNTHETIC: Record<string, { lo: number; hi: number; tMax?: number }> = {
  gp1d: { lo: -2, hi: 2 },
  gp2d: { lo: -2, hi: 2 },
  'gp-smooth': { lo: -2, hi: 2 },
  'gp-noisy': { lo: -2, hi: 2 },
  multiscale: { lo: -2, hi: 2 },
  'gp-mixture': { lo: -2, hi: 2, tMax: 4 },
};

/**
 * The domain of a model trained on a synthetic task (see the file comment), or null when the model
 * was trained on a table (or its task is unknown).
 */
export function priorDomain(config: ModelFolderConfig): PriorDomain | null {
  const task = config.training?.task;
  if (!task) return null;
  const known = SYNTHETIC[task.name];
  if (!known) return null;
  const o = task.options as Record<string, unknown>;
  const sDims = config.model.groups.s?.dims ?? 0;
  const s = sDims > 0 ? { lo: corners(o.lo, sDims, known.lo), hi: corners(o.hi, sDims, known.hi) } : null;
  const tMax = typeof o.tMax === 'number' ? o.tMax : known.tMax;
  const t = config.model.groups.t && tMax !== undefined ? { lo: 0, hi: tMax } : null;
  return { s, t, source: `training task '${task.name}'` };
}

/** The affine map of each spatial column (see the file comment) as normalisation statistics. */
export function spatialMap(columns: readonly string[], values: readonly Float64Array[], box: { lo: number[]; hi: number[] },
  project: boolean): { stats: Record<string, ColumnStats>; scale: number } {
  const D = columns.length;
  const lo = new Array<number>(D).fill(Infinity), hi = new Array<number>(D).fill(-Infinity);
  values.forEach((col, d) => { for (const v of col) if (Number.isFinite(v)) { lo[d] = Math.min(lo[d]!, v); hi[d] = Math.max(hi[d]!, v); } });
  if (lo.some((x) => !Number.isFinite(x))) throw new RangeError(`spatialMap: a spatial column has no finite value (${columns.join(', ')})`);
  const centre = lo.map((l, d) => (l + hi[d]!) / 2);
  // Units per degree (projection) or 1: lon scales by cos φ0 on the local plane.
  const unit = project
    ? [EARTH_RADIUS_KM * Math.cos((centre[1]! * Math.PI) / 180) * (Math.PI / 180), EARTH_RADIUS_KM * (Math.PI / 180)]
    : new Array<number>(D).fill(1);
  // One scale k (model units per plane unit) for every axis: the tightest fit.
  let k = Infinity;
  for (let d = 0; d < D; d++) {
    const span = (hi[d]! - lo[d]!) * unit[d]!;
    if (span > 0) k = Math.min(k, (box.hi[d]! - box.lo[d]!) / span);
  }
  if (!Number.isFinite(k)) k = 1 / Math.max(...unit); // a single location: any scale
  const stats: Record<string, ColumnStats> = {};
  columns.forEach((c, d) => {
    // z = c_model + (v − centre)·unit·k  ⇔  z = (v − mean)/std.
    const std = 1 / (unit[d]! * k);
    const mid = (box.lo[d]! + box.hi[d]!) / 2;
    stats[c] = { mean: centre[d]! - mid * std, std };
  });
  return { stats, scale: k };
}

/** The time column's map onto [lo, hi] of the prior. */
export function timeMap(values: Float64Array, range: { lo: number; hi: number }): ColumnStats {
  let lo = Infinity, hi = -Infinity;
  for (const v of values) if (Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  if (!Number.isFinite(lo)) throw new RangeError('timeMap: the time column has no finite value');
  const std = hi > lo ? (hi - lo) / (range.hi - range.lo) : 1;
  return { mean: lo - range.lo * std, std };
}

/**
 * A space–time prior used on data from one time: its `t` group removed. Exact when `t` enters
 * only through its distance bias (not embedded): with every time equal, every t distance is 0 and
 * the bias adds the same constant to all of a head's attention logits, which softmax ignores. The
 * bias parameters (`*.attn.bias_t.*`) are dropped. Returns null when `t` is embedded (not exact).
 */
export function withoutTime(
  config: ModelFolderConfig, weights: ReadonlyMap<string, { shape: number[]; data: Float32Array }>,
): { config: ModelFolderConfig; weights: Map<string, { shape: number[]; data: Float32Array }> } | null {
  const t = config.model.groups.t;
  if (t === null || t.embed) return null;
  const weightsOut = new Map([...weights].filter(([name]) => !/\.attn\.bias_t\./.test(name)));
  return {
    config: {
      ...config,
      model: { ...config.model, groups: { ...config.model.groups, t: null } },
      data: { ...config.data, columns: { ...config.data.columns, t: [] } },
    },
    weights: weightsOut,
  };
}
