/**
 * Training tasks from a user's table (experiments.md §7–§8 for the real-data recipes): encoded rows
 * (model-unit coordinates s/t/x, values f with per-output masks, a location id and the raw time of
 * each row) → a deterministic train/validation/test split of the rows → seeded `Batch` generators.
 *
 *  - `interpolate`: a window of consecutive time steps (the whole table without `t`); a random
 *    subset of the window's observed rows is the context (its size a random fraction of them), the
 *    other rows are the targets.
 *  - `forecast`: a window of `window` consecutive time steps; rows of its last `horizon` steps are
 *    the targets, rows of the earlier steps the context (experiments.md §8: Beijing, the last 84 of
 *    708 rows; ERA5: frame 5 from frames 1–4).
 *
 * A "time step" is one distinct value of the raw time. Splits: `time:a,b` cuts the sorted distinct
 * times at fractions a and a + b (train before, then validation, then test); `space:a,b` shuffles
 * the distinct locations with the seed and holds whole stations out. Under a space split the
 * validation/test tasks predict held-out stations from the training stations' observations of the
 * same window (so no station is ever both context and target across parts); under a time split each
 * part's windows lie inside its own period, except that a forecast's context may reach back into
 * the earlier part (the past is known when forecasting).
 *
 * Batches have a fixed shape per generator (the most context and target rows any window can give,
 * capped by `maxContext` / `maxTargets`), padded with copies of a real row and masked
 * (`mask_ctx`, `mask_test`). A row takes part only when every output is observed (the model's masks
 * are per row, not per output). No Node built-ins (runs in browsers).
 */
import { Rng } from '../engine/random.js';
import type { Batch, BatchDims, TaskGenerator } from './batch.js';

/** Rows of a table in model units, as `encode` (tables) produces them. */
export interface EncodedRows {
  readonly n: number;
  readonly dims: BatchDims;
  /** [n, Ds] */
  readonly s: Float32Array;
  /** [n, Dt], or null when the table has no time column. */
  readonly t: Float32Array | null;
  /** [n, Dx], or null without covariates. */
  readonly x: Float32Array | null;
  /** [n, Df]; entries whose mask is 0 are ignored. */
  readonly f: Float32Array;
  /** [n, Df]: 1 = observed. */
  readonly fMask: Uint8Array;
  /** [n] raw time of each row (its order defines time steps), or null. */
  readonly time: Float64Array | null;
  /** [n] station / location id (rows with equal s share one). */
  readonly location: Int32Array;
}

export type TableTaskKind = 'interpolate' | 'forecast';

export interface SplitSpec {
  readonly by: 'time' | 'space';
  readonly train: number;
  readonly valid: number;
}

/** Row parts. */
export const TRAIN = 0, VALID = 1, TEST = 2;

export class TableTaskError extends Error {
  override name = 'TableTaskError';
}

/** Parses `time:0.8,0.1` / `space:0.7,0.15` (test = the rest). */
export function parseSplit(text: string): SplitSpec {
  const m = /^\s*(time|space)\s*:\s*([0-9.eE+-]+)\s*,\s*([0-9.eE+-]+)\s*$/.exec(text);
  if (!m) throw new TableTaskError(`--split: expected 'time:TRAIN,VALID' or 'space:TRAIN,VALID' (fractions, test = the rest), e.g. 'time:0.8,0.1', got '${text}'`);
  const train = Number(m[2]), valid = Number(m[3]);
  if (!(train > 0) || !(valid > 0) || !(train + valid < 1)) {
    throw new TableTaskError(`--split: expected fractions train > 0, valid > 0 and train + valid < 1 (the rest is the test part), got ${train}, ${valid}`);
  }
  return { by: m[1] as 'time' | 'space', train, valid };
}

export function formatSplit(s: SplitSpec): string {
  return `${s.by}:${s.train},${s.valid}`;
}

/** Rows whose every output is observed. */
export function usableRows(rows: EncodedRows): Uint8Array {
  const { Df } = rows.dims;
  const ok = new Uint8Array(rows.n);
  for (let i = 0; i < rows.n; i++) {
    let all = 1;
    for (let d = 0; d < Df; d++) if (rows.fMask[i * Df + d] !== 1) all = 0;
    ok[i] = all;
  }
  return ok;
}

