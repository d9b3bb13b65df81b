/**
 * Parquet tables through hyparquet, one row group at a time, reading only the requested columns
 * (Parquet is columnar: the other columns' bytes are never read). Value types: numbers and 64-bit
 * integers → number columns; strings, booleans → text; dates and timestamps → ISO 8601 text (UTC),
 * which the schema reads as times; null → missing. Nested columns (lists, structs) are not
 * supported and named in the error. A file that is not valid Parquet is a `TableError` naming it.
 * Node only.
 */
import { asyncBufferFromFile, parquetMetadataAsync, parquetRead, parquetSchema, type AsyncBuffer, type FileMetaData } from 'hyparquet';
import { type Table, TableError } from '../data/table.js';
import { didYouMean } from '../models/config-checks.js';
import { ColumnBuilder, takeTable } from './table-columns.js';

export interface ParquetTableOptions {
  label: string;
  columns?: readonly string[];
}

function pushValue(b: ColumnBuilder, v: unknown): void {
  if (v === null || v === undefined) return b.pushMissing();
  if (typeof v === 'number') return b.pushNumber(v);
  if (typeof v === 'bigint') return b.pushNumber(Number(v));
  if (v instanceof Date) {
    const t = v.getTime();
    return Number.isNaN(t) ? b.pushMissing() : b.pushString(v.toISOString().replace('.000Z', 'Z'));
  }
  if (typeof v === 'string') return b.pushString(v);
  if (typeof v === 'boolean') return b.pushString(String(v));
  throw new TableError(`column '${b.name}' holds ${Array.isArray(v) ? 'lists' : typeof v === 'object' ? 'nested records' : typeof v} values, which a table column cannot (flatten it first)`);
}

/** Streams a Parquet file as one table per row group (the kept columns only). */
export async function* streamParquetTable(file: string, options: ParquetTableOptions): AsyncGenerator<Table, { header: string[] }, void> {
  const { label } = options;
  let buffer: AsyncBuffer;
  let metadata: FileMetaData;
  try {
    buffer = await asyncBufferFromFile(file);
    metadata = await parquetMetadataAsync(buffer);
  } catch (e) {
    throw new TableError(`${label}: not a readable Parquet file (${(e as Error).message}); is it complete, and really Parquet?`);
  }
  const tree = parquetSchema(metadata);
  const header = tree.children.map((c) => c.element.name);
  const names = options.columns ? [...options.columns] : header;
  const missing = names.filter((c) => !header.includes(c));
  if (missing.length > 0) {
    const hint = (c: string) => { const g = didYouMean(c, header); return g !== undefined ? ` (did you mean '${g}'?)` : ''; };
    throw new TableError(`${label}: no column${missing.length > 1 ? 's' : ''} ${missing.map((c) => `'${c}'${hint(c)}`).join(', ')}; the file has: ${header.join(', ')}`);
  }
  for (const n of names) {
    const node = tree.children.find((c) => c.element.name === n)!;
    if (node.children.length > 0) throw new TableError(`${label}: column '${n}' is nested (a list or struct); only flat columns can be read`);
  }
  if (Number(metadata.num_rows) === 0) throw new TableError(`${label} has no rows`);
  let rowStart = 0;
  for (const group of metadata.row_groups) {
    const rows = Number(group.num_rows);
    const rowEnd = rowStart + rows;
    const data = new Map<string, { start: number; values: ArrayLike<unknown> }[]>();
    try {
      await parquetRead({
        file: buffer, metadata, columns: names, rowStart, rowEnd,
        onChunk: (c) => {
          const list = data.get(c.columnName) ?? [];
          list.push({ start: c.rowStart, values: c.columnData as ArrayLike<unknown> });
          data.set(c.columnName, list);
        },
      });
    } catch (e) {
      throw new TableError(`${label}: cannot read rows ${rowStart + 1}-${rowEnd} (${(e as Error).message}); the file may be corrupt`);
    }
    const builders = names.map((n) => new ColumnBuilder(n));
    names.forEach((n, k) => {
      const b = builders[k]!;
      const parts = (data.get(n) ?? []).sort((a, c) => a.start - c.start);
      let at = rowStart;
      for (const p of parts) {
        for (let i = Math.max(0, at - p.start); i < p.values.length && p.start + i < rowEnd; i++) {
          try {
            pushValue(b, p.values[i]);
          } catch (e) {
            throw new TableError(`${label}: row ${p.start + i + 1}: ${(e as Error).message}`);
          }
          at = p.start + i + 1;
        }
      }
      if (b.length !== rows) throw new TableError(`${label}: column '${n}' has ${b.length} values in rows ${rowStart + 1}-${rowEnd}, expected ${rows}; the file may be corrupt`);
    });
    yield takeTable(builders, label);
    rowStart = rowEnd;
  }
  return { header };
}
