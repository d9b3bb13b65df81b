/**
 * Prediction on in-memory tables with the user's own column names, the form the HTTP service, the
 * web page and the command line use. The model folder's data schema (models/data-schema.ts) says
 * which columns are coordinates, times, covariates and outputs; `encode` (data/schema) turns
 * tables into model inputs and the predictor decodes outputs back into the data's units.
 *
 * Output table, in target row order: the target columns the schema does not name (station ids,
 * labels: carried through), then the schema's input columns as given (e.g. lon, lat, time, elev,
 * landuse), then per output `pm10_mean, pm10_std, pm10_lo90, pm10_hi90` (categorical models: one
 * probability column per class). Missing values: a context row whose output is missing is not
 * context; a context or target row with a missing coordinate, time or covariate is dropped (and
 * reported through `onWarning`), or with `strict` is an error naming it. No Node built-ins.
 */
import { type Column, type Table, TableError, makeTable } from '../data/table.js';
import { didYouMean } from '../models/config-checks.js';
import { encode, schemaColumns, type EncodedTable } from '../data/schema/index.js';
import { UserError } from './errors.js';
import type { Predictor } from './predictor.js';

export interface PredictTableOptions {
  /** Targets per model call (memory bound); results do not depend on it. Default 4096. */
  chunk?: number;
  /** Called after each chunk with the number of targets done (progress, time limits). */
  onChunk?: (done: number, total: number) => void | Promise<void>;
  /** Rows with a missing coordinate, time or covariate are errors instead of being dropped. */
  strict?: boolean;
  /** Told about dropped rows ("targets: 3 rows dropped ..."). Default: nothing. */
  onWarning?: (message: string) => void;
  /** Rows before this targets table (a chunk of a larger file), for messages. */
  rowOffset?: number;
  /** Called instead of `onWarning` for dropped target rows (to sum them over chunks). */
  onDropped?: (count: number, first: { row: number; column: string }) => void;
}

/** Runs `fn`, turning table problems into `UserError`s prefixed with the command. */
export function asUserError<T>(predictor: Predictor, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof TableError) throw new UserError(`${predictor.command}: ${e.message}`);
    throw e;
  }
}

/** A warning text for rows an `encode` dropped, or null when none were. */
export function droppedWarning(enc: EncodedTable, label: string): string | null {
  if (enc.dropped === 0 || !enc.firstDropped) return null;
  const { row, column } = enc.firstDropped;
  return `${label}: ${enc.dropped} row${enc.dropped > 1 ? 's' : ''} dropped for a missing coordinate, time or covariate ` +
    `(first: row ${row}, column '${column}'); use --strict to make this an error`;
}

const ROLE_WORDS = { s: 'spatial coordinate', t: 'time column', x: 'covariate', f: 'output' } as const;

/** "2 spatial coordinates (lon, lat), 1 time column (time) and 1 output (pm10)": a schema's columns in words. */
export function describeSchemaColumns(predictor: Predictor, withValues: boolean): string {
  const roles = schemaColumns(predictor.config.data);
  const parts: string[] = [];
  for (const g of ['s', 't', 'x', 'f'] as const) {
    if (g === 'f' && !withValues) continue;
    const names = roles[g];
    if (names.length > 0) parts.push(`${names.length} ${ROLE_WORDS[g]}${names.length > 1 ? 's' : ''} (${names.join(', ')})`);
  }
  return parts.length <= 1 ? parts.join('') : `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}`;
}

/**
 * Checks that a table has every column the model's schema needs (outputs too when `withValues`):
 * a `UserError` lists the missing ones with a did-you-mean, says what the model expects, and names a
 * dimension mismatch for default column names (s0, s1 given to a model of s0, s1, s2).
 */
export function checkColumns(predictor: Predictor, names: readonly string[], withValues: boolean, label: string): void {
  const roles = schemaColumns(predictor.config.data);
  const need = [...roles.s, ...roles.t, ...roles.x, ...(withValues ? roles.f : [])];
  const missing = need.filter((c) => !names.includes(c));
  if (missing.length === 0) return;
  const list = missing.map((c) => {
    const g = didYouMean(c, names.filter((n) => !need.includes(n)));
    return `'${c}'${g !== undefined ? ` (did you mean '${g}'?)` : ''}`;
  }).join(', ');
  const hints: string[] = [];
  for (const g of ['s', 't', 'x'] as const) {
    const want = roles[g];
    const pattern = new RegExp(`^${g}\\d+$`);
    if (want.length === 0 || !want.every((c) => pattern.test(c))) continue;
    const got = names.filter((c) => pattern.test(c)).length;
    if (got !== want.length) hints.push(`the model takes ${want.length} ${ROLE_WORDS[g]}${want.length === 1 ? '' : 's'}, the table has ${got}`);
  }
  throw new UserError(`${predictor.command}: ${label}: missing column${missing.length > 1 ? 's' : ''} ${list}` +
    `${hints.length > 0 ? `; dimension mismatch: ${hints.join('; ')}` : ''}. The model in '${predictor.folder}' expects ` +
    `${describeSchemaColumns(predictor, withValues)}; the table has: ${names.join(', ')}`);
}

