/**
 * TEMPORARY stand-in (branch tabletrain) for the `tables` helper's reader of the same name and
 * signature, so `train --data` / `fit` can be built and tested before it lands; replaced by theirs
 * on merge. CSV (papaparse; every column text, numbers recognised later by the schema) and
 * Parquet (hyparquet; timestamps as ISO text, bigints as numbers).
 */
import * as fs from 'node:fs';
import Papa from 'papaparse';
import { parquetReadObjects } from 'hyparquet';
import { TableError, makeTable, tableFromRecords, type Column, type Table } from '../data/table.js';

export interface ReadTableOptions {
  label?: string;
}

export async function readTable(file: string, options: ReadTableOptions = {}): Promise<Table> {
  const label = options.label ?? file;
  if (/\.parquet$/i.test(file)) {
    const buf = fs.readFileSync(file);
    const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
    const records = await parquetReadObjects({ file: ab });
    const clean = records.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k,
      v instanceof Date ? v.toISOString() : typeof v === 'bigint' ? Number(v) : v === undefined ? null : v])));
    return tableFromRecords(clean, label);
  }
  const text = fs.readFileSync(file, 'utf8');
  const parsed = Papa.parse<string[]>(text.replace(/^\uFEFF/, ''), { skipEmptyLines: true });
  if (parsed.errors.length > 0) throw new TableError(`${label}: ${parsed.errors[0]!.message} (row ${(parsed.errors[0]!.row ?? 0) + 1})`);
  const [header, ...rows] = parsed.data;
  if (!header) throw new TableError(`${label}: the file is empty`);
  const columns: Column[] = header.map((_, j) => {
    const vals = rows.map((r) => r[j] ?? null);
    const numeric = vals.every((v) => v === null || v.trim() === '' || Number.isFinite(Number(v)));
    return numeric
      ? { kind: 'number', values: Float64Array.from(vals, (v) => (v === null || v.trim() === '' ? NaN : Number(v))) }
      : { kind: 'text', values: vals.map((v) => (v === null || v.trim() === '' ? null : v)) };
  });
  return makeTable(header.map((h) => h.trim()), columns, label);
}