/** Sorted distinct times and, per row, the index of its time step. */
export function timeSteps(rows: EncodedRows): { times: Float64Array; step: Int32Array } {
  if (rows.time === null) return { times: Float64Array.of(0), step: new Int32Array(rows.n) };
  const times = Float64Array.from(new Set(rows.time)).sort();
  const index = new Map<number, number>();
  times.forEach((t, i) => index.set(t, i));
  const step = Int32Array.from(rows.time, (t) => index.get(t)!);
  return { times, step };
}

/** Deterministic permutation of 0..n-1 from `rng` (Fisher–Yates). */
function permutation(n: number, rng: Rng): Int32Array {
  const p = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(0, i + 1);
    const a = p[i]!; p[i] = p[j]!; p[j] = a;
  }
  return p;
}

/**
 * The part of each row (TRAIN, VALID, TEST): disjoint and complete by construction. Each part gets
 * at least one time step (time) or station (space); fewer than three is an error.
 */
export function splitRows(rows: EncodedRows, spec: SplitSpec, seed: number): Uint8Array {
  const part = new Uint8Array(rows.n);
  const cut = (u: number): [number, number] => {
    if (u < 3) throw new TableTaskError(`--split ${formatSplit(spec)}: needs at least 3 distinct ${spec.by === 'time' ? 'times' : 'locations'}, the data has ${u}`);
    const a = Math.min(u - 2, Math.max(1, Math.round(u * spec.train)));
    const b = Math.min(u - 1, Math.max(a + 1, Math.round(u * (spec.train + spec.valid))));
    return [a, b];
  };
  if (spec.by === 'time') {
    if (rows.time === null) throw new TableTaskError(`--split ${formatSplit(spec)}: a split by time needs a time column (--t); use --split space:${spec.train},${spec.valid}`);
    const { times, step } = timeSteps(rows);
    const [a, b] = cut(times.length);
    for (let i = 0; i < rows.n; i++) part[i] = step[i]! < a ? TRAIN : step[i]! < b ? VALID : TEST;
    return part;
  }
  const ids = Int32Array.from(new Set(rows.location)).sort();
  const [a, b] = cut(ids.length);
  const perm = permutation(ids.length, Rng.fromSeed(seed).split());
  const partOf = new Map<number, number>();
  perm.forEach((k, r) => partOf.set(ids[k]!, r < a ? TRAIN : r < b ? VALID : TEST));
  for (let i = 0; i < rows.n; i++) part[i] = partOf.get(rows.location[i]!)!;
  return part;
}

export interface TableTaskOptions {
  readonly kind: TableTaskKind;
  /** Time steps per window; null = every time step (interpolate only). */
  readonly window: number | null;
  /** Forecast: target steps at the end of each window. */
  readonly horizon: number;
  readonly batchSize: number;
  readonly maxContext: number;
  readonly maxTargets: number;
  /** Interpolate: the context is a fraction in [lo, hi) of the window's rows (default [0.1, 0.9)). */
  readonly contextFraction?: readonly [number, number];
}

/**
 * Which rows a generator may use: `context[i]` / `target[i]` = 1 when row i may be a context row / a
 * target. When both sets are the same (training), interpolation divides the window's rows between
 * context and targets; otherwise every eligible target is a target.
 */
export interface RowRoles {
  readonly context: Uint8Array;
  readonly target: Uint8Array;
}

/** Roles of the part `which` under a split (see the file comment). */
export function rolesFor(part: Uint8Array, spec: SplitSpec | null, which: number, kind: TableTaskKind, usable: Uint8Array): RowRoles {
  const n = part.length;
  const context = new Uint8Array(n), target = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    if (!usable[i]) continue;
    const p = part[i]!;
    target[i] = p === which ? 1 : 0;
    if (spec === null || which === TRAIN) context[i] = p === which ? 1 : 0;
    else if (spec.by === 'space') context[i] = p === TRAIN ? 1 : 0;
    else context[i] = kind === 'forecast' ? (p <= which ? 1 : 0) : (p === which ? 1 : 0);
  }
  return { context, target };
}

