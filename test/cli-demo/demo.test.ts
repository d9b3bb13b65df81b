/**
 * `bsa-tnp demo`: the separable GP field sampler has the task's covariance; the command runs end
 * to end on a small randomly initialised model (the shipped checkpoint is not needed) and writes
 * the images, CSVs and a final JSON line with model and oracle metrics; bad model folders fail
 * with a clear message.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inflateSync } from 'node:zlib';
import { Rng } from '../../src/engine/random.js';
import { GP_2D, type GpTaskConfig } from '../../src/data/tasks.js';
import { sampleDemoField } from '../../src/cli/commands/demo.js';
import { parseCsv } from '../../src/io/csv.js';
import { removeTempDirs, runCli, tempDir, writeRandomModel } from '../cli-predict/fixtures.js';

/** Width, height and the number of distinct colours of a PNG (8-bit RGB, filter 0: our encoder). */
function pngInfo(file: string): { width: number; height: number; colours: number } {
  const bytes = fs.readFileSync(file);
  const width = bytes.readUInt32BE(16);
  const height = bytes.readUInt32BE(20);
  let at = 8;
  const idat: Buffer[] = [];
  while (at < bytes.length) {
    const len = bytes.readUInt32BE(at);
    if (bytes.toString('latin1', at + 4, at + 8) === 'IDAT') idat.push(bytes.subarray(at + 8, at + 8 + len));
    at += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const colours = new Set<number>();
  for (let r = 0; r < height; r++) {
    for (let c = 0; c < width; c++) {
      const p = r * (width * 3 + 1) + 1 + c * 3;
      colours.add((raw[p]! << 16) | (raw[p + 1]! << 8) | raw[p + 2]!);
    }
  }
  return { width, height, colours: colours.size };
}

afterAll(removeTempDirs);

describe('demo field sampler', () => {
  it('draws fields with covariance sigma^2 exp(-d^2 / 2 l^2) on the grid', () => {
    const l = 0.8;
    const cfg: GpTaskConfig = { ...GP_2D, prior: { kind: 'rbf', variance: 1, lengthscale: { kind: 'fixed', value: l } } };
    const side = 5;
    const draws = 3000;
    const rng = Rng.fromSeed(4);
    // Cells: a corner, its right neighbour, the cell above it, and the far corner.
    const cells = [0, 1, side, side * side - 1];
    const sums = new Float64Array(16);
    for (let k = 0; k < draws; k++) {
      const f = sampleDemoField(rng.split(), cfg, side, 3);
      for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) sums[i * 4 + j]! += f.truth[cells[i]!]! * f.truth[cells[j]!]!;
    }
    const step = 4 / (side - 1);
    const xy = cells.map((p) => [-2 + (p % side) * step, -2 + Math.floor(p / side) * step]);
    for (let i = 0; i < 4; i++) {
      for (let j = 0; j < 4; j++) {
        const d2 = (xy[i]![0]! - xy[j]![0]!) ** 2 + (xy[i]![1]! - xy[j]![1]!) ** 2;
        // Monte Carlo error of a covariance estimate from 3000 draws: about 0.03.
        expect(Math.abs(sums[i * 4 + j]! / draws - Math.exp(-d2 / (2 * l * l))), `cov(${cells[i]}, ${cells[j]})`).toBeLessThan(0.1);
      }
    }
  });

  it('observes distinct grid cells with the task noise, deterministically per seed', () => {
    const a = sampleDemoField(Rng.fromSeed(9), GP_2D, 16, 40);
    const b = sampleDemoField(Rng.fromSeed(9), GP_2D, 16, 40);
    expect(Array.from(a.f)).toEqual(Array.from(b.f));
    expect(new Set(a.cells).size).toBe(40);
    let se = 0;
    a.cells.forEach((p, i) => { se += (a.f[i]! - a.truth[p]!) ** 2; });
    expect(Math.sqrt(se / 40)).toBeGreaterThan(0.05);
    expect(Math.sqrt(se / 40)).toBeLessThan(0.2);
  });
});

describe('bsa-tnp demo', () => {
  let dir: string;
  let model: string;
  beforeAll(async () => {
    dir = tempDir('demo');
    model = path.join(dir, 'model');
    await writeRandomModel(model, 5, { normalization: {}, training: { steps: 10, task: { name: 'gp2d', options: {} } } });
  });

  it('writes the pictures and CSVs and reports model and oracle metrics', async () => {
    const out = path.join(dir, 'out');
    const res = await runCli(['demo', '--model', model, '--out', out, '--seed', '3', '--points', '150']);
    expect(res.stderr).not.toMatch(/error/i);
    expect(res.code).toBe(0);
    const lines = res.stdout.trim().split('\n');
    expect(lines).toHaveLength(1); // not a terminal: only the JSON line
    const r = JSON.parse(lines[0]!) as {
      event: string; context_points: number; grid: string; task: string; seconds: number;
      model_metrics: Record<string, number>; oracle_metrics: Record<string, number>;
    };
    expect(r).toMatchObject({ event: 'demo_done', context_points: 150, grid: '128x128', task: 'gp2d' });
    for (const m of [r.model_metrics, r.oracle_metrics]) {
      for (const k of ['nll', 'rmse', 'coverage95']) expect(Number.isFinite(m[k]), k).toBe(true);
    }
    // The exact posterior beats an untrained model and is calibrated.
    expect(r.oracle_metrics.rmse!).toBeLessThan(r.model_metrics.rmse!);
    expect(r.oracle_metrics.nll!).toBeLessThan(r.model_metrics.nll!);
    expect(r.oracle_metrics.coverage95!).toBeGreaterThan(0.85);
    expect(fs.readdirSync(out).sort()).toEqual(
      ['context.csv', 'figure.png', 'mean.png', 'oracle-mean.png', 'oracle-std.png', 'prediction.csv', 'std.png', 'truth.png']);
    for (const png of ['truth.png', 'mean.png', 'std.png']) {
      const info = pngInfo(path.join(out, png));
      expect(info, png).toMatchObject({ width: 384, height: 384 });
    }
    expect(pngInfo(path.join(out, 'truth.png')).colours).toBeGreaterThan(50);
    const ctx = parseCsv(fs.readFileSync(path.join(out, 'context.csv'), 'utf8'), { label: 'context.csv' });
    expect(ctx.header).toEqual(['s0', 's1', 'f']);
    expect(ctx.rows).toBe(150);
    const pred = parseCsv(fs.readFileSync(path.join(out, 'prediction.csv'), 'utf8'), { label: 'prediction.csv' });
    expect(pred.header).toEqual(['s0', 's1', 'f_mean', 'f_std', 'f_lo90', 'f_hi90']);
    expect(pred.rows).toBe(128 * 128);
  });

  it('fails clearly for a missing or corrupt model folder', async () => {
    let res = await runCli(['demo', '--model', path.join(dir, 'nothing-here'), '--out', path.join(dir, 'out2')]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/demo: model folder '.*nothing-here' does not exist/);
    expect(fs.existsSync(path.join(dir, 'out2'))).toBe(false);
    const broken = path.join(dir, 'broken');
    await writeRandomModel(broken, 5);
    fs.truncateSync(path.join(broken, 'model.safetensors'), 100);
    res = await runCli(['demo', '--model', broken, '--out', path.join(dir, 'out3')]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/demo: cannot load the model: .*model\.safetensors/);
    expect(fs.existsSync(path.join(dir, 'out3'))).toBe(false);
  });

  it('rejects unknown options', async () => {
    const res = await runCli(['demo', '--seeds', '3']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/unknown option '--seeds'; did you mean '--seed'\?/);
  });
});
