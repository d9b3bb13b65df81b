import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runMain } from '../helpers/run-main.js';
import { COMMANDS } from '../../src/cli/commands/index.js';
import { isNotImplemented, notImplemented } from '../../src/cli/commands/not-implemented.js';
import { DEFAULT_CONFIG, DEFAULT_DATA_SCHEMA, DEFAULT_TRAIN_CONFIG, countParameters } from '../../src/models/config.js';
import { writeModelFolder } from '../../src/train/model-folder.js';

const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/bsa-tnp.js');
let dir: string;

/** Runs the real bin with node from a temp cwd. */
function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, BSA_TNP_DEBUG: '' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs `main` in-process with captured streams. */
async function run(...args: string[]) {
  return runMain(args, dir);
}

async function makeModel(name: string) {
  const n = countParameters(DEFAULT_CONFIG);
  const folder = path.join(dir, name);
  await writeModelFolder(folder, {
    model: DEFAULT_CONFIG,
    data: { ...DEFAULT_DATA_SCHEMA, units: { s0: 'km', f: 'mm' }, normalization: { f: { mean: 0.5, std: 2 } } },
    training: DEFAULT_TRAIN_CONFIG,
    weights: { 'head.w': { shape: [n - 10], data: new Float32Array(n - 10) }, 'head.b': { shape: [10], data: new Float32Array(10) } },
    metadata: { step: '100000' },
  });
  return folder;
}

beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-')); });
afterAll(() => { fs.rmSync(dir, { recursive: true, force: true }); });

describe('bin/bsa-tnp.js (spawned, cwd outside the repo)', () => {
  it('--help at the top level lists every command', () => {
    const r = cli('--help');
    expect(r.code).toBe(0);
    for (const c of COMMANDS) expect(r.stdout).toContain(`  ${c.name}`);
  });

  it('--help works on every command', () => {
    for (const c of COMMANDS) {
      const r = cli(c.name, '--help');
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`Usage: bsa-tnp ${c.name}`);
      expect(r.stdout).toContain('--help');
    }
  });

  it('unknown commands and flags fail with a clear message', () => {
    const a = cli('trian');
    expect(a.code).toBe(2);
    expect(a.stderr).toContain("bsa-tnp: unknown command 'trian'; did you mean 'train'?");
    const b = cli('info', '--jsn', 'x');
    expect(b.code).toBe(2);
    expect(b.stderr).toContain("bsa-tnp info: unknown option '--jsn'; did you mean '--json'?");
    expect(b.stderr).toContain("Run 'bsa-tnp info --help' for usage.");
    const c = cli();
    expect(c.code).toBe(2);
    expect(c.stderr).toContain('Usage: bsa-tnp <command>');
  });

  it('info prints the configuration and columns of a model folder (relative path)', async () => {
    await makeModel('good');
    const r = cli('info', 'good');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^model folder: \/.*good\n/);
    expect(r.stdout).toContain('parameters: 475,770 in 2 tensors');
    expect(r.stdout).toContain('trunk: 6 blocks x 1 repeat, width 64, 4 heads x 32, scan attention (tiles 1024x1024)');
    expect(r.stdout).toContain('s: 2 dims, not in tokens, bias rbf F=5 on euclidean distance');
    expect(r.stdout).toContain('s (location): s0 [km], s1; distance euclidean');
    expect(r.stdout).toContain('context CSV needs: s0, s1, f');
    expect(r.stdout).toContain('f: mean 0.5, std 2');
    expect(r.stdout).toContain('step: 100000');
  });

  it('info on a corrupt folder exits 1 with the reason', async () => {
    const folder = await makeModel('truncated');
    const w = path.join(folder, 'model.safetensors');
    fs.truncateSync(w, fs.statSync(w).size - 100);
    const r = cli('info', 'truncated');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^bsa-tnp info: .*model\.safetensors: safetensors: tensor 'head\.w': data_offsets \[\d+, \d+\] out of range .*truncated file\?\)\n$/);
  });
});

