/**
 * Bad user tables through the real command line (`bsa-tnp predict` on a model with user column
 * names): each gives a message naming the file, row, column and value as applicable, exit code 1,
 * and no output file (an existing one is left untouched, no temporary file beside it).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fitSchema } from '../../src/data/schema/index.js';
import { tableFromRecords } from '../../src/data/table.js';
import { listFiles, removeTempDirs, runCli, tempDir, type RunResult } from '../cli-predict/fixtures.js';
import { stationCsv, stationRows, writeSchemaModel, writeText } from './fixtures.js';

let dir: string;
let model: string;
const PREVIOUS = 'previous contents\n';
const ctx = stationRows(30, 1);
const tgt = stationRows(6, 2, false);

afterAll(removeTempDirs);
beforeAll(async () => {
  dir = tempDir('tables-errors');
  model = path.join(dir, 'model');
  const schema = fitSchema(tableFromRecords(ctx as unknown as Record<string, unknown>[]), {
    s: ['lon', 'lat'], t: ['time'], x: ['elev', 'landuse'], f: ['pm10'],
  });
  await writeSchemaModel(model, schema, 2);
  writeText(path.join(dir, 'ctx.csv'), stationCsv(ctx));
  writeText(path.join(dir, 'tgt.csv'), stationCsv(tgt, { columns: ['station', 'lon', 'lat', 'time', 'elev', 'landuse'] }));
});

async function fail(overrides: Record<string, string>): Promise<RunResult> {
  const outDir = tempDir('tables-bad-out');
  const out = path.join(outDir, 'pred.csv');
  fs.writeFileSync(out, PREVIOUS);
  const flags = { '--model': model, '--context': path.join(dir, 'ctx.csv'), '--targets': path.join(dir, 'tgt.csv'), '--out': out, ...overrides };
  const res = await runCli(['predict', ...Object.entries(flags).flatMap(([k, v]) => (v === '' ? [k] : [k, v]))]);
  expect(res.code, res.stderr).toBe(1);
  expect(res.stderr).not.toMatch(/internal error|at .*\.ts:\d+/);
  expect(listFiles(outDir)).toEqual(['pred.csv']);
  expect(fs.readFileSync(out, 'utf8')).toBe(PREVIOUS);
  return res;
}

function file(name: string, text: string | Buffer): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, text);
  return f;
}

describe('predict: bad user tables', () => {
  it('an unknown (misspelt) column: did-you-mean and what the model expects', async () => {
    const text = stationCsv(ctx).replace(/^station,lon,lat,time,elev,landuse,pm10/, 'station,lon,lat,time,elevation,landuse,pm_10');
    const res = await fail({ '--context': file('ctx-names.csv', text) });
    expect(res.stderr).toMatch(/context '.*ctx-names\.csv': missing columns 'elev' \(did you mean 'elevation'\?\), 'pm10' \(did you mean 'pm_10'\?\)\. The model in '.*' expects 2 spatial coordinates \(lon, lat\), 1 time column \(time\), 2 covariates \(elev, landuse\) and 1 output \(pm10\)/);
  });

  it('a duplicated column name', async () => {
    const text = stationCsv(tgt, { columns: ['station', 'lon', 'lat', 'time', 'elev', 'landuse'] }).replace(/^station,/, 'lat,');
    const res = await fail({ '--targets': file('tgt-dup.csv', text) });
    expect(res.stderr).toMatch(/targets '.*tgt-dup\.csv': the header names column 'lat' twice; column names must be unique/);
  });

  it('text in a numeric column: row and column named', async () => {
    const rows = stationRows(30, 1).map((r, i) => (i === 12 ? { ...r, elev: 'high' as unknown as number } : r));
    const res = await fail({ '--context': file('ctx-text.csv', stationCsv(rows)) });
    expect(res.stderr).toMatch(/context '.*ctx-text\.csv': row 13, column 'elev': expected a number, got 'high'/);
  });

  it('an unparseable time: row, column and value', async () => {
    const rows = stationRows(6, 2, false).map((r, i) => (i === 4 ? { ...r, time: '03/05/2024' } : r));
    const res = await fail({ '--targets': file('tgt-time.csv', stationCsv(rows, { columns: ['station', 'lon', 'lat', 'time', 'elev', 'landuse'] })) });
    expect(res.stderr).toMatch(/targets '.*tgt-time\.csv': row 5, column 'time': cannot read '03\/05\/2024' as an ISO 8601 date\/time \(e\.g\. 2024-01-31 or 2024-01-31T14:00:00Z\)/);
  });

  it('a category the model never saw', async () => {
    const rows = stationRows(6, 2, false).map((r, i) => (i === 2 ? { ...r, landuse: 'wetland' } : r));
    const res = await fail({ '--targets': file('tgt-cat.csv', stationCsv(rows, { columns: ['station', 'lon', 'lat', 'time', 'elev', 'landuse'] })) });
    expect(res.stderr).toMatch(/row 3, column 'landuse': category 'wetland' was not in the training data \(known: forest, rural, urban\)/);
  });

  it('a table for another model (the schema does not match): what the model expects', async () => {
    const res = await fail({ '--context': file('ctx-other.csv', 's0,s1,f\n0.1,0.2,3\n0.3,0.4,5\n') });
    expect(res.stderr).toMatch(/context '.*ctx-other\.csv': missing columns 'lon', 'lat', 'time', 'elev', 'landuse', 'pm10'\. The model in '.*' expects 2 spatial coordinates \(lon, lat\).*; the table has: s0, s1, f/);
  });

  it('an empty file, a header-only file', async () => {
    let res = await fail({ '--context': file('empty.csv', '') });
    expect(res.stderr).toMatch(/context '.*empty\.csv' is empty \(0 bytes\)/);
    res = await fail({ '--targets': file('header.csv', 'station,lon,lat,time,elev,landuse\n') });
    expect(res.stderr).toMatch(/targets '.*header\.csv' has a header but no data rows/);
  });

  it('a file that is not CSV, Parquet or GeoJSON; a corrupt Parquet file; GeoJSON that is not points', async () => {
    let res = await fail({ '--context': file('image.png', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52])) });
    expect(res.stderr).toMatch(/context '.*image\.png' is not a CSV, Parquet or GeoJSON file \(it holds binary data\)/);
    res = await fail({ '--context': file('broken.parquet', Buffer.concat([Buffer.from('PAR1'), Buffer.alloc(64, 7), Buffer.from('PAR1')])) });
    expect(res.stderr).toMatch(/context '.*broken\.parquet': not a readable Parquet file \(.*\); is it complete, and really Parquet\?/);
    res = await fail({ '--context': file('notparquet.parquet', 'a,b\n1,2\n') });
    expect(res.stderr).toMatch(/context '.*notparquet\.parquet' is not a Parquet file \(it does not start with the Parquet magic bytes 'PAR1'\)/);
    res = await fail({ '--targets': file('lines.geojson', JSON.stringify({ type: 'FeatureCollection', features: [{ type: 'Feature', properties: {}, geometry: { type: 'LineString', coordinates: [[0, 0], [1, 1]] } }] })) });
    expect(res.stderr).toMatch(/targets '.*lines\.geojson': features\[0\] has a LineString geometry; only Point features can be rows/);
  });

  it('--strict: a row with a missing covariate is an error naming it', async () => {
    const rows = stationRows(6, 2, false).map((r, i) => (i === 3 ? { ...r, elev: null } : r));
    const clean = file('ctx-clean.csv', stationCsv(stationRows(20, 3, false)));
    const res = await fail({ '--context': clean, '--targets': file('tgt-gap.csv', stationCsv(rows, { columns: ['station', 'lon', 'lat', 'time', 'elev', 'landuse'] })), '--strict': '' });
    expect(res.stderr).toMatch(/targets '.*tgt-gap\.csv': row 4, column 'elev': the value is missing \(--strict/);
  });
});
