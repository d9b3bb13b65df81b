// The user path through the real command line: `train --data`, `eval --data`, `info` and `fit` on a
// CSV and a Parquet file with the user's column names (longitude/latitude, ISO days, a text
// covariate, missing values), and must-show 5: `train --data` and `fit` killed mid-run resume
// exactly (the final weights equal an uninterrupted run's, bit for bit).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCheckpoint, loadModelFolder, type Weights } from '../../src/train/checkpoint.js';
import { BIN, removeTempDirs, runCli, tempDir, writeRandomModel } from '../cli-predict/fixtures.js';
import { stationRows, writeStationCsv, writeStationParquet, type StationRow } from './fixtures.js';

let dir: string;
let rows: StationRow[];
const SCHEMA = ['--s', 'longitude,latitude', '--t', 'day', '--x', 'elev,landuse', '--f', 'pm10', '--transform', 'pm10=log'];
const SMALL = ['--size', 'small', '--threads', '1', '--batch-size', '2', '--max-context', '48', '--max-targets', '24'];

beforeAll(() => {
  dir = tempDir('tabletrain');
  rows = stationRows(12, 20);
  writeStationCsv(path.join(dir, 'st.csv'), rows);
  writeStationParquet(path.join(dir, 'st.parquet'), rows);
  fs.writeFileSync(path.join(dir, 'tc.json'), JSON.stringify({ validEvery: 3, validBatches: 1, checkpointEvery: 3, testBatches: 2 }));
});
afterAll(removeTempDirs);

const cli = (...args: string[]) => runCli(args, dir);

function bits(w: Weights): Record<string, number[]> {
  return Object.fromEntries([...w].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, Array.from(v.data)]));
}

/** Runs the CLI and SIGKILLs it when `pattern` appears on its stderr. */
function runAndKill(args: readonly string[], pattern: RegExp): Promise<{ signal: string | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: dir, env: { ...process.env, BSA_TNP_DEBUG: '' } });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (pattern.test(stderr)) child.kill('SIGKILL');
    });
    child.stdout.resume();
    child.on('error', reject);
    child.on('close', (_code, signal) => resolve({ signal, stderr }));
  });
}

