/**
 * `readTable(file, options) → Table`: one entry point for the table formats users bring — CSV
 * (also .tsv/.txt; comma, semicolon or tab), Parquet, GeoJSON — chosen by the file's content
 * (Parquet's `PAR1` magic, a JSON object) and its extension. `streamTable` gives the same rows in
 * chunks (CSV in pieces, Parquet by row group) so large files never need to fit in memory; keep
 * only the columns you need with `columns`. Every problem is a `UserError` naming the file: it does
 * not exist, is empty, is none of these formats, is corrupt, lacks a column (did-you-mean), or has a
 * malformed row. Node only.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type Table, TableError } from '../data/table.js';
import { UserError } from '../api/errors.js';
import { concatTables } from './table-columns.js';
import { parseDelimiter, streamCsvTable } from './table-csv.js';
import { readGeoJsonTable } from './table-geojson.js';
import { streamParquetTable } from './table-parquet.js';

export type TableFormat = 'csv' | 'parquet' | 'geojson';

export interface ReadTableOptions {
  /** What the file is, for messages ("context"); the file name is added. Default "table". */
  label?: string;
  /** Keep only these columns (each must exist). Default: all. */
  columns?: readonly string[];
  /** CSV field separator (a character, or tab/comma/semicolon/pipe); detected when absent; ignored for Parquet and GeoJSON. */
  delimiter?: string;
  /** Skip detection. */
  format?: TableFormat;
}

const EXTENSIONS: Record<string, TableFormat> = {
  '.csv': 'csv', '.tsv': 'csv', '.txt': 'csv', '.tab': 'csv',
  '.parquet': 'parquet', '.pq': 'parquet',
  '.geojson': 'geojson', '.json': 'geojson',
};

/** "context 'obs.csv'": the label used in every message about a file. */
export function fileLabel(file: string, label = 'table'): string {
  return `${label} '${file}'`;
}

/**
 * The format of a file from its first bytes (and extension when the bytes allow several): Parquet
 * files start with `PAR1`, GeoJSON with `{`; other text is CSV. Throws a `UserError` for a missing,
 * empty, folder or binary file, and for a `.parquet` file without the Parquet magic.
 */
export function detectFormat(file: string, label: string): TableFormat {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch (e) {
    throw new UserError(`${label} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (stat.isDirectory()) throw new UserError(`${label} is a folder, expected a CSV, Parquet or GeoJSON file`);
  if (stat.size === 0) throw new UserError(`${label} is empty (0 bytes)`);
  const fd = fs.openSync(file, 'r');
  const head = Buffer.alloc(Math.min(4096, stat.size));
  try {
    fs.readSync(fd, head, 0, head.length, 0);
  } finally {
    fs.closeSync(fd);
  }
  const ext = EXTENSIONS[path.extname(file).toLowerCase()];
  if (head.subarray(0, 4).toString('latin1') === 'PAR1') return 'parquet';
  if (ext === 'parquet') throw new UserError(`${label} is not a Parquet file (it does not start with the Parquet magic bytes 'PAR1'); is it complete?`);
  const text = head.toString('utf8').replace(/^\uFEFF/, '');
  if (text.trim() === '') throw new UserError(`${label} is empty (only blank space)`);
  // Binary content (NUL bytes, or many control characters) is none of our formats.
  let control = 0;
  for (const b of head) if (b === 0 || (b < 32 && b !== 9 && b !== 10 && b !== 13)) control++;
  if (head.includes(0) || control > head.length / 20) {
    throw new UserError(`${label} is not a CSV, Parquet or GeoJSON file (it holds binary data)`);
  }
  if (text.trimStart().startsWith('{')) return 'geojson';
  if (ext === 'geojson') throw new UserError(`${label} is not GeoJSON (it does not start with '{')`);
  return 'csv';
}

function wrap(e: unknown): never {
  if (e instanceof TableError) throw new UserError(e.message);
  throw e;
}

/**
 * Streams a table file in chunks of rows (CSV: about `chunkRows` rows; Parquet: one row group;
 * GeoJSON: the whole file). Every chunk has the same column names.
 */
export async function* streamTable(file: string, options: ReadTableOptions = {}, chunkRows = 65536): AsyncGenerator<Table, void, void> {
  const label = fileLabel(file, options.label);
  const format = options.format ?? detectFormat(file, label);
  try {
    if (format === 'geojson') {
      yield readGeoJsonTable(file, { label, ...(options.columns ? { columns: options.columns } : {}) });
      return;
    }
    const gen = format === 'parquet'
      ? streamParquetTable(file, { label, ...(options.columns ? { columns: options.columns } : {}) })
      : streamCsvTable(file, {
        label,
        ...(options.columns ? { columns: options.columns } : {}),
        ...(options.delimiter !== undefined ? { delimiter: parseDelimiter(options.delimiter) } : {}),
      }, chunkRows);
    for await (const t of gen) yield t;
  } catch (e) {
    wrap(e);
  }
}

/** Reads a whole table file (see `streamTable`; chunks are joined). */
export async function readTable(file: string, options: ReadTableOptions = {}): Promise<Table> {
  const parts: Table[] = [];
  for await (const t of streamTable(file, options)) parts.push(t);
  if (parts.length === 1) return parts[0]!;
  try {
    return concatTables(parts, parts[0]!.names, fileLabel(file, options.label));
  } catch (e) {
    wrap(e);
  }
}

/** The column names of a table file (reads the header / metadata, or the whole GeoJSON). */
export async function readTableHeader(file: string, options: ReadTableOptions = {}): Promise<string[]> {
  for await (const t of streamTable(file, options, 1)) return [...t.names];
  return [];
}
