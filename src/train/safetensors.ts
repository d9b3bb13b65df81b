/**
 * Hugging Face safetensors, F32 only: bytes in, bytes out (no Node built-ins; file I/O lives in
 * `safetensors-file.ts`).
 *
 * Layout (https://github.com/huggingface/safetensors, "Format"):
 *   [8 bytes] N = header length, unsigned 64-bit little-endian
 *   [N bytes] JSON header: { name: { dtype, shape, data_offsets: [begin, end] }, "__metadata__"?: {k: v} }
 *             padded with spaces so that 8 + N is a multiple of 8
 *   [rest]    tensor data, little-endian, offsets relative to the start of this section
 *
 * Reading is strict, like the reference implementation: every problem is a `SafetensorsError` that
 * names it (truncated file, header length past the end, bad JSON, offsets out of range, overlapping
 * or leaving holes, dtype other than F32, shape/size mismatch). Tensors come back in a `Map` sorted
 * by name so iteration order never depends on the writer.
 */

/** One float32 tensor: row-major `data` with `data.length === product(shape)`. */
export interface TensorF32 {
  shape: number[];
  data: Float32Array;
}

/** One header entry, as described by the file (before any data is read). */
export interface SafetensorsEntry {
  name: string;
  dtype: 'F32';
  shape: number[];
  /** Byte offsets [begin, end) relative to the start of the data section. */
  dataOffsets: [number, number];
}

export interface SafetensorsHeader {
  /** Entries sorted by name. */
  entries: SafetensorsEntry[];
  metadata: Record<string, string>;
  /** Byte length of the JSON header (N). */
  headerLength: number;
  /** Absolute byte offset of the data section: 8 + N. */
  dataStart: number;
  /** Bytes the data section must hold (max end offset). */
  dataLength: number;
}

export interface SafetensorsContents {
  tensors: Map<string, TensorF32>;
  metadata: Record<string, string>;
}

/** Any problem reading or writing safetensors bytes. */
export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}

/** Same guard as the reference reader: a header over 100 MB is treated as corrupt. */
export const MAX_HEADER_BYTES = 100_000_000;
const METADATA_KEY = '__metadata__';

function fail(message: string): never {
  throw new SafetensorsError(`safetensors: ${message}`);
}

