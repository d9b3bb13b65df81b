import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CsvError, CsvWriter, formatNumber, parseCsv, readCsv, readCsvRows, writeCsv } from '../../src/io/csv.js';
import { gridCell, gridExtentWarning, makeGrid, parseGridBounds, parseGridSize } from '../../src/api/grid.js';

let dir: string;
beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'csv-')); });
afterEach(() => { fs.rmSync(dir, { recursive: true, force: true }); });

const label = 'predict: context CSV';

function csvError(text: string, opts: Partial<Parameters<typeof parseCsv>[1]> = {}): string {
  try {
    parseCsv(text, { label, ...opts });
  } catch (e) {
    expect(e).toBeInstanceOf(CsvError);
    return (e as Error).message;
  }
  throw new Error('expected a CsvError');
}

describe('CSV reader', () => {
  it('reads selected columns in the requested order', () => {
    const d = parseCsv('\ufeffs0,s1,f\r\n1,2,3\n\n-1.5e2, .5 ,"7"\n', { label, columns: ['f', 's0'] });
    expect(d.header).toEqual(['s0', 's1', 'f']);
    expect(d.columns).toEqual(['f', 's0']);
    expect(d.rows).toBe(2);
    expect(Array.from(d.values.get('f')!)).toEqual([3, 7]);
    expect(Array.from(d.values.get('s0')!)).toEqual([1, -150]);
  });

  it('reads a large file by streaming, keeping float64', async () => {
    const file = path.join(dir, 'big.csv');
    const lines = ['t,f'];
    for (let i = 0; i < 5000; i++) lines.push(`${1_700_000_000 + i * 0.25},${i}`);
    fs.writeFileSync(file, `${lines.join('\n')}\n`);
    const d = await readCsv(file, { label });
    expect(d.rows).toBe(5000);
    expect(d.values.get('t')![4999]).toBe(1_700_000_000 + 4999 * 0.25);
    let n = 0;
    const rows = readCsvRows(file, { label, columns: ['f'] });
    for await (const r of rows) expect(r[0]).toBe(n++);
    expect(n).toBe(5000);
  });

  const cases: [string, string, Partial<Parameters<typeof parseCsv>[1]>?][] = [
    ['s0,s1\n1,2\n', "predict: context CSV is missing column 'f' (has: s0, s1)", { columns: ['s0', 's1', 'f'] }],
    ['a\n1\n', "is missing columns 's0', 'f' (has: a)", { columns: ['s0', 'f'] }],
    ['s0,s1,f,extra\n1,2,3,4\n', "predict: context CSV has unknown column 'extra' (expected: s0, s1, f)", { columns: ['s0', 's1', 'f'], strict: true }],
    ['', 'predict: context CSV is empty (expected a header row of column names)'],
    ['\n\n', 'is empty'],
    ['s0,f\n', 'predict: context CSV has a header but no data rows'],
    ['s0,f\n1,2\n3,abc\n', "predict: context CSV: row 2 (line 3), column 'f': expected a number, got 'abc'"],
    ['s0,f\n1,NaN\n', "row 1 (line 2), column 'f': expected a number, got 'NaN' (NaN and Infinity are not allowed)"],
    ['s0,f\n-Infinity,1\n', "column 's0': expected a number, got '-Infinity' (NaN and Infinity are not allowed)"],
    ['s0,f\n1,\n', "row 1 (line 2), column 'f': expected a number, got an empty cell"],
    ['s0,f\n1e999,1\n', "column 's0': '1e999' is out of range (not finite)"],
    ['s0,f\n0x10,1\n', "column 's0': expected a number, got '0x10'"],
    ['s0,f\n1,2,3\n', 'row 1 (line 2): expected 2 cells (s0, f), got 3'],
    ['s0,s0\n1,2\n', "header names column 's0' twice"],
    ['s0,,f\n1,2,3\n', 'header column 2 has an empty name'],
    ['s0,f\n"1,2\n', 'row 1 (line 2): unterminated quoted field'],
  ];
  for (const [text, message, opts] of cases) {
    it(message, () => {
      expect(csvError(text, opts)).toContain(message);
    });
  }

  it('unreadable file', async () => {
    await expect(readCsv(path.join(dir, 'nope.csv'), { label })).rejects.toThrow(/predict: context CSV '.*nope\.csv' cannot be read \(ENOENT\)/);
  });

  it('non-numeric column that is not selected is ignored', () => {
    expect(parseCsv('name,f\nabc,1\n', { label, columns: ['f'] }).rows).toBe(1);
  });
});

