/**
 * `bsa-tnp gp` and `bsa-tnp cv` through the real command line: output columns and values against
 * the library called in-process on the same tables, the printed hyper-parameters, error texts,
 * leave-one-station-out folds, and CV of a model folder against the prediction API.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { crossValidate, kFolds, predictorCvModel } from '../../src/api/cv.js';
import { gpPredictTables } from '../../src/api/gp-table.js';
import { createBackend, loadPredictor } from '../../src/api/load-node.js';
import { summarisePredictive } from '../../src/api/predictive.js';
import { readTable } from '../../src/io/table-read.js';
import { randomContext, removeTempDirs, runCli, tempDir, writeCsvText, writeRandomModel } from '../cli-predict/fixtures.js';

afterAll(removeTempDirs);

/** 3 stations × 12 days of a smooth field in (lon, lat, date) plus an elevation covariate. */
function stationRows(): (string | number)[][] {
  const st = [['S01', 8.1, 50.2, 120], ['S02', 9.3, 51.0, 340], ['S03', 7.6, 49.4, 80]] as const;
  const rows: (string | number)[][] = [];
  for (let d = 1; d <= 12; d++) {
    for (const [id, lon, lat, elev] of st) {
      const v = 20 + 3 * Math.sin(d / 3 + lon) + 0.01 * elev + 0.3 * Math.cos(7 * d * lat);
      rows.push([id, lon, lat, elev, `2001-03-${String(d).padStart(2, '0')}`, Number(v.toFixed(3))]);
    }
  }
  return rows;
}
const HEADER = ['station', 'lon', 'lat', 'elev', 'date', 'pm10'];

describe('bsa-tnp gp', () => {
  it('writes the target columns then pm10_mean/std/lo90/hi90, equal to the library, and prints the fit', async () => {
    const dir = tempDir('gp');
    const rows = stationRows();
    writeCsvText(path.join(dir, 'obs.csv'), HEADER, rows.slice(0, 30));
    writeCsvText(path.join(dir, 'pts.csv'), ['station', 'lon', 'lat', 'elev', 'date'], rows.slice(30).map((r) => r.slice(0, 5)));
    const out = path.join(dir, 'pred.csv');
    const r = await runCli(['gp', '--context', path.join(dir, 'obs.csv'), '--targets', path.join(dir, 'pts.csv'), '--s', 'lon,lat', '--t', 'date',
      '--x', 'elev', '--f', 'pm10', '--kernel', 'matern52', '--transform', 'pm10=log', '--out', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/kernel matern52, fitted on 30 points: log marginal likelihood -?\d/);
    expect(r.stdout).toMatch(/lengthscale s \(km, great-circle\): \d/);
    expect(r.stdout).toMatch(/lengthscale t: \d/);
    expect(r.stdout).toMatch(/time: fit \d+\.\d+ s/);
    const text = fs.readFileSync(out, 'utf8').trim().split('\n');
    expect(text[0]).toBe('station,lon,lat,elev,date,pm10_mean,pm10_std,pm10_lo90,pm10_hi90');
    expect(text).toHaveLength(7);
    expect(text[1]!.startsWith('S01,8.1,50.2,120,2001-03-11,')).toBe(true);
    const lib = gpPredictTables(await readTable(path.join(dir, 'obs.csv')), await readTable(path.join(dir, 'pts.csv')),
      { s: ['lon', 'lat'], t: 'date', x: ['elev'], f: 'pm10', kernel: 'matern52', transform: 'log' });
    const sum = summarisePredictive(lib.predictive);
    text.slice(1).forEach((line, i) => {
      const v = line.split(',').slice(5).map(Number);
      expect(v[0]).toBeCloseTo(sum.mean[i]!, 9);
      expect(v[1]).toBeCloseTo(sum.std[i]!, 9);
      expect(v[2]!).toBeLessThan(v[0]!);
      expect(v[3]!).toBeGreaterThan(v[0]!);
      expect(Math.abs(v[0]! - (rows[30 + i]![5] as number))).toBeLessThan(3); // a smooth field: close
    });
  }, 120_000);

  it('names the file, row and column of bad input, and suggests a column', async () => {
    const dir = tempDir('gp-err');
    writeCsvText(path.join(dir, 'obs.csv'), ['lon', 'lat', 'pm10'], [[8, 50, 1], [9, 51, 0], [8.5, 50.5, 2], [8.2, 50.1, 3]]);
    writeCsvText(path.join(dir, 'pts.csv'), ['lon', 'lat'], [[8, 50]]);
    const base = ['gp', '--context', path.join(dir, 'obs.csv'), '--targets', path.join(dir, 'pts.csv'), '--out', path.join(dir, 'p.csv')];
    const a = await runCli([...base, '--s', 'lon,lat', '--f', 'pm10', '--transform', 'pm10=log']);
    expect(a.code).toBe(1);
    expect(a.stderr).toContain("gp: context: row 2, column 'pm10': log needs values > 0, got 0; use --transform pm10=log1p or none");
    const b = await runCli([...base, '--s', 'lon,latt', '--f', 'pm10']);
    expect(b.stderr).toContain("gp: context: no column 'latt'; did you mean 'lat'?");
    const c = await runCli([...base, '--s', 'lon,lat']);
    expect(c.code).toBe(2);
    expect(c.stderr).toContain('bsa-tnp gp: missing --f COL');
    expect(fs.existsSync(path.join(dir, 'p.csv'))).toBe(false);
  }, 120_000);
});

describe('bsa-tnp cv', () => {
  it('leave-one-station-out with the GP: one line per station and a summary', async () => {
    const dir = tempDir('cv');
    writeCsvText(path.join(dir, 'obs.csv'), HEADER, stationRows());
    const r = await runCli(['cv', '--data', path.join(dir, 'obs.csv'), '--model', 'gp', '--s', 'lon,lat', '--t', 'date', '--f', 'pm10', '--by', 'station']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toContain('leave one station out');
    expect(lines.slice(1).map((l) => l.split(/\s+/)[0])).toEqual(['station=S01', 'station=S02', 'station=S03', 'summary']);
    expect(lines[4]).toMatch(/summary\s+n\s+36\s+nll\s+-?\d+\.\d{4}\s+rmse\s+\d/);
  }, 120_000);

  it('scores a model folder by k-fold, as the prediction API does', async () => {
    const dir = tempDir('cv-model');
    const model = path.join(dir, 'model');
    await writeRandomModel(model, 5);
    writeCsvText(path.join(dir, 'obs.csv'), ['s0', 's1', 'f'], randomContext(40, 9));
    const r = await runCli(['cv', '--data', path.join(dir, 'obs.csv'), '--model', model, '--folds', '4', '--seed', '2']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const summary = r.stdout.trim().split('\n').at(-1)!;
    const handle = await createBackend('cpu', 'test');
    try {
      const predictor = loadPredictor(model, handle.backend, 'test');
      const res = await crossValidate(await readTable(path.join(dir, 'obs.csv')), 'f', (t) => kFolds(t.rows, 4, 2), predictorCvModel(predictor, 'f'));
      predictor.dispose();
      expect(summary).toContain(`nll ${res.summary.nll.toFixed(4).padStart(9)}`);
      expect(summary).toContain(`rmse ${res.summary.rmse.toPrecision(5).padStart(9)}`);
      expect(res.summary.n).toBe(40);
    } finally {
      handle.dispose();
    }
  }, 120_000);
});
