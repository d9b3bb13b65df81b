import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { recoverFolder, writeFileAtomic, writeFolderAtomic } from '../../src/train/atomic.js';
import { readSafetensorsFile } from '../../src/train/safetensors-file.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const child = path.join(here, 'fixtures', 'slow-checkpoint-writer.ts');

let dir: string;
beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atomic-')); });
afterEach(() => { fs.rmSync(dir, { recursive: true, force: true }); });

/** Runs the writer child; when `killOn` appears on its stdout, SIGKILLs it. Resolves with how it ended. */
function runWriter(folder: string, gen: number, phase: string, killOn?: string): Promise<{ code: number | null; signal: string | null; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', child, folder, String(gen), phase], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (killOn !== undefined && out.includes(killOn)) p.kill('SIGKILL');
    });
    p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    p.on('error', reject);
    p.on('close', (code, signal) => (code !== 0 && signal === null ? reject(new Error(err)) : resolve({ code, signal, out })));
  });
}

function checkGeneration(folder: string, gen: number): void {
  expect(JSON.parse(fs.readFileSync(path.join(folder, 'config.json'), 'utf8'))).toEqual({ gen });
  const files = fs.readdirSync(folder).filter((f) => f.endsWith('.safetensors'));
  expect(files).toHaveLength(20);
  for (const f of files) {
    const w = readSafetensorsFile(path.join(folder, f)).tensors.get('w')!;
    expect(w.data.every((v) => v === gen)).toBe(true);
  }
}

describe('writeFileAtomic', () => {
  it('replaces the file and leaves no temp files', () => {
    const file = path.join(dir, 'a.json');
    writeFileAtomic(file, 'one');
    writeFileAtomic(file, new TextEncoder().encode('two'));
    expect(fs.readFileSync(file, 'utf8')).toBe('two');
    expect(fs.readdirSync(dir)).toEqual(['a.json']);
  });
});

describe('writeFolderAtomic', () => {
  it('replaces a folder; a failing fill leaves the old one', async () => {
    const folder = path.join(dir, 'ckpt');
    await writeFolderAtomic(folder, (tmp) => fs.writeFileSync(path.join(tmp, 'x'), '1'));
    await writeFolderAtomic(folder, (tmp) => fs.writeFileSync(path.join(tmp, 'y'), '2'));
    expect(fs.readdirSync(folder)).toEqual(['y']);
    await expect(writeFolderAtomic(folder, () => { throw new Error('disk full'); })).rejects.toThrow('disk full');
    expect(fs.readdirSync(folder)).toEqual(['y']);
    expect(fs.readdirSync(dir)).toEqual(['ckpt']);
  });

  it('recoverFolder handles each crash state', () => {
    const folder = path.join(dir, 'ckpt');
    expect(recoverFolder(folder)).toBe('missing');
    fs.mkdirSync(`${folder}.old`);
    expect(recoverFolder(folder)).toBe('recovered');
    expect(fs.existsSync(folder)).toBe(true);
    fs.mkdirSync(`${folder}.old`);
    expect(recoverFolder(folder)).toBe('ok');
    expect(fs.existsSync(`${folder}.old`)).toBe(false);
    // A temp folder of a dead process (pid 2^22 + 12345 is above Linux's pid_max default) is removed.
    fs.mkdirSync(`${folder}.tmp-4206649`);
    fs.mkdirSync(`${folder}.tmp-4206649-3`);
    fs.mkdirSync(`${folder}.tmp-${process.pid}`);
    recoverFolder(folder);
    expect(fs.readdirSync(dir).sort()).toEqual(['ckpt', `ckpt.tmp-${process.pid}`]);
  });

  it('SIGKILL while writing files keeps the previous checkpoint intact', async () => {
    const folder = path.join(dir, 'ckpt');
    expect((await runWriter(folder, 1, 'none')).out).toContain('done');
    checkGeneration(folder, 1);
    const killed = await runWriter(folder, 2, 'files', 'writing-files');
    expect(killed.signal).toBe('SIGKILL');
    expect(fs.readdirSync(dir).some((f) => f.startsWith('ckpt.tmp-'))).toBe(true);
    expect(recoverFolder(folder)).toBe('ok');
    checkGeneration(folder, 1);
    expect(fs.readdirSync(dir)).toEqual(['ckpt']);
    // The next write succeeds.
    await runWriter(folder, 3, 'none');
    checkGeneration(folder, 3);
  });

  it('SIGKILL between the two renames is recovered from name.old', async () => {
    const folder = path.join(dir, 'ckpt');
    await runWriter(folder, 1, 'none');
    const killed = await runWriter(folder, 2, 'midswap', 'mid-swap');
    expect(killed.signal).toBe('SIGKILL');
    expect(fs.existsSync(folder)).toBe(false);
    expect(recoverFolder(folder)).toBe('recovered');
    checkGeneration(folder, 1);
    expect(fs.readdirSync(dir)).toEqual(['ckpt']);
  });
});
