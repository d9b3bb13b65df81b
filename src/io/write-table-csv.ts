/**
 * `Table` → CSV file, written atomically (Node only) through the one CSV writer (csv.ts
 * `CsvWriter.writeCells`, which `predict` uses too): numbers in their shortest round-trip form,
 * missing values (NaN, null) as empty cells, text quoted when it holds a comma, quote, line break
 * or edge spaces.
 */
import { type Table } from '../data/table.js';
import { CsvWriter } from './csv.js';

export function writeTableCsv(file: string, table: Table): void {
  const w = CsvWriter.open(file, table.names);
  try {
    const cells = new Array<number | string | null>(table.names.length);
    for (let i = 0; i < table.rows; i++) {
      table.columns.forEach((c, j) => { cells[j] = c.values[i] ?? null; });
      w.writeCells(cells);
    }
  } catch (e) {
    w.abort();
    throw e;
  }
  w.close();
}
