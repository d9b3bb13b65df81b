/**
 * Reading one table column the way the schema needs it, with errors that name the table, row and
 * column: numbers (text cells parsed; the missing markers '', NA, NaN, null, N/A → missing),
 * times (ISO 8601 text or numbers), and category labels. No Node built-ins.
 */
import { type Column, type Table, TableError, getColumn } from '../table.js';
import { parseIsoMs, UNIT_MS } from './time.js';
import type { TimeEncoding } from '../../models/data-schema.js';

/** Cells that mean "no value" in any text column (case-insensitive, trimmed). */
export const MISSING_MARKERS: readonly string[] = ['', 'na', 'nan', 'null', 'n/a', 'none'];

export function isMissingText(v: string | null): boolean {
  return v === null || MISSING_MARKERS.includes(v.trim().toLowerCase());
}

function show(v: string): string {
  return v.length > 40 ? `${v.slice(0, 37)}...` : v;
}

/**
 * A column as float64 (NaN = missing); a text cell that is not a number is an error naming row and
 * column. `rowOffset`: rows before this table (a chunk of a larger file), for messages.
 */
export function numbersOf(table: Table, name: string, label: string, rowOffset = 0): Float64Array {
  const c = getColumn(table, name, label);
  if (c.kind === 'number') return c.values;
  const out = new Float64Array(table.rows);
  c.values.forEach((v, i) => {
    if (isMissingText(v)) { out[i] = NaN; return; }
    const x = Number(v!.trim());
    if (!Number.isFinite(x)) {
      throw new TableError(`${label}: row ${i + 1 + rowOffset}, column '${name}': expected a number, got '${show(v!)}'`);
    }
    out[i] = x;
  });
  return out;
}

/** Whether a column holds text that is not all numbers/missing (a category or time column). */
export function isTextColumn(c: Column): boolean {
  if (c.kind === 'number') return false;
  return c.values.some((v) => !isMissingText(v) && !Number.isFinite(Number(v!.trim())));
}

/** A time column in `enc.unit`s (NaN = missing); an unparseable time names row, column and value. */
export function timesOf(table: Table, name: string, enc: TimeEncoding, label: string, rowOffset = 0): Float64Array {
  const c = getColumn(table, name, label);
  if (enc.format === 'number' || c.kind === 'number') {
    if (enc.format === 'iso' && c.kind === 'number') {
      throw new TableError(`${label}: column '${name}': expected ISO 8601 dates/times (as the model was trained), got numbers`);
    }
    return numbersOf(table, name, label, rowOffset);
  }
  const unit = UNIT_MS[enc.unit];
  const out = new Float64Array(table.rows);
  c.values.forEach((v, i) => {
    if (isMissingText(v)) { out[i] = NaN; return; }
    const ms = parseIsoMs(v!);
    if (Number.isNaN(ms)) {
      throw new TableError(`${label}: row ${i + 1 + rowOffset}, column '${name}': cannot read '${show(v!)}' as an ISO 8601 date/time ` +
        `(e.g. 2024-01-31 or 2024-01-31T14:00:00Z)`);
    }
    out[i] = ms / unit;
  });
  return out;
}

/** Category labels of a column (text as is, numbers as their shortest text), null = missing. */
export function labelsOf(table: Table, name: string, label: string): (string | null)[] {
  const c = getColumn(table, name, label);
  if (c.kind === 'number') return Array.from(c.values, (v) => (Number.isNaN(v) ? null : String(v)));
  return c.values.map((v) => (isMissingText(v) ? null : v!.trim()));
}
