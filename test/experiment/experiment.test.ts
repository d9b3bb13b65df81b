// `bsa-tnp experiment`: a small run end to end (train, evaluate, results.json and the Markdown
// table), skipping done cells, resuming an interrupted cell, and the summary statistics and
// out-of-memory reporting checked against values computed here.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runMain } from '../helpers/run-main.js';
import { parseSeeds } from '../../src/cli/commands/experiment.js';
import { loadCheckpoint } from '../../src/train/checkpoint.js';
import { EXPERIMENTS, modelConfigForTask } from '../../src/experiment/recipes.js';
import { isOutOfMemory } from '../../src/experiment/runner-node.js';
import { type CellResult, markdownTables, stat, summarise, type VariantResult } from '../../src/experiment/table.js';
import { resolveTask } from '../../src/train/tasks.js';
import { parseAnyConfig } from '../../src/models/config.js';

let dir: string;
beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'experiment-')); });
afterAll(() => { fs.rmSync(dir, { recursive: true, force: true }); });

async function run(...args: string[]) {
  const r = await runMain(args, dir);
  return { ...r, events: r.stderr.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const QUICK = ['--seeds', '46,61', '--batches', '1', '--variants', 'base,shifted', '--threads', '1',
  '--task-options', '{"ncMin":8,"ncMax":16,"nt":16}', '--out', 'exp'];

describe('bsa-tnp experiment gp2d (tiny task, bsa-tnp, 2 seeds)', () => {
  it('trains and evaluates each cell, writes results.json and the table, skips done cells, resumes a cell', async () => {
    const a = await run('experiment', 'gp2d', '--models', 'bsa-tnp', '--steps', '2', ...QUICK);
    expect(a.stderr).not.toMatch(/error/i);
    expect(a.code).toBe(0);
    expect(a.events.filter((e) => e.event === 'cell' && e.phase === 'train')).toHaveLength(2);
    const res = JSON.parse(fs.readFileSync(path.join(dir, 'exp/gp2d/results.json'), 'utf8'));
    expect(res).toMatchObject({ experiment: 'gp2d', seeds: [46, 61], models: ['bsa-tnp'], variants: ['base', 'shifted'] });
    expect(res.cells).toHaveLength(2);
    for (const c of res.cells as CellResult[]) {
      expect(c).toMatchObject({ model: 'bsa-tnp', status: 'ok', steps: 2 });
      expect(c.parameters).toBe(475_770);
      expect(c.trainSeconds).toBeGreaterThan(0);
      for (const v of ['base', 'shifted']) {
        const r = c.variants[v]!;
        expect(r.status).toBe('ok');
        expect(r.oracleNll).toBeLessThan(r.nll!);
        expect(r.coverage).toBeGreaterThanOrEqual(0);
        expect(r.coverage).toBeLessThanOrEqual(1);
      }
      // Translation invariance: the shifted tasks are the same tasks moved by +10.
      expect(c.variants.shifted!.nll).toBeCloseTo(c.variants.base!.nll!, 4);
      // Each cell's checkpoint is its own seed's run.
      expect(loadCheckpoint(path.join(dir, `exp/gp2d/bsa-tnp/seed-${c.seed}/checkpoint`)).state.train.seed).toBe(c.seed);
    }
    // The summary is mean ± SE over the two seeds, computed here from the cells.
    const nlls = (res.cells as CellResult[]).map((c) => c.variants.base!.nll!);
    const mean = (nlls[0]! + nlls[1]!) / 2;
    const se = Math.abs(nlls[0]! - nlls[1]!) / 2; // sample std / √2 for two values
    expect(res.summary['bsa-tnp'].base.nll.mean).toBeCloseTo(mean, 12);
    expect(res.summary['bsa-tnp'].base.nll.se).toBeCloseTo(se, 12);
    const md = fs.readFileSync(path.join(dir, 'exp/gp2d/results.md'), 'utf8');
    expect(md).toContain('| model | base | shifted |');
    expect(md).toContain(`| bsa-tnp | ${mean.toFixed(3)} ± ${se.toFixed(3)} |`);
    expect(md).toContain('| model | NLL | RMSE | MAE | coverage | s / test batch | runtime (train s) |');
    expect(md).toContain('exact GP posterior (oracle)');
    // The gap table: NLL − oracle NLL per cell, averaged here (both seeds see the same batches).
    const gaps = (res.cells as CellResult[]).map((c) => c.variants.shifted!.nll! - c.variants.shifted!.oracleNll!);
    const gapRow = md.split('Gap to the exact GP posterior')[1]!.split('\n').find((l) => l.startsWith('| bsa-tnp |'))!;
    const shown = gapRow.split('|')[3]!.trim().split(' ± ').map(Number);
    expect(shown[0]).toBeCloseTo((gaps[0]! + gaps[1]!) / 2, 3);
    expect(shown[1]).toBeCloseTo(Math.abs(gaps[0]! - gaps[1]!) / 2, 3);

    // Again: every cell is skipped and the results are unchanged.
    const b = await run('experiment', 'gp2d', '--models', 'bsa-tnp', '--steps', '2', ...QUICK);
    expect(b.code).toBe(0);
    expect(b.events.filter((e) => e.event === 'cell').map((e) => e.phase)).toEqual(['skip', 'skip']);
    const again = JSON.parse(fs.readFileSync(path.join(dir, 'exp/gp2d/results.json'), 'utf8'));
    expect(again.cells).toEqual(res.cells);

    // More steps: each cell resumes its checkpoint from step 2 to 3 (no retraining from scratch).
    const c = await run('experiment', 'gp2d', '--models', 'bsa-tnp', '--steps', '3', ...QUICK);
    expect(c.code).toBe(0);
    const phases = c.events.filter((e) => e.event === 'cell').map((e) => e.phase);
    expect(phases.filter((p) => p === 'resume')).toHaveLength(2);
    expect(phases).not.toContain('train');
    const third = JSON.parse(fs.readFileSync(path.join(dir, 'exp/gp2d/results.json'), 'utf8'));
    expect((third.cells as CellResult[]).map((x) => x.steps)).toEqual([3, 3]);

    // --lr: a new out folder trains with that peak lr (checkpoint and table say so); the same
    // lr again skips, and a cell trained with another lr is not taken for it.
    const L = ['--models', 'bsa-tnp', '--steps', '2', '--seeds', '46', ...QUICK.slice(2, -1), 'exp-lr'];
    const d = await run('experiment', 'gp2d', ...L, '--lr', '0.0005');
    expect(d.code).toBe(0);
    expect(loadCheckpoint(path.join(dir, 'exp-lr/gp2d/bsa-tnp/seed-46/checkpoint')).state.train.lr).toBe(0.0005);
    const mdLr = fs.readFileSync(path.join(dir, 'exp-lr/gp2d/results.md'), 'utf8');
    expect(mdLr).toContain("lr 0.0005 (the recipe's is 0.0001)");
    const e = await run('experiment', 'gp2d', ...L, '--lr', '0.0005');
    expect(e.events.filter((x) => x.event === 'cell').map((x) => x.phase)).toEqual(['skip']);
    const f = await run('experiment', 'gp2d', ...L);
    expect(f.stderr).toContain('holds a different run');
    expect(f.stderr).toContain('lr 0.0005');
    const g = await run('experiment', 'gp2d', ...L, '--lr', '2');
    expect(g.code).toBe(2);
    expect(g.stderr).toContain('--lr expected a number in (0, 1), got 2');
  });

  it('--stop-after ends a call with a checkpoint mid-cell; the same command again resumes and finishes', async () => {
    const S = ['gp2d', '--models', 'bsa-tnp', '--steps', '2000', ...QUICK.slice(0, -1), 'exp-stop'];
    const a = await run('experiment', ...S, '--stop-after', '5');
    expect(a.code).toBe(0);
    expect(a.stdout).toContain('"stopped":true');
    const phases = a.events.filter((e) => e.event === 'cell').map((e) => e.phase);
    expect(phases).toEqual(['train', 'stopped', 'stopped']); // seed 46 stopped mid-run, seed 61 not started
    const ck = path.join(dir, 'exp-stop/gp2d/bsa-tnp/seed-46/checkpoint');
    const step = loadCheckpoint(ck).state.step;
    expect(step).toBeGreaterThan(0);
    expect(step).toBeLessThan(2000);
    expect(loadCheckpoint(ck).state.train.steps).toBe(2000); // schedule unchanged
    expect(fs.existsSync(path.join(dir, 'exp-stop/gp2d/bsa-tnp/seed-46/eval-gp2d.json'))).toBe(false);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'exp-stop/gp2d/results.json'), 'utf8')).stopped).toBe(true);
    // Again, without a limit but fewer steps to keep it quick: seed 46 resumes at its step.
    const b = await run('experiment', ...S.map((x) => (x === '2000' ? String(step + 2) : x)));
    expect(b.code).toBe(0);
    const resumed = b.events.find((e) => e.event === 'cell' && e.seed === 46 && e.phase === 'resume');
    expect(resumed?.detail).toBe(`step ${step}`);
    const res = JSON.parse(fs.readFileSync(path.join(dir, 'exp-stop/gp2d/results.json'), 'utf8'));
    expect(res.stopped).toBeUndefined();
    expect((res.cells as CellResult[]).map((c) => [c.seed, c.steps])).toEqual([[46, step + 2], [61, step + 2]]);
  });

  it('rejects an unknown experiment, model or variant with the choices', async () => {
    const a = await run('experiment', 'gp3d');
    expect(a.code).toBe(2);
    expect(a.stderr).toContain("unknown experiment 'gp3d'; expected one of gp2d, num-basis, multiscale, so3, sir, sir-sizes, gneiting");
    const b = await run('experiment', 'gp2d', '--models', 'bsa-tnq', '--out', 'x');
    expect(b.code).toBe(1);
    expect(b.stderr).toContain("unknown model 'bsa-tnq'");
    const c = await run('experiment', 'gp2d', '--seeds', '7', '--out', 'x');
    expect(c.code).toBe(2);
    expect(c.stderr).toContain('--seeds N takes 1 to 5');
  });

  it('--seeds: a count, one of the paper\'s seeds by itself, or a list', () => {
    const paper = [46, 61, 69, 79, 91];
    expect(parseSeeds('2', paper)).toEqual([46, 61]);
    expect(parseSeeds('61', paper)).toEqual([61]); // one process per seed
    expect(parseSeeds('46,7', paper)).toEqual([46, 7]);
    expect(() => parseSeeds('7', paper)).toThrow('--seeds N takes 1 to 5');
  });
});