function sameRoles(r: RowRoles): boolean {
  for (let i = 0; i < r.context.length; i++) if (r.context[i] !== r.target[i]) return false;
  return true;
}

/** A window: rows eligible as context and as targets. */
interface Window { ctx: Int32Array; tgt: Int32Array }

function windows(rows: EncodedRows, roles: RowRoles, o: TableTaskOptions): Window[] {
  const { times, step } = timeSteps(rows);
  const U = times.length;
  const byStep: number[][] = Array.from({ length: U }, () => []);
  for (let i = 0; i < rows.n; i++) if (roles.context[i] || roles.target[i]) byStep[step[i]!]!.push(i);
  const W = o.window ?? U;
  if (o.kind === 'forecast') {
    if (rows.time === null) throw new TableTaskError('--task forecast needs a time column (--t)');
    if (!(o.horizon >= 1 && o.horizon < W)) throw new TableTaskError(`--task forecast: expected 1 ≤ --horizon < --window, got horizon ${o.horizon}, window ${W}`);
  }
  if (W > U) throw new TableTaskError(`--window ${W}: the data has only ${U} distinct times`);
  const out: Window[] = [];
  for (let w = 0; w + W <= U; w++) {
    const ctx: number[] = [], tgt: number[] = [];
    for (let k = w; k < w + W; k++) {
      const targetStep = o.kind === 'interpolate' || k >= w + W - o.horizon;
      const contextStep = o.kind === 'interpolate' || k < w + W - o.horizon;
      for (const i of byStep[k]!) {
        if (contextStep && roles.context[i]) ctx.push(i);
        if (targetStep && roles.target[i]) tgt.push(i);
      }
    }
    if (tgt.length === 0) continue;
    if (o.kind === 'forecast' && ctx.length === 0) continue;
    if (o.kind === 'interpolate' && sameRoles(roles) ? ctx.length < 2 : ctx.length === 0) continue;
    out.push({ ctx: Int32Array.from(ctx), tgt: Int32Array.from(tgt) });
  }
  return out;
}

/** k distinct entries of `from` drawn with `rng` (a partial shuffle of a copy). */
function sample(from: Int32Array, k: number, rng: Rng): Int32Array {
  const a = Int32Array.from(from);
  for (let i = 0; i < k; i++) {
    const j = rng.int(i, a.length);
    const x = a[i]!; a[i] = a[j]!; a[j] = x;
  }
  return a.subarray(0, k);
}

/** One task: context and target row indices. */
export interface TableTask { ctx: Int32Array; tgt: Int32Array }

/**
 * A seeded generator of tasks (row indices) and of batches over them; `label` names the part in
 * errors. Throws `TableTaskError` when no window has both context and targets.
 */
export class TableTasks {
  private readonly wins: Window[];
  private readonly same: boolean;
  readonly Nc: number;
  readonly Nt: number;

  constructor(private readonly rows: EncodedRows, roles: RowRoles, readonly options: TableTaskOptions, label: string) {
    this.same = sameRoles(roles);
    this.wins = windows(rows, roles, options);
    if (this.wins.length === 0) {
      throw new TableTaskError(`the ${label} part has no window of ${options.window ?? 'all'} time step(s) with both context and target rows; ` +
        'lower --window, change --split, or give more data');
    }
    let nc = 0, nt = 0;
    for (const w of this.wins) {
      if (options.kind === 'interpolate' && this.same) {
        nc = Math.max(nc, w.ctx.length - 1);
        nt = Math.max(nt, w.ctx.length - 1);
      } else {
        nc = Math.max(nc, w.ctx.length);
        nt = Math.max(nt, w.tgt.length);
      }
    }
    this.Nc = Math.max(1, Math.min(nc, options.maxContext));
    this.Nt = Math.max(1, Math.min(nt, options.maxTargets));
  }

  get windowCount(): number {
    return this.wins.length;
  }

