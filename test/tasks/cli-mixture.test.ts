// `bsa-tnp train` on the gp-mixture task with a tiny space-time model on the CPU, then `eval` on
// gp-mixture, gp-smooth and gp-noisy: the model NLL next to the exact GP posterior's (oracle).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runMain } from '../helpers/run-main.js';
import { loadModelFolder } from '../../src/train/checkpoint.js';

let dir: string;
beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-mixture-')); });
afterAll(() => { fs.rmSync(dir, { recursive: true, force: true }); });

async function run(...args: string[]) {
  return runMain(args, dir);
}

describe('gp-mixture on the command line', () => {
  it('trains a tiny space-time model for a few CPU steps and evaluates it with the oracle', async () => {
    // The shipped config with a tiny model and task (models/prior-gp-mixture/train.json).
    const shipped = JSON.parse(fs.readFileSync(path.resolve('models/prior-gp-mixture/train.json'), 'utf8'));
    expect(shipped.train.task.name).toBe('gp-mixture');
    const cfg = {
      model: { ...shipped.model, blocks: 2, embedDim: 16, heads: 2, headDim: 8, inputMlp: [32, 16], ffn: [32, 16], headHidden: [16] },
      train: { ...shipped.train, steps: 3, batchSize: 2, validEvery: 3, validBatches: 1, testBatches: 2, checkpointEvery: 3,
        task: { name: 'gp-mixture', options: { ncMin: 8, ncMax: 32, nt: 24 } } },
    };
    fs.writeFileSync(path.join(dir, 'cfg.json'), JSON.stringify(cfg));
    const t = await run('train', '--config', 'cfg.json', '--out', 'm', '--threads', '1', '--loss-every', '1');
    expect(t.stderr).not.toContain('error');
    expect(t.code).toBe(0);
    expect(JSON.parse(t.stdout.trim())).toMatchObject({ event: 'train_done', step: 3 });
    const folder = loadModelFolder(path.join(dir, 'm'));
    expect(folder.config.data.columns).toMatchObject({ s: ['s0', 's1'], t: ['t0'], f: ['f'] });
    expect(folder.config.training?.task.name).toBe('gp-mixture');
    for (const task of ['gp-mixture', 'gp-smooth', 'gp-noisy']) {
      const opts = task === 'gp-mixture' ? [] : ['--task', task, '--task-options', '{"ncMin":8,"ncMax":32,"nt":24}'];
      const e = await run('eval', 'm', '--batches', '2', '--json', ...opts);
      expect(e.code, e.stderr).toBe(0);
      const r = JSON.parse(e.stdout.trim()) as Record<string, number | string>;
      expect(r.task).toBe(task);
      expect(Number.isFinite(r.nll)).toBe(true);
      expect(Number.isFinite(r.oracleNll)).toBe(true);
      // An untrained model is far from the exact posterior; the oracle is the better of the two.
      expect(r.nllMinusOracle as number).toBeGreaterThan(0);
    }
  });
});
