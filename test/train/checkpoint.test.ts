import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CpuBackend } from '../../src/engine/cpu/backend.js';
import {
  BEST_DIR, CheckpointError, loadCheckpoint, loadModelFolder, OPTIMIZER_FILE, TRAINER_STATE_FILE, WEIGHTS_FILE,
} from '../../src/train/checkpoint.js';
import { readSafetensorsFile, writeSafetensorsFile } from '../../src/train/safetensors-file.js';
import { Trainer } from '../../src/train/trainer.js';
import { TINY_MODEL, tinyTrain } from './tiny.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const child = path.join(here, 'fixtures', 'checkpoint-writer.ts');

let dir: string;
beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ckpt-')); });
afterEach(() => { fs.rmSync(dir, { recursive: true, force: true }); });

function bits(ws: Map<string, { data: Float32Array }>): Map<string, number[]> {
  return new Map([...ws].map(([k, t]) => [k, Array.from(new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length))]));
}

describe('resume', () => {
  it('20 steps in one run = 10 + save + load + resume + 10, bit for bit (params and moments)', async () => {
    const train = tinyTrain({ steps: 20, validEvery: 5, validBatches: 1 });
    const a = Trainer.create(TINY_MODEL, train, new CpuBackend(), { out: null, lossEvery: 3 });
    await a.run(20);
    const wa = await a.weights();
    const st = await a.optimizer.state();

    const folder = path.join(dir, 'ck');
    const b1 = Trainer.create(TINY_MODEL, train, new CpuBackend(), { out: folder, lossEvery: 4 });
    await b1.run(10);
    b1.dispose();
    const b2 = Trainer.resume(folder, new CpuBackend(), { lossEvery: 7 });
    expect(b2.step).toBe(10);
    await b2.run(20);
    const wb = await b2.weights();
    const stb = await b2.optimizer.state();

    expect(wb.size).toBe(wa.size);
    expect(bits(wb)).toEqual(bits(wa));
    expect(stb.step).toBe(20);
    expect(stb.m.map((x) => Array.from(x))).toEqual(st.m.map((x) => Array.from(x)));
    expect(stb.v.map((x) => Array.from(x))).toEqual(st.v.map((x) => Array.from(x)));
    // Training did something: the weights moved from their initial values.
    const init = Trainer.create(TINY_MODEL, train, new CpuBackend(), { out: null });
    expect(bits(await init.weights())).not.toEqual(bits(wa));
    // The checkpoint records the run: step, schedule, validations and a best/ folder.
    const ck = loadCheckpoint(folder);
    expect(ck.state.step).toBe(20);
    expect(ck.state.validations.map((v) => v.step)).toEqual([5, 10, 15, 20]);
    expect(ck.state.validations.every((v) => v.oracleNll !== null && Number.isFinite(v.nll))).toBe(true);
    expect(ck.state.schedule).toMatchObject({ kind: 'cosine', lr0: 3e-3, alpha: 0.1, steps: 20 });
    expect(fs.existsSync(path.join(folder, BEST_DIR, WEIGHTS_FILE))).toBe(true);
    expect(loadModelFolder(path.join(folder, BEST_DIR)).weights.size).toBe(wa.size);
    for (const t of [a, b2, init]) t.dispose();
  });
});