describe('CSV writer', () => {
  it('formats float32 values shortly and round-trips', async () => {
    expect(formatNumber(Math.fround(0.1))).toBe('0.1');
    expect(formatNumber(0.1)).toBe('0.1');
    expect(formatNumber(1 / 3)).toBe(String(1 / 3));
    expect(formatNumber(Math.fround(1 / 3))).toBe('0.33333334');
    expect(formatNumber(-2)).toBe('-2');
    const file = path.join(dir, 'out.csv');
    const f = Float32Array.from([0.1, -1e-7, 3.4e38, 123456.7]);
    writeCsv(file, ['x', 'mean'], [[1, 2, 3, 4], f]);
    const back = await readCsv(file, { label: 'out' });
    expect(Float32Array.from(back.values.get('mean')!)).toEqual(f);
    expect(fs.readdirSync(dir)).toEqual(['out.csv']);
  });

  it('leaves no partial output on error', () => {
    const file = path.join(dir, 'out.csv');
    fs.writeFileSync(file, 'old\n');
    expect(() => writeCsv(file, ['a'], [[1, NaN]])).toThrow(/column 'a': cannot write non-finite value NaN/);
    expect(fs.readFileSync(file, 'utf8')).toBe('old\n');
    const w = CsvWriter.open(path.join(dir, 'new.csv'), ['a', 'b']);
    w.writeRow([1, 2]);
    w.abort();
    expect(fs.readdirSync(dir)).toEqual(['out.csv']);
    expect(() => CsvWriter.open(path.join(dir, 'missing', 'x.csv'), ['a'])).toThrow(/output folder '.*missing' does not exist/);
  });
});

describe('grid', () => {
  it('warns when most of the grid lies away from the context (a GIS bbox typed as x0,x1,y0,y1)', () => {
    // Stations in Germany: lon 6..14, lat 48..55.
    const x = [6, 14, 10, 8], y = [48, 55, 51, 50];
    expect(gridExtentWarning(parseGridBounds('5.8,15.1,47.2,55.1'), x, y)).toBeNull();
    // Half the extent around the points still counts as near them.
    expect(gridExtentWarning(parseGridBounds('2,18,44.5,58.5'), x, y)).toBeNull();
    // minx,miny,maxx,maxy read as x0,x1,y0,y1: x 5.8..47.2, y 15.1..55.1. Near part: x 5.8..18 (12.2 of
    // 41.4) × y 44.5..55.1 (10.6 of 40): 7.8 % of the area.
    const w = gridExtentWarning(parseGridBounds('5.8,47.2,15.1,55.1'), x, y);
    expect(w).toContain('--grid 5.8,47.2,15.1,55.1: 92 % of the grid lies away from the context points (x 6 to 14, y 48 to 55)');
    expect(w).toContain('takes x0,x1,y0,y1 (not minx,miny,maxx,maxy)');
    expect(gridExtentWarning(parseGridBounds('100,110,0,10'), x, y)).toContain('100 % of the grid');
    expect(gridExtentWarning(parseGridBounds('0,1,0,1'), [], [])).toBeNull();
  });

  it('parses bounds and sizes', () => {
    expect(parseGridBounds('-2,2,-1,1')).toEqual({ x0: -2, x1: 2, y0: -1, y1: 1 });
    expect(parseGridSize('128x64')).toEqual({ width: 128, height: 64 });
    expect(parseGridSize('32')).toEqual({ width: 32, height: 32 });
    expect(() => parseGridBounds('1,2,3')).toThrow("--grid: expected four numbers x0,x1,y0,y1 (e.g. -2,2,-2,2), got '1,2,3'");
    expect(() => parseGridBounds('2,1,0,1')).toThrow('--grid: expected x0 < x1, got x0=2, x1=1');
    expect(() => parseGridBounds('0,1,a,1')).toThrow(/expected four numbers/);
    expect(() => parseGridSize('12by3')).toThrow("--size: expected WIDTHxHEIGHT (e.g. 128x128), got '12by3'");
    expect(() => parseGridSize('0x3')).toThrow(/at least 1/);
    expect(() => parseGridSize('100000x100000')).toThrow(/exceeds the limit/);
  });

  it('makes a row-major grid with both ends included', () => {
    const g = makeGrid({ x0: 0, x1: 1, y0: -1, y1: 1 }, { width: 3, height: 2 });
    expect(Array.from(g.x)).toEqual([0, 0.5, 1, 0, 0.5, 1]);
    expect(Array.from(g.y)).toEqual([-1, -1, -1, 1, 1, 1]);
    expect(gridCell(g, 0.5, 1)).toEqual({ col: 1, row: 1 });
    expect(Array.from(makeGrid({ x0: 0, x1: 2, y0: 0, y1: 1 }, { width: 1, height: 1 }).x)).toEqual([1]);
  });
});
