/**
 * File I/O for safetensors (Node only); the format itself is in `safetensors.ts`.
 * Errors name the file: "model.safetensors: safetensors: header is not valid JSON (...)".
 */
import * as fs from 'node:fs';
import { writeFileAtomic } from './atomic.js';
import {
  type SafetensorsContents,
  type SafetensorsHeader,
  SafetensorsError,
  type TensorF32,
  decodeSafetensors,
  encodeSafetensors,
  parseHeader,
  readHeaderLength,
} from './safetensors.js';

function withPath<T>(file: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof SafetensorsError) throw new SafetensorsError(`${file}: ${e.message}`);
    throw e;
  }
}

/** Reads and validates a whole safetensors file. */
export function readSafetensorsFile(file: string): SafetensorsContents {
  const bytes = fs.readFileSync(file);
  return withPath(file, () => decodeSafetensors(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)));
}

/**
 * Reads only the header (entries, metadata), without loading tensor data; checks that every
 * tensor lies inside the file and that the file has no trailing bytes.
 */
export function readSafetensorsHeaderFile(file: string): SafetensorsHeader {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const prefix = new Uint8Array(8);
    fs.readSync(fd, prefix, 0, Math.min(8, size), 0);
    return withPath(file, () => {
      const n = readHeaderLength(prefix, size);
      const headerBytes = new Uint8Array(n);
      fs.readSync(fd, headerBytes, 0, n, 8);
      const header = parseHeader(headerBytes, size);
      const trailing = size - header.dataStart - header.dataLength;
      if (trailing !== 0) throw new SafetensorsError(`safetensors: ${trailing} trailing bytes after the last tensor (file has ${size} bytes)`);
      return header;
    });
  } finally {
    fs.closeSync(fd);
  }
}

/** Writes tensors atomically (temp file + fsync + rename). */
export function writeSafetensorsFile(
  file: string,
  tensors: ReadonlyMap<string, TensorF32> | Readonly<Record<string, TensorF32>>,
  metadata: Readonly<Record<string, string>> = {},
): void {
  writeFileAtomic(file, encodeSafetensors(tensors, metadata));
}
