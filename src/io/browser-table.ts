/**
 * Tables from files the user picked in a browser (no Node built-ins): CSV text through papaparse,
 * Parquet bytes through hyparquet, both into the one `Table` type (data/table.ts) via
 * `tableFromRecords`. Cells stay text or numbers as found; the prediction API converts and checks
 * the model's columns, so a bad cell is reported the way the command line reports it
 * ("context 'obs.csv': row 3, column 'f': expected a number, got 'abc'").
 */
import Papa from 'papaparse';
import { parquetReadObjects } from 'hyparquet';
import { makeTable, type Table, TableError, tableFromRecords } from '../data/table.js';

/** A picked file: a browser `File` (or anything with a name and its bytes). */
export interface TableFile {
  readonly name: string;
  arrayBuffer(): Promise<ArrayBuffer>;
}

/**
 * Parses CSV text: a header row of unique names, then one row per point; blank lines skipped; a
 * UTF-8 BOM skipped; empty cells are missing values. `label` names the file in errors.
 */
export function tableFromCsvText(text: string, label: string): Table {
  const parsed = Papa.parse<string[]>(text.replace(/^\uFEFF/, ''), { header: false, skipEmptyLines: 'greedy', dynamicTyping: false });
  const quoteError = parsed.errors.find((e) => e.type === 'Quotes');
  if (quoteError) throw new TableError(`${label}: row ${quoteError.row ?? 0} has an unterminated quoted field`);
  const [header, ...rows] = parsed.data;
  if (!header) throw new TableError(`${label} is empty (expected a header row of column names)`);
  const names = header.map((h) => h.trim());
  const seen = new Set<string>();
  names.forEach((n, i) => {
    if (n === '') throw new TableError(`${label}: header column ${i + 1} has an empty name`);
    if (seen.has(n)) throw new TableError(`${label}: header names column '${n}' twice`);
    seen.add(n);
  });
  const records = rows.map((cells, r) => {
    if (cells.length !== names.length) {
      throw new TableError(`${label}: row ${r + 1}: expected ${names.length} cells (${names.join(', ')}), got ${cells.length}`);
    }
    const rec: Record<string, string | null> = {};
    names.forEach((n, j) => {
      const v = cells[j]!.trim();
      rec[n] = v === '' ? null : v;
    });
    return rec;
  });
  if (records.length === 0) {
    return makeTable(names, names.map(() => ({ kind: 'number' as const, values: new Float64Array(0) })), label);
  }
  return tableFromRecords(records, label);
}

/** Parses Parquet bytes (every column; int64 becomes a number, dates their ISO text). */
export async function tableFromParquetBytes(bytes: ArrayBuffer, label: string): Promise<Table> {
  let rows: Record<string, unknown>[];
  try {
    rows = await parquetReadObjects({ file: bytes });
  } catch (e) {
    throw new TableError(`${label} cannot be read as Parquet (${e instanceof Error ? e.message : String(e)})`);
  }
  const records = rows.map((r) => {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(r)) {
      out[k] = typeof v === 'bigint' ? Number(v) : v instanceof Date ? v.toISOString() : v === undefined ? null : v;
    }
    return out;
  });
  return tableFromRecords(records, label);
}

/** Reads a picked CSV or Parquet file (by extension; `.parquet`/`.pq` is Parquet, anything else CSV). */
export async function readTableFile(file: TableFile, role: string): Promise<Table> {
  const parquet = /\.(parquet|pq)$/i.test(file.name);
  const label = `${role} '${file.name}'`; // as the command line names files (io/table-read.ts fileLabel)
  const bytes = await file.arrayBuffer();
  if (parquet) return tableFromParquetBytes(bytes, label);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new TableError(`${label} is not UTF-8 text; save it as CSV (UTF-8) or Parquet`);
  }
  return tableFromCsvText(text, label);
}