/** Encodes `context` and sets it as the predictor's context; returns the number of context points. */
export function setContextTable(predictor: Predictor, context: Table, label = 'context', options: Pick<PredictTableOptions, 'strict' | 'onWarning'> = {}): number {
  if (context.rows === 0) throw new UserError(`${predictor.command}: the ${label} is empty: at least one observation is needed`);
  const schema = predictor.config.data;
  checkColumns(predictor, context.names, true, label);
  const enc = asUserError(predictor, () => encode(context, schema, { label, values: true, strict: options.strict ?? false }, predictor.modelClasses));
  const w = droppedWarning(enc, `${predictor.command}: ${label}`);
  if (w) options.onWarning?.(w);
  return predictor.setContextEncoded(enc, label);
}

/** Column names of the output table for targets with columns `targetNames`; see the file comment. */
export function predictionColumns(predictor: Predictor, targetNames: readonly string[]): { carried: string[]; inputs: string[]; outputs: string[] } {
  const roles = schemaColumns(predictor.config.data);
  const inputs = [...roles.s, ...roles.t, ...roles.x];
  const named = new Set([...inputs, ...roles.f]);
  const carried = targetNames.filter((n) => !named.has(n));
  const outputs = predictor.outputColumns();
  for (const n of outputs) {
    if (targetNames.includes(n)) throw new UserError(`${predictor.command}: the targets already have a column '${n}', which the prediction would overwrite; rename it`);
  }
  return { carried, inputs, outputs };
}

/**
 * Predicts one table of targets from the context already set: the output table of the file comment
 * (rows dropped for missing inputs are left out). `onChunk` reports progress within this table.
 */
export async function predictTargets(predictor: Predictor, targets: Table, options: PredictTableOptions = {}, label = 'targets'): Promise<Table> {
  const chunk = options.chunk ?? 4096;
  checkColumns(predictor, targets.names, false, label);
  const { carried, inputs, outputs } = predictionColumns(predictor, targets.names);
  const enc = asUserError(predictor, () => encode(targets, predictor.config.data,
    { label, values: false, strict: options.strict ?? false, rowOffset: options.rowOffset ?? 0 }, predictor.modelClasses));
  if (options.onDropped) {
    if (enc.dropped > 0) options.onDropped(enc.dropped, enc.firstDropped!);
  } else {
    const w = droppedWarning(enc, `${predictor.command}: ${label}`);
    if (w) options.onWarning?.(w);
  }
  const out = outputs.map(() => new Float64Array(enc.n));
  for (let start = 0; start < enc.n; start += chunk) {
    const n = Math.min(chunk, enc.n - start);
    const coords: EncodedTable['coords'] = {};
    for (const g of ['x', 's', 't'] as const) {
      const c = enc.coords[g];
      if (!c) continue;
      const dims = c.length / enc.n;
      coords[g] = c.subarray(start * dims, (start + n) * dims);
    }
    const cols = await predictor.predictEncoded(coords, n);
    cols.forEach((c, k) => out[k]!.set(c, start));
    await options.onChunk?.(start + n, enc.n);
  }
  const keep = enc.n === targets.rows ? null : enc.rowIndex;
  const pick = (c: Column): Column => {
    if (!keep) return c;
    if (c.kind === 'number') return { kind: 'number', values: Float64Array.from(keep, (i) => c.values[i]!) };
    return { kind: 'text', values: Array.from(keep, (i) => c.values[i]!) };
  };
  const source = [...carried, ...inputs].map((n) => pick(targets.columns[targets.names.indexOf(n)]!));
  const columns: Column[] = [...source, ...out.map((values) => ({ kind: 'number' as const, values }))];
  return makeTable([...carried, ...inputs, ...outputs], columns, 'predictions');
}

/** `setContextTable` then `predictTargets`. */
export async function predictTable(predictor: Predictor, context: Table, targets: Table, options: PredictTableOptions = {}): Promise<Table> {
  setContextTable(predictor, context, 'context', options);
  return predictTargets(predictor, targets, options);
}
