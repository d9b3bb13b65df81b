/**
 * Cross-validation of any table model on one data set: k-fold over rows (seeded) or
 * leave-one-group-out (e.g. one station at a time). Each fold trains/conditions on the other rows
 * and scores the held-out rows by NLL, RMSE and 95 % coverage in the data's units (api/predictive).
 * Models are functions (context table, target table) → Predictive, so the same code scores a model
 * folder (through predictTable), the exact GP and the naive baselines. No Node built-ins.
 */
import { type Column, type Table, getColumn, makeTable, numericColumn } from '../data/table.js';
import { seededRandom } from '../data/gp-fit/fit.js';
import { type GpColumns, gpPredictTables } from './gp-table.js';
import type { GpFitOptions, GpPredictOptions } from '../data/gp-fit/fit.js';
import { predictTable } from './predict-table.js';
import type { Predictor } from './predictor.js';
import { type Predictive, type Scores, scorePredictive } from './predictive.js';
import { UserError } from './errors.js';

/** Predicts every row of `targets` (whose value column must not be used) from `context`. */
export type CvModel = (context: Table, targets: Table) => Promise<Predictive>;

export interface CvFold {
  /** "fold 3/5" or the held-out group's label. */
  label: string;
  train: Int32Array;
  test: Int32Array;
}

/** The table restricted to `rows` (in that order). */
export function takeRows(table: Table, rows: ArrayLike<number>): Table {
  const columns: Column[] = table.columns.map((c) => (c.kind === 'number'
    ? { kind: 'number', values: Float64Array.from(rows, (r) => c.values[r]!) }
    : { kind: 'text', values: Array.from(rows, (r) => c.values[r] ?? null) }));
  return makeTable(table.names, columns, 'subset');
}

/** k folds of rows 0..n−1 after a seeded shuffle (sizes differ by at most one). */
export function kFolds(n: number, k: number, seed = 1): CvFold[] {
  if (!(Number.isInteger(k) && k >= 2 && k <= n)) throw new UserError(`cv: --folds must be an integer between 2 and the number of rows (${n}), got ${k}`);
  const idx = Array.from({ length: n }, (_, i) => i);
  const rnd = seededRandom(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [idx[i], idx[j]] = [idx[j]!, idx[i]!];
  }
  const folds: CvFold[] = [];
  for (let f = 0; f < k; f++) {
    const test = idx.filter((_, i) => i % k === f).sort((a, b) => a - b);
    const inTest = new Set(test);
    folds.push({ label: `fold ${f + 1}/${k}`, test: Int32Array.from(test), train: Int32Array.from(idx.filter((r) => !inTest.has(r)).sort((a, b) => a - b)) });
  }
  return folds;
}

/** One fold per distinct value of `column` (text or number): leave that group out. */
export function groupFolds(table: Table, column: string): CvFold[] {
  const c = getColumn(table, column, 'cv data');
  const key = (i: number): string => String(c.values[i] ?? '');
  const groups = new Map<string, number[]>();
  for (let i = 0; i < table.rows; i++) {
    const k = key(i);
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k)!.push(i);
  }
  if (groups.size < 2) throw new UserError(`cv: --by ${column}: expected at least 2 distinct values to leave out, got ${groups.size}`);
  return [...groups.entries()].map(([g, test]) => {
    const inTest = new Set(test);
    const train: number[] = [];
    for (let i = 0; i < table.rows; i++) if (!inTest.has(i)) train.push(i);
    return { label: `${column}=${g}`, test: Int32Array.from(test), train: Int32Array.from(train) };
  });
}

export interface CvFoldResult extends Scores {
  label: string;
  seconds: number;
}

export interface CvResult {
  folds: CvFoldResult[];
  /** Pooled over every held-out row (each row once). */
  summary: Scores & { seconds: number };
}

/**
 * Runs `model` on every fold of `table` (rows with a missing value in `valueColumn` are dropped
 * first; fold row indices refer to the remaining rows). The targets handed to the model lack
 * the value column. `onFold` sees each result as it is done.
 */
export async function crossValidate(table: Table, valueColumn: string, makeFolds: (t: Table) => CvFold[], model: CvModel,
  onFold?: (r: CvFoldResult, i: number, total: number) => void): Promise<CvResult> {
  const allY = numericColumn(table, valueColumn, 'cv data');
  const observed: number[] = [];
  for (let i = 0; i < table.rows; i++) if (Number.isFinite(allY[i]!)) observed.push(i);
  if (observed.length < 2) throw new UserError(`cv: column '${valueColumn}' has ${observed.length} observed values; at least 2 are needed`);
  const data = takeRows(table, observed);
  const y = numericColumn(data, valueColumn, 'cv data');
  const folds = makeFolds(data);
  const keep = data.names.map((_, j) => j).filter((j) => data.names[j] !== valueColumn);
  const results: CvFoldResult[] = [];
  const pooledMean = new Float64Array(data.rows).fill(NaN);
  const pooledStd = new Float64Array(data.rows).fill(NaN);
  let logShift: number | undefined;
  let seconds = 0;
  for (const [i, fold] of folds.entries()) {
    const ctx = takeRows(data, fold.train);
    const tgtFull = takeRows(data, fold.test);
    const tgt = makeTable(keep.map((j) => tgtFull.names[j]!), keep.map((j) => tgtFull.columns[j]!), 'targets');
    const t0 = performance.now();
    const p = await model(ctx, tgt);
    const dt = (performance.now() - t0) / 1000;
    seconds += dt;
    logShift = p.logShift;
    const yt = Float64Array.from(fold.test, (r) => y[r]!);
    fold.test.forEach((r, k) => { pooledMean[r] = p.mean[k]!; pooledStd[r] = p.std[k]!; });
    const res = { label: fold.label, ...scorePredictive(p, yt), seconds: dt };
    results.push(res);
    onFold?.(res, i, folds.length);
  }
  const pooled: Predictive = logShift === undefined ? { mean: pooledMean, std: pooledStd } : { mean: pooledMean, std: pooledStd, logShift };
  return { folds: results, summary: { ...scorePredictive(pooled, y), seconds } };
}

/** The exact GP (fitted afresh on each fold's context) as a CV model. */
export function gpCvModel(cols: GpColumns, fit: GpFitOptions = {}, predict: GpPredictOptions = {}): CvModel {
  return async (context, targets) => gpPredictTables(context, targets, cols, fit, predict).predictive;
}

/** A loaded model folder as a CV model (its value column must be `valueColumn`). */
export function predictorCvModel(predictor: Predictor, valueColumn: string): CvModel {
  const values = predictor.layout.values;
  if (values.length !== 1 || values[0] !== valueColumn) {
    throw new UserError(`cv: the model predicts ${values.map((v) => `'${v}'`).join(', ')}, but the data's value column is '${valueColumn}'; pass --f ${values[0] ?? ''}`);
  }
  if (predictor.valueKind !== 'gaussian') throw new UserError('cv: only Gaussian models can be scored (this one is categorical)');
  return async (context, targets) => {
    const out = await predictTable(predictor, context, targets);
    return { mean: numericColumn(out, `${valueColumn}_mean`), std: numericColumn(out, `${valueColumn}_std`) };
  };
}
