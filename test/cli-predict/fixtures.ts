/**
 * Test fixtures for the predict/demo command tests: a small randomly initialised model folder
 * (with non-trivial normalisation statistics, so the round trip is exercised), CSV writers, and a
 * helper that spawns the real command line (`node bin/bsa-tnp.js ...`).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Rng } from '../../src/engine/random.js';
import { BsaTnp } from '../../src/models/bsa-tnp.js';
import { MODEL_FOLDER_FORMAT_VERSION, parseConfig, parseModelFolderConfig, type ModelConfig, type ModelFolderConfig } from '../../src/models/config.js';
import { saveModelFolder, type Weights } from '../../src/train/checkpoint.js';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const BIN = path.join(ROOT, 'bin', 'bsa-tnp.js');

/** A small 2-D GP model (2 blocks, width 16): fast on the CPU, same structure as the paper's. */
export const SMALL_MODEL: ModelConfig = parseConfig({
  blocks: 2, embedDim: 16, heads: 2, headDim: 8, obsEmbedDim: 4,
  inputMlp: [32, 16], ffn: [32, 16], headHidden: [32], tile: { queries: 64, keys: 64 },
});

/** Stored statistics: users give raw values, the model sees z-scores. */
export const NORMALIZATION = {
  s0: { mean: 1, std: 2 },
  s1: { mean: -0.5, std: 0.5 },
  f: { mean: 3, std: 4 },
};

const made: string[] = [];

/** A fresh temporary folder, removed by `removeTempDirs()`. */
export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `bsa-tnp-${prefix}-`));
  made.push(dir);
  return dir;
}

/** Removes every folder `tempDir` made in this test file (call from afterAll). */
export function removeTempDirs(): void {
  for (const d of made.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

/**
 * Writes a randomly initialised model folder. `training` (optional) is recorded in config.json
 * (the demo reads its task from there).
 */
export async function writeRandomModel(folder: string, seed = 1, extra: { model?: ModelConfig; training?: unknown; normalization?: unknown } = {}): Promise<ModelFolderConfig> {
  const model = extra.model ?? SMALL_MODEL;
  const json = {
    formatVersion: MODEL_FOLDER_FORMAT_VERSION,
    model,
    data: { normalization: extra.normalization ?? NORMALIZATION },
    training: extra.training ?? null,
  };
  const config = parseModelFolderConfig(JSON.parse(JSON.stringify(json)));
  const specs = new BsaTnp(model).specs(Rng.fromSeed(seed));
  const weights: Weights = new Map(specs.map((s) => [s.name, { shape: [...s.shape], data: s.init }]));
  await saveModelFolder(folder, config, weights);
  return config;
}

/** Writes a CSV file from a header and rows (numbers or raw strings). */
export function writeCsvText(file: string, header: readonly string[], rows: readonly (readonly (number | string)[])[]): void {
  fs.writeFileSync(file, `${header.join(',')}\n${rows.map((r) => r.join(',')).join('\n')}\n`);
}

/** Random 2-D context points in data units: s in a box, f a smooth function plus noise. */
export function randomContext(n: number, seed = 3): number[][] {
  const rng = Rng.fromSeed(seed);
  return Array.from({ length: n }, () => {
    const s0 = -3 + 8 * rng.uniform();
    const s1 = -1.5 + 2 * rng.uniform();
    return [s0, s1, 3 + 4 * Math.sin(s0) * Math.cos(2 * s1) + 0.1 * rng.normal()];
  });
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `node bin/bsa-tnp.js ...args` in `cwd`; stdout/stderr are pipes (JSON progress lines). */
export function runCli(args: readonly string[], cwd = ROOT, timeoutMs = 120_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, BSA_TNP_DEBUG: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`bsa-tnp ${args.join(' ')}: timed out after ${timeoutMs} ms\n${stderr}`)); }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

/** Files in a folder, including hidden temporaries (to assert that nothing partial is left). */
export function listFiles(dir: string): string[] {
  return fs.readdirSync(dir).sort();
}
