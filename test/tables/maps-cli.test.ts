/**
 * User tables meet map outputs (the tables and maps branches together), through the real command
 * line with a schema model over lon, lat, an ISO time, elev and a text land use:
 *  - a Parquet context, a lon/lat grid with --at → GeoTIFF bands equal to the CSV's prediction
 *    columns (read with the `geotiff` package), and --png's mean.png equals a map rendered here from
 *    the CSV values with the context points taken from the fixture rows (so Parquet contexts get dots);
 *  - GeoJSON from a Parquet targets file: geometry [lon, lat], the carried station id, the ISO time
 *    and the land-use text as properties, the values equal to the CSV output (papaparse);
 *  - --shard of a targets file with carried text columns, and of a grid with a text --at time,
 *    merged into the one-run CSV bytes and the one-run GeoTIFF bytes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Papa from 'papaparse';
import { fromArrayBuffer } from 'geotiff';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fitSchema } from '../../src/data/schema/index.js';
import { tableFromRecords } from '../../src/data/table.js';
import { renderMap } from '../../src/io/png-maps.js';
import { removeTempDirs, runCli, tempDir } from '../cli-predict/fixtures.js';
import { stationCsv, stationRows, writeSchemaModel, writeStationParquet, writeText } from './fixtures.js';

afterAll(removeTempDirs);

const ctxRows = stationRows(40, 11);
const tgtRows = stationRows(9, 12, false);
const TGT_COLUMNS = ['station', 'lon', 'lat', 'time', 'elev', 'landuse'] as const;
const GRID = ['--grid', '6,14,46,52', '--size', '5x4', '--at', 'time=2024-03-10,elev=300,landuse=urban'];
let dir: string;

function readOut(file: string): { header: string[]; rows: string[][] } {
  const parsed = Papa.parse<string[]>(fs.readFileSync(file, 'utf8').trim());
  return { header: parsed.data[0]!, rows: parsed.data.slice(1) };
}

const bytes = (f: string) => fs.readFileSync(path.join(dir, f));

async function ok(args: string[]): Promise<void> {
  const r = await runCli(args, dir);
  expect(r.code, r.stderr).toBe(0);
}

beforeAll(async () => {
  dir = tempDir('tables-maps');
  const schema = fitSchema(tableFromRecords(ctxRows as unknown as Record<string, unknown>[]), {
    s: ['lon', 'lat'], t: ['time'], x: ['elev', 'landuse'], f: ['pm10'], transforms: { pm10: 'log' },
  });
  await writeSchemaModel(path.join(dir, 'model'), schema, 3);
  writeText(path.join(dir, 'ctx.csv'), stationCsv(ctxRows));
  writeStationParquet(path.join(dir, 'ctx.parquet'), ctxRows);
  writeText(path.join(dir, 'tgt.csv'), stationCsv(tgtRows, { columns: TGT_COLUMNS }));
  writeStationParquet(path.join(dir, 'tgt.parquet'), tgtRows, TGT_COLUMNS);
  const base = ['predict', 'model', '--context', 'ctx.parquet'];
  const runs = [
    [...base, ...GRID, '--out', 'grid.csv', '--png', 'maps'],
    [...base, ...GRID, '--out', 'grid.tif'],
    [...base, '--targets', 'tgt.parquet', '--out', 'pts.geojson'],
    [...base, '--targets', 'tgt.parquet', '--out', 'pts.csv'],
    [...base, '--targets', 'tgt.csv', '--out', 'one-tgt.csv', '--chunk', '2'],
    ...[0, 1, 2].map((i) => [...base, '--targets', 'tgt.csv', '--out', `tgt-${i}.csv`, '--shard', `${i}/3`, '--chunk', '2']),
    ...[0, 1].map((i) => [...base, ...GRID, '--out', `grid-${i}.csv`, '--shard', `${i}/2`]),
  ];
  for (let i = 0; i < runs.length; i += 3) await Promise.all(runs.slice(i, i + 3).map(ok));
}, 300_000);

describe('predict on user tables with map outputs', () => {
  it('GeoTIFF bands hold the CSV prediction columns (not the --at inputs), in grid order', async () => {
    const csv = readOut(path.join(dir, 'grid.csv'));
    expect(csv.header).toEqual(['lon', 'lat', 'time', 'elev', 'landuse', 'pm10_mean', 'pm10_std', 'pm10_lo90', 'pm10_hi90']);
    expect(csv.rows.every((r) => r[2] === '2024-03-10' && r[4] === 'urban')).toBe(true);
    const b = bytes('grid.tif');
    const image = await (await fromArrayBuffer(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer)).getImage();
    expect([image.getWidth(), image.getHeight()]).toEqual([5, 4]);
    const bands = await image.readRasters({ interleave: false }) as unknown as Float32Array[];
    expect(bands.length).toBe(4);
    // GeoTIFF rows run north to south; CSV rows are row-major from the south (lat 46) up.
    for (let k = 0; k < 4; k++) {
      for (let i = 0; i < 20; i++) {
        const r = Math.floor(i / 5);
        const c = i % 5;
        expect(bands[k]![(3 - r) * 5 + c]).toBe(Math.fround(Number(csv.rows[i]![5 + k])));
      }
    }
  });

  it('--png with a Parquet context draws its points: mean.png equals a map rendered from the CSV and the fixture points', () => {
    const csv = readOut(path.join(dir, 'grid.csv'));
    const field = Float32Array.from(csv.rows, (r) => Number(r[5]));
    const pts = ctxRows.filter((r) => r.lon !== null && r.lat !== null);
    expect(pts.length).toBeGreaterThan(30);
    const want = renderMap(field, { x0: 6, x1: 14, y0: 46, y1: 52, width: 5, height: 4 }, {
      points: { x: pts.map((r) => r.lon!), y: pts.map((r) => r.lat!) }, xLabel: 'lon', yLabel: 'lat',
      title: 'pm10: predictive mean', cmap: 'viridis',
    });
    const got = PNG.sync.read(bytes('maps/mean.png'));
    expect([got.width, got.height]).toEqual([want.width, want.height]);
    expect(Buffer.compare(got.data, Buffer.from(want.data))).toBe(0);
  });

  it('GeoJSON from a Parquet targets file: [lon, lat] points with carried and input columns as properties', () => {
    const fc = JSON.parse(bytes('pts.geojson').toString()) as { features: { geometry: { coordinates: number[] }; properties: Record<string, unknown> }[] };
    const csv = readOut(path.join(dir, 'pts.csv'));
    expect(csv.header).toEqual(['station', 'lon', 'lat', 'time', 'elev', 'landuse', 'pm10_mean', 'pm10_std', 'pm10_lo90', 'pm10_hi90']);
    expect(fc.features.length).toBe(tgtRows.length);
    fc.features.forEach((f, i) => {
      const row = csv.rows[i]!;
      expect(f.geometry.coordinates).toEqual([Number(row[1]), Number(row[2])]);
      expect(f.geometry.coordinates).toEqual([tgtRows[i]!.lon, tgtRows[i]!.lat]);
      expect(Object.keys(f.properties)).toEqual(['station', 'time', 'elev', 'landuse', 'pm10_mean', 'pm10_std', 'pm10_lo90', 'pm10_hi90']);
      expect(f.properties.station).toBe(tgtRows[i]!.station);
      expect(f.properties.landuse).toBe(tgtRows[i]!.landuse);
      expect(f.properties.time).toBe(row[3]);
      for (const [k, j] of [['pm10_mean', 6], ['pm10_std', 7], ['pm10_lo90', 8], ['pm10_hi90', 9]] as const) expect(f.properties[k]).toBe(Number(row[j]));
    });
  });

  it('shards of a targets file keep carried text columns and merge into the one-run CSV bytes', async () => {
    expect([0, 1, 2].map((i) => readOut(path.join(dir, `tgt-${i}.csv`)).rows.map((r) => r[0]))).toEqual([
      tgtRows.slice(0, 3).map((r) => r.station), tgtRows.slice(3, 6).map((r) => r.station), tgtRows.slice(6, 9).map((r) => r.station),
    ]);
    await ok(['merge', '--out', 'merged-tgt.csv', 'tgt-0.csv', 'tgt-1.csv', 'tgt-2.csv']);
    expect(bytes('merged-tgt.csv').equals(bytes('one-tgt.csv'))).toBe(true);
  }, 60_000);

  it('grid shards with a text --at column merge into the one-run GeoTIFF bytes, with PNG maps from the Parquet context', async () => {
    await ok(['merge', '--out', 'merged.tif', '--png', 'merged-maps', '--context', 'ctx.parquet', 'grid-0.csv', 'grid-1.csv']);
    expect(bytes('merged.tif').equals(bytes('grid.tif'))).toBe(true);
    expect(bytes('merged-maps/mean.png').equals(bytes('maps/mean.png'))).toBe(true);
  }, 60_000);
});
