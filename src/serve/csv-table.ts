/**
 * CSV text ↔ `Table` for the HTTP service: a request may carry its context and targets as CSV
 * text (a `text/csv` body, or strings inside the JSON), and an answer is CSV when the client asks
 * with `Accept: text/csv`. Unlike the command line's numeric reader (io/csv.ts) columns may hold
 * text (station ids, labels) that is carried through to the answer: a column whose every non-empty
 * cell is a decimal number is a number column, any other column is text. Empty cells, NA and NaN
 * are missing values. Numbers must fit float32 (the model's precision).
 */
import Papa from 'papaparse';
import { type Column, type Table, TableError, makeTable } from '../data/table.js';
import { formatNumber } from '../io/csv.js';
import { HttpError } from './http-error.js';

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const MISSING = /^(|na|nan|null)$/i;

/** Largest finite float32: coordinates and values beyond it cannot reach the model. */
export const FLOAT32_MAX = 3.4028234663852886e38;

/** Checks a number from a request: finite and within float32 range; `where` names the cell. */
export function checkNumber(v: number, where: string, text?: string): void {
  if (!Number.isFinite(v) || Math.abs(v) > FLOAT32_MAX) {
    throw new HttpError(422, `${where}: expected a finite number within float32 range (|x| ≤ 3.4e38), got ${text ?? String(v)}` +
      `${text === undefined && !Number.isFinite(v) ? ' (a number too large to represent, e.g. 1e400)' : ''}`);
  }
}

/**
 * Parses CSV text (header row, then one row per point; RFC 4180 quotes) into a table. Syntax
 * errors are `HttpError(status)`; `label` ("context") names the part of the request.
 */
export function tableFromCsvText(text: string, label: string, status = 422): Table {
  const parsed = Papa.parse<string[]>(text, { delimiter: ',', skipEmptyLines: 'greedy' });
  const err = parsed.errors[0];
  if (err) throw new HttpError(status, `${label} CSV: ${err.message.replace(/\.$/, '')}${err.row !== undefined ? ` (row ${err.row})` : ''}`);
  const [header, ...rows] = parsed.data;
  if (!header) throw new HttpError(422, `${label} CSV is empty: expected a header row of column names, then one row per point`);
  const names = header.map((h) => h.trim());
  rows.forEach((r, i) => {
    if (r.length !== names.length) {
      throw new HttpError(422, `${label} CSV: row ${i + 1} has ${r.length} field${r.length === 1 ? '' : 's'}, the header has ${names.length} (${names.join(', ')})`);
    }
  });
  const columns: Column[] = names.map((name, j) => {
    const cells = rows.map((r) => r[j]!.trim());
    if (cells.every((c) => MISSING.test(c) || NUMBER.test(c))) {
      return {
        kind: 'number',
        values: Float64Array.from(cells, (c, i) => {
          if (MISSING.test(c)) return NaN;
          const v = Number(c);
          checkNumber(v, `${label} CSV: row ${i + 1}, column '${name}'`, `'${c}'`);
          return v;
        }),
      };
    }
    return { kind: 'text', values: cells.map((c) => (c === '' ? null : c)) };
  });
  try {
    return makeTable(names, columns, `${label} CSV`);
  } catch (e) {
    if (e instanceof TableError) throw new HttpError(422, e.message);
    throw e;
  }
}

function quote(text: string): string {
  return /[",\r\n]/.test(text) || text !== text.trim() ? `"${text.replace(/"/g, '""')}"` : text;
}

/** A table as CSV text: header, then one line per row; missing values are empty cells. */
export function tableToCsv(table: Table): string {
  const lines = [table.names.map(quote).join(',')];
  const cells = new Array<string>(table.names.length);
  for (let i = 0; i < table.rows; i++) {
    table.columns.forEach((c, j) => {
      if (c.kind === 'number') {
        const v = c.values[i]!;
        cells[j] = Number.isFinite(v) ? formatNumber(v) : '';
      } else {
        const v = c.values[i];
        cells[j] = v === null || v === undefined ? '' : quote(v);
      }
    });
    lines.push(cells.join(','));
  }
  return `${lines.join('\n')}\n`;
}
