/**
 * Growable table columns for the readers (CSV, Parquet, GeoJSON): a column starts as numbers
 * (float64, NaN = missing) and turns into text the first time it meets a cell that is not a number
 * or a missing marker; a cell with a leading zero ("007") makes it text too (ids keep their form).
 * With a semicolon delimiter a decimal comma ("1,5") reads as 1.5.
 * Missing markers: '', NA, NaN, null, N/A, None (any case). Node-free.
 */
import { type Column, type Table, makeTable } from '../data/table.js';
import { isMissingText } from '../data/schema/columns.js';

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const LEADING_ZERO = /^[+-]?0\d/;
const DECIMAL_COMMA = /^[+-]?\d+,\d+([eE][+-]?\d+)?$/;

export class ColumnBuilder {
  private nums = new Float64Array(256);
  private texts: (string | null)[] | null = null;
  length = 0;

  /** `decimalComma`: read "1,5" as 1.5 (semicolon-separated files, as European spreadsheets write them). */
  constructor(readonly name: string, private readonly decimalComma = false) {}

  private grow(): void {
    const bigger = new Float64Array(this.nums.length * 2);
    bigger.set(this.nums);
    this.nums = bigger;
  }

  private toText(): (string | null)[] {
    const t: (string | null)[] = new Array(this.length);
    for (let i = 0; i < this.length; i++) t[i] = Number.isNaN(this.nums[i]!) ? null : String(this.nums[i]);
    this.texts = t;
    this.nums = new Float64Array(0);
    return t;
  }

  /** A cell as text (CSV). */
  pushText(cell: string): void {
    let v = cell.trim();
    if (this.decimalComma && DECIMAL_COMMA.test(v)) v = v.replace(',', '.');
    if (this.texts) { this.texts.push(isMissingText(v) ? null : cell); this.length++; return; }
    if (isMissingText(v)) return this.pushNumber(NaN);
    // A number out of float64 range (1e999) stays text, so the schema names it as not a number.
    if (NUMBER.test(v) && !LEADING_ZERO.test(v) && Number.isFinite(Number(v))) return this.pushNumber(Number(v));
    this.toText().push(cell);
    this.length++;
  }

  pushNumber(x: number): void {
    if (this.texts) { this.texts.push(Number.isNaN(x) ? null : String(x)); this.length++; return; }
    if (this.length === this.nums.length) this.grow();
    this.nums[this.length++] = x;
  }

  pushMissing(): void {
    if (this.texts) { this.texts.push(null); this.length++; } else this.pushNumber(NaN);
  }

  /** A non-numeric value (Parquet string, date, boolean): the column becomes text. */
  pushString(s: string): void {
    (this.texts ?? this.toText()).push(s);
    this.length++;
  }

  column(): Column {
    return this.texts ? { kind: 'text', values: this.texts } : { kind: 'number', values: this.nums.slice(0, this.length) };
  }

  reset(): void {
    this.nums = new Float64Array(256);
    this.texts = null;
    this.length = 0;
  }
}

/** The builders' columns as a table (and resets them for the next chunk). */
export function takeTable(builders: readonly ColumnBuilder[], label: string): Table {
  const t = makeTable(builders.map((b) => b.name), builders.map((b) => b.column()), label);
  for (const b of builders) b.reset();
  return t;
}

/** Concatenates tables with the same column names (number + text chunks of one column give text). */
export function concatTables(parts: readonly Table[], names: readonly string[], label: string): Table {
  const builders = names.map((n) => new ColumnBuilder(n));
  for (const p of parts) {
    names.forEach((n, j) => {
      const c = p.columns[p.names.indexOf(n)]!;
      const b = builders[j]!;
      if (c.kind === 'number') for (const v of c.values) b.pushNumber(v);
      else for (const v of c.values) (v === null ? b.pushMissing() : b.pushString(v));
    });
  }
  return makeTable(names, builders.map((b) => b.column()), label);
}
