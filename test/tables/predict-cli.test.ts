/**
 * `bsa-tnp predict` on the user's own tables, through the real command line: a CSV and a Parquet
 * file (written by hyparquet-writer) with user column names (station, lon, lat, an ISO time, elev,
 * a text land-use covariate, pm10 with gaps and a log transform). The outputs are checked against
 * an independent computation: the inputs encoded by hand in this file (Date.parse for times,
 * z-scores from the stored statistics, one-hot by hand, log), a direct `model.forward`, and the
 * log-normal moments and quantiles written out here. Also: carried columns, dropped rows,
 * missing markers, `info`, and `--grid` with `--at`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Papa from 'papaparse';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuBackend } from '../../src/engine/cpu/backend.js';
import * as E from '../../src/engine/ops.js';
import { Rng } from '../../src/engine/random.js';
import { BsaTnp } from '../../src/models/bsa-tnp.js';
import { materialise, toParams } from '../../src/nn/params.js';
import type { DataSchema } from '../../src/models/config.js';
import { fitSchema } from '../../src/data/schema/index.js';
import { tableFromRecords } from '../../src/data/table.js';
import { listFiles, removeTempDirs, runCli, tempDir } from '../cli-predict/fixtures.js';
import { LANDUSE, stationCsv, stationRows, writeSchemaModel, writeStationParquet, writeText, type BsaFolderConfig, type StationRow } from './fixtures.js';

const Z90 = 1.6448536269514722;
let dir: string;
let model: string;
let config: BsaFolderConfig;
let schema: DataSchema;
const ctxRows = stationRows(60, 1);
const tgtRows = stationRows(15, 2, false);
const TGT_COLUMNS = ['station', 'lon', 'lat', 'time', 'elev', 'landuse'] as const;

afterAll(removeTempDirs);
beforeAll(async () => {
  dir = tempDir('tables-predict');
  model = path.join(dir, 'model');
  schema = fitSchema(tableFromRecords(ctxRows as unknown as Record<string, unknown>[]), {
    s: ['lon', 'lat'], t: ['time'], x: ['elev', 'landuse'], f: ['pm10'], transforms: { pm10: 'log' }, units: { pm10: 'µg/m³' },
  });
  config = await writeSchemaModel(model, schema, 4);
  writeText(path.join(dir, 'ctx.csv'), stationCsv(ctxRows));
  writeText(path.join(dir, 'tgt.csv'), stationCsv(tgtRows, { columns: TGT_COLUMNS }));
  writeStationParquet(path.join(dir, 'ctx.parquet'), ctxRows, undefined, 16);
  writeStationParquet(path.join(dir, 'tgt.parquet'), tgtRows, TGT_COLUMNS);
});

/** Reads an output CSV with papaparse (not our reader). */
function readOut(file: string): { header: string[]; rows: string[][] } {
  const parsed = Papa.parse<string[]>(fs.readFileSync(file, 'utf8').trim());
  return { header: parsed.data[0]!, rows: parsed.data.slice(1) };
}

/** The hand-written reference: encode, forward, back-transform (log-normal). */
async function reference(ctx: readonly StationRow[], tgt: readonly StationRow[]): Promise<{ mean: number[]; std: number[]; lo: number[]; hi: number[] }> {
  const n = config.data.normalization;
  const day = (iso: string) => Date.parse(iso.length === 10 ? `${iso}T00:00:00Z` : iso) / 86_400_000;
  const x = (r: StationRow) => [(r.elev! - n.elev!.mean) / n.elev!.std, ...LANDUSE.map((l) => (r.landuse === l ? 1 : 0))];
  const usable = ctx.filter((r) => r.lon !== null && r.lat !== null && r.time !== null && r.elev !== null && r.landuse !== null && r.pm10 !== null);
  const be = new CpuBackend();
  const m = new BsaTnp(config.model);
  const specs = m.specs(Rng.fromSeed(4));
  const p = toParams(specs, materialise(specs, be));
  const coords = (rows: readonly StationRow[]) => ({
    s: E.tensor(rows.flatMap((r) => [r.lon!, r.lat!]), [1, rows.length, 2], be),
    t: E.tensor(rows.map((r) => (day(r.time!) - n.time!.mean) / n.time!.std), [1, rows.length, 1], be),
    x: E.tensor(rows.flatMap(x), [1, rows.length, 4], be),
  });
  const out = m.forward(p, {
    ctx: { f: E.tensor(usable.map((r) => (Math.log(r.pm10!) - n.pm10!.mean) / n.pm10!.std), [1, usable.length, 1], be), coords: coords(usable) },
    test: coords(tgt),
  });
  if (out.kind !== 'gaussian') throw new Error('expected a Gaussian model');
  const mu = await out.mean.data();
  const sd = await out.std.data();
  const res = { mean: [] as number[], std: [] as number[], lo: [] as number[], hi: [] as number[] };
  for (let i = 0; i < tgt.length; i++) {
    const a = mu[i]! * n.pm10!.std + n.pm10!.mean;
    const b = sd[i]! * n.pm10!.std;
    res.mean.push(Math.exp(a + (b * b) / 2));
    res.std.push(Math.sqrt((Math.exp(b * b) - 1) * Math.exp(2 * a + b * b)));
    res.lo.push(Math.exp(a - Z90 * b));
    res.hi.push(Math.exp(a + Z90 * b));
  }
  return res;
}