  /** One task from `rng`. */
  task(rng: Rng): TableTask {
    const o = this.options;
    const w = this.wins[rng.int(0, this.wins.length)]!;
    if (o.kind === 'interpolate' && this.same) {
      const m = w.ctx.length;
      const [lo, hi] = o.contextFraction ?? [0.1, 0.9];
      const u = lo + (hi - lo) * rng.uniform();
      const nc = Math.min(this.Nc, m - 1, Math.max(1, Math.floor(u * m)));
      const perm = sample(w.ctx, m, rng);
      const ctx = perm.slice(0, nc);
      const rest = perm.slice(nc);
      return { ctx, tgt: rest.length > this.Nt ? rest.slice(0, this.Nt) : rest };
    }
    let ctx = w.ctx, tgt = w.tgt;
    if (o.kind === 'interpolate') {
      // Held-out targets (validation/test): a random share of the eligible context rows.
      const [lo, hi] = o.contextFraction ?? [0.1, 0.9];
      const u = lo + (hi - lo) * rng.uniform();
      const nc = Math.min(this.Nc, ctx.length, Math.max(1, Math.ceil(u * ctx.length)));
      ctx = sample(ctx, nc, rng).slice();
    } else if (ctx.length > this.Nc) ctx = sample(ctx, this.Nc, rng).slice();
    if (tgt.length > this.Nt) tgt = sample(tgt, this.Nt, rng).slice();
    return { ctx, tgt };
  }

  /** A padded batch of `options.batchSize` tasks. */
  batch(rng: Rng): Batch {
    const tasks = Array.from({ length: this.options.batchSize }, () => this.task(rng.split()));
    return batchOfTasks(this.rows, tasks, this.Nc, this.Nt);
  }

  generator(): TaskGenerator {
    return (rng) => this.batch(rng);
  }
}

/** Packs tasks into one padded batch with Nc context and Nt target slots. */
export function batchOfTasks(rows: EncodedRows, tasks: readonly TableTask[], Nc: number, Nt: number): Batch {
  const B = tasks.length;
  const dims = { ...rows.dims };
  const { Ds, Dt, Dx, Df } = dims;
  const alloc = (N: number, D: number) => new Float32Array(B * N * D);
  const b: Batch = {
    B, Nc, Nt, dims, likelihood: 'gaussian',
    s_ctx: alloc(Nc, Ds), f_ctx: alloc(Nc, Df), mask_ctx: new Float32Array(B * Nc),
    s_test: alloc(Nt, Ds), f_test: alloc(Nt, Df), mask_test: new Float32Array(B * Nt),
    n_ctx: new Int32Array(B),
  };
  if (Dt > 0) { b.t_ctx = alloc(Nc, Dt); b.t_test = alloc(Nt, Dt); }
  if (Dx > 0) { b.x_ctx = alloc(Nc, Dx); b.x_test = alloc(Nt, Dx); }
  const copy = (src: Float32Array | null, D: number, row: number, dst: Float32Array | undefined, slot: number) => {
    if (D === 0 || src === null || dst === undefined) return;
    for (let d = 0; d < D; d++) dst[slot * D + d] = src[row * D + d]!;
  };
  tasks.forEach((task, e) => {
    if (task.ctx.length > Nc || task.tgt.length > Nt) throw new RangeError(`batchOfTasks: task ${e} has ${task.ctx.length}/${task.tgt.length} rows for ${Nc}/${Nt} slots`);
    for (let k = 0; k < Nc; k++) {
      const real = k < task.ctx.length;
      const row = task.ctx[real ? k : 0]!; // padding: a copy of a real row, masked
      const slot = e * Nc + k;
      copy(rows.s, Ds, row, b.s_ctx, slot);
      copy(rows.t, Dt, row, b.t_ctx, slot);
      copy(rows.x, Dx, row, b.x_ctx, slot);
      copy(rows.f, Df, row, b.f_ctx, slot);
      b.mask_ctx[slot] = real ? 1 : 0;
    }
    for (let k = 0; k < Nt; k++) {
      const real = k < task.tgt.length;
      const row = task.tgt[real ? k : 0]!;
      const slot = e * Nt + k;
      copy(rows.s, Ds, row, b.s_test, slot);
      copy(rows.t, Dt, row, b.t_test, slot);
      copy(rows.x, Dx, row, b.x_test, slot);
      copy(rows.f, Df, row, b.f_test, slot);
      b.mask_test![slot] = real ? 1 : 0;
    }
    b.n_ctx[e] = task.ctx.length;
  });
  return b;
}
