/**
 * Bad input to `bsa-tnp predict` (and the command line itself), each through the real command
 * line: a clear message naming the problem, a non-zero exit, and no partial output file (an
 * existing output file is left untouched, and no temporary file is left beside it).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listFiles, randomContext, runCli, tempDir, writeCsvText, writeRandomModel, type RunResult } from './fixtures.js';
import { removeTempDirs } from './fixtures.js';

let dir: string;
let model: string;
const PREVIOUS = 'previous contents\n';

afterAll(removeTempDirs);

beforeAll(async () => {
  dir = tempDir('bad-input');
  model = path.join(dir, 'model');
  await writeRandomModel(model, 2);
  writeCsvText(path.join(dir, 'ctx.csv'), ['s0', 's1', 'f'], randomContext(40, 5));
  writeCsvText(path.join(dir, 'targets.csv'), ['s0', 's1'], randomContext(30, 6).map((r) => [r[0]!, r[1]!]));
});

/**
 * Runs predict with `overrides` (flag → value; null drops the flag, '' gives it without a value) in a fresh output folder
 * holding an older `pred.csv`; checks the failure and that the folder is unchanged.
 */
async function failPredict(overrides: Record<string, string | null>, expectCode = 1): Promise<RunResult> {
  const outDir = tempDir('bad-out');
  const out = path.join(outDir, 'pred.csv');
  fs.writeFileSync(out, PREVIOUS);
  const flags: Record<string, string | null> = {
    '--model': model, '--context': path.join(dir, 'ctx.csv'), '--targets': path.join(dir, 'targets.csv'), '--out': out,
    ...overrides,
  };
  const args = ['predict', ...Object.entries(flags).flatMap(([k, v]) => (v === null ? [] : v === '' ? [k] : [k, v]))];
  const res = await runCli(args);
  expect(res.code, res.stderr).toBe(expectCode);
  expect(res.stderr).not.toMatch(/internal error|at .*\.ts:\d+/);
  expect(listFiles(outDir)).toEqual(['pred.csv']);
  expect(fs.readFileSync(out, 'utf8')).toBe(PREVIOUS);
  return res;
}

function csv(name: string, header: string[], rows: (number | string)[][]): string {
  const file = path.join(dir, name);
  writeCsvText(file, header, rows);
  return file;
}

