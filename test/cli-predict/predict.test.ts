/**
 * `bsa-tnp predict` correctness, through the real command line: outputs equal a direct
 * `model.forward` on the same (normalised) inputs with outputs mapped back to data units, do not
 * depend on the chunk size, and the 90% interval columns are mean ∓ 1.6449·std.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuBackend } from '../../src/engine/cpu/backend.js';
import * as E from '../../src/engine/ops.js';
import { Rng } from '../../src/engine/random.js';
import { parseCsv } from '../../src/io/csv.js';
import { makeGrid } from '../../src/api/grid.js';
import { BsaTnp } from '../../src/models/bsa-tnp.js';
import { materialise, toParams } from '../../src/nn/params.js';
import { allclose, webgpuBackend } from '../helpers/backends.js';
import { NORMALIZATION, ROOT, SMALL_MODEL, randomContext, runCli, tempDir, writeCsvText, writeRandomModel } from './fixtures.js';
import { removeTempDirs } from './fixtures.js';

const Z90 = 1.6448536269514722;
let dir: string;
let model: string;
let ctxRows: number[][];
let tgtRows: number[][];

function readOut(file: string): Map<string, Float64Array> {
  return parseCsv(fs.readFileSync(file, 'utf8'), { label: file }).values;
}

/** Direct forward on normalised inputs, outputs mapped back to data units. */
async function direct(targets: number[][]): Promise<{ mean: number[]; std: number[] }> {
  const be = new CpuBackend();
  const m = new BsaTnp(SMALL_MODEL);
  const specs = m.specs(Rng.fromSeed(1)); // writeRandomModel(model, seed 1) saved exactly these values
  const p = toParams(specs, materialise(specs, be));
  const z = (v: number, c: keyof typeof NORMALIZATION) => (v - NORMALIZATION[c].mean) / NORMALIZATION[c].std;
  const nc = ctxRows.length;
  const nt = targets.length;
  const out = m.forward(p, {
    ctx: {
      f: E.tensor(ctxRows.map((r) => z(r[2]!, 'f')), [1, nc, 1], be),
      coords: { s: E.tensor(ctxRows.flatMap((r) => [z(r[0]!, 's0'), z(r[1]!, 's1')]), [1, nc, 2], be) },
    },
    test: { s: E.tensor(targets.flatMap((r) => [z(r[0]!, 's0'), z(r[1]!, 's1')]), [1, nt, 2], be) },
  });
  if (out.kind !== 'gaussian') throw new Error('expected a Gaussian model');
  const mu = await out.mean.data();
  const sd = await out.std.data();
  const { mean: fm, std: fs_ } = NORMALIZATION.f;
  return { mean: Array.from(mu, (v) => v * fs_ + fm), std: Array.from(sd, (v) => v * fs_) };
}

afterAll(removeTempDirs);

beforeAll(async () => {
  dir = tempDir('predict');
  model = path.join(dir, 'model');
  await writeRandomModel(model, 1);
  ctxRows = randomContext(120, 3);
  tgtRows = randomContext(45, 11).map((r) => [r[0]!, r[1]!]);
  writeCsvText(path.join(dir, 'ctx.csv'), ['s0', 's1', 'f'], ctxRows);
  // Columns in another order than the model's: matched by name.
  writeCsvText(path.join(dir, 'targets.csv'), ['s1', 's0'], tgtRows.map((r) => [r[1]!, r[0]!]));
});