describe('train --data / eval --data / info', () => {
  it('CSV and Parquet train the same model; eval scores the stored test split; info shows the settings', async () => {
    const common = ['--task', 'forecast', '--horizon', '1', '--window', '4', '--steps', '3', '--train-config', 'tc.json', ...SCHEMA, ...SMALL];
    const a = await cli('train', '--data', 'st.csv', '--out', 'csv', ...common);
    expect(a.code, a.stderr).toBe(0);
    const done = JSON.parse(a.stdout) as { rows: { train: number; valid: number; test: number }; kept: string; split: string };
    // 12 stations × 20 days − the row with a missing landuse; time split 0.8/0.1: days 1–16, 17–18, 19–20.
    const dayOf = (r: StationRow) => Number(r.day.slice(8, 10));
    const kept = rows.filter((r) => r.landuse !== null);
    expect(done.rows).toEqual({
      train: kept.filter((r) => dayOf(r) <= 16).length, valid: kept.filter((r) => dayOf(r) > 16 && dayOf(r) <= 18).length,
      test: kept.filter((r) => dayOf(r) > 18).length,
    });
    expect(done).toMatchObject({ kept: 'best', split: 'time:0.8,0.1' });
    const b = await cli('train', '--data', 'st.parquet', '--out', 'pq', ...common);
    expect(b.code, b.stderr).toBe(0);
    const mc = loadModelFolder(path.join(dir, 'csv')), mp = loadModelFolder(path.join(dir, 'pq'));
    expect(bits(mp.weights)).toEqual(bits(mc.weights));
    // The schema: statistics of the training days only (an independent mean of log pm10 over them).
    const train = kept.filter((r) => dayOf(r) <= 16 && r.pm10 !== null).map((r) => Math.log(r.pm10!));
    const mean = train.reduce((s, v) => s + v, 0) / train.length;
    expect(mc.config.data.normalization.pm10!.mean).toBeCloseTo(mean, 10);
    expect(mc.config.data.categories).toEqual({ landuse: ['forest', 'rural', 'urban'] });
    expect(mc.config.model.groups.s).toMatchObject({ dims: 2, embed: false, bias: { distance: 'great-circle' } });
    expect(mc.config.model.groups.x).toMatchObject({ dims: 4, embed: true, bias: null });

    const e = await cli('eval', '--model', 'csv', '--data', 'st.parquet', '--batches', '2', '--json');
    expect(e.code, e.stderr).toBe(0);
    const r = JSON.parse(e.stdout) as Record<string, unknown>;
    expect(r).toMatchObject({ part: 'test', testRows: done.rows.test, split: 'time:0.8,0.1', task: 'forecast', batches: 2 });
    for (const k of ['nll', 'rmse', 'mae', 'coverage']) expect(Number.isFinite(r[k]), k).toBe(true);
    const info = await cli('info', 'csv');
    expect(info.stdout).toContain('task: forecast, the last 1 of each window of 4 time step(s)');
    expect(info.stdout).toContain('split: time:0.8,0.1');

    // predict: the trained model on the user's own columns; CSV and Parquet contexts agree.
    const pc = await cli('predict', '--model', 'csv', '--context', 'st.csv', '--targets', 'st.parquet', '--out', 'pc.csv');
    expect(pc.code, pc.stderr).toBe(0);
    const pp = await cli('predict', '--model', 'csv', '--context', 'st.parquet', '--targets', 'st.csv', '--out', 'pp.csv');
    expect(pp.code, pp.stderr).toBe(0);
    const read = (f: string) => fs.readFileSync(path.join(dir, f), 'utf8').trim().split('\n').map((l) => l.split(','));
    const [hc, ...rc] = read('pc.csv');
    const [hp, ...rp] = read('pp.csv');
    expect(hc).toEqual(hp);
    expect(hc!.slice(0, 2)).toEqual(['site', 'longitude']);
    const mi = hc!.indexOf('pm10_mean');
    expect(mi).toBeGreaterThan(0);
    expect(rc.length).toBe(kept.length);
    rc.forEach((r, i) => {
      expect(Number(r[mi])).toBeGreaterThan(0); // a log-normal mean
      expect(Number(r[mi])).toBeCloseTo(Number(rp[i]![mi]), 3);
    });

    // A file of another length is refused (the split would not be the stored one).
    writeStationCsv(path.join(dir, 'short.csv'), rows.slice(0, 100));
    const bad = await cli('eval', '--model', 'csv', '--data', 'short.csv');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('has 100 rows, but the model was trained on a file of 240 rows');
  }, 90_000);

  it('errors name the problem', async () => {
    const h = await cli('train', '--data', 'st.csv', '--out', 'e1', '--task', 'forecast', '--horizon', '4', '--window', '4', ...SCHEMA, ...SMALL);
    expect(h.code).toBe(1);
    expect(h.stderr).toContain('expected 1 ≤ --horizon < --window, got horizon 4, window 4');
    const s = await cli('train', '--out', 'e2', '--split', 'space:0.5,0.2');
    expect(s.code).toBe(2);
    expect(s.stderr).toContain('--split needs --data FILE');
    const c = await cli('train', '--data', 'st.csv', '--out', 'e3', '--f', 'pm1O', '--s', 'longitude,latitude');
    expect(c.code).toBe(1);
    expect(c.stderr).toContain("no column 'pm1O'; did you mean 'pm10'?");
    const both = await cli('train', '--data', 'st.csv', '--out', 'e4', '--time-budget', '30', '--stop-after', '30', ...SCHEMA, ...SMALL);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('give --time-budget or --stop-after, not both');
    const zero = await cli('train', '--data', 'st.csv', '--out', 'e5', '--time-budget', '0', ...SCHEMA, ...SMALL);
    expect(zero.code).toBe(2);
    expect(zero.stderr).toContain("--time-budget must be a positive number, got '0'");
    expect(fs.existsSync(path.join(dir, 'e4'))).toBe(false);
  }, 60_000);
});

