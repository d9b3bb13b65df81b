/**
 * A table of observations in memory, as every reader produces it (CSV, Parquet, GeoJSON, JSON
 * records) and every front end hands it to the prediction API: named columns, each either numbers
 * (float64, NaN = missing) or text (null = missing). Columns keep the user's names and order.
 * No Node built-ins (runs in browsers).
 */
import { didYouMean } from '../models/config-checks.js';

export type Column =
  | { readonly kind: 'number'; readonly values: Float64Array }
  | { readonly kind: 'text'; readonly values: readonly (string | null)[] };

export interface Table {
  readonly names: readonly string[];
  readonly columns: readonly Column[];
  readonly rows: number;
}

/** A table problem (unknown column, wrong type); the message is ready to show to the user. */
export class TableError extends Error {
  override name = 'TableError';
}

/** Checks names are unique and every column has `rows` entries; returns the table. */
export function makeTable(names: readonly string[], columns: readonly Column[], label = 'table'): Table {
  if (names.length !== columns.length) throw new TableError(`${label}: expected one name per column, got ${names.length} names for ${columns.length} columns`);
  const seen = new Set<string>();
  for (const n of names) {
    if (seen.has(n)) throw new TableError(`${label}: column '${n}' appears twice; column names must be unique`);
    seen.add(n);
  }
  const rows = columns[0]?.values.length ?? 0;
  columns.forEach((c, i) => {
    if (c.values.length !== rows) throw new TableError(`${label}: column '${names[i]}' has ${c.values.length} rows, expected ${rows}`);
  });
  return { names: [...names], columns: [...columns], rows };
}

/** The column called `name`, or a `TableError` with a did-you-mean. */
export function getColumn(table: Table, name: string, label = 'table'): Column {
  const i = table.names.indexOf(name);
  if (i >= 0) return table.columns[i]!;
  const guess = didYouMean(name, table.names);
  throw new TableError(`${label}: no column '${name}'${guess !== undefined ? `; did you mean '${guess}'?` : ''} (columns: ${table.names.join(', ')})`);
}

/**
 * A numeric column as float64 (NaN = missing). A text column is an error naming the first row
 * whose text is not a number; numeric text ("1.5") is converted.
 */
export function numericColumn(table: Table, name: string, label = 'table'): Float64Array {
  const c = getColumn(table, name, label);
  if (c.kind === 'number') return c.values;
  const out = new Float64Array(table.rows);
  c.values.forEach((v, i) => {
    if (v === null || v.trim() === '') { out[i] = NaN; return; }
    const x = Number(v);
    if (!Number.isFinite(x) && !/^\s*(nan|na)\s*$/i.test(v)) {
      throw new TableError(`${label}: row ${i + 1}, column '${name}': expected a number, got '${v}'`);
    }
    out[i] = x;
  });
  return out;
}

/**
 * A table from JSON records (`[{ "s0": 0.1, "f": 1.2 }, ...]`), the form the HTTP service takes.
 * Columns are the union of the records' keys in first-seen order; a missing key or `null` is a
 * missing value. Numbers and numeric-looking values give number columns; any other string makes a
 * text column. Objects, arrays and booleans are errors naming record and key.
 */
export function tableFromRecords(records: readonly unknown[], label = 'records'): Table {
  const names: string[] = [];
  const index = new Map<string, number>();
  records.forEach((r, i) => {
    if (r === null || typeof r !== 'object' || Array.isArray(r)) {
      throw new TableError(`${label}[${i}]: expected an object of column values, got ${r === null ? 'null' : Array.isArray(r) ? 'an array' : typeof r}`);
    }
    for (const k of Object.keys(r)) if (!index.has(k)) { index.set(k, names.length); names.push(k); }
  });
  const raw = names.map(() => new Array<unknown>(records.length).fill(null));
  records.forEach((r, i) => {
    for (const [k, v] of Object.entries(r as Record<string, unknown>)) raw[index.get(k)!]![i] = v;
  });
  const columns: Column[] = raw.map((vals, j) => {
    const text = vals.some((v) => typeof v === 'string');
    vals.forEach((v, i) => {
      if (v !== null && typeof v !== 'number' && typeof v !== 'string') {
        throw new TableError(`${label}[${i}].${names[j]}: expected a number, a string or null, got ${Array.isArray(v) ? 'an array' : typeof v}`);
      }
    });
    if (text) return { kind: 'text', values: vals.map((v) => (v === null ? null : String(v))) };
    return { kind: 'number', values: Float64Array.from(vals, (v) => (v === null ? NaN : (v as number))) };
  });
  return makeTable(names, columns, label);
}

/** Rows of a table as JSON records (numbers, strings; NaN and missing become null). */
export function tableToRecords(table: Table): Record<string, number | string | null>[] {
  const out: Record<string, number | string | null>[] = [];
  for (let i = 0; i < table.rows; i++) {
    const r: Record<string, number | string | null> = {};
    table.names.forEach((n, j) => {
      const c = table.columns[j]!;
      const v = c.values[i]!;
      r[n] = c.kind === 'number' ? (Number.isFinite(v as number) ? (v as number) : null) : (v as string | null);
    });
    out.push(r);
  }
  return out;
}