describe('experiment recipes', () => {
  it('every experiment resolves its task and every model configures for it', () => {
    for (const e of EXPERIMENTS) {
      const shape = resolveTask(e.task, e.recipe.batchSize).shape;
      for (const m of e.models) {
        // A cell's model folder is read back through the parser (keep: best, evaluation): what the
        // registry builds for the task must be a configuration the parser accepts, unchanged.
        const c = modelConfigForTask(m, shape);
        expect(parseAnyConfig(JSON.parse(JSON.stringify(c))), `${e.name}/${m}`).toEqual(c);
      }
      for (const v of e.variants) expect(() => resolveTask(v.task, v.batchSize ?? e.recipe.batchSize), `${e.name}/${v.label}`).not.toThrow();
    }
    const f3 = modelConfigForTask('bsa-tnp-f3', resolveTask({ name: 'gp2d', options: {} }, 8).shape) as { groups: { s: { bias: { numBasis: number } } } };
    expect(f3.groups.s.bias.numBasis).toBe(3);
    const emb = modelConfigForTask('bsa-tnp-embed', resolveTask({ name: 'gneiting', options: {} }, 4).shape) as { groups: Record<string, { embed: boolean; bias: unknown } | null> };
    expect([emb.groups.x?.embed, emb.groups.s?.embed, emb.groups.t?.embed]).toEqual([true, true, true]);
    expect(emb.groups.s?.bias).not.toBeNull();
  });
});