describe('train --init and fit early stopping', () => {
  it('--init: a model trained on elev continues with a new text covariate; a dropped covariate is refused', async () => {
    const base = ['--data', 'st.csv', '--s', 'longitude,latitude', '--t', 'day', '--f', 'pm10', '--transform', 'pm10=log', '--steps', '2', '--train-config', 'tc.json', ...SMALL];
    const a = await cli('train', ...base, '--x', 'elev', '--out', 'i0');
    expect(a.code, a.stderr).toBe(0);
    const b = await cli('train', ...base, '--x', 'elev,landuse', '--init', 'i0', '--out', 'i1');
    expect(b.code, b.stderr).toBe(0);
    const m0 = loadModelFolder(path.join(dir, 'i0')).config, m1 = loadModelFolder(path.join(dir, 'i1')).config;
    expect(m1.model.groups.x).toMatchObject({ dims: 4 });
    // The shared columns keep the initial model's statistics (so the starting function is its function).
    for (const c of ['elev', 'pm10', 'day']) expect(m1.data.normalization[c], c).toEqual(m0.data.normalization[c]);
    const bad = await cli('train', ...base.map((v) => (v === 'pm10' ? 'elev' : v)).filter((v) => v !== 'pm10=log' && v !== '--transform'), '--init', 'i0', '--out', 'i2');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('lacks covariate(s) \'elev\' of the initial model');
  }, 90_000);

  it('fit stops after --patience validations without improvement and keeps the prior when fitting never beat it', async () => {
    await writeRandomModel(path.join(dir, 'prior2'), 2, { training: { task: { name: 'gp2d', options: {} } }, normalization: {} });
    const obs = stationRows(80, 1, 5);
    fs.writeFileSync(path.join(dir, 'obs2.csv'), `lon,lat,pm10\n${obs.map((r) => `${r.longitude},${r.latitude},${r.pm10 ?? ''}`).join('\n')}\n`);
    // A learning rate far too high: the held-out NLL gets worse than the prior's.
    const r = await cli('fit', '--model', 'prior2', '--context', 'obs2.csv', '--s', 'lon,lat', '--f', 'pm10', '--out', 'fs', '--lr', '0.5',
      '--valid-every', '1', '--patience', '2', '--steps', '40', '--threads', '1');
    expect(r.code, r.stderr).toBe(0);
    const done = JSON.parse(r.stdout) as { stoppedBy: string; step: number; bestStep: number; bestNll: number; zeroShotNll: number; kept: string };
    expect(done.stoppedBy).toBe('patience');
    expect(done.step).toBe(done.bestStep + 2);
    expect(done.bestNll).toBeGreaterThan(done.zeroShotNll);
    expect(done.kept).toBe('prior');
    expect(bits(loadModelFolder(path.join(dir, 'fs')).weights)).toEqual(bits(loadModelFolder(path.join(dir, 'prior2')).weights));
  }, 90_000);
});

