/**
 * Crash-safe writes (Node only).
 *
 * Files: write `dir/.name.tmp-<pid>-<n>`, fsync it, rename over `name`, fsync the directory. A
 * reader sees either the old file or the new one, never a partial file (POSIX rename is atomic
 * within one file system, which is why the temp file sits in the same directory).
 *
 * Folders (checkpoints, model folders): write every file into `name.tmp-<pid>-<n>`, fsync each file
 * and the folder, then swap:
 *   1. rename `name` -> `name.old`   (only if `name` exists)
 *   2. rename `name.tmp-<pid>-<n>` -> `name`
 *   3. delete `name.old`
 * A crash at any point leaves one complete folder: before 1, `name` is the old one; between 1 and
 * 2, only `name.old` exists and `recoverFolder` renames it back; after 2, `name` is the new one
 * and a stale `name.old` is deleted on the next write or recovery. Stale temp folders
 * (`name.tmp-<pid>-<n>`) of dead processes are removed by `recoverFolder`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

let counter = 0;

function fsyncPath(p: string, flags: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(p, flags);
    fs.fsyncSync(fd);
  } catch (e) {
    // Some platforms (Windows) cannot open or fsync a directory; the rename is still atomic there.
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EACCES') throw e;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** fsyncs a directory so that renames inside it are durable. */
export function fsyncDir(dir: string): void {
  fsyncPath(dir, 'r');
}

/**
 * Writes `data` to `file` atomically: temp file in the same directory, fsync, rename, fsync dir.
 * On error the temp file is removed and `file` is untouched.
 */
export function writeFileAtomic(file: string, data: Uint8Array | string): void {
  const dir = path.dirname(path.resolve(file));
  const tmp = path.join(dir, `.${path.basename(file)}.tmp-${process.pid}-${counter++}`);
  try {
    const fd = fs.openSync(tmp, 'w');
    try {
      fs.writeFileSync(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fsyncDir(dir);
}

function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export type RecoverResult = 'ok' | 'recovered' | 'missing';

/**
 * Brings `folder` back to a consistent state after a crash and says what it found:
 * `'ok'` (folder present; a stale `.old` beside it is deleted), `'recovered'` (`folder` was
 * missing, `folder.old` renamed back) or `'missing'` (neither exists). Temp folders
 * `folder.tmp-<pid>[-<n>]` whose process is gone are deleted. Call it before loading a checkpoint.
 */
export function recoverFolder(folder: string): RecoverResult {
  const abs = path.resolve(folder);
  const parent = path.dirname(abs);
  const base = path.basename(abs);
  const old = `${abs}.old`;
  let result: RecoverResult;
  if (fs.existsSync(abs)) {
    if (fs.existsSync(old)) fs.rmSync(old, { recursive: true, force: true });
    result = 'ok';
  } else if (fs.existsSync(old)) {
    fs.renameSync(old, abs);
    fsyncDir(parent);
    result = 'recovered';
  } else {
    result = 'missing';
  }
  if (fs.existsSync(parent)) {
    const prefix = `${base}.tmp-`;
    for (const entry of fs.readdirSync(parent)) {
      if (!entry.startsWith(prefix)) continue;
      const pid = Number(entry.slice(prefix.length).split('-')[0]);
      if (Number.isInteger(pid) && pid > 0 && !isAlive(pid)) {
        fs.rmSync(path.join(parent, entry), { recursive: true, force: true });
      }
    }
  }
  return result;
}

function fsyncTree(dir: string): void {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) fsyncTree(p);
    else if (entry.isFile()) fsyncPath(p, 'r+');
  }
  fsyncDir(dir);
}

/** Test hooks: called at the named points of a folder write (used by the crash test). */
export interface FolderWriteHooks {
  /** After all files are written and synced, before `name` is renamed to `name.old`. */
  beforeSwap?: () => void | Promise<void>;
  /** Between the two renames: only `name.old` exists. */
  midSwap?: () => void | Promise<void>;
}

/**
 * Writes a folder atomically. `fill(tmpDir)` writes the folder's files into `tmpDir` (plain
 * `fs.writeFileSync` is fine: everything is fsynced afterwards). If `fill` throws, the temp folder
 * is deleted and `folder` is untouched.
 *
 * **Returns** the absolute path of the written folder.
 */
export async function writeFolderAtomic(
  folder: string,
  fill: (tmpDir: string) => void | Promise<void>,
  hooks: FolderWriteHooks = {},
): Promise<string> {
  const abs = path.resolve(folder);
  const parent = path.dirname(abs);
  fs.mkdirSync(parent, { recursive: true });
  recoverFolder(abs);
  const tmp = `${abs}.tmp-${process.pid}-${counter++}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp);
  try {
    await fill(tmp);
    fsyncTree(tmp);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  await hooks.beforeSwap?.();
  const old = `${abs}.old`;
  const hadOld = fs.existsSync(abs);
  if (hadOld) fs.renameSync(abs, old);
  await hooks.midSwap?.();
  fs.renameSync(tmp, abs);
  fsyncDir(parent);
  if (hadOld) fs.rmSync(old, { recursive: true, force: true });
  return abs;
}