describe('predict', () => {
  it('equals a direct model.forward with the stored normalisation applied and undone', async () => {
    const out = path.join(dir, 'pred-1000.csv');
    const res = await runCli(['predict', '--model', model, '--context', path.join(dir, 'ctx.csv'),
      '--targets', path.join(dir, 'targets.csv'), '--out', out, '--chunk', '1000']);
    expect(res.stderr).not.toMatch(/error/i);
    expect(res.code).toBe(0);
    const summary = JSON.parse(res.stdout.trim().split('\n').at(-1)!) as { event: string; points: number; context: number };
    expect(summary).toMatchObject({ event: 'predict_done', points: 45, context: 120 });
    // Progress: JSON lines on stderr (not a terminal), ending with progress_done.
    const progress = res.stderr.trim().split('\n').map((l) => JSON.parse(l) as { event: string; done: number; total: number });
    expect(progress.at(-1)).toMatchObject({ event: 'progress_done', done: 45, total: 45 });

    const cols = readOut(out);
    expect([...cols.keys()]).toEqual(['s0', 's1', 'f_mean', 'f_std', 'f_lo90', 'f_hi90']);
    expect(Array.from(cols.get('s0')!)).toEqual(tgtRows.map((r) => r[0]));
    expect(Array.from(cols.get('s1')!)).toEqual(tgtRows.map((r) => r[1]));
    const ref = await direct(tgtRows);
    expect(allclose(cols.get('f_mean')!, ref.mean, 1e-5, 1e-5)).toBeNull();
    expect(allclose(cols.get('f_std')!, ref.std, 1e-5, 1e-6)).toBeNull();
  });

  it('gives the same results for chunk 7 and chunk 1000', async () => {
    const out = path.join(dir, 'pred-7.csv');
    const res = await runCli(['predict', '--model', model, '--context', path.join(dir, 'ctx.csv'),
      '--targets', path.join(dir, 'targets.csv'), '--out', out, '--chunk', '7']);
    expect(res.code).toBe(0);
    const a = readOut(out);
    const b = readOut(path.join(dir, 'pred-1000.csv'));
    for (const c of ['s0', 's1', 'f_mean', 'f_std', 'f_lo90', 'f_hi90']) {
      expect(allclose(a.get(c)!, b.get(c)!, 1e-6, 1e-6), c).toBeNull();
    }
  });

  it('--backend webgpu --precision f16 (split tensor-core products) matches the CPU results to 1e-4', async () => {
    const probe = await webgpuBackend();
    if (!probe) return;
    probe.destroy();
    const out = path.join(dir, 'pred-f16.csv');
    const res = await runCli(['predict', '--model', model, '--context', path.join(dir, 'ctx.csv'),
      '--targets', path.join(dir, 'targets.csv'), '--out', out, '--backend', 'webgpu', '--precision', 'f16'], ROOT, 400_000);
    expect(res.code, res.stderr).toBe(0);
    const a = readOut(out);
    const b = readOut(path.join(dir, 'pred-1000.csv'));
    for (const c of ['f_mean', 'f_std']) expect(allclose(a.get(c)!, b.get(c)!, 1e-4, 1e-5), c).toBeNull();
  }, 400_000);

  it('writes consistent 90% intervals: lo = mean - 1.6449 std < mean < hi = mean + 1.6449 std', () => {
    const cols = readOut(path.join(dir, 'pred-1000.csv'));
    const mean = cols.get('f_mean')!, std = cols.get('f_std')!, lo = cols.get('f_lo90')!, hi = cols.get('f_hi90')!;
    for (let i = 0; i < mean.length; i++) {
      expect(std[i]).toBeGreaterThan(0);
      expect(lo[i]).toBeLessThan(mean[i]!);
      expect(hi[i]).toBeGreaterThan(mean[i]!);
      expect(Math.abs(hi[i]! - lo[i]! - 2 * Z90 * std[i]!)).toBeLessThan(1e-5 * (1 + Math.abs(mean[i]!)));
      expect(Math.abs((hi[i]! + lo[i]!) / 2 - mean[i]!)).toBeLessThan(1e-5 * (1 + Math.abs(mean[i]!)));
    }
  });

  it('predicts on a grid (row-major, y ascending) like on the same points given as a CSV, and writes PNGs', async () => {
    const out = path.join(dir, 'grid.csv');
    const png = path.join(dir, 'maps');
    const res = await runCli(['predict', model, '--context', path.join(dir, 'ctx.csv'),
      '--grid=-1,3,-1.5,0.5', '--size', '6x4', '--out', out, '--png', png, '--chunk', '5']);
    expect(res.stderr).not.toMatch(/error/i);
    expect(res.code).toBe(0);
    const cols = readOut(out);
    const grid = makeGrid({ x0: -1, x1: 3, y0: -1.5, y1: 0.5 }, { width: 6, height: 4 });
    expect(Array.from(cols.get('s0')!)).toEqual(Array.from(grid.x));
    expect(Array.from(cols.get('s1')!)).toEqual(Array.from(grid.y));
    const ref = await direct(Array.from(grid.x, (x, i) => [x, grid.y[i]!]));
    expect(allclose(cols.get('f_mean')!, ref.mean, 1e-5, 1e-5)).toBeNull();
    expect(fs.readdirSync(png).sort()).toEqual(['mean.png', 'std.png']);
    expect(res.stderr).not.toContain('lies away from the context');
  });

  it('warns, and still predicts, when the grid lies mostly away from the context points', async () => {
    const out = path.join(dir, 'far.csv');
    const res = await runCli(['predict', model, '--context', path.join(dir, 'ctx.csv'), '--grid=40,60,40,60', '--size', '3x3', '--out', out]);
    expect(res.code).toBe(0);
    expect(res.stderr).toContain('warning: --grid 40,60,40,60: 100 % of the grid lies away from the context points');
    expect(readOut(out).get('f_mean')!.length).toBe(9);
  });
});