describe('fit --task forecast', () => {
  it('holds out the last day, trains on forecasts of earlier days, and records the task; flags out of place are usage errors', async () => {
    const obs = stationRows(6, 6, 7);
    fs.writeFileSync(path.join(dir, 'fc.csv'), `lon,lat,day,pm10\n${obs.map((r) => `${r.longitude},${r.latitude},${r.day},${r.pm10 ?? ''}`).join('\n')}\n`);
    const prior = path.resolve('models/prior-gp-mixture');
    const args = ['--model', prior, '--context', 'fc.csv', '--s', 'lon,lat', '--t', 'day', '--f', 'pm10', '--steps', '2', '--valid-every', '1', '--threads', '1'];
    const r = await cli('fit', ...args, '--task', 'forecast', '--horizon', '1', '--out', 'fc1');
    expect(r.code, r.stderr).toBe(0);
    const lastDay = obs.map((o) => o.day).sort().at(-1)!;
    const done = JSON.parse(r.stdout) as { heldOut: number; step: number };
    // The held-out points are exactly the observed values of the last day.
    expect(done.heldOut).toBe(obs.filter((o) => o.day === lastDay && o.pm10 !== null).length);
    expect(done.step).toBe(2);
    const cfg = loadModelFolder(path.join(dir, 'fc1')).config;
    expect((cfg.training!.task.options as { forecast: unknown }).forecast).toEqual({ horizon: 1, window: null });
    const e1 = await cli('fit', ...args, '--horizon', '2', '--out', 'fc2');
    expect(e1.code).toBe(2);
    expect(e1.stderr).toContain('--horizon needs --task forecast');
    const e2 = await cli('fit', ...args, '--task', 'forecast', '--horizon', '5', '--out', 'fc3');
    expect(e2.code).toBe(1);
    expect(e2.stderr).toContain('--horizon 5 needs at least 7 distinct times');
    const e3 = await cli('fit', ...args, '--task', 'predict', '--out', 'fc4');
    expect(e3.code).toBe(2);
    expect(e3.stderr).toContain("--task expected interpolate or forecast, got 'predict'");
    for (const d of ['fc2', 'fc3', 'fc4']) expect(fs.existsSync(path.join(dir, d, 'config.json')), d).toBe(false);
  }, 120_000);
});

