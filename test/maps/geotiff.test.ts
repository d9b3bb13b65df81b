/**
 * GeoTIFF maps (must-show 4): what `predict --grid ... --out map.tif` writes is read back by
 * independent readers — the `geotiff` package's reader (fromArrayBuffer) and, where installed,
 * GDAL's `gdalinfo -json` (required in CI) — with the grid's bounds and size, pixel centres on the
 * CSV's grid points, NoData outside a mask, the right CRS tag, and every value equal to the CSV.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fromArrayBuffer } from 'geotiff';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeGrid } from '../../src/api/grid.js';
import { encodeGeoTiff } from '../../src/io/geotiff.js';
import { parseCsv } from '../../src/io/csv.js';
import { parseConfig } from '../../src/models/config.js';
import { randomContext, removeTempDirs, runCli, tempDir, writeCsvText, writeRandomModel } from '../cli-predict/fixtures.js';

afterAll(removeTempDirs);

async function readTiff(file: string) {
  const bytes = fs.readFileSync(file);
  const tiff = await fromArrayBuffer(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
  const image = await tiff.getImage();
  const bands = await image.readRasters({ interleave: false }) as unknown as Float32Array[];
  return { image, bands, geoKeys: image.getGeoKeys() as Record<string, number> };
}

function gdalAvailable(): boolean {
  try {
    execFileSync('gdalinfo', ['--version'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}
const HAVE_GDAL = gdalAvailable();

describe('encodeGeoTiff', () => {
  it('georeferences cell centres at the grid points (pixel-is-area), north-up, NaN NoData', async () => {
    const grid = { x0: 10, x1: 14, y0: -3, y1: -1, width: 5, height: 3 };
    const g = makeGrid(grid, grid);
    const a = Float32Array.from({ length: 15 }, (_, i) => i + 0.25);
    const b = Float32Array.from({ length: 15 }, (_, i) => -i);
    a[7] = NaN;
    const dir = tempDir('gtiff');
    const file = path.join(dir, 'unit.tif');
    fs.writeFileSync(file, encodeGeoTiff({ grid, names: ['a', 'b'], bands: [a, b], crs: null }));
    const { image, bands, geoKeys } = await readTiff(file);
    expect([image.getWidth(), image.getHeight(), image.getSamplesPerPixel()]).toEqual([5, 3, 2]);
    // Cells are 1 x 1; edges half a cell outside the bounds.
    expect(image.getBoundingBox()).toEqual([9.5, -3.5, 14.5, -0.5]);
    expect(image.getResolution()).toEqual([1, -1, 0]);
    expect(image.getGDALNoData()).toBeNaN();
    expect(geoKeys.GTRasterTypeGeoKey).toBe(1);
    expect(geoKeys.GeographicTypeGeoKey).toBeUndefined();
    expect(geoKeys.ProjectedCSTypeGeoKey).toBeUndefined();
    const [ox, oy] = image.getOrigin();
    for (let i = 0; i < 15; i++) {
      // Image row 0 is the north edge: grid row r is image row H-1-r.
      const r = Math.floor(i / 5);
      const c = i % 5;
      const k = (2 - r) * 5 + c;
      expect(ox! + (c + 0.5) * 1).toBeCloseTo(g.x[i]!, 12);
      expect(oy! - (2 - r + 0.5) * 1).toBeCloseTo(g.y[i]!, 12);
      expect(bands[0]![k]).toEqual(a[i]);
      expect(bands[1]![k]).toEqual(b[i]);
    }
  });

  it('tags EPSG:4326 as geographic and other codes as projected', async () => {
    const grid = { x0: 0, x1: 1, y0: 0, y1: 1, width: 2, height: 2 };
    const bands = [new Float32Array(4), new Float32Array(4)];
    const dir = tempDir('gtiff');
    fs.writeFileSync(path.join(dir, 'g.tif'), encodeGeoTiff({ grid, names: ['a', 'b'], bands, crs: { epsg: 4326, geographic: true } }));
    fs.writeFileSync(path.join(dir, 'p.tif'), encodeGeoTiff({ grid, names: ['a', 'b'], bands, crs: { epsg: 32633, geographic: false } }));
    expect((await readTiff(path.join(dir, 'g.tif'))).geoKeys).toMatchObject({ GTModelTypeGeoKey: 2, GeographicTypeGeoKey: 4326, GTRasterTypeGeoKey: 1 });
    expect((await readTiff(path.join(dir, 'p.tif'))).geoKeys).toMatchObject({ GTModelTypeGeoKey: 1, ProjectedCSTypeGeoKey: 32633, GTRasterTypeGeoKey: 1 });
  });
});

describe('predict --out map.tif', () => {
  let dir: string;
  let model: string;
  let lonlat: string;
  let ctx: string;
  const gridArgs = ['--grid=-1,3,-1.5,0.5', '--size', '9x6'];

  beforeAll(async () => {
    dir = tempDir('gtiff-cli');
    model = path.join(dir, 'model');
    lonlat = path.join(dir, 'lonlat');
    await writeRandomModel(model, 1);
    await writeRandomModel(lonlat, 2, {
      model: parseConfig({
        blocks: 1, embedDim: 16, heads: 2, headDim: 8, obsEmbedDim: 4, inputMlp: [32, 16], ffn: [32, 16], headHidden: [32], tile: { queries: 64, keys: 64 },
        groups: { s: { dims: 2, embed: false, bias: { family: 'rbf', numBasis: 5, distance: 'great-circle' } } },
      }),
    });
    ctx = path.join(dir, 'ctx.csv');
    writeCsvText(ctx, ['s0', 's1', 'f'], randomContext(30));
    // A mask: the box [0, 2.5] x [-1.2, 0.2] minus a hole [1, 1.6] x [-0.8, -0.2].
    fs.writeFileSync(path.join(dir, 'mask.geojson'), JSON.stringify({
      type: 'Feature', properties: {}, geometry: { type: 'Polygon', coordinates: [[[0, -1.2], [2.5, -1.2], [2.5, 0.2], [0, 0.2], [0, -1.2]], [[1, -0.8], [1.6, -0.8], [1.6, -0.2], [1, -0.2], [1, -0.8]]] },
    }));
    const runs = await Promise.all([
      runCli(['predict', model, '--context', ctx, ...gridArgs, '--out', path.join(dir, 'pred.csv')]),
      runCli(['predict', model, '--context', ctx, ...gridArgs, '--out', path.join(dir, 'map.tif')]),
      runCli(['predict', model, '--context', ctx, ...gridArgs, '--out', path.join(dir, 'masked.tif'), '--mask', path.join(dir, 'mask.geojson')]),
      runCli(['predict', model, '--context', ctx, ...gridArgs, '--out', path.join(dir, 'masked.csv'), '--mask', path.join(dir, 'mask.geojson')]),
      runCli(['predict', lonlat, '--context', ctx, ...gridArgs, '--out', path.join(dir, 'lonlat.tif')]),
      runCli(['predict', model, '--context', ctx, ...gridArgs, '--out', path.join(dir, 'utm.tif'), '--crs', 'EPSG:32633']),
    ]);
    for (const r of runs) expect(r.stderr + r.stdout).toMatch(/predict_done/), expect(r.code).toBe(0);
  }, 120_000);

  function csv(file: string) {
    return parseCsv(fs.readFileSync(file, 'utf8'), { label: file });
  }

  it('has the grid size and bounds, pixel centres on the CSV points, and every value of the CSV', async () => {
    const { image, bands, geoKeys } = await readTiff(path.join(dir, 'map.tif'));
    expect([image.getWidth(), image.getHeight()]).toEqual([9, 6]);
    // Centres of the edge cells are the --grid bounds: dx = 4/8, dy = 2/5.
    const bb = image.getBoundingBox();
    [-1 - 0.25, -1.5 - 0.2, 3 + 0.25, 0.5 + 0.2].forEach((v, i) => expect(bb[i]).toBeCloseTo(v, 12));
    expect(geoKeys.GeographicTypeGeoKey).toBeUndefined();
    const data = csv(path.join(dir, 'pred.csv'));
    expect(data.rows).toBe(54);
    const [ox, oy] = image.getOrigin();
    const [rx, ry] = image.getResolution();
    const names = ['f_mean', 'f_std', 'f_lo90', 'f_hi90'];
    for (let i = 0; i < data.rows; i++) {
      const x = data.values.get('s0')![i]!;
      const y = data.values.get('s1')![i]!;
      const c = Math.round((x - ox!) / rx! - 0.5);
      const r = Math.round((y - oy!) / ry! - 0.5);
      expect(ox! + (c + 0.5) * rx!).toBeCloseTo(x, 12);
      expect(oy! + (r + 0.5) * ry!).toBeCloseTo(y, 12);
      // The CSV prints each float32 in its shortest exact text: read back as float32 it is the same number.
      names.forEach((n, b) => expect(bands[b]![r * 9 + c]).toBe(Math.fround(data.values.get(n)![i]!)));
    }
  });

  it('with --mask: cells outside are NoData and the cells inside are the CSV rows', async () => {
    const { image, bands } = await readTiff(path.join(dir, 'masked.tif'));
    const data = csv(path.join(dir, 'masked.csv'));
    const g = makeGrid({ x0: -1, x1: 3, y0: -1.5, y1: 0.5 }, { width: 9, height: 6 });
    // The independent expectation: in the box and not strictly inside the hole.
    const inside = (x: number, y: number) => x >= 0 && x <= 2.5 && y >= -1.2 && y <= 0.2 && !(x > 1 && x < 1.6 && y > -0.8 && y < -0.2);
    const kept = Array.from(g.x, (x, i) => inside(x, g.y[i]!));
    expect(data.rows).toBe(kept.filter(Boolean).length);
    expect(data.rows).toBeGreaterThan(5);
    expect(data.rows).toBeLessThan(54);
    let j = 0;
    for (let i = 0; i < 54; i++) {
      const r = Math.floor(i / 9);
      const k = (5 - r) * 9 + (i % 9);
      if (!kept[i]) {
        expect(bands[0]![k]).toBeNaN();
        continue;
      }
      expect(data.values.get('s0')![j]).toBe(g.x[i]);
      expect(data.values.get('s1')![j]).toBe(g.y[i]);
      expect(bands[0]![k]).toBe(Math.fround(data.values.get('f_mean')![j]!));
      expect(bands[3]![k]).toBe(Math.fround(data.values.get('f_hi90')![j]!));
      j++;
    }
    expect(image.getGDALNoData()).toBeNaN();
  });

  it('tags EPSG:4326 for a great-circle (lon/lat) model and the user CRS from --crs', async () => {
    expect((await readTiff(path.join(dir, 'lonlat.tif'))).geoKeys).toMatchObject({ GTModelTypeGeoKey: 2, GeographicTypeGeoKey: 4326 });
    expect((await readTiff(path.join(dir, 'utm.tif'))).geoKeys).toMatchObject({ GTModelTypeGeoKey: 1, ProjectedCSTypeGeoKey: 32633 });
  });

  it('refuses a GeoTIFF without a grid and a bad --crs, leaving no file', async () => {
    const targets = path.join(dir, 'targets.csv');
    writeCsvText(targets, ['s0', 's1'], [[0, 0], [1, 1]]);
    const a = await runCli(['predict', model, '--context', ctx, '--targets', targets, '--out', path.join(dir, 'no.tif')]);
    expect(a.code).toBe(1);
    expect(a.stderr).toContain(`predict: a GeoTIFF (--out '${path.join(dir, 'no.tif')}') needs a grid: give --grid X0,X1,Y0,Y1 --size WxH, or write .csv or .geojson`);
    const b = await runCli(['predict', model, '--context', ctx, ...gridArgs, '--out', path.join(dir, 'no.tif'), '--crs', 'UTM33']);
    expect(b.code).toBe(1);
    expect(b.stderr).toContain("--crs: expected an EPSG code such as EPSG:4326 or EPSG:32633, got 'UTM33'");
    expect(fs.readdirSync(dir).filter((f) => f.includes('no.tif'))).toEqual([]);
  }, 60_000);

  // GDAL (Debian gdal-bin): skipped outside CI when gdalinfo is missing; .ci/run installs it.
  it.skipIf(!HAVE_GDAL && !process.env.CI)('GDAL reads the same size, geotransform, NoData, CRS and value ranges', () => {
    const info = (f: string) => JSON.parse(execFileSync('gdalinfo', ['-json', '-stats', path.join(dir, f)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })) as {
      size: number[]; geoTransform: number[]; bands: { type: string; noDataValue: unknown; minimum: number; maximum: number }[];
      coordinateSystem?: { wkt: string }; metadata: Record<string, Record<string, string>>;
    };
    const m = info('map.tif');
    expect(m.size).toEqual([9, 6]);
    const gt = m.geoTransform;
    [-1.25, 0.5, 0, 0.7, 0, -0.4].forEach((v, i) => expect(gt[i]).toBeCloseTo(v, 12));
    expect(m.metadata['']!.AREA_OR_POINT).toBe('Area');
    expect(m.bands.map((b) => b.type)).toEqual(['Float32', 'Float32', 'Float32', 'Float32']);
    expect(m.bands[0]!.noDataValue).toBe('NaN');
    // Every pixel through GDAL's XYZ writer: pixel-centre coordinates and the value, per band.
    const xyz = (f: string, band: number) => execFileSync('gdal_translate', ['-q', '-of', 'XYZ', '-b', String(band), '-co', 'DECIMAL_PRECISION=12',
      '-co', 'COLUMN_SEPARATOR=,', path.join(dir, f), '/vsistdout/'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
      .trim().split('\n').map((l) => l.split(',').map(Number) as [number, number, number]);
    for (const [tif, csvFile] of [['map.tif', 'pred.csv'], ['masked.tif', 'masked.csv']] as const) {
      const data = csv(path.join(dir, csvFile));
      ['f_mean', 'f_std', 'f_lo90', 'f_hi90'].forEach((n, b) => {
        const byPoint = new Map(xyz(tif, b + 1).map(([x, y, v]) => [`${x.toFixed(9)},${y.toFixed(9)}`, v]));
        expect(byPoint.size).toBe(54);
        let nodata = 54;
        for (let i = 0; i < data.rows; i++) {
          const key = `${data.values.get('s0')![i]!.toFixed(9)},${data.values.get('s1')![i]!.toFixed(9)}`;
          expect(Math.fround(byPoint.get(key)!), `${tif} ${n} at ${key}`).toBe(Math.fround(data.values.get(n)![i]!));
          nodata--;
        }
        expect([...byPoint.values()].filter((v) => Number.isNaN(v)).length).toBe(nodata);
      });
    }
    expect(info('lonlat.tif').coordinateSystem!.wkt).toMatch(/ID\["EPSG",4326\]\]$/);
    expect(info('utm.tif').coordinateSystem!.wkt).toMatch(/UTM zone 33N[\s\S]*ID\["EPSG",32633\]\]$/);
  });
});