describe('loading validates every file', () => {
  let folder: string;
  beforeEach(async () => {
    folder = path.join(dir, 'ck');
    const t = Trainer.create(TINY_MODEL, tinyTrain({ steps: 2 }), new CpuBackend(), { out: folder });
    await t.run(2);
    t.dispose();
  });
  const weights = () => path.join(folder, WEIGHTS_FILE);

  it('loads a good checkpoint', () => {
    const ck = loadCheckpoint(folder);
    expect(ck.state.step).toBe(2);
    expect(ck.moments.m.size).toBe(ck.weights.size);
  });

  it('truncated weights file', () => {
    const bytes = fs.readFileSync(weights());
    fs.writeFileSync(weights(), bytes.subarray(0, bytes.length - 100));
    expect(() => loadCheckpoint(folder)).toThrow(CheckpointError);
    expect(() => loadCheckpoint(folder)).toThrow(new RegExp(`${WEIGHTS_FILE.replace('.', '\\.')}: safetensors: .*`));
  });

  it('garbage header', () => {
    fs.writeFileSync(weights(), Buffer.from('not a safetensors file at all'));
    expect(() => loadModelFolder(folder)).toThrow(/model\.safetensors: safetensors:/);
  });

  it('missing tensor, extra tensor, wrong shape', () => {
    const orig = readSafetensorsFile(weights()).tensors;
    const name = [...orig.keys()].find((k) => k.startsWith('blocks.1.attn.q') && orig.get(k)!.shape.length === 2)!;
    const missing = new Map(orig);
    missing.delete(name);
    writeSafetensorsFile(weights(), missing);
    expect(() => loadModelFolder(folder)).toThrow(new RegExp(`model\\.safetensors: missing tensor\\(s\\) ${name.replace(/\./g, '\\.')} that the configuration needs`));
    writeSafetensorsFile(weights(), new Map([...orig, ['blocks.9.extra', { shape: [2], data: new Float32Array(2) }]]));
    expect(() => loadModelFolder(folder)).toThrow(/model\.safetensors: unexpected tensor\(s\) blocks\.9\.extra not in the configuration/);
    const bad = new Map(orig);
    const t = orig.get(name)!;
    bad.set(name, { shape: [t.data.length], data: t.data });
    writeSafetensorsFile(weights(), bad);
    expect(() => loadModelFolder(folder)).toThrow(new RegExp(`tensor '${name.replace(/\./g, '\\.')}' has shape \\[${t.data.length}\\], the configuration needs \\[${t.shape.join(', ')}\\]`));
  });

  it('config.json: corrupt JSON, bad field, missing file', () => {
    const cfg = path.join(folder, 'config.json');
    const text = fs.readFileSync(cfg, 'utf8');
    fs.writeFileSync(cfg, text.slice(0, text.length / 2));
    expect(() => loadModelFolder(folder)).toThrow(/config\.json: not valid JSON .*corrupt or truncated/);
    const j = JSON.parse(text) as { model: { blocks: number } };
    j.model.blocks = 3;
    fs.writeFileSync(cfg, JSON.stringify(j));
    // The config now asks for a third block the weights do not have.
    expect(() => loadModelFolder(folder)).toThrow(/model\.safetensors: missing tensor\(s\) blocks\.2\./);
    j.model.blocks = -1;
    fs.writeFileSync(cfg, JSON.stringify(j));
    expect(() => loadModelFolder(folder)).toThrow(/config\.json: config\.json\.model\.blocks: expected a positive integer, got -1/);
    fs.rmSync(cfg);
    expect(() => loadModelFolder(folder)).toThrow(/config\.json: file not found/);
  });

  it('optimizer.safetensors and trainer_state.json', () => {
    const opt = path.join(folder, OPTIMIZER_FILE);
    const state = path.join(folder, TRAINER_STATE_FILE);
    const orig = readSafetensorsFile(opt).tensors;
    const noV = new Map([...orig].filter(([k]) => !k.startsWith('v.')));
    writeSafetensorsFile(opt, noV);
    expect(() => loadCheckpoint(folder)).toThrow(/optimizer\.safetensors: missing tensor\(s\) v\./);
    writeSafetensorsFile(opt, new Map([...orig, ['w.foo', { shape: [1], data: new Float32Array(1) }]]));
    expect(() => loadCheckpoint(folder)).toThrow(/optimizer\.safetensors: unexpected tensor 'w\.foo'/);
    writeSafetensorsFile(opt, orig);
    const text = fs.readFileSync(state, 'utf8');
    fs.writeFileSync(state, text.slice(0, 40));
    expect(() => loadCheckpoint(folder)).toThrow(/trainer_state\.json: not valid JSON/);
    const s = JSON.parse(text) as Record<string, unknown>;
    fs.writeFileSync(state, JSON.stringify({ ...s, step: -3 }));
    expect(() => loadCheckpoint(folder)).toThrow(/trainer_state\.json: step: expected a non-negative integer, got -3/);
    fs.writeFileSync(state, JSON.stringify({ ...s, rng: { data: null } }));
    expect(() => loadCheckpoint(folder)).toThrow(/trainer_state\.json: rng: expected/);
    fs.writeFileSync(state, JSON.stringify({ ...s, train: { ...(s.train as object), lr: 'fast' } }));
    expect(() => loadCheckpoint(folder)).toThrow(/trainer_state\.json: train\.lr: /);
    fs.rmSync(state);
    expect(() => loadCheckpoint(folder)).toThrow(/not a training checkpoint: optimizer\.safetensors and trainer_state\.json are needed/);
    // A model folder alone still loads as a model.
    expect(loadModelFolder(folder).weights.size).toBe(orig.size / 2);
  });
});

/** Runs the writer child; SIGKILLs it when `killOn` appears on its stdout. */
function runWriter(folder: string, steps: number, phase: string, killOn?: string): Promise<{ signal: string | null; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', child, folder, String(steps), phase], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (killOn !== undefined && out.includes(killOn)) p.kill('SIGKILL');
    });
    p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    p.on('error', reject);
    p.on('close', (code, signal) => (code !== 0 && signal === null ? reject(new Error(err)) : resolve({ signal, out })));
  });
}

describe('a killed writer leaves the previous checkpoint loadable', () => {
  for (const phase of ['files', 'midswap'] as const) {
    it(`SIGKILL ${phase === 'files' ? 'while writing the files' : 'between the two renames'}`, async () => {
      const folder = path.join(dir, 'ck');
      expect((await runWriter(folder, 2, 'none')).out).toContain('saved 2');
      const before = bits(loadCheckpoint(folder).weights);
      const killed = await runWriter(folder, 4, phase, 'hanging');
      expect(killed.signal).toBe('SIGKILL');
      const ck = loadCheckpoint(folder); // recovers the interrupted swap
      expect(ck.state.step).toBe(2);
      expect(bits(ck.weights)).toEqual(before);
      expect(fs.readdirSync(dir)).toEqual(['ck']);
      // Training resumes from it.
      const t = Trainer.resume(folder, new CpuBackend(), { out: null });
      await t.run(3);
      expect(t.step).toBe(3);
      t.dispose();
    });
  }
});
