/**
 * The table readers (io/table-read.ts and friends): CSV through papaparse (quotes, delimiters,
 * BOM, CRLF, missing markers, ids with leading zeros, streamed chunks equal to the whole), Parquet
 * files written by hyparquet-writer (an independent writer: row groups, nulls, 64-bit integers,
 * timestamps, a column subset), GeoJSON points, format detection and the errors that name the file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parquetWriteFile } from 'hyparquet-writer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserError } from '../../src/api/errors.js';
import { getColumn, type Table } from '../../src/data/table.js';
import { detectFormat, readTable, readTableHeader, streamTable } from '../../src/io/table-read.js';
import { removeTempDirs, tempDir } from '../cli-predict/fixtures.js';

let dir: string;
afterAll(removeTempDirs);
beforeAll(() => { dir = tempDir('table-read'); });

function write(name: string, text: string | Buffer): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, text);
  return f;
}

const values = (t: Table, name: string) => Array.from(getColumn(t, name).values as ArrayLike<unknown>);

describe('CSV', () => {
  it('RFC 4180 quotes (delimiters, doubled quotes, line breaks), BOM, CRLF, blank lines', async () => {
    const f = write('q.csv', '\uFEFFid,name,v\r\n1,"Smith, J.",2.5\r\n\r\n2,"say ""hi""\nthere",-1e3\r\n');
    const t = await readTable(f);
    expect(t.names).toEqual(['id', 'name', 'v']);
    expect(values(t, 'name')).toEqual(['Smith, J.', 'say "hi"\nthere']);
    expect(values(t, 'v')).toEqual([2.5, -1000]);
    expect(getColumn(t, 'id').kind).toBe('number');
  });

  it('detects semicolons (with decimal commas) and tabs; --delimiter overrides', async () => {
    const semi = await readTable(write('s.csv', 'lon;lat;name\n1,5;2;a,b\n3;4,25;c\n'));
    expect(values(semi, 'lon')).toEqual([1.5, 3]);
    expect(values(semi, 'lat')).toEqual([2, 4.25]);
    expect(values(semi, 'name')).toEqual(['a,b', 'c']);
    const tab = await readTable(write('t.tsv', 'a\tb\n1\t2\n'));
    expect(tab.names).toEqual(['a', 'b']);
    const pipe = await readTable(write('p.txt', 'a|b\n1|2\n'), { delimiter: 'pipe' });
    expect(values(pipe, 'b')).toEqual([2]);
  });

  it('missing markers, text columns, ids with leading zeros stay text', async () => {
    const t = await readTable(write('m.csv', 'id,x,lab\n007,1,a\n010,,NA\n011,NA,b\n012,NaN,null\n013,null,c\n'));
    expect(values(t, 'id')).toEqual(['007', '010', '011', '012', '013']);
    expect(values(t, 'x')).toEqual([1, NaN, NaN, NaN, NaN]);
    expect(values(t, 'lab')).toEqual(['a', null, 'b', null, 'c']);
  });

  it('streams in chunks that join to the whole file, keeping only the asked-for columns', async () => {
    const lines = ['a,b,c'];
    for (let i = 0; i < 2500; i++) lines.push(`${i},${i % 3 === 0 ? 'x' : i / 4},"q${i}"`);
    const f = write('big.csv', `${lines.join('\n')}\n`);
    const chunks: Table[] = [];
    for await (const t of streamTable(f, { columns: ['c', 'a'] }, 600)) chunks.push(t);
    expect(chunks.length).toBeGreaterThanOrEqual(4);
    expect(chunks.every((c) => c.names.join() === 'c,a')).toBe(true);
    const a = chunks.flatMap((c) => values(c, 'a'));
    expect(a).toEqual(Array.from({ length: 2500 }, (_, i) => i));
    expect(chunks.flatMap((c) => values(c, 'c'))[1234]).toBe('q1234');
    const whole = await readTable(f, { columns: ['b'] });
    expect(whole.rows).toBe(2500);
    expect(values(whole, 'b').slice(0, 3)).toEqual(['x', '0.25', '0.5']);
    expect(await readTableHeader(f)).toEqual(['a', 'b', 'c']);
  });

  it('errors name the file, row and problem', async () => {
    await expect(readTable(write('cells.csv', 'a,b\n1,2\n3\n'), { label: 'ctx' })).rejects.toThrow(/ctx '.*cells\.csv': row 2: expected 2 cells \(a, b\), got 1; is the delimiter right\?/);
    await expect(readTable(write('dup.csv', 'a,b,a\n1,2,3\n'))).rejects.toThrow(/the header names column 'a' twice/);
    await expect(readTable(write('col.csv', 'alpha,beta\n1,2\n'), { columns: ['alpah'] })).rejects.toThrow(/no column 'alpah' \(did you mean 'alpha'\?\); the file has: alpha, beta/);
    await expect(readTable(write('quote.csv', 'a,b\n1,"2\n3,4\n'))).rejects.toThrow(/a quoted field is never closed/);
    await expect(readTable(write('hdr.csv', 'a,b\n'))).rejects.toThrow(/has a header but no data rows/);
    await expect(readTable(write('sp.csv', '  \n\n'))).rejects.toThrow(/is empty \(only blank space\)/);
    await expect(readTable(path.join(dir, 'nope.csv'))).rejects.toThrow(/cannot be read \(ENOENT\)/);
    await expect(readTable(dir)).rejects.toThrow(/is a folder, expected a CSV, Parquet or GeoJSON file/);
    await expect(readTable(write('x.csv', 'a\n1\n'), { delimiter: 'ab' })).rejects.toThrow(UserError);
  });
});

describe('Parquet (written by hyparquet-writer)', () => {
  it('reads row groups, nulls, 64-bit integers, strings and timestamps; only the asked-for columns', async () => {
    const f = path.join(dir, 'obs.parquet');
    const n = 25;
    parquetWriteFile({
      filename: f,
      rowGroupSize: 10,
      columnData: [
        { name: 'station', data: Array.from({ length: n }, (_, i) => `st${i}`), type: 'STRING' },
        { name: 'count', data: Array.from({ length: n }, (_, i) => BigInt(i * 1000)), type: 'INT64' },
        { name: 'pm10', data: Array.from({ length: n }, (_, i) => (i % 7 === 3 ? null : i + 0.5)), type: 'DOUBLE', nullable: true },
        { name: 'time', data: Array.from({ length: n }, (_, i) => new Date(Date.UTC(2024, 0, 1 + i, 6))), type: 'TIMESTAMP' },
      ],
    });
    expect(detectFormat(f, 'x')).toBe('parquet');
    const chunks: Table[] = [];
    for await (const t of streamTable(f, { columns: ['pm10', 'time', 'count'] })) chunks.push(t);
    expect(chunks.map((c) => c.rows)).toEqual([10, 10, 5]);
    const t = await readTable(f);
    expect(t.names).toEqual(['station', 'count', 'pm10', 'time']);
    expect(values(t, 'station')[24]).toBe('st24');
    expect(values(t, 'count')[7]).toBe(7000);
    expect(values(t, 'pm10').slice(2, 5)).toEqual([2.5, NaN, 4.5]);
    expect(values(t, 'time')[0]).toBe('2024-01-01T06:00:00Z');
    const sub = await readTable(f, { columns: ['time'] });
    expect(sub.names).toEqual(['time']);
    await expect(readTable(f, { columns: ['pm01'] })).rejects.toThrow(/no column 'pm01' \(did you mean 'pm10'\?\); the file has: station, count, pm10, time/);
  });

  it('a truncated file is a clear error', async () => {
    const f = path.join(dir, 'obs.parquet');
    const cut = write('cut.parquet', fs.readFileSync(f).subarray(0, 200));
    await expect(readTable(cut)).rejects.toThrow(/cut\.parquet': not a readable Parquet file .*is it complete, and really Parquet\?/);
  });
});

describe('GeoJSON', () => {
  it('Point features: properties are columns, the point gives lon and lat; null geometry is missing', async () => {
    const f = write('pts.geojson', JSON.stringify({
      type: 'FeatureCollection',
      features: [
        { type: 'Feature', properties: { id: 'a', pm10: 12 }, geometry: { type: 'Point', coordinates: [7.5, 47.1] } },
        { type: 'Feature', properties: { id: 'b', pm10: null, note: 'x' }, geometry: { type: 'Point', coordinates: [8, 46.5, 400] } },
        { type: 'Feature', properties: { id: 'c', pm10: '3.5' }, geometry: null },
      ],
    }));
    const t = await readTable(f);
    expect(t.names).toEqual(['id', 'pm10', 'note', 'lon', 'lat']);
    expect(values(t, 'lon')).toEqual([7.5, 8, NaN]);
    expect(values(t, 'lat')).toEqual([47.1, 46.5, NaN]);
    expect(values(t, 'pm10')).toEqual([12, NaN, 3.5]);
    expect(values(t, 'note')).toEqual([null, 'x', null]);
    const own = await readTable(write('own.json', JSON.stringify({ type: 'Feature', properties: { lon: 1, lat: 2 }, geometry: { type: 'Point', coordinates: [9, 9] } })));
    expect(values(own, 'lon')).toEqual([1]);
  });

  it('errors: not a FeatureCollection, no features, bad coordinates, invalid JSON', async () => {
    await expect(readTable(write('arr.geojson', '{"type":"Topology"}'))).rejects.toThrow(/expected a GeoJSON FeatureCollection of Point features, got type "Topology"/);
    await expect(readTable(write('none.geojson', '{"type":"FeatureCollection","features":[]}'))).rejects.toThrow(/has no features/);
    await expect(readTable(write('bad.geojson', '{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":["a",1]}}]}')))
      .rejects.toThrow(/features\[0\]\.geometry\.coordinates: expected \[lon, lat\]/);
    await expect(readTable(write('broken.json', '{"type": "Feat'))).rejects.toThrow(/broken\.json': not valid JSON/);
  });
});

describe('format detection', () => {
  it('by content first, extension second', () => {
    expect(detectFormat(write('data.txt', 'a,b\n1,2\n'), 'x')).toBe('csv');
    expect(detectFormat(write('data.dat', '{"type":"FeatureCollection","features":[]}'), 'x')).toBe('geojson');
    expect(() => detectFormat(write('zero.csv', ''), 'ctx')).toThrow(/ctx is empty \(0 bytes\)/);
    expect(() => detectFormat(write('bin.csv', Buffer.from([1, 2, 0, 4, 5, 0, 7])), 'ctx')).toThrow(/ctx is not a CSV, Parquet or GeoJSON file \(it holds binary data\)/);
    expect(() => detectFormat(write('fake.geojson', 'a,b\n'), 'ctx')).toThrow(/ctx is not GeoJSON/);
  });
});
