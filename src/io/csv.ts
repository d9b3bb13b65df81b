/**
 * Numeric CSV for the command line (Node only): a streaming reader with errors that name the file
 * role, row and column, and a writer that never leaves partial output (temp file + rename).
 *
 * Accepted input: a header row of unique column names, then one row of numbers per line; RFC 4180
 * quotes around a field are allowed (no newlines inside quotes); `\r\n` or `\n`; a UTF-8 BOM is
 * skipped; blank lines are skipped. Cells must be finite decimal numbers: NaN, Infinity, empty and
 * non-numeric cells are errors ("row 3 (line 4), column 'f': expected a number, got 'abc'").
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { AtomicTextFile } from './atomic-text.js';

/** A CSV input or output problem; the message is ready to show to the user. */
export class CsvError extends Error {
  override name = 'CsvError';
}

export interface CsvReadOptions {
  /** What the file is, for messages: "predict: context CSV". */
  label: string;
  /** Columns to return, in this order; all must be present. Default: every column of the file. */
  columns?: readonly string[];
  /** With `columns`: a file column that is not listed is an error (the user named columns explicitly). */
  strict?: boolean;
  /** Allow a header with no data rows (default: error). */
  allowEmpty?: boolean;
}

export interface CsvData {
  /** The file's header, as written. */
  header: string[];
  /** Returned column names (`options.columns`, or the header). */
  columns: string[];
  rows: number;
  /** One array per returned column, `rows` long. float64, so raw coordinates and times keep precision. */
  values: Map<string, Float64Array>;
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** Splits one CSV line into trimmed fields, honouring double quotes. */
export function splitCsvLine(line: string, where: () => string): string[] {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    while (line[i] === ' ' || line[i] === '\t') i++;
    if (line[i] === '"') {
      let field = '';
      i++;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q < 0) throw new CsvError(`${where()}: unterminated quoted field`);
        field += line.slice(i, q);
        if (line[q + 1] === '"') {
          field += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      while (line[i] === ' ' || line[i] === '\t') i++;
      if (i < line.length && line[i] !== ',') throw new CsvError(`${where()}: unexpected text after a quoted field`);
      out.push(field);
    } else {
      const comma = line.indexOf(',', i);
      const end = comma < 0 ? line.length : comma;
      out.push(line.slice(i, end).trim());
      i = end;
    }
    if (i >= line.length) return out;
    i++; // skip the comma
  }
}

/** Incremental parser shared by the file and string readers. */
class CsvParser {
  header: string[] | null = null;
  private select: number[] = [];
  columns: string[] = [];
  rows = 0;
  private lineNo = 0;

  constructor(private readonly options: CsvReadOptions) {}

  /** Feeds one line; true when it was a data row (its selected values are then in `out`). */
  line(raw: string, out: Float64Array): boolean {
    this.lineNo++;
    let text = raw;
    if (this.lineNo === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    if (text.trim() === '') return false;
    const label = this.options.label;
    if (this.header === null) {
      this.readHeader(splitCsvLine(text, () => `${label}: header (line ${this.lineNo})`));
      return false;
    }
    const where = () => `${label}: row ${this.rows + 1} (line ${this.lineNo})`;
    const cells = splitCsvLine(text, where);
    if (cells.length !== this.header.length) {
      throw new CsvError(`${where()}: expected ${this.header.length} cells (${this.header.join(', ')}), got ${cells.length}`);
    }
    for (let k = 0; k < this.select.length; k++) {
      const j = this.select[k]!;
      const cell = cells[j]!;
      const name = this.header[j]!;
      if (!NUMBER.test(cell)) {
        const what = cell === '' ? 'an empty cell' : /^[+-]?(nan|inf|infinity)$/i.test(cell) ? `'${cell}' (NaN and Infinity are not allowed)` : `'${cell.length > 30 ? `${cell.slice(0, 27)}...` : cell}'`;
        throw new CsvError(`${where()}, column '${name}': expected a number, got ${what}`);
      }
      const v = Number(cell);
      if (!Number.isFinite(v)) throw new CsvError(`${where()}, column '${name}': '${cell}' is out of range (not finite)`);
      out[k] = v;
    }
    this.rows++;
    return true;
  }

  private readHeader(names: string[]): void {
    const label = this.options.label;
    const seen = new Set<string>();
    names.forEach((n, i) => {
      if (n === '') throw new CsvError(`${label}: header column ${i + 1} has an empty name`);
      if (seen.has(n)) throw new CsvError(`${label}: header names column '${n}' twice`);
      seen.add(n);
    });
    const wanted = this.options.columns ? [...this.options.columns] : names;
    const missing = wanted.filter((c) => !seen.has(c));
    if (missing.length > 0) {
      const list = missing.map((c) => `'${c}'`).join(', ');
      throw new CsvError(`${label} is missing column${missing.length > 1 ? 's' : ''} ${list} (has: ${names.join(', ')})`);
    }
    if (this.options.strict && this.options.columns) {
      const extra = names.filter((n) => !wanted.includes(n));
      if (extra.length > 0) {
        throw new CsvError(`${label} has unknown column${extra.length > 1 ? 's' : ''} ${extra.map((c) => `'${c}'`).join(', ')} (expected: ${wanted.join(', ')})`);
      }
    }
    this.header = names;
    this.columns = wanted;
    this.select = wanted.map((c) => names.indexOf(c));
  }

  finish(): void {
    const label = this.options.label;
    if (this.header === null) throw new CsvError(`${label} is empty (expected a header row of column names)`);
    if (this.rows === 0 && !this.options.allowEmpty) throw new CsvError(`${label} has a header but no data rows`);
  }

  summary(): CsvSummary {
    return { header: this.header ?? [], columns: this.columns, rows: this.rows };
  }
}

/** Growable float64 columns. */
class Columns {
  private data: Float64Array[] = [];
  private rows = 0;