function product(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function sortedNames(names: Iterable<string>): string[] {
  // Code-unit order (not locale order) so every platform agrees.
  return [...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * Reads the 8-byte header length. Only `prefix` (at least 8 bytes) is needed, so a file reader can
 * fetch the header without loading the data.
 */
export function readHeaderLength(prefix: Uint8Array, fileSize: number): number {
  if (fileSize < 8 || prefix.length < 8) {
    fail(`truncated file: ${fileSize} bytes, need at least 8 for the header length`);
  }
  const view = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const lo = view.getUint32(0, true);
  const hi = view.getUint32(4, true);
  const n = hi * 2 ** 32 + lo;
  if (n > MAX_HEADER_BYTES) fail(`header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit (corrupt file?)`);
  if (8 + n > fileSize) fail(`header length ${n} is larger than the file (${fileSize} bytes, ${fileSize - 8} after the length field)`);
  return n;
}

function parseShape(name: string, value: unknown): number[] {
  if (!Array.isArray(value)) fail(`tensor '${name}': shape must be an array of integers, got ${JSON.stringify(value)}`);
  for (const d of value) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      fail(`tensor '${name}': shape must hold non-negative integers, got ${JSON.stringify(value)}`);
    }
  }
  return [...(value as number[])];
}

/**
 * Parses and validates the JSON header. `headerBytes` are the N bytes after the length field;
 * `fileSize` is the whole file's size (used to check that every tensor lies inside the file).
 */
export function parseHeader(headerBytes: Uint8Array, fileSize: number): SafetensorsHeader {
  const headerLength = headerBytes.length;
  const dataStart = 8 + headerLength;
  const available = fileSize - dataStart;
  if (available < 0) fail(`truncated file: header needs ${dataStart} bytes, file has ${fileSize}`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    fail('header is not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    fail(`header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    fail(`header must be a JSON object, got ${Array.isArray(json) ? 'an array' : typeof json}`);
  }
  const record = json as Record<string, unknown>;
  const metadata: Record<string, string> = {};
  const entries: SafetensorsEntry[] = [];
  for (const name of sortedNames(Object.keys(record))) {
    const value = record[name];
    if (name === METADATA_KEY) {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('__metadata__ must be an object of strings');
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`__metadata__.${k} must be a string, got ${typeof v}`);
        metadata[k] = v;
      }
      continue;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(`tensor '${name}': entry must be an object`);
    const entry = value as Record<string, unknown>;
    for (const key of Object.keys(entry)) {
      if (key !== 'dtype' && key !== 'shape' && key !== 'data_offsets') fail(`tensor '${name}': unknown field '${key}'`);
    }
    if (entry.dtype !== 'F32') {
      fail(`tensor '${name}': dtype ${JSON.stringify(entry.dtype)} is not supported (only "F32"); convert the checkpoint to float32`);
    }
    const shape = parseShape(name, entry.shape);
    const offsets = entry.data_offsets;
    if (
      !Array.isArray(offsets) || offsets.length !== 2 ||
      !offsets.every((o) => typeof o === 'number' && Number.isSafeInteger(o) && o >= 0)
    ) {
      fail(`tensor '${name}': data_offsets must be [begin, end] non-negative integers, got ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    if (end < begin) fail(`tensor '${name}': data_offsets [${begin}, ${end}] end before begin`);
    if (end > available) {
      fail(`tensor '${name}': data_offsets [${begin}, ${end}] out of range (data section has ${available} bytes; truncated file?)`);
    }
    const expected = product(shape) * 4;
    if (end - begin !== expected) {
      fail(`tensor '${name}': shape [${shape.join(', ')}] needs ${expected} bytes of F32, data_offsets [${begin}, ${end}] span ${end - begin}`);
    }
    entries.push({ name, dtype: 'F32', shape, dataOffsets: [begin, end] });
  }
  // Offsets must tile the data section exactly: no overlap, no holes (the reference rejects both).
  const byOffset = [...entries].sort((a, b) => a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1]);
  let cursor = 0;
  let previous = '';
  for (const e of byOffset) {
    const [begin, end] = e.dataOffsets;
    if (begin < cursor) fail(`tensors '${previous}' and '${e.name}' overlap (byte ${begin} < ${cursor})`);
    if (begin > cursor) fail(`hole in data section before tensor '${e.name}' (bytes ${cursor}..${begin} unused)`);
    cursor = end;
    previous = e.name;
  }
  return { entries, metadata, headerLength, dataStart, dataLength: cursor };
}

/** Reads a header from a complete file image. */
export function decodeSafetensorsHeader(bytes: Uint8Array): SafetensorsHeader {
  const n = readHeaderLength(bytes, bytes.length);
  return parseHeader(bytes.subarray(8, 8 + n), bytes.length);
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function readF32(bytes: Uint8Array, start: number, count: number): Float32Array {
  const out = new Float32Array(count);
  if (LITTLE_ENDIAN_HOST) {
    // Copy, because the data may not be 4-byte aligned inside `bytes`.
    new Uint8Array(out.buffer).set(bytes.subarray(start, start + count * 4));
  } else {
    const view = new DataView(bytes.buffer, bytes.byteOffset + start, count * 4);
    for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
  }
  return out;
}

/**
 * Decodes a whole safetensors file image.
 *
 * **Returns** tensors sorted by name and the `__metadata__` map (empty when absent).
 * Trailing bytes after the last tensor are rejected (`safetensors: N trailing bytes ...`).
 */
export function decodeSafetensors(bytes: Uint8Array): SafetensorsContents {
  const header = decodeSafetensorsHeader(bytes);
  const trailing = bytes.length - header.dataStart - header.dataLength;
  if (trailing !== 0) fail(`${trailing} trailing bytes after the last tensor (file has ${bytes.length} bytes)`);
  const tensors = new Map<string, TensorF32>();
  for (const e of header.entries) {
    const count = (e.dataOffsets[1] - e.dataOffsets[0]) / 4;
    tensors.set(e.name, { shape: [...e.shape], data: readF32(bytes, header.dataStart + e.dataOffsets[0], count) });
  }
  return { tensors, metadata: header.metadata };
}

/**
 * Encodes tensors (any iteration order; written sorted by name) and optional string metadata.
 * Throws `SafetensorsError` when a tensor's data length does not match its shape or a name is
 * empty or reserved.
 */
export function encodeSafetensors(
  tensors: ReadonlyMap<string, TensorF32> | Readonly<Record<string, TensorF32>>,
  metadata: Readonly<Record<string, string>> = {},
): Uint8Array {
  const map: ReadonlyMap<string, TensorF32> =
    tensors instanceof Map ? tensors : new Map(Object.entries(tensors as Record<string, TensorF32>));
  const header: Record<string, unknown> = {};
  const metaKeys = Object.keys(metadata);
  if (metaKeys.length > 0) {
    const meta: Record<string, string> = {};
    for (const k of sortedNames(metaKeys)) {
      const v = metadata[k];
      if (typeof v !== 'string') fail(`metadata '${k}' must be a string, got ${typeof v}`);
      meta[k] = v;
    }
    header[METADATA_KEY] = meta;
  }
  const names = sortedNames(map.keys());
  let offset = 0;
  for (const name of names) {
    if (name.length === 0) fail('tensor name must not be empty');
    if (name === METADATA_KEY) fail(`tensor name '${METADATA_KEY}' is reserved`);
    const t = map.get(name)!;
    for (const d of t.shape) {
      if (!Number.isSafeInteger(d) || d < 0) fail(`tensor '${name}': bad shape [${t.shape.join(', ')}]`);
    }
    const n = product(t.shape);
    if (!(t.data instanceof Float32Array)) fail(`tensor '${name}': data must be a Float32Array`);
    if (t.data.length !== n) fail(`tensor '${name}': shape [${t.shape.join(', ')}] has ${n} elements, data has ${t.data.length}`);
    header[name] = { dtype: 'F32', shape: [...t.shape], data_offsets: [offset, offset + n * 4] };
    offset += n * 4;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil((8 + json.length) / 8) * 8 - 8;
  const headerBytes = new Uint8Array(padded).fill(0x20);
  headerBytes.set(json);
  json = headerBytes;
  const out = new Uint8Array(8 + json.length + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, json.length % 2 ** 32, true);
  view.setUint32(4, Math.floor(json.length / 2 ** 32), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const name of names) {
    const data = map.get(name)!.data;
    if (LITTLE_ENDIAN_HOST) {
      out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), at);
    } else {
      const dv = new DataView(out.buffer, at, data.byteLength);
      for (let i = 0; i < data.length; i++) dv.setFloat32(i * 4, data[i]!, true);
    }
    at += data.byteLength;
  }
  return out;
}
