/**
 * Training on a user's table (`train --data`) and adapting a prior to observations (`fit`): the
 * settings stored in config.json's `training.task` (name `table` or `fit`, options below), and the
 * seeded batch generators they give over encoded rows. Everything a resumed run or `eval` needs to
 * rebuild the same split and the same batches is in the options (plus the data file itself).
 * No Node built-ins.
 */
import type { TaskGenerator } from '../data/batch.js';
import {
  TableTaskError, TableTasks, TEST, TRAIN, VALID, formatSplit, parseSplit, rolesFor, splitRows, timeSteps, usableRows,
  type EncodedRows, type SplitSpec, type TableTaskKind,
} from '../data/table-tasks.js';
import { Rng } from '../engine/random.js';
import type { TaskConfig } from '../models/config.js';

export const TABLE_TASK = 'table';
export const FIT_TASK = 'fit';

/** `training.task.options` of a model trained on a table. */
export interface TableSettings {
  readonly kind: TableTaskKind;
  /** Time steps per window (null: all, interpolate only). */
  readonly window: number | null;
  readonly horizon: number;
  /** `time:0.8,0.1` / `space:0.8,0.1`. */
  readonly split: string;
  readonly maxContext: number;
  readonly maxTargets: number;
  readonly contextFraction: readonly [number, number];
  /** Rows of the data file (checked when the file is read again: resume, eval). */
  readonly rows: number;
  /** The data file as given (absolute path), for resume and eval when --data is not repeated. */
  readonly file: string;
}

/** `training.task.options` of a fitted model (`fit`). */
export interface FitSettings {
  /** Share of the usable observations held out for early stopping. */
  readonly holdout: number;
  readonly maxContext: number;
  readonly maxTargets: number;
  readonly rows: number;
  readonly file: string;
  /** The prior model folder (absolute path). */
  readonly prior: string;
  /** Early stopping: validations in a row without improvement. */
  readonly patience: number;
  /** The prior's held-out NLL before any step (model units), filled in by `fit`. */
  readonly zeroShotNll: number | null;
  /** Data from one time on a space–time prior: the prior's time group was dropped (prior-domain.ts). */
  readonly dropTime: boolean;
  /**
   * Forecast fitting (`fit --task forecast`): the last `horizon` distinct times are held out and
   * training tasks predict the last `horizon` times of `window`-step windows from the earlier ones
   * (null window: half the distinct times, at least horizon + 1). Null: interpolation (random splits).
   */
  readonly forecast?: { readonly horizon: number; readonly window: number | null } | null;
}

function num(o: Record<string, unknown>, k: string, path: string): number {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new TableTaskError(`${path}.${k}: expected a number, got ${JSON.stringify(v)}`);
  return v;
}

function text(o: Record<string, unknown>, k: string, path: string): string {
  const v = o[k];
  if (typeof v !== 'string') throw new TableTaskError(`${path}.${k}: expected a string, got ${JSON.stringify(v)}`);
  return v;
}

export function parseTableSettings(task: TaskConfig, path = 'training.task.options'): TableSettings {
  if (task.name !== TABLE_TASK) throw new TableTaskError(`training.task.name: expected '${TABLE_TASK}' (a model trained with --data), got '${task.name}'`);
  const o = task.options as Record<string, unknown>;
  const kind = text(o, 'kind', path);
  if (kind !== 'interpolate' && kind !== 'forecast') throw new TableTaskError(`${path}.kind: expected interpolate or forecast, got '${kind}'`);
  const cf = o.contextFraction;
  if (!Array.isArray(cf) || cf.length !== 2 || !cf.every((x) => typeof x === 'number')) throw new TableTaskError(`${path}.contextFraction: expected [lo, hi]`);
  parseSplit(text(o, 'split', path));
  return {
    kind, window: o.window === null ? null : num(o, 'window', path), horizon: num(o, 'horizon', path), split: text(o, 'split', path),
    maxContext: num(o, 'maxContext', path), maxTargets: num(o, 'maxTargets', path), contextFraction: [cf[0] as number, cf[1] as number],
    rows: num(o, 'rows', path), file: text(o, 'file', path),
  };
}

export function parseFitSettings(task: TaskConfig, path = 'training.task.options'): FitSettings {
  if (task.name !== FIT_TASK) throw new TableTaskError(`training.task.name: expected '${FIT_TASK}' (a model made by fit), got '${task.name}'`);
  const o = task.options as Record<string, unknown>;
  return {
    holdout: num(o, 'holdout', path), maxContext: num(o, 'maxContext', path), maxTargets: num(o, 'maxTargets', path),
    rows: num(o, 'rows', path), file: text(o, 'file', path), prior: text(o, 'prior', path), patience: num(o, 'patience', path),
    zeroShotNll: o.zeroShotNll === null || o.zeroShotNll === undefined ? null : num(o, 'zeroShotNll', path),
    dropTime: o.dropTime === true,
    forecast: parseForecast(o.forecast, `${path}.forecast`),
  };
}

function parseForecast(v: unknown, path: string): FitSettings['forecast'] {
  if (v === undefined || v === null) return null;
  const o = v as Record<string, unknown>;
  const h = o.horizon, w = o.window;
  if (typeof h !== 'number' || !Number.isInteger(h) || h < 1) throw new TableTaskError(`${path}.horizon: expected a positive integer, got ${JSON.stringify(h)}`);
  if (w !== null && (typeof w !== 'number' || !Number.isInteger(w) || w <= h)) throw new TableTaskError(`${path}.window: expected null or an integer > horizon, got ${JSON.stringify(w)}`);
  return { horizon: h, window: w as number | null };
}