  push(row: Float64Array, n: number): void {
    if (this.data.length === 0) this.data = Array.from({ length: n }, () => new Float64Array(1024));
    if (this.rows === this.data[0]!.length) {
      this.data = this.data.map((c) => {
        const bigger = new Float64Array(c.length * 2);
        bigger.set(c);
        return bigger;
      });
    }
    for (let k = 0; k < n; k++) this.data[k]![this.rows] = row[k]!;
    this.rows++;
  }

  result(summary: CsvSummary): CsvData {
    const values = new Map<string, Float64Array>();
    summary.columns.forEach((c, k) => values.set(c, this.data[k]?.slice(0, this.rows) ?? new Float64Array(0)));
    return { ...summary, values };
  }
}

/** What a streamed read found: the header, the returned columns and the row count. */
export type CsvSummary = Omit<CsvData, 'values'>;

/**
 * Streams the data rows of a CSV file: yields one `Float64Array` per row holding the selected
 * columns in `CsvSummary.columns` order (the array is reused: copy it to keep it), and returns the
 * summary when done. Errors are `CsvError`s naming the row and column.
 */
export async function* readCsvRows(file: string, options: CsvReadOptions): AsyncGenerator<Float64Array, CsvSummary, void> {
  const parser = new CsvParser(options);
  let stream: fs.ReadStream;
  try {
    await fs.promises.access(file, fs.constants.R_OK);
    stream = fs.createReadStream(file, { encoding: 'utf8' });
  } catch (e) {
    throw new CsvError(`${options.label} '${file}' cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const lines = readline.createInterface({ input: stream, crlfDelay: Infinity });
  let row = new Float64Array(0);
  try {
    for await (const line of lines) {
      const headerBefore = parser.header;
      if (parser.line(line, row)) yield row;
      else if (headerBefore === null && parser.header !== null) row = new Float64Array(parser.columns.length);
    }
  } finally {
    lines.close();
    stream.destroy();
  }
  parser.finish();
  return parser.summary();
}

/** Reads a CSV file into float64 columns (streaming: the text is never held whole). */
export async function readCsv(file: string, options: CsvReadOptions): Promise<CsvData> {
  const cols = new Columns();
  const rows = readCsvRows(file, options);
  let next = await rows.next();
  while (!next.done) {
    cols.push(next.value, next.value.length);
    next = await rows.next();
  }
  return cols.result(next.value);
}

/** Parses CSV text held in memory (same rules as `readCsv`). */
export function parseCsv(text: string, options: CsvReadOptions): CsvData {
  const parser = new CsvParser(options);
  const cols = new Columns();
  let row = new Float64Array(0);
  for (const line of text.split(/\r?\n/)) {
    const headerBefore = parser.header;
    if (parser.line(line, row)) cols.push(row, row.length);
    else if (headerBefore === null && parser.header !== null) row = new Float64Array(parser.columns.length);
  }
  parser.finish();
  return cols.result(parser.summary());
}

/**
 * Shortest text that reads back to the same number: float32 values (the model's outputs) print
 * with at most 9 significant digits ("0.1", not "0.10000000149011612"); other values use JS's
 * shortest float64 form.
 */
export function formatNumber(x: number): string {
  if (!Number.isFinite(x)) throw new CsvError(`cannot write non-finite value ${x} to CSV`);
  if (Math.fround(x) !== x || Number.isInteger(x)) return String(x);
  for (let p = 1; p <= 9; p++) {
    const s = x.toPrecision(p);
    if (Math.fround(Number(s)) === x) return String(Number(s));
  }
  return String(x);
}

function quoteName(name: string): string {
  return /[",\r\n]/.test(name) || name !== name.trim() ? `"${name.replace(/"/g, '""')}"` : name;
}

/**
 * Writes a CSV file row by row into `.<name>.tmp-<pid>` beside the target; `close()` fsyncs and
 * renames it into place, `abort()` deletes it. Until `close()` succeeds the target is untouched.
 */
export class CsvWriter {
  private constructor(private readonly out: AtomicTextFile, readonly header: readonly string[]) {}

