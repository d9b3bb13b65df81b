/**
 * A user's table → the encoded rows the table tasks draw from (data/table-tasks.ts `EncodedRows`):
 * model-space s/t/x and values through the schema's `encode` (data/schema), plus what the tasks
 * need beside them: the raw time of each row (in the schema's time unit; its distinct values are
 * the time steps) and a location id (rows with the same raw `s` values are one station).
 * Also the schema fitted on a subset of rows (the training split), so that normalisation and
 * categories never see validation or test data. No Node built-ins.
 */
import { encode, fitSchema, numbersOf, timesOf, type EncodedTable, type SchemaFlags } from '../data/schema/index.js';
import type { EncodedRows } from '../data/table-tasks.js';
import { makeTable, type Column, type Table } from '../data/table.js';
import type { DataSchema } from '../models/config.js';

/** The rows of `table` at `pick` (0-based), as a new table. */
export function tableRows(table: Table, pick: ArrayLike<number>): Table {
  const columns: Column[] = table.columns.map((c) => c.kind === 'number'
    ? { kind: 'number', values: Float64Array.from(pick, (i) => c.values[i]!) }
    : { kind: 'text', values: Array.from(pick, (i) => c.values[i]!) });
  return makeTable(table.names, columns);
}

/** Raw (data-unit) time of every table row: the first `t` column, NaN where missing; null without `t`. */
export function rawTimes(table: Table, schema: DataSchema, label: string): Float64Array | null {
  const t = schema.columns.t[0];
  if (t === undefined) return null;
  const enc = schema.times?.[t];
  return enc ? timesOf(table, t, enc, label) : numbersOf(table, t, label);
}

/** Location id of every table row from its raw `s` values (equal values → equal id). */
export function locationIds(table: Table, schema: DataSchema, label: string): Int32Array {
  const cols = schema.columns.s.map((s) => numbersOf(table, s, label));
  const ids = new Map<string, number>();
  const out = new Int32Array(table.rows);
  for (let i = 0; i < table.rows; i++) {
    const key = cols.map((c) => c[i]).join(',');
    let id = ids.get(key);
    if (id === undefined) { id = ids.size; ids.set(key, id); }
    out[i] = id;
  }
  return out;
}

/** Encodes `table` with `schema` into task rows (rows missing an input are dropped by `encode`). */
export function encodeRows(table: Table, schema: DataSchema, label: string): { rows: EncodedRows; enc: EncodedTable } {
  const enc = encode(table, schema, { label, values: true });
  if (enc.f === null || enc.observed === null) throw new Error(`${label}: the output column(s) ${schema.columns.f.join(', ')} are missing`);
  if (enc.classes !== null) throw new Error(`${label}: training on a categorical output is not supported yet; give a numeric --f`);
  const time = rawTimes(table, schema, label);
  const loc = locationIds(table, schema, label);
  const dims = {
    Ds: schema.columns.s.length, Dt: schema.columns.t.length, Dx: schema.columns.x.length, Df: enc.fWidth,
  };
  const rows: EncodedRows = {
    n: enc.n, dims,
    s: enc.coords.s ?? new Float32Array(0),
    t: enc.coords.t ?? null,
    x: enc.coords.x ?? null,
    f: enc.f,
    fMask: enc.observed,
    time: time === null ? null : Float64Array.from(enc.rowIndex, (r) => time[r]!),
    location: Int32Array.from(enc.rowIndex, (r) => loc[r]!),
  };
  return { rows, enc };
}

/**
 * The schema for a table run: columns and kinds from the whole table, then fitted again on the
 * rows `trainRows` (0-based table rows) only, so normalisation and categories come from training
 * data alone.
 */
export function fitSchemaOn(table: Table, flags: SchemaFlags, trainRows: ArrayLike<number>, label: string): DataSchema {
  return fitSchema(tableRows(table, trainRows), flags, `${label} (training part)`);
}
