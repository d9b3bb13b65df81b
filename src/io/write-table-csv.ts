/**
 * `Table` → CSV file, written atomically (Node only): numbers in their shortest round-trip form,
 * missing values (NaN, null) as empty cells, text quoted when it holds a comma, quote or newline.
 */
import { type Table } from '../data/table.js';
import { writeFileAtomic } from '../train/atomic.js';
import { formatNumber } from './csv.js';

function cell(v: string): string {
  return /[",\n\r]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

export function tableToCsv(table: Table): string {
  const lines = [table.names.map(cell).join(',')];
  for (let i = 0; i < table.rows; i++) {
    lines.push(table.columns.map((c) => {
      if (c.kind === 'number') {
        const v = c.values[i]!;
        return Number.isFinite(v) ? formatNumber(v) : '';
      }
      const v = c.values[i];
      return v === null || v === undefined ? '' : cell(v);
    }).join(','));
  }
  return `${lines.join('\n')}\n`;
}

export function writeTableCsv(file: string, table: Table): void {
  writeFileAtomic(file, tableToCsv(table));
}
