/**
 * CSV file → `Table` with number and text columns (Node only), for the gp and cv commands until
 * the general table reader (`readTable`, branch `tables`) lands; then this file goes and its one
 * caller switches. A column is numeric when every non-empty cell is a number (empty, NA and NaN
 * cells are missing) and no cell is a zero-padded code such as '028468' (kept as text).
 */
import * as fs from 'node:fs';
import Papa from 'papaparse';
import { type Column, type Table, makeTable } from '../data/table.js';
import { UserError } from '../api/errors.js';

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const MISSING = /^(|na|nan|null)$/i;

export function readTableCsv(file: string, label: string): Table {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new UserError(`${label} '${file}' cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const parsed = Papa.parse<string[]>(text.replace(/^\uFEFF/, ''), { skipEmptyLines: true });
  const bad = parsed.errors.find((e) => e.type !== 'Delimiter');
  if (bad) throw new UserError(`${label} '${file}': row ${(bad.row ?? 0) + 1}: ${bad.message}`);
  const [header, ...rows] = parsed.data;
  if (header === undefined) throw new UserError(`${label} '${file}' is empty: expected a header row`);
  const names = header.map((h) => h.trim());
  rows.forEach((r, i) => {
    if (r.length !== names.length) throw new UserError(`${label} '${file}': row ${i + 1} (line ${i + 2}) has ${r.length} fields, expected ${names.length} (the header's)`);
  });
  const columns: Column[] = names.map((_, j) => {
    const cells = rows.map((r) => r[j]!.trim());
    const numeric = cells.every((c) => MISSING.test(c) || (NUMBER.test(c) && !/^[+-]?0\d/.test(c)));
    if (numeric) return { kind: 'number', values: Float64Array.from(cells, (c) => (MISSING.test(c) ? NaN : Number(c))) };
    return { kind: 'text', values: cells.map((c) => (c === '' ? null : c)) };
  });
  return makeTable(names, columns, `${label} '${file}'`);
}
