/**
 * Baselines through the real command line: `train --config` with a small TNP-D / TE-TNP / ConvCNP
 * configuration writes a model folder that `info` describes, `predict` reads and `eval` scores;
 * `train --model` rejects unknown names and a model given twice.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { removeTempDirs, runCli, tempDir, writeCsvText } from '../cli-predict/fixtures.js';

afterAll(() => removeTempDirs());

const SMALL = {
  'tnp-d': { kind: 'tnp-d', blocks: 1, embedDim: 8, heads: 2, headDim: 4, inputMlp: [8], ffn: [8], headHidden: [8] },
  'te-tnp': { kind: 'te-tnp', layers: 1, pseudoTokens: 4, embedDim: 8, heads: 2, headDim: 4, embedMlp: [8], pairMlp: [8], ffn: [8], headHidden: [8] },
  convcnp: { kind: 'convcnp', pointsPerUnit: 2, channels: 4, blocks: 1, kernelSize: 3, headHidden: [8] },
};
const TRAIN = { steps: 3, batchSize: 2, validEvery: 1000, validBatches: 0, checkpointEvery: 1000, testBatches: 1,
  task: { name: 'gp2d', options: { ncMin: 8, ncMax: 12, nt: 6 } } };

describe('baselines on the command line', () => {
  it.each(Object.entries(SMALL))('%s: train → info → predict → eval', async (kind, model) => {
    const dir = tempDir(`baseline-${kind}-`);
    const cfg = path.join(dir, 'config.json');
    fs.writeFileSync(cfg, JSON.stringify({ model, train: TRAIN }));
    const out = path.join(dir, 'run');
    const tr = await runCli(['train', '--out', out, '--config', cfg, '--loss-every', '1']);
    expect(tr.stderr).toContain('"event":"train_start"');
    expect(tr.code).toBe(0);
    const written = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
    expect(written.model.kind).toBe(kind);
    const info = await runCli(['info', out, '--json']);
    expect(info.code).toBe(0);
    expect(JSON.parse(info.stdout).config.model.kind).toBe(kind);
    writeCsvText(path.join(dir, 'ctx.csv'), ['s0', 's1', 'f'], [[0.1, 0.2, 1.5], [-0.5, 0.7, -0.3], [1.1, -1.2, 0.4]]);
    writeCsvText(path.join(dir, 'tgt.csv'), ['s0', 's1'], [[0, 0], [0.5, -0.5]]);
    const pred = path.join(dir, 'pred.csv');
    const pr = await runCli(['predict', out, '--context', path.join(dir, 'ctx.csv'), '--targets', path.join(dir, 'tgt.csv'), '--out', pred]);
    expect(pr.code, pr.stderr).toBe(0);
    const lines = fs.readFileSync(pred, 'utf8').trim().split('\n');
    expect(lines.length).toBe(3);
    for (const l of lines.slice(1)) expect(l.split(',').slice(2).map(Number).every(Number.isFinite)).toBe(true);
    const ev = await runCli(['eval', out, '--batches', '1', '--json']);
    expect(ev.code).toBe(0);
    const m = JSON.parse(ev.stdout);
    expect(Number.isFinite(m.nll)).toBe(true);
  }, 120_000);

  it('train --model tnp-d --task gp1d: the named model sized for the task', async () => {
    const dir = tempDir('baseline-named-');
    const cfg = path.join(dir, 'train.json');
    fs.writeFileSync(cfg, JSON.stringify({ train: { ...TRAIN, steps: 1, batchSize: 1, task: { name: 'gp1d', options: { ncMin: 8, ncMax: 12, nt: 6 } } } }));
    const out = path.join(dir, 'run');
    const tr = await runCli(['train', '--out', out, '--model', 'tnp-d', '--config', cfg]);
    expect(tr.code, tr.stderr).toBe(0);
    expect(tr.stderr).toContain('"parameters":474498'); // 474,754 less the 256 weights of the second s dim in MLP_in
    const written = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
    expect(written.model).toMatchObject({ kind: 'tnp-d', norm: 'post', groups: { s: { dims: 1, embed: true, bias: null } } });
  }, 120_000);

  it('train --model: unknown names and a model given twice are usage errors', async () => {
    const dir = tempDir('baseline-usage-');
    const bad = await runCli(['train', '--out', path.join(dir, 'a'), '--model', 'tnp']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("bsa-tnp train: unknown --model 'tnp'; expected one of bsa-tnp, tnp-d,");
    const cfg = path.join(dir, 'm.json');
    fs.writeFileSync(cfg, JSON.stringify({ kind: 'tnp-d' }));
    const twice = await runCli(['train', '--out', path.join(dir, 'b'), '--model', 'te-tnp', '--config', cfg]);
    expect(twice.code).toBe(2);
    expect(twice.stderr).toContain('bsa-tnp train: give --model NAME or a model configuration in --config, not both');
  });
});