describe('predict: bad input files', () => {
  it('NaN coordinate in the context: dropped with a warning; with --strict an error naming the row and column', async () => {
    const rows = randomContext(10, 7);
    rows[2]![1] = 'NaN' as unknown as number;
    const file = csv('ctx-nan.csv', ['s0', 's1', 'f'], rows);
    const res = await failPredict({ '--context': file, '--strict': '' });
    expect(res.stderr).toMatch(/context '.*ctx-nan\.csv': row 3, column 's1': the value is missing \(--strict/);
    const outDir = tempDir('nan-ok');
    const ok = await runCli(['predict', '--model', model, '--context', file, '--targets', path.join(dir, 'targets.csv'), '--out', path.join(outDir, 'p.csv')]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toMatch(/warning: predict: context '.*ctx-nan\.csv': 1 row dropped for a missing coordinate, time or covariate \(first: row 3, column 's1'\)/);
    expect(JSON.parse(ok.stdout.trim().split('\n').at(-1)!)).toMatchObject({ event: 'predict_done', context: 9, points: 30 });
  });

  it('infinite coordinate deep in the targets, after chunks were written: no partial file', async () => {
    const rows = randomContext(50, 8).map((r) => [r[0]!, r[1]!] as (number | string)[]);
    rows[41]![0] = '-inf';
    const res = await failPredict({ '--targets': csv('targets-inf.csv', ['s0', 's1'], rows), '--chunk': '8' });
    expect(res.stderr).toMatch(/targets '.*targets-inf\.csv': row 42, column 's0': expected a number, got '-inf'/);
  });

  it('a number too large for float64 (1e999) is named as not a number', async () => {
    const rows = randomContext(5, 9);
    rows[4]![2] = '1e999' as unknown as number;
    const res = await failPredict({ '--context': csv('ctx-huge.csv', ['s0', 's1', 'f'], rows) });
    expect(res.stderr).toMatch(/row 5, column 'f': expected a number, got '1e999'/);
  });

  it('missing value column in the context', async () => {
    const res = await failPredict({ '--context': csv('ctx-missing.csv', ['s0', 's1'], randomContext(5).map((r) => [r[0]!, r[1]!])) });
    expect(res.stderr).toMatch(/context '.*ctx-missing\.csv': missing column 'f'/);
    expect(res.stderr).toMatch(/expects 2 spatial coordinates \(s0, s1\) and 1 output \(f\)/);
  });

  it('extra columns are ignored in the context and carried through from the targets', async () => {
    const outDir = tempDir('extra-ok');
    const out = path.join(outDir, 'p.csv');
    const ctxFile = csv('ctx-extra.csv', ['s0', 's1', 'f', 'weight'], randomContext(5).map((r) => [...r, 1]));
    const tgtFile = csv('targets-extra.csv', ['station', 's0', 's1'], randomContext(3).map((r, i) => [`st${i}`, r[0]!, r[1]!]));
    const ok = await runCli(['predict', '--model', model, '--context', ctxFile, '--targets', tgtFile, '--out', out]);
    expect(ok.code, ok.stderr).toBe(0);
    const lines = fs.readFileSync(out, 'utf8').trim().split('\n');
    expect(lines[0]).toBe('station,s0,s1,f_mean,f_std,f_lo90,f_hi90');
    expect(lines.map((l) => l.split(',')[0])).toEqual(['station', 'st0', 'st1', 'st2']);
  });

  it('1-D targets for a 2-D model: a dimension mismatch', async () => {
    const res = await failPredict({ '--targets': csv('targets-1d.csv', ['s0'], [[0.1], [0.2]]) });
    expect(res.stderr).toMatch(/missing column 's1'; dimension mismatch: the model takes 2 spatial coordinates, the table has 1/);
  });

  it('empty context (header only)', async () => {
    const file = path.join(dir, 'ctx-empty.csv');
    fs.writeFileSync(file, 's0,s1,f\n');
    const res = await failPredict({ '--context': file });
    expect(res.stderr).toMatch(/context '.*ctx-empty\.csv' has a header but no data rows/);
  });

  it('empty context file (blank)', async () => {
    const file = path.join(dir, 'ctx-blank.csv');
    fs.writeFileSync(file, '\n');
    const res = await failPredict({ '--context': file });
    expect(res.stderr).toMatch(/context '.*ctx-blank\.csv' is empty \(only blank space\)/);
  });

  it('context file that does not exist', async () => {
    const res = await failPredict({ '--context': path.join(dir, 'nope.csv') });
    expect(res.stderr).toMatch(/context '.*nope\.csv' cannot be read \(ENOENT\)/);
  });
});

describe('predict: bad model folders', () => {
  async function brokenModel(name: string, damage: (folder: string) => void): Promise<string> {
    const folder = path.join(dir, name);
    await writeRandomModel(folder, 2);
    damage(folder);
    return folder;
  }

  it('truncated model.safetensors', async () => {
    const folder = await brokenModel('model-truncated', (f) => {
      const file = path.join(f, 'model.safetensors');
      fs.truncateSync(file, Math.floor(fs.statSync(file).size / 2));
    });
    const res = await failPredict({ '--model': folder });
    expect(res.stderr).toMatch(/cannot load the model: .*model\.safetensors: .*(truncated|past the end|exceeds|bytes)/);
  });

  it('garbage config.json', async () => {
    const folder = await brokenModel('model-garbage', (f) => fs.writeFileSync(path.join(f, 'config.json'), '{"formatVersion": 1, "model": {bl'));
    const res = await failPredict({ '--model': folder });
    expect(res.stderr).toMatch(/config\.json: not valid JSON/);
  });

  it('config.json for another model than the weights (shape mismatch)', async () => {
    const folder = await brokenModel('model-mismatch', (f) => {
      const file = path.join(f, 'config.json');
      const json = JSON.parse(fs.readFileSync(file, 'utf8')) as { model: { headHidden: number[] } };
      json.model.headHidden = [24];
      fs.writeFileSync(file, JSON.stringify(json));
    });
    const res = await failPredict({ '--model': folder });
    expect(res.stderr).toMatch(/model\.safetensors: tensor '.*' has shape \[.*\], the configuration needs \[.*\]/);
  });

  it('model folder that does not exist', async () => {
    const res = await failPredict({ '--model': path.join(dir, 'no-such-model') });
    expect(res.stderr).toMatch(/model folder '.*no-such-model' does not exist/);
  });
});

describe('predict: bad command lines', () => {
  it('unknown command', async () => {
    const res = await runCli(['predikt', '--model', model]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/unknown command 'predikt'; did you mean 'predict'\?/);
  });

  it('unknown flag', async () => {
    const res = await failPredict({ '--chunks': '5' }, 2);
    expect(res.stderr).toMatch(/unknown option '--chunks'; did you mean '--chunk'\?/);
  });

  it('both --targets and --grid, or neither', async () => {
    let res = await failPredict({ '--grid': '0,1,0,1' }, 2);
    expect(res.stderr).toMatch(/exactly one of --targets FILE or --grid/);
    res = await failPredict({ '--targets': null }, 2);
    expect(res.stderr).toMatch(/exactly one of --targets FILE or --grid/);
  });

  it('missing --context and --out', async () => {
    const res = await runCli(['predict', '--model', model, '--targets', path.join(dir, 'targets.csv')]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/missing --context FILE, --out FILE/);
  });

  it('bad --chunk, --grid, --size and --backend values', async () => {
    let res = await failPredict({ '--chunk': '0' }, 2);
    expect(res.stderr).toMatch(/--chunk must be an integer >= 1, got '0'/);
    res = await failPredict({ '--targets': null, '--grid': '0,1,0', '--size': '4x4' });
    expect(res.stderr).toMatch(/--grid: expected four numbers x0,x1,y0,y1/);
    res = await failPredict({ '--targets': null, '--grid': '0,1,0,1', '--size': '4by4' });
    expect(res.stderr).toMatch(/--size: expected WIDTHxHEIGHT/);
    res = await failPredict({ '--backend': 'tpu' });
    expect(res.stderr).toMatch(/--backend must be 'cpu' or 'webgpu', got 'tpu'/);
    res = await failPredict({ '--precision': 'f8' }, 2);
    expect(res.stderr).toMatch(/--precision must be one of f32, f16, f16-fast, got 'f8'/);
    res = await failPredict({ '--precision': 'f16' }, 2);
    expect(res.stderr).toMatch(/--precision f16 needs --backend webgpu/);
  });
});

describe('predict: interrupted', () => {
  it('SIGTERM mid-stream leaves no partial output file', async () => {
    const { spawn } = await import('node:child_process');
    const { BIN } = await import('./fixtures.js');
    const outDir = tempDir('killed');
    const out = path.join(outDir, 'pred.csv');
    const child = spawn(process.execPath, [BIN, 'predict', '--model', model, '--context', path.join(dir, 'ctx.csv'),
      '--grid=0,1,0,1', '--size', '600x600', '--chunk', '256', '--out', out]);
    let stderr = '';
    const code = await new Promise<number | null>((resolve) => {
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        // First progress line: rows are being written into the temporary file.
        if (stderr.includes('"event":"progress"') && child.exitCode === null) child.kill('SIGTERM');
      });
      child.on('close', (c) => resolve(c));
    });
    expect(code).toBe(130);
    expect(listFiles(outDir)).toEqual([]);
  });
});
