/**
 * `predict --out pred.geojson`: a FeatureCollection of Point features that JSON.parse reads back
 * with the same points and values as the CSV output of the same run; grid + --mask drops the
 * cells outside; bad masks fail with the file named and leave no output.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCsv } from '../../src/io/csv.js';
import { randomContext, removeTempDirs, runCli, tempDir, writeCsvText, writeRandomModel } from '../cli-predict/fixtures.js';

afterAll(removeTempDirs);

interface Fc { type: string; features: { type: string; geometry: { type: string; coordinates: number[] }; properties: Record<string, number> }[] }

describe('predict --out .geojson and --mask', () => {
  let dir: string;
  beforeAll(async () => {
    dir = tempDir('geojson');
    await writeRandomModel(path.join(dir, 'model'), 6);
    writeCsvText(path.join(dir, 'ctx.csv'), ['s0', 's1', 'f'], randomContext(20, 8));
    writeCsvText(path.join(dir, 'targets.csv'), ['s0', 's1'], Array.from({ length: 7 }, (_, i) => [i * 0.5 - 1, i * 0.1 - 0.6]));
    // Two disjoint squares: a MultiPolygon.
    fs.writeFileSync(path.join(dir, 'two.geojson'), JSON.stringify({ type: 'MultiPolygon', coordinates: [[[[-1, -1.5], [0, -1.5], [0, -0.5], [-1, -0.5], [-1, -1.5]]], [[[2, -0.5], [3, -0.5], [3, 0.5], [2, 0.5], [2, -0.5]]]] }));
    fs.writeFileSync(path.join(dir, 'bad.geojson'), '{"type": "Polygon", "coordinates": [[[0, 0], [1, 0]]]}');
    const base = ['predict', 'model', '--context', 'ctx.csv'];
    const runs = await Promise.all([
      runCli([...base, '--targets', 'targets.csv', '--out', 'pred.geojson'], dir),
      runCli([...base, '--targets', 'targets.csv', '--out', 'pred.csv'], dir),
      runCli([...base, '--grid=-1,3,-1.5,0.5', '--size', '9x5', '--out', 'masked.geojson', '--mask', 'two.geojson'], dir),
    ]);
    for (const r of runs) expect(r.code).toBe(0);
  }, 120_000);

  it('has one Point feature per target with the CSV row as properties', () => {
    const fc = JSON.parse(fs.readFileSync(path.join(dir, 'pred.geojson'), 'utf8')) as Fc;
    const csv = parseCsv(fs.readFileSync(path.join(dir, 'pred.csv'), 'utf8'), { label: 'pred.csv' });
    expect(fc.type).toBe('FeatureCollection');
    expect(fc.features.length).toBe(7);
    fc.features.forEach((f, i) => {
      expect(f.type).toBe('Feature');
      expect(f.geometry.type).toBe('Point');
      expect(f.geometry.coordinates).toEqual([csv.values.get('s0')![i], csv.values.get('s1')![i]]);
      expect(Object.keys(f.properties)).toEqual(['f_mean', 'f_std', 'f_lo90', 'f_hi90']);
      for (const k of Object.keys(f.properties)) expect(f.properties[k]).toBe(csv.values.get(k)![i]);
    });
  });

  it('keeps only grid cells inside the mask polygons', () => {
    const fc = JSON.parse(fs.readFileSync(path.join(dir, 'masked.geojson'), 'utf8')) as Fc;
    // Grid x = -1, -0.5, ..., 3; y = -1.5, -1, ..., 0.5. Square 1 holds x in {-1,-0.5,0} x y in {-1.5,-1,-0.5};
    // square 2 holds x in {2,2.5,3} x y in {-0.5,0,0.5}: 9 + 9 cells (edges inside).
    const pts = fc.features.map((f) => f.geometry.coordinates.join(','));
    const want: string[] = [];
    for (const y of [-1.5, -1, -0.5, 0, 0.5]) {
      for (const x of [-1, -0.5, 0, 0.5, 1, 1.5, 2, 2.5, 3]) {
        if ((x <= 0 && y <= -0.5) || (x >= 2 && y >= -0.5)) want.push(`${x},${y}`);
      }
    }
    expect(pts).toEqual(want);
  });

  it('names a bad mask and leaves no output', async () => {
    const r = await runCli(['predict', 'model', '--context', 'ctx.csv', '--grid=-1,3,-1.5,0.5', '--size', '9x5', '--out', 'nothing.csv', '--mask', 'bad.geojson'], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`predict: --mask '${path.join(dir, 'bad.geojson')}', ring 0: expected a ring of at least 3 [x, y] positions, got [[0,0],[1,0]]`);
    const s = await runCli(['predict', 'model', '--context', 'ctx.csv', '--targets', 'targets.csv', '--out', 'nothing.csv', '--mask', 'two.geojson'], dir);
    expect(s.code).toBe(2);
    expect(s.stderr).toContain('bsa-tnp predict: --mask only applies to --grid');
    expect(fs.readdirSync(dir).filter((f) => f.includes('nothing.csv'))).toEqual([]);
  }, 60_000);
});