describe('info (in-process)', () => {
  it('--json prints config, tensors and metadata', async () => {
    await makeModel('json');
    const r = await run('info', 'json', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.parameters).toBe(475_770);
    expect(j.config.model).toEqual(JSON.parse(JSON.stringify(DEFAULT_CONFIG)));
    expect(j.tensors).toEqual([{ name: 'head.b', shape: [10] }, { name: 'head.w', shape: [475_760] }]);
  });

  const corrupt: [string, (folder: string) => void, RegExp][] = [
    ['missing folder', (f) => fs.rmSync(f, { recursive: true }), /info: model folder '.*' does not exist/],
    ['not a folder', (f) => { fs.rmSync(f, { recursive: true }); fs.writeFileSync(f, 'x'); }, /info: '.*' is not a folder/],
    ['missing weights', (f) => fs.rmSync(path.join(f, 'model.safetensors')), /is not a complete model folder: model\.safetensors is missing/],
    ['missing both', (f) => { fs.rmSync(path.join(f, 'model.safetensors')); fs.rmSync(path.join(f, 'config.json')); }, /config\.json and model\.safetensors are missing/],
    ['bad JSON', (f) => fs.writeFileSync(path.join(f, 'config.json'), '{"formatVersion": 1,'), /config\.json is not valid JSON/],
    ['bad field', (f) => {
      const p = path.join(f, 'config.json');
      const c = JSON.parse(fs.readFileSync(p, 'utf8'));
      c.model.blocks = -1;
      fs.writeFileSync(p, JSON.stringify(c));
    }, /config\.json: model\.blocks: expected a positive integer, got -1/],
    ['wrong format version', (f) => {
      const p = path.join(f, 'config.json');
      fs.writeFileSync(p, JSON.stringify({ ...JSON.parse(fs.readFileSync(p, 'utf8')), formatVersion: 9 }));
    }, /config\.json: formatVersion: expected 1, got 9/],
    ['weights of another config', (f) => {
      const p = path.join(f, 'config.json');
      const c = JSON.parse(fs.readFileSync(p, 'utf8'));
      c.model.blocks = 5;
      fs.writeFileSync(p, JSON.stringify(c));
    }, /holds 475770 parameters in 2 tensors, but config\.json's model needs \d+: the weights do not belong/],
    ['garbage weights', (f) => fs.writeFileSync(path.join(f, 'model.safetensors'), 'not a safetensors file'), /model\.safetensors: safetensors: header length \d+ exceeds the 100000000-byte limit/],
  ];
  for (const [name, damage, message] of corrupt) {
    it(`${name}: exit 1, ${message.source}`, async () => {
      const folder = await makeModel(`bad-${name.replace(/ /g, '-')}`);
      damage(folder);
      const r = await run('info', folder);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(message);
    });
  }

  it('recovers a folder left as name.old by an interrupted write', async () => {
    const folder = await makeModel('interrupted');
    fs.renameSync(folder, `${folder}.old`);
    const r = await run('info', 'interrupted');
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('restored');
    expect(fs.existsSync(folder)).toBe(true);
  });

  it('commands not wired yet exit 2 with "not implemented yet"', async () => {
    const stub = notImplemented('demo');
    expect(isNotImplemented(stub)).toBe(true);
    for (const c of COMMANDS.filter((c) => isNotImplemented(c.run))) {
      let stderr = '';
      const code = await c.run({ values: {}, positionals: [] }, { stdout: { write: () => {} }, stderr: { write: (s: string) => { stderr += s; } }, cwd: dir, env: {} });
      expect(code).toBe(2);
      expect(stderr).toBe(`bsa-tnp ${c.name}: not implemented yet (the model and trainer it needs are still being written)\n`);
    }
  });

  it('usage errors', async () => {
    expect((await run('info')).stderr).toContain('bsa-tnp info: missing <model-folder>');
    expect((await run('info', 'a', 'b')).stderr).toContain("bsa-tnp info: unexpected argument 'b'");
    expect((await run('info', '--json=1', 'a')).stderr).toContain("option '--json' takes no value");
    expect((await run('info', 'm', '--json', '--nope')).stderr).toContain("bsa-tnp info: unknown option '--nope'");
    expect((await run('--frobnicate')).stderr).toContain("bsa-tnp: unknown option '--frobnicate'");
    expect((await run('help', 'info')).stdout).toContain('Usage: bsa-tnp info <model-folder>');
    expect((await run('--version')).stdout).toMatch(/^bsa-tnp \d+\.\d+\.\d+\n$/);
  });
});