describe('must-show 5: killed runs resume exactly', () => {
  it('train --data: SIGKILL after a checkpoint, --resume, same final weights as an uninterrupted run', async () => {
    const args = ['--data', 'st.csv', '--task', 'interpolate', '--split', 'space:0.6,0.2', '--steps', '12', '--train-config', 'tc.json', ...SCHEMA, ...SMALL];
    const whole = await cli('train', ...args, '--out', 'k0');
    expect(whole.code, whole.stderr).toBe(0);
    const killed = await runAndKill(['train', ...args, '--out', 'k1'], /"event":"validation","step":6/);
    expect(killed.signal).toBe('SIGKILL');
    const at = loadCheckpoint(path.join(dir, 'k1', 'checkpoint')).state.step;
    expect(at).toBeGreaterThanOrEqual(3);
    expect(at).toBeLessThan(12); // killed mid-run
    const r = await cli('train', '--out', 'k1', '--resume', '--threads', '1');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stderr.split('\n')[0]!)).toMatchObject({ event: 'train_start', step: at, resumed: true });
    expect(bits(loadCheckpoint(path.join(dir, 'k1', 'checkpoint')).weights)).toEqual(bits(loadCheckpoint(path.join(dir, 'k0', 'checkpoint')).weights));
    expect(bits(loadModelFolder(path.join(dir, 'k1')).weights)).toEqual(bits(loadModelFolder(path.join(dir, 'k0')).weights));
  }, 120_000);

  it('fit: SIGKILL after a checkpoint, --resume, same final weights as an uninterrupted fit', async () => {
    await writeRandomModel(path.join(dir, 'prior'), 1, { training: { task: { name: 'gp2d', options: {} } }, normalization: {} });
    const obs = stationRows(150, 1, 4).map((r) => ({ ...r }));
    fs.writeFileSync(path.join(dir, 'obs.csv'), `lon,lat,pm10\n${obs.map((r) => `${r.longitude},${r.latitude},${r.pm10 ?? ''}`).join('\n')}\n`);
    const args = ['--model', 'prior', '--context', 'obs.csv', '--s', 'lon,lat', '--f', 'pm10', '--steps', '12', '--valid-every', '2', '--patience', '50', '--threads', '1', '--batch-size', '2'];
    const whole = await cli('fit', ...args, '--out', 'f0');
    expect(whole.code, whole.stderr).toBe(0);
    const killed = await runAndKill(['fit', ...args, '--out', 'f1'], /"event":"validation","step":6/);
    expect(killed.signal).toBe('SIGKILL');
    const at = loadCheckpoint(path.join(dir, 'f1', 'checkpoint')).state.step;
    expect(at).toBeGreaterThanOrEqual(4);
    expect(at).toBeLessThan(12);
    const r = await cli('fit', '--out', 'f1', '--resume', '--threads', '1');
    expect(r.code, r.stderr).toBe(0);
    expect(bits(loadCheckpoint(path.join(dir, 'f1', 'checkpoint')).weights)).toEqual(bits(loadCheckpoint(path.join(dir, 'f0', 'checkpoint')).weights));
    expect(bits(loadModelFolder(path.join(dir, 'f1')).weights)).toEqual(bits(loadModelFolder(path.join(dir, 'f0')).weights));
    expect(JSON.parse(r.stdout)).toMatchObject({ event: 'fit_done', step: 12, zeroShotNll: JSON.parse(whole.stdout).zeroShotNll });

    // predict takes lon/lat as they are: the same as the fitted weights on coordinates mapped by
    // hand into the prior's box [−2, 2]² (local plane in km, one scale, centre on centre).
    const targets = [[9, 48], [11.5, 49.2], [12.9, 50.4]];
    fs.writeFileSync(path.join(dir, 'tg.csv'), `lon,lat\n${targets.map((t) => t.join(',')).join('\n')}\n`);
    const ok = obs.filter((o) => o.pm10 !== null);
    fs.writeFileSync(path.join(dir, 'obs-ok.csv'), `lon,lat,pm10\n${ok.map((o) => `${o.longitude},${o.latitude},${o.pm10}`).join('\n')}\n`);
    const p = await cli('predict', '--model', 'f0', '--context', 'obs-ok.csv', '--targets', 'tg.csv', '--out', 'p.csv');
    expect(p.code, p.stderr).toBe(0);
    const lon = obs.map((o) => o.longitude), lat = obs.map((o) => o.latitude);
    const c = [(Math.min(...lon) + Math.max(...lon)) / 2, (Math.min(...lat) + Math.max(...lat)) / 2];
    const km = 6371.0088 * Math.PI / 180;
    const unit = [km * Math.cos((c[1]! * Math.PI) / 180), km];
    const k = 4 / Math.max((Math.max(...lon) - Math.min(...lon)) * unit[0]!, (Math.max(...lat) - Math.min(...lat)) * unit[1]!);
    const z = (lo: number, la: number) => [(lo - c[0]!) * unit[0]! * k, (la - c[1]!) * unit[1]! * k];
    const fitted = loadModelFolder(path.join(dir, 'f0')).config;
    fs.mkdirSync(path.join(dir, 'f0z'));
    fs.copyFileSync(path.join(dir, 'f0', 'model.safetensors'), path.join(dir, 'f0z', 'model.safetensors'));
    fs.writeFileSync(path.join(dir, 'f0z', 'config.json'), JSON.stringify({
      formatVersion: 1, model: fitted.model, data: { columns: { s: ['s0', 's1'], f: ['f'] }, normalization: { f: fitted.data.normalization.pm10 } }, training: null,
    }));
    fs.writeFileSync(path.join(dir, 'obsz.csv'), `s0,s1,f\n${ok.map((o) => [...z(o.longitude, o.latitude), o.pm10].join(',')).join('\n')}\n`);
    fs.writeFileSync(path.join(dir, 'tgz.csv'), `s0,s1\n${targets.map((t) => z(t[0]!, t[1]!).join(',')).join('\n')}\n`);
    const pz = await cli('predict', '--model', 'f0z', '--context', 'obsz.csv', '--targets', 'tgz.csv', '--out', 'pz.csv');
    expect(pz.code, pz.stderr).toBe(0);
    const col = (file: string, name: string) => {
      const [h, ...ls] = fs.readFileSync(path.join(dir, file), 'utf8').trim().split('\n');
      const j = h!.split(',').indexOf(name);
      return ls.map((l) => Number(l.split(',')[j]));
    };
    const a = col('p.csv', 'pm10_mean'), b = col('pz.csv', 'f_mean');
    a.forEach((v, i) => expect(v).toBeCloseTo(b[i]!, 3));
    expect(new Set(a.map((v) => v.toFixed(3))).size).toBe(3);
  }, 150_000);
});