/** Checks that a data file read again is the one the model was trained on (same row count). */
export function checkRows(rows: number, expected: number, file: string): void {
  if (rows !== expected) {
    throw new TableTaskError(`${file}: has ${rows} rows, but the model was trained on a file of ${expected} rows; ` +
      'give the same data file (the split is recomputed from it)');
  }
}

export interface TableGenerators {
  train: TableTasks;
  valid: TableTasks;
  test: TableTasks;
  part: Uint8Array;
  split: SplitSpec;
}

/** The split and the three parts' task generators of a table run (deterministic given `seed`). */
export function tableGenerators(rows: EncodedRows, s: TableSettings, seed: number, batchSize: number): TableGenerators {
  const split = parseSplit(s.split);
  const part = splitRows(rows, split, seed);
  const usable = usableRows(rows);
  const make = (which: number, label: string) => new TableTasks(rows, rolesFor(part, split, which, s.kind, usable), {
    kind: s.kind, window: s.window, horizon: s.horizon, batchSize, maxContext: s.maxContext, maxTargets: s.maxTargets,
    contextFraction: s.contextFraction,
  }, label);
  return { train: make(TRAIN, 'training'), valid: make(VALID, 'validation'), test: make(TEST, 'test'), part, split };
}

/**
 * The parts of a fit: a seeded `holdout` share of the usable rows (at least one) is VALID, the rest
 * TRAIN. Training tasks split the TRAIN rows into context and targets at random; validation
 * predicts every held-out row (up to maxTargets) from all TRAIN rows (up to maxContext).
 */
export function fitGenerators(rows: EncodedRows, s: FitSettings, seed: number, batchSize: number): { train: TableTasks; valid: TableTasks; part: Uint8Array } {
  if (s.forecast) return fitForecastGenerators(rows, s, s.forecast, batchSize);
  const usable = usableRows(rows);
  const ids: number[] = [];
  for (let i = 0; i < rows.n; i++) if (usable[i]) ids.push(i);
  if (ids.length < 4) throw new TableTaskError(`fit: needs at least 4 complete observations, got ${ids.length}`);
  const rng = Rng.fromSeed(seed).split();
  for (let i = ids.length - 1; i > 0; i--) {
    const j = rng.int(0, i + 1);
    const a = ids[i]!; ids[i] = ids[j]!; ids[j] = a;
  }
  const nHold = Math.min(ids.length - 2, Math.max(1, Math.round(s.holdout * ids.length)));
  const part = new Uint8Array(rows.n).fill(TEST); // unusable rows take no part
  ids.forEach((r, k) => { part[r] = k < nHold ? VALID : TRAIN; });
  const trainRoles = rolesFor(part, null, TRAIN, 'interpolate', usable);
  const validRoles = rolesFor(part, { by: 'space', train: 0.5, valid: 0.25 }, VALID, 'interpolate', usable);
  const base = { kind: 'interpolate' as const, window: null, horizon: 0, batchSize, maxContext: s.maxContext, maxTargets: s.maxTargets };
  return {
    train: new TableTasks(rows, trainRoles, { ...base, contextFraction: [0.3, 0.95] }, 'training'),
    // Validation is a forward pass only: its context may be larger (every training point, up to
    // 4 × maxContext), so the held-out score is that of the model as it will be used.
    valid: new TableTasks(rows, validRoles, { ...base, maxContext: 4 * s.maxContext, batchSize: 1, contextFraction: [1, 1] }, 'held-out'),
    part,
  };
}

/**
 * The parts of a forecast fit: rows at the last `horizon` distinct times are VALID, earlier rows
 * TRAIN. Training tasks are forecasts inside the TRAIN period (windows of `window` steps, their last
 * `horizon` steps the targets); validation forecasts the held-out times from every earlier row, as
 * the fitted model will be used.
 */
function fitForecastGenerators(rows: EncodedRows, s: FitSettings, f: { horizon: number; window: number | null }, batchSize: number): { train: TableTasks; valid: TableTasks; part: Uint8Array } {
  if (rows.time === null) throw new TableTaskError('fit --task forecast needs a time column (--t)');
  const usable = usableRows(rows);
  const { times, step } = timeSteps(rows);
  const U = times.length, H = f.horizon;
  if (U < H + 2) throw new TableTaskError(`fit --task forecast: --horizon ${H} needs at least ${H + 2} distinct times (${H} held out, 2 to train on), the data has ${U}`);
  const W = f.window ?? Math.max(H + 1, Math.ceil(U / 2));
  if (W > U - H) throw new TableTaskError(`fit --task forecast: --window ${W} must fit in the ${U - H} times before the held-out ${H}`);
  const part = new Uint8Array(rows.n).fill(TEST);
  for (let i = 0; i < rows.n; i++) if (usable[i]) part[i] = step[i]! >= U - H ? VALID : TRAIN;
  const base = { kind: 'forecast' as const, horizon: H, maxContext: s.maxContext, maxTargets: s.maxTargets };
  return {
    train: new TableTasks(rows, rolesFor(part, null, TRAIN, 'forecast', usable), { ...base, window: W, batchSize }, 'training'),
    valid: new TableTasks(rows, rolesFor(part, { by: 'time', train: 0, valid: 0 }, VALID, 'forecast', usable),
      { ...base, window: U, batchSize: 1, maxContext: 4 * s.maxContext }, 'held-out'),
    part,
  };
}

export function generatorsOf(g: { train: TableTasks; valid: TableTasks }): { train: TaskGenerator; valid: TaskGenerator } {
  return { train: g.train.generator(), valid: g.valid.generator() };
}

export { formatSplit };
