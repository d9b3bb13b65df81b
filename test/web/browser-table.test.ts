/**
 * The browser table reader (io/browser-table.ts) in Node: CSV text and Parquet bytes into the one
 * Table type, with errors that name the file, row and column. Expectations are written out by
 * hand from the input text.
 */
import { parquetWriteBuffer } from 'hyparquet-writer';
import { describe, expect, it } from 'vitest';
import { numericColumn } from '../../src/data/table.js';
import { readTableFile, tableFromCsvText } from '../../src/io/browser-table.js';

const L = "context 'x.csv'";

describe('browser table reader', () => {
  it('reads CSV text: BOM, CRLF, quotes, blank lines, empty cells as missing, text columns kept', () => {
    const t = tableFromCsvText('\uFEFFid,s0,f\r\n"a, b",1.5,2\r\n\r\nc, -3 ,\r\n', L);
    expect(t.names).toEqual(['id', 's0', 'f']);
    expect(t.rows).toBe(2);
    expect(t.columns[0]).toEqual({ kind: 'text', values: ['a, b', 'c'] });
    expect([...numericColumn(t, 's0')]).toEqual([1.5, -3]);
    expect(numericColumn(t, 'f')[1]).toBeNaN();
  });

  it('a header without rows is an empty table with those columns', () => {
    const t = tableFromCsvText('s0,s1,f\n', L);
    expect(t.names).toEqual(['s0', 's1', 'f']);
    expect(t.rows).toBe(0);
  });

  it('names the problem: empty file, duplicate or empty header names, wrong cell count, bad number', () => {
    expect(() => tableFromCsvText('\n\n', L)).toThrow(`${L} is empty (expected a header row of column names)`);
    expect(() => tableFromCsvText('s0,s0\n1,2\n', L)).toThrow(`${L}: header names column 's0' twice`);
    expect(() => tableFromCsvText('s0,,f\n1,2,3\n', L)).toThrow(`${L}: header column 2 has an empty name`);
    expect(() => tableFromCsvText('s0,s1,f\n1,2,3\n4,5\n', L)).toThrow(`${L}: row 2: expected 3 cells (s0, s1, f), got 2`);
    const t = tableFromCsvText('s0,f\n1,2\n3,abc\n', L);
    expect(() => numericColumn(t, 'f', L)).toThrow(`${L}: row 2, column 'f': expected a number, got 'abc'`);
  });

  it('reads Parquet bytes by extension (int64 as numbers) and rejects non-UTF-8 CSV', async () => {
    const bytes = parquetWriteBuffer({ columnData: [
      { name: 'n', data: [1n, 2n], type: 'INT64' }, { name: 'v', data: Float64Array.from([0.5, -1]), type: 'DOUBLE' },
    ] });
    const file = (name: string, b: ArrayBuffer | Uint8Array) => ({ name, arrayBuffer: async () => (b instanceof Uint8Array ? b.slice().buffer : b) });
    const t = await readTableFile(file('a.parquet', bytes), 'context');
    expect(t.names).toEqual(['n', 'v']);
    expect([...numericColumn(t, 'n')]).toEqual([1, 2]);
    expect([...numericColumn(t, 'v')]).toEqual([0.5, -1]);
    await expect(readTableFile(file('b.csv', Uint8Array.from([0x73, 0x30, 0x0a, 0xff, 0xfe])), 'context'))
      .rejects.toThrow("context 'b.csv' is not UTF-8 text; save it as CSV (UTF-8) or Parquet");
  });
});