describe('summary and table', () => {
  const v = (over: Partial<VariantResult>): VariantResult => ({
    status: 'ok', nll: 1, rmse: 0.5, mae: 0.4, coverage: 0.95, accuracy: null, oracleNll: null, batches: 10, secondsPerBatch: 2, ...over,
  });
  it('mean ± SE over seeds; OOM per model and size is reported, not averaged', () => {
    expect(stat([1, 2, 3, 4])).toEqual({ mean: 2.5, se: Math.sqrt(((1.5 ** 2 + 0.5 ** 2) * 2) / 3 / 4), n: 4 });
    expect(stat([null, NaN])).toBeNull();
    const cells: CellResult[] = [
      { model: 'a', seed: 1, status: 'ok', parameters: 10, steps: 5, trainSeconds: 3, variants: { '128²': v({ secondsPerBatch: 1 }), '1024²': v({ status: 'oom', error: 'out of memory' }) } },
      { model: 'a', seed: 2, status: 'ok', parameters: 10, steps: 5, trainSeconds: 5, variants: { '128²': v({ secondsPerBatch: 3 }), '1024²': v({ secondsPerBatch: 40 }) } },
      { model: 'b', seed: 1, status: 'error', error: 'boom', parameters: null, steps: null, trainSeconds: null, variants: {} },
    ];
    const s = summarise(cells, ['a', 'b'], ['128²', '1024²']);
    expect(s.a!['128²']!.secondsPerBatch).toEqual({ mean: 2, se: 1, n: 2 });
    expect(s.a!['1024²']!.oom).toBe(1);
    expect(s.a!['1024²']!.secondsPerBatch).toEqual({ mean: 40, se: 0, n: 1 });
    expect(s.a!['128²']!.trainSeconds).toEqual({ mean: 4, se: 1, n: 2 });
    const md = markdownTables({ title: 'T', models: ['a', 'b'], variants: ['128²', '1024²'], seeds: [1, 2], summary: s, timing: true, categorical: true });
    expect(md).toContain('| a | 2.000 ± 1.000 | 40.000 (OOM ×1) |');
    expect(md).toContain('| b | error | error |');
    const allOom = summarise([{ ...cells[0]!, variants: { x: v({ status: 'oom', nll: null }) } }], ['a'], ['x']);
    expect(markdownTables({ title: 'T', models: ['a'], variants: ['x'], seeds: [1], summary: allOom, timing: false, categorical: false })).toContain('| a | OOM |');
  });
  it('recognises out-of-memory errors of the host, WebAssembly and WebGPU', () => {
    expect(isOutOfMemory(new RangeError('Array buffer allocation failed'))).toBe(true);
    expect(isOutOfMemory(new RangeError('WebAssembly.Memory.grow(): Maximum memory size exceeded'))).toBe(true);
    expect(isOutOfMemory(new Error('GPU out of memory'))).toBe(true);
    expect(isOutOfMemory(new Error('batch: the model expects f of width 3'))).toBe(false);
  });
});
