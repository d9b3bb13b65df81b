/**
 * A text file written piece by piece into `.<name>.tmp-<pid>-<n>` beside the target, buffered
 * (about 1 MiB per write); `close()` fsyncs and renames it into place, `abort()` deletes it. Until
 * `close()` succeeds the target is untouched, so an error or Ctrl-C never leaves partial output.
 * The CSV and GeoJSON writers stream through it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fsyncDir } from '../train/atomic.js';

let tmpCounter = 0;

export class AtomicTextFile {
  private buffer: string[] = [];
  private buffered = 0;
  private done = false;

  private constructor(readonly file: string, private readonly tmp: string, private readonly fd: number) {}

  /** Opens the temporary file beside `file` (its folder must exist). */
  static open(file: string): AtomicTextFile {
    const abs = path.resolve(file);
    const tmp = path.join(path.dirname(abs), `.${path.basename(abs)}.tmp-${process.pid}-${tmpCounter++}`);
    return new AtomicTextFile(abs, tmp, fs.openSync(tmp, 'w'));
  }

  /** True once `close()` or `abort()` has run. */
  get closed(): boolean {
    return this.done;
  }

  push(text: string): void {
    this.buffer.push(text);
    this.buffered += text.length;
    if (this.buffered > 1 << 20) this.flush();
  }

  private flush(): void {
    if (this.buffer.length === 0) return;
    fs.writeSync(this.fd, this.buffer.join(''));
    this.buffer = [];
    this.buffered = 0;
  }

  /** Writes what is buffered, fsyncs, and renames into place (on a write error: aborts, rethrows). */
  close(): void {
    if (this.done) return;
    try {
      this.flush();
      fs.fsyncSync(this.fd);
    } catch (e) {
      this.abort();
      throw e;
    }
    fs.closeSync(this.fd);
    this.done = true;
    fs.renameSync(this.tmp, this.file);
    fsyncDir(path.dirname(this.file));
  }

  /** Discards everything written; the target file is left as it was. */
  abort(): void {
    if (this.done) return;
    this.done = true;
    try {
      fs.closeSync(this.fd);
    } finally {
      fs.rmSync(this.tmp, { force: true });
    }
  }
}