function expectClose(got: readonly string[], want: readonly number[], rel: number, what: string): void {
  expect(got.length, what).toBe(want.length);
  got.forEach((g, i) => expect(Math.abs(Number(g) - want[i]!), `${what}[${i}]: ${g} vs ${want[i]}`).toBeLessThanOrEqual(rel * Math.abs(want[i]!)));
}

describe('predict with user column names', () => {
  it('the fitted schema holds what the data says (independent z-scores, categories, times)', () => {
    const kept = ctxRows.filter((r) => r.lat !== null);
    const elev = kept.map((r) => r.elev!);
    const mean = elev.reduce((a, b) => a + b, 0) / elev.length;
    const std = Math.sqrt(elev.reduce((a, b) => a + (b - mean) ** 2, 0) / elev.length);
    expect(schema.normalization.elev!.mean).toBeCloseTo(mean, 9);
    expect(schema.normalization.elev!.std).toBeCloseTo(std, 9);
    const logs = kept.filter((r) => r.pm10 !== null).map((r) => Math.log(r.pm10!));
    expect(schema.normalization.pm10!.mean).toBeCloseTo(logs.reduce((a, b) => a + b, 0) / logs.length, 9);
    expect(schema.categories).toEqual({ landuse: ['forest', 'rural', 'urban'] });
    expect(schema.columns).toEqual({ s: ['lon', 'lat'], t: ['time'], x: ['elev', 'landuse=forest', 'landuse=rural', 'landuse=urban'], f: ['pm10'] });
    expect(schema.distance).toBe('great-circle');
    expect(schema.times).toEqual({ time: { format: 'iso', unit: 'day' } });
    expect(config.model.groups.s?.bias?.distance).toBe('great-circle');
  });

  it('CSV in, CSV out: carried columns, pm10_* in data units equal to the hand-made reference, dropped rows warned', async () => {
    const out = path.join(dir, 'pred.csv');
    const r = await runCli(['predict', '--model', model, '--context', path.join(dir, 'ctx.csv'), '--targets', path.join(dir, 'tgt.csv'), '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/warning: predict: context '.*ctx\.csv': 1 row dropped for a missing coordinate, time or covariate \(first: row 6, column 'lat'\)/);
    // 61 rows (one duplicated) − 1 without lat − 2 without pm10.
    expect(JSON.parse(r.stdout.trim().split('\n').at(-1)!)).toMatchObject({ event: 'predict_done', points: 15, context: 58 });
    const { header, rows } = readOut(out);
    expect(header).toEqual(['station', 'lon', 'lat', 'time', 'elev', 'landuse', 'pm10_mean', 'pm10_std', 'pm10_lo90', 'pm10_hi90']);
    expect(rows.map((row) => row[0])).toEqual(tgtRows.map((t) => t.station));
    expect(rows.map((row) => row[3])).toEqual(tgtRows.map((t) => t.time));
    expect(rows.map((row) => row[5])).toEqual(tgtRows.map((t) => t.landuse));
    const ref = await reference(ctxRows, tgtRows);
    expectClose(rows.map((row) => row[6]!), ref.mean, 2e-5, 'pm10_mean');
    expectClose(rows.map((row) => row[7]!), ref.std, 1e-4, 'pm10_std');
    expectClose(rows.map((row) => row[8]!), ref.lo, 2e-5, 'pm10_lo90');
    expectClose(rows.map((row) => row[9]!), ref.hi, 2e-5, 'pm10_hi90');
  });

  it('Parquet in (hyparquet-writer, timestamps, several row groups): the same predictions as CSV', async () => {
    const out = path.join(dir, 'pred-pq.csv');
    const r = await runCli(['predict', '--model', model, '--context', path.join(dir, 'ctx.parquet'), '--targets', path.join(dir, 'tgt.parquet'), '--out', out, '--chunk', '4']);
    expect(r.code, r.stderr).toBe(0);
    const a = readOut(out);
    const b = readOut(path.join(dir, 'pred.csv'));
    expect(a.header).toEqual(b.header);
    for (const k of [1, 2, 4, 6, 7, 8, 9]) expectClose(a.rows.map((row) => row[k]!), b.rows.map((row) => Number(row[k])), 1e-6, a.header[k]!);
    for (const k of [0, 5]) expect(a.rows.map((row) => row[k])).toEqual(b.rows.map((row) => row[k]));
    // Parquet timestamps come back as ISO text (UTC).
    expect(a.rows.map((row) => Date.parse(row[3]!))).toEqual(tgtRows.map((t) => Date.parse(t.time!.length === 10 ? `${t.time}T00:00:00Z` : t.time!)));
  });

  it('NA, NaN and null mark missing values like empty cells; semicolons and decimal commas work', async () => {
    const base = readOut(path.join(dir, 'pred.csv'));
    for (const [missing, delimiter] of [['NA', ','], ['NaN', ','], ['null', ';']] as const) {
      let text = stationCsv(ctxRows, { missing, delimiter });
      if (delimiter === ';') text = text.replace(/(\d)\.(\d)/g, '$1,$2');
      const ctxFile = writeText(path.join(dir, `ctx-${missing}.csv`), text);
      const out = path.join(dir, `pred-${missing}.csv`);
      const r = await runCli(['predict', '--model', model, '--context', ctxFile, '--targets', path.join(dir, 'tgt.csv'), '--out', out]);
      expect(r.code, r.stderr).toBe(0);
      expect(readOut(out).rows).toEqual(base.rows);
    }
  });

  it('info shows the schema: columns, units, categories, time encoding, transform, normalisation', async () => {
    const r = await runCli(['info', model]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('table columns (CSV, Parquet or GeoJSON):');
    expect(r.stdout).toContain('s (location): lon [degrees longitude], lat [degrees latitude]; distance great-circle');
    expect(r.stdout).toContain('t (time): time (ISO 8601 dates/times, counted in days since 1970-01-01)');
    expect(r.stdout).toContain('x (covariates): elev, landuse (text, one-hot: forest, rural, urban)');
    expect(r.stdout).toContain('f (values): pm10 [µg/m³] (modelled as log(pm10))');
    expect(r.stdout).toContain('predictions: pm10_mean, pm10_std, pm10_lo90, pm10_hi90');
    expect(r.stdout).toMatch(/pm10: mean [\d.]+, std [\d.]+ \(of log-transformed values\)/);
  });

  it('--grid over lon/lat needs --at for the other inputs, and then predicts like the same points as a table', async () => {
    const outDir = tempDir('tables-grid');
    const out = path.join(outDir, 'grid.csv');
    const args = ['predict', '--model', model, '--context', path.join(dir, 'ctx.csv'), '--grid', '6,14,46,52', '--size', '3x2', '--out', out];
    const bad = await runCli(args);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--grid spans lon, lat, but the model also needs time, elev, landuse: give their values with --at, e\.g\. --at time=VALUE,elev=VALUE,landuse=VALUE/);
    expect(listFiles(outDir)).toEqual([]);
    const ok = await runCli([...args, '--at', 'time=2024-03-10,elev=300,landuse=urban']);
    expect(ok.code, ok.stderr).toBe(0);
    const grid = readOut(out);
    expect(grid.header).toEqual(['lon', 'lat', 'time', 'elev', 'landuse', 'pm10_mean', 'pm10_std', 'pm10_lo90', 'pm10_hi90']);
    expect(grid.rows.map((r) => [Number(r[0]), Number(r[1])])).toEqual([[6, 46], [10, 46], [14, 46], [6, 52], [10, 52], [14, 52]]);
    const pts: StationRow[] = grid.rows.map((r) => ({ station: '', lon: Number(r[0]), lat: Number(r[1]), time: '2024-03-10', elev: 300, landuse: 'urban', pm10: null }));
    const ref = await reference(ctxRows, pts);
    expectClose(grid.rows.map((r) => r[5]!), ref.mean, 2e-5, 'grid pm10_mean');
  });
});
