/**
 * CSV (and TSV, semicolon-separated) tables through papaparse, streamed: the file is parsed in
 * pieces and only the requested columns are kept, as float64 where the cells are numbers. RFC 4180
 * quoting (quoted fields may hold delimiters, quotes "" and newlines); a header row of unique names;
 * a UTF-8 BOM is skipped; blank lines are skipped. The delimiter is given (`--delimiter`) or detected
 * from the header line (the most frequent of , ; tab outside quotes). Rows are counted from 1 at the
 * first row after the header. With a semicolon delimiter, decimal commas ("1,5") are read as
 * numbers. Node only.
 */
import * as fs from 'node:fs';
import Papa from 'papaparse';
import { type Table, TableError } from '../data/table.js';
import { didYouMean } from '../models/config-checks.js';
import { ColumnBuilder, takeTable } from './table-columns.js';

export interface CsvTableOptions {
  /** What the file is, for messages ("context 'obs.csv'"). */
  label: string;
  /** Keep only these columns (each must exist). Default: all. */
  columns?: readonly string[];
  /** Field separator; detected from the header line when absent. */
  delimiter?: string;
}

/** Names `delimiter` options may use for awkward characters. */
export function parseDelimiter(text: string): string {
  const named: Record<string, string> = { tab: '\t', '\\t': '\t', comma: ',', semicolon: ';', pipe: '|', space: ' ' };
  const d = named[text.toLowerCase()] ?? text;
  if (d.length !== 1 || d === '"' || d === '\n' || d === '\r') {
    throw new TableError(`--delimiter: expected one character (or tab, comma, semicolon, pipe), got '${text}'`);
  }
  return d;
}

/** The delimiter of a header line: the most frequent of , ; tab outside quotes (comma on a tie or none). */
export function detectDelimiter(firstLine: string): string {
  const counts = new Map<string, number>([[',', 0], [';', 0], ['\t', 0]]);
  let quoted = false;
  for (const ch of firstLine) {
    if (ch === '"') quoted = !quoted;
    else if (!quoted && counts.has(ch)) counts.set(ch, counts.get(ch)! + 1);
  }
  let best = ',', n = 0;
  for (const [d, c] of counts) if (c > n) { best = d; n = c; }
  return best;
}

/** The first non-blank line of a file (up to 1 MiB read), for delimiter detection; '' when none. */
function firstLine(file: string): string {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(1 << 20);
    const n = fs.readSync(fd, buf, 0, buf.length, 0);
    const text = buf.subarray(0, n).toString('utf8').replace(/^\uFEFF/, '');
    for (const line of text.split(/\r?\n/)) if (line.trim() !== '') return line;
    return '';
  } finally {
    fs.closeSync(fd);
  }
}

/** Checks a header and picks the kept columns' positions. */
function headerColumns(header: readonly string[], options: CsvTableOptions): { names: string[]; at: number[] } {
  const { label } = options;
  const seen = new Set<string>();
  header.forEach((n, i) => {
    if (n === '') throw new TableError(`${label}: header column ${i + 1} has an empty name`);
    if (seen.has(n)) throw new TableError(`${label}: the header names column '${n}' twice; column names must be unique`);
    seen.add(n);
  });
  const names = options.columns ? [...options.columns] : [...header];
  const missing = names.filter((c) => !seen.has(c));
  if (missing.length > 0) {
    const hint = (c: string) => { const g = didYouMean(c, header); return g !== undefined ? ` (did you mean '${g}'?)` : ''; };
    throw new TableError(`${label}: no column${missing.length > 1 ? 's' : ''} ${missing.map((c) => `'${c}'${hint(c)}`).join(', ')}; the file has: ${header.join(', ')}`);
  }
  return { names, at: names.map((c) => header.indexOf(c)) };
}

/**
 * Streams a CSV file as tables of at most `chunkRows` rows (the kept columns only). Errors are
 * `TableError`s naming the file, row and problem (wrong number of cells, a broken quote).
 */
export async function* streamCsvTable(file: string, options: CsvTableOptions, chunkRows = 65536): AsyncGenerator<Table, { header: string[] }, void> {
  const delimiter = options.delimiter ?? detectDelimiter(firstLine(file));
  const { label } = options;
  const stream = fs.createReadStream(file, { encoding: 'utf8' });
  const ready: Table[] = [];
  let failure: Error | null = null;
  let finished = false;
  let wake: (() => void) | null = null;
  const ref: { parser: Papa.Parser | null } = { parser: null };
  let paused = false;
  let header: string[] | null = null;
  let picked: { names: string[]; at: number[] } | null = null;
  let builders: ColumnBuilder[] = [];
  let row = 0;
  const signal = () => { const w = wake; wake = null; w?.(); };
  const fail = (e: Error) => { failure ??= e; ref.parser?.abort(); signal(); };

  Papa.parse<string[]>(stream as unknown as File, {
    delimiter,
    skipEmptyLines: 'greedy',
    chunk(results, parser) {
      ref.parser = parser;
      if (failure) return;
      try {
        const base = header === null ? 0 : row + 1;
        for (const err of results.errors) {
          if (err.type === 'Quotes') throw new TableError(`${label}: row ${Math.max(1, base + (err.row ?? 0))}: ${err.code === 'MissingQuotes' ? 'a quoted field is never closed' : 'a quote inside an unquoted field'} (RFC 4180: quote a field that holds quotes, delimiters or line breaks, and double the quotes inside it)`);
        }
        for (const cells of results.data) {
          if (header === null) {
            header = cells.map((c, i) => (i === 0 ? c.replace(/^\uFEFF/, '') : c).trim());
            picked = headerColumns(header, options);
            builders = picked.names.map((n) => new ColumnBuilder(n, delimiter === ';'));
            continue;
          }
          row++;
          if (cells.length !== header.length) {
            throw new TableError(`${label}: row ${row}: expected ${header.length} cells (${header.length > 8 ? `${header.slice(0, 8).join(', ')}, ...` : header.join(', ')}), got ${cells.length}` +
              (cells.length === 1 && header.length > 1 ? `; is the delimiter right? (using '${delimiter === '\t' ? 'tab' : delimiter}'; set it with --delimiter)` : ''));
          }
          const at = picked!.at;
          for (let k = 0; k < at.length; k++) builders[k]!.pushText(cells[at[k]!]!);
          if (builders[0] && builders[0].length >= chunkRows) ready.push(takeTable(builders, label));
        }
        if (ready.length > 1 && !paused) { paused = true; parser.pause(); }
      } catch (e) {
        fail(e as Error);
        return;
      }
      signal();
    },
    complete() {
      finished = true;
      signal();
    },
    error(e) {
      fail(new TableError(`${label}: cannot be read (${e.message})`));
    },
  });
  try {
    for (;;) {
      if (failure) throw failure;
      if (ready.length > 0) {
        const t = ready.shift()!;
        if (paused && ready.length === 0) { paused = false; ref.parser?.resume(); }
        yield t;
        continue;
      }
      if (finished) break;
      await new Promise<void>((resolve) => { wake = resolve; });
    }
    if (failure) throw failure;
    if (header === null) throw new TableError(`${label} is empty (expected a header row of column names, then one row per observation)`);
    if (row === 0) throw new TableError(`${label} has a header but no data rows`);
    if (builders.length > 0 && builders[0]!.length > 0) yield takeTable(builders, label);
    return { header: header as string[] };
  } finally {
    if (!finished) ref.parser?.abort();
    stream.destroy();
  }
}