  get file(): string {
    return this.out.file;
  }

  private get closed(): boolean {
    return this.out.closed;
  }

  static open(file: string, header: readonly string[]): CsvWriter {
    const abs = path.resolve(file);
    const dir = path.dirname(abs);
    if (!fs.existsSync(dir)) throw new CsvError(`output folder '${dir}' does not exist`);
    const w = new CsvWriter(AtomicTextFile.open(abs), [...header]);
    w.push(`${header.map(quoteName).join(',')}\n`);
    return w;
  }

  private push(text: string): void {
    this.out.push(text);
  }

  writeRow(values: ArrayLike<number>): void {
    if (this.closed) throw new CsvError(`${this.file}: write after close`);
    if (values.length !== this.header.length) {
      this.abort();
      throw new CsvError(`${this.file}: row has ${values.length} values, header has ${this.header.length}`);
    }
    let line = '';
    for (let i = 0; i < values.length; i++) {
      let text: string;
      try {
        text = formatNumber(values[i]!);
      } catch (e) {
        this.abort();
        throw new CsvError(`${this.file}: column '${this.header[i]}': ${(e as Error).message}`);
      }
      line += i === 0 ? text : `,${text}`;
    }
    this.push(`${line}\n`);
  }

  /**
   * Writes one row of mixed cells: numbers (shortest form; NaN → empty), text (quoted when it holds
   * a comma, quote, line break or edge spaces), null → empty.
   */
  writeCells(values: readonly (number | string | null)[]): void {
    if (this.closed) throw new CsvError(`${this.file}: write after close`);
    if (values.length !== this.header.length) {
      this.abort();
      throw new CsvError(`${this.file}: row has ${values.length} values, header has ${this.header.length}`);
    }
    let line = '';
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      const text = v === null ? '' : typeof v === 'number' ? (Number.isFinite(v) ? formatNumber(v) : '') : quoteName(v);
      line += i === 0 ? text : `,${text}`;
    }
    this.push(`${line}\n`);
  }

  close(): void {
    this.out.close();
  }

  /** Discards everything written; the target file is left as it was. */
  abort(): void {
    this.out.abort();
  }
}

/** Writes whole columns (all `rows` long) as one CSV file, atomically. */
export function writeCsv(file: string, header: readonly string[], columns: readonly ArrayLike<number>[]): void {
  if (columns.length !== header.length) throw new CsvError(`${file}: ${header.length} column names but ${columns.length} columns`);
  const rows = columns[0]?.length ?? 0;
  columns.forEach((c, i) => {
    if (c.length !== rows) throw new CsvError(`${file}: column '${header[i]}' has ${c.length} values, expected ${rows}`);
  });
  const w = CsvWriter.open(file, header);
  const row = new Float64Array(header.length);
  try {
    for (let r = 0; r < rows; r++) {
      for (let k = 0; k < columns.length; k++) row[k] = columns[k]![r]!;
      w.writeRow(row);
    }
  } catch (e) {
    w.abort();
    throw e;
  }
  w.close();
}
