import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runMain } from '../helpers/run-main.js';
import { loadCheckpoint, loadModelFolder } from '../../src/train/checkpoint.js';
import { TINY_MODEL } from './tiny.js';

let dir: string;
beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-train-')); });
afterAll(() => { fs.rmSync(dir, { recursive: true, force: true }); });

async function run(...args: string[]) {
  return runMain(args, dir);
}

describe('bsa-tnp train / eval', () => {
  it('trains, resumes, exports the kept model and evaluates it against the GP oracle', async () => {
    fs.writeFileSync(path.join(dir, 'cfg.json'), JSON.stringify({
      model: TINY_MODEL,
      train: { steps: 4, batchSize: 2, validEvery: 2, validBatches: 1, testBatches: 2, checkpointEvery: 2, task: { name: 'gp2d', options: { ncMin: 8, ncMax: 16, nt: 12 } } },
    }));
    const a = await run('train', '--config', 'cfg.json', '--out', 'm', '--steps', '2', '--loss-every', '1', '--threads', '1');
    expect(a.stderr).not.toContain('error');
    expect(a.code).toBe(0);
    expect(JSON.parse(a.stdout.trim())).toMatchObject({ event: 'train_done', step: 2, kept: 'last' });
    const lines = a.stderr.trim().split('\n').map((l) => JSON.parse(l) as { event: string });
    expect(lines[0]).toMatchObject({ event: 'train_start', step: 0, steps: 2, resumed: false });
    expect(lines.some((l) => l.event === 'validation')).toBe(true);
    // OUT holds the model; OUT/checkpoint the training state.
    expect(loadModelFolder(path.join(dir, 'm')).config.training?.steps).toBe(2);
    expect(loadCheckpoint(path.join(dir, 'm', 'checkpoint')).state.step).toBe(2);

    const again = await run('train', '--config', 'cfg.json', '--out', 'm');
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already holds a checkpoint; pass --resume');
    const bad = await run('train', '--out', 'm', '--resume', '--lr', '0.1');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--lr cannot change a run being resumed');

    const b = await run('train', '--out', 'm', '--resume', '--steps', '3', '--threads', '1');
    expect(b.code).toBe(0);
    expect(JSON.parse(b.stderr.split('\n')[0]!)).toMatchObject({ event: 'train_start', step: 2, steps: 3, resumed: true });
    expect(loadCheckpoint(path.join(dir, 'm', 'checkpoint')).state.step).toBe(3);

    const e = await run('eval', '--model', 'm', '--batches', '2', '--json');
    expect(e.code).toBe(0);
    const r = JSON.parse(e.stdout) as Record<string, unknown>;
    expect(r).toMatchObject({ task: 'gp2d', batches: 2, batchSize: 2, taskOptions: { ncMin: 8, ncMax: 16, nt: 12 } });
    for (const k of ['nll', 'rmse', 'mae', 'coverage', 'oracleNll']) expect(Number.isFinite(r[k])).toBe(true);
    expect(r.nllMinusOracle).toBeCloseTo((r.nll as number) - (r.oracleNll as number), 12);
    // The last progress line carries the metrics so far, here those of all batches.
    const last = e.stderr.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).filter((x) => x.event === 'progress').at(-1)!;
    expect(last).toMatchObject({ done: 2, total: 2 });
    expect(last.nllMinusOracle).toBeCloseTo(r.nllMinusOracle as number, 3);

    const s = await run('eval', 'm', '--task', 'gp2d-shifted', '--batches', '1', '--json');
    expect(s.code).toBe(0);
    expect(JSON.parse(s.stdout)).toMatchObject({ task: 'gp2d-shifted', batches: 1 });
  });

  it('--data-workers: batches generated on worker threads train to the same weights, also across a resume', async () => {
    fs.writeFileSync(path.join(dir, 'cfg-w.json'), JSON.stringify({
      model: TINY_MODEL,
      train: { steps: 3, batchSize: 2, validEvery: 100, validBatches: 0, checkpointEvery: 100, task: { name: 'gp2d', options: { ncMin: 8, ncMax: 16, nt: 12 } } },
    }));
    // Same history on both sides (--steps sets the schedule's length): 2 steps, then resume to 3.
    const a = await run('train', '--config', 'cfg-w.json', '--out', 'w0', '--steps', '2', '--threads', '1', '--data-workers', '0');
    expect(a.code).toBe(0);
    expect((await run('train', '--out', 'w0', '--resume', '--steps', '3', '--threads', '1', '--data-workers', '0')).code).toBe(0);
    const b = await run('train', '--config', 'cfg-w.json', '--out', 'w2', '--steps', '2', '--threads', '1', '--data-workers', '2');
    expect(b.code, b.stderr).toBe(0);
    const c = await run('train', '--out', 'w2', '--resume', '--steps', '3', '--threads', '1', '--data-workers', '1');
    expect(c.code, c.stderr).toBe(0);
    const w0 = loadModelFolder(path.join(dir, 'w0')).weights;
    const w2 = loadModelFolder(path.join(dir, 'w2')).weights;
    expect([...w2.keys()].sort()).toEqual([...w0.keys()].sort());
    for (const [k, v] of w0) expect(Array.from(w2.get(k)!.data), k).toEqual(Array.from(v.data));
    // eval: the same batches and GP oracle when workers generate them.
    const e0 = JSON.parse((await run('eval', 'w0', '--batches', '3', '--json', '--data-workers', '0')).stdout) as Record<string, number>;
    const e2 = JSON.parse((await run('eval', 'w0', '--batches', '3', '--json', '--data-workers', '2')).stdout) as Record<string, number>;
    for (const k of ['nll', 'oracleNll', 'rmse', 'coverage']) expect(e2[k], k).toBe(e0[k]);
    const bad = await run('train', '--config', 'cfg-w.json', '--out', 'w3', '--data-workers', 'many');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--data-workers must be an integer >= 0');
  });

  it('--stop-after: a run trained in wall-clock chunks equals the uninterrupted run', async () => {
    fs.writeFileSync(path.join(dir, 'cfg-s.json'), JSON.stringify({
      model: TINY_MODEL,
      train: { steps: 3, batchSize: 2, validEvery: 100, validBatches: 0, checkpointEvery: 100, task: { name: 'gp2d', options: { ncMin: 8, ncMax: 16, nt: 12 } } },
    }));
    const whole = await run('train', '--config', 'cfg-s.json', '--out', 's0', '--threads', '1', '--data-workers', '0');
    expect(whole.code, whole.stderr).toBe(0);
    // A deadline of 1 µs passes during the first step: one step, a checkpoint, the schedule kept.
    const a = await run('train', '--config', 'cfg-s.json', '--out', 's1', '--threads', '1', '--data-workers', '0', '--stop-after', '0.000001');
    expect(a.code, a.stderr).toBe(0);
    const ck = loadCheckpoint(path.join(dir, 's1', 'checkpoint'));
    expect(ck.state.step).toBe(1);
    expect(ck.state.train.steps).toBe(3);
    const b = await run('train', '--out', 's1', '--resume', '--threads', '1', '--data-workers', '0', '--stop-after', '1000');
    expect(b.code, b.stderr).toBe(0);
    expect(loadCheckpoint(path.join(dir, 's1', 'checkpoint')).state.step).toBe(3);
    const w0 = loadModelFolder(path.join(dir, 's0')).weights;
    const w1 = loadModelFolder(path.join(dir, 's1')).weights;
    for (const [k, v] of w0) expect(Array.from(w1.get(k)!.data), k).toEqual(Array.from(v.data));
    const both = await run('train', '--config', 'cfg-s.json', '--out', 's2', '--stop-after', '5', '--time-budget', '5');
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('give --time-budget or --stop-after, not both');
  });

  it('--init on a synthetic task: a warm restart starts from the folder\'s weights; another architecture or --resume is refused', async () => {
    fs.writeFileSync(path.join(dir, 'cfg-i.json'), JSON.stringify({
      model: TINY_MODEL,
      train: { steps: 2, batchSize: 2, validEvery: 100, validBatches: 0, checkpointEvery: 100, task: { name: 'gp2d', options: { ncMin: 8, ncMax: 16, nt: 12 } } },
    }));
    expect((await run('train', '--config', 'cfg-i.json', '--out', 'i0', '--lr', '0.01', '--threads', '1')).code).toBe(0);
    // One step at a negligible learning rate: the weights are still i0's (a fresh start would differ by O(1)).
    const a = await run('train', '--config', 'cfg-i.json', '--init', 'i0', '--out', 'i1', '--steps', '1', '--lr', '1e-12', '--threads', '1');
    expect(a.code, a.stderr).toBe(0);
    const w0 = loadModelFolder(path.join(dir, 'i0')).weights, w1 = loadModelFolder(path.join(dir, 'i1')).weights;
    for (const [k, v] of w0) {
      const u = w1.get(k)!.data;
      v.data.forEach((x, i) => expect(Math.abs(u[i]! - x), k).toBeLessThan(1e-6));
    }
    // A fresh run from the same config (and seed) starts at the initial weights, which i0's training moved away from.
    expect((await run('train', '--config', 'cfg-i.json', '--out', 'i2', '--steps', '1', '--lr', '1e-12', '--threads', '1')).code).toBe(0);
    const w2 = loadModelFolder(path.join(dir, 'i2')).weights;
    expect([...w0].some(([k, v]) => v.data.some((x, i) => Math.abs(w2.get(k)!.data[i]! - x) > 1e-3))).toBe(true);
    // The folder records how far its starting weights had been trained: i0 ran 2 steps, i1 1 more.
    expect(loadModelFolder(path.join(dir, 'i1')).config.training).toMatchObject({ steps: 1, initSteps: 2 });
    expect(loadModelFolder(path.join(dir, 'i2')).config.training!.initSteps).toBeUndefined();
    expect((await run('info', 'i1')).stdout).toContain('1 steps after 2 steps of earlier training (train --init; 3 in all)');
    expect((await run('train', '--config', 'cfg-i.json', '--init', 'i1', '--out', 'i4', '--steps', '1', '--threads', '1')).code).toBe(0);
    expect(loadModelFolder(path.join(dir, 'i4')).config.training!.initSteps).toBe(3);
    const other = await run('train', '--model', 'bsa-tnp', '--task', 'gp2d', '--init', 'i0', '--out', 'i3');
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/--init: the model's \w+ is .*train from scratch/);
    // output.standardize may be switched on over the same weights; the new folder keeps it.
    fs.writeFileSync(path.join(dir, 'cfg-is.json'), JSON.stringify({ model: { ...TINY_MODEL, output: { kind: 'gaussian', dims: 1, minStd: 0, standardize: true } },
      train: JSON.parse(fs.readFileSync(path.join(dir, 'cfg-i.json'), 'utf8')).train }));
    expect((await run('train', '--config', 'cfg-is.json', '--init', 'i0', '--out', 'i5', '--steps', '1', '--threads', '1')).code).toBe(0);
    expect(loadModelFolder(path.join(dir, 'i5')).config.model.output).toMatchObject({ standardize: true });
    const resumed = await run('train', '--out', 'i1', '--resume', '--init', 'i0');
    expect(resumed.code).toBe(2);
    expect(resumed.stderr).toContain('--init cannot change a run being resumed');
  });

  it('errors: missing --out, bad model folder, unknown task, bad config', async () => {
    expect((await run('train')).stderr).toContain('bsa-tnp train: missing --out FOLDER');
    const nf = await run('eval', '--model', 'nope');
    expect(nf.code).toBe(1);
    expect(nf.stderr).toContain('model folder not found');
    expect((await run('eval', 'm', '--task', 'gp9')).stderr).toContain("unknown --task 'gp9'");
    fs.writeFileSync(path.join(dir, 'bad.json'), JSON.stringify({ blocks: 0 }));
    const c = await run('train', '--config', 'bad.json', '--out', 'x');
    expect(c.code).toBe(1);
    expect(c.stderr).toContain('blocks: expected a positive integer, got 0');
  });
});
