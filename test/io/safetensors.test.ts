import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  SafetensorsError,
  type TensorF32,
  decodeSafetensors,
  decodeSafetensorsHeader,
  encodeSafetensors,
} from '../../src/train/safetensors.js';
import { readSafetensorsFile, readSafetensorsHeaderFile, writeSafetensorsFile } from '../../src/train/safetensors-file.js';

function t(shape: number[], values?: number[]): TensorF32 {
  const n = shape.reduce((a, b) => a * b, 1);
  return { shape, data: Float32Array.from(values ?? Array.from({ length: n }, (_, i) => i * 0.5 - 1)) };
}

/** Builds a file from a raw header object and data bytes (for corruption cases). */
function raw(header: unknown, data: Uint8Array, pad = true): Uint8Array {
  let json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  if (pad) {
    const len = Math.ceil((8 + json.length) / 8) * 8 - 8;
    const p = new Uint8Array(len).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

describe('safetensors round trip', () => {
  it('writes and reads tensors, metadata, scalars and empty tensors, sorted by name', () => {
    const tensors = new Map<string, TensorF32>([
      ['z.weight', t([3, 2])],
      ['a.bias', t([2], [Math.PI, -0])],
      ['scalar', t([], [42])],
      ['empty', t([0, 5], [])],
      ['special', t([4], [Infinity, -Infinity, NaN, 1e-45])],
    ]);
    const bytes = encodeSafetensors(tensors, { format: 'pt', step: '100' });
    // Header padded to 8-byte alignment.
    const n = new DataView(bytes.buffer).getUint32(0, true);
    expect((8 + n) % 8).toBe(0);
    const { tensors: back, metadata } = decodeSafetensors(bytes);
    expect([...back.keys()]).toEqual(['a.bias', 'empty', 'scalar', 'special', 'z.weight']);
    expect(metadata).toEqual({ format: 'pt', step: '100' });
    for (const [name, v] of tensors) {
      expect(back.get(name)!.shape).toEqual(v.shape);
      expect(Array.from(back.get(name)!.data)).toEqual(Array.from(v.data));
    }
    expect(Object.is(back.get('a.bias')!.data[1], -0)).toBe(true);
  });

  it('accepts a plain record and reads unaligned data', () => {
    const bytes = encodeSafetensors({ w: t([3]) });
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    const back = decodeSafetensors(shifted.subarray(1));
    expect(Array.from(back.tensors.get('w')!.data)).toEqual([-1, -0.5, 0]);
  });

  it('matches the byte layout of the reference writer', () => {
    // Header text as written by huggingface safetensors for {"x": [1, 2] float32} (keys sorted, compact).
    const bytes = encodeSafetensors({ x: t([2], [1, 2]) });
    const n = new DataView(bytes.buffer).getUint32(0, true);
    const header = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    expect(header.trimEnd()).toBe('{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}');
    expect(Array.from(bytes.subarray(8 + n))).toEqual([0, 0, 0x80, 0x3f, 0, 0, 0, 0x40]);
  });

  it('reads a header without data and round-trips through files', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'st-'));
    const file = path.join(dir, 'model.safetensors');
    writeSafetensorsFile(file, { b: t([2, 2]), a: t([1]) }, { note: 'x' });
    const header = readSafetensorsHeaderFile(file);
    expect(header.entries.map((e) => [e.name, e.shape])).toEqual([['a', [1]], ['b', [2, 2]]]);
    expect(header.metadata).toEqual({ note: 'x' });
    expect(readSafetensorsFile(file).tensors.get('b')!.data.length).toBe(4);
    expect(fs.readdirSync(dir)).toEqual(['model.safetensors']);
    fs.writeFileSync(file, fs.readFileSync(file).subarray(0, 30));
    expect(() => readSafetensorsHeaderFile(file)).toThrow(/model\.safetensors: safetensors: header length \d+ is larger than the file/);
    fs.rmSync(dir, { recursive: true });
  });

  it('rejects bad input on write', () => {
    expect(() => encodeSafetensors({ w: { shape: [2, 2], data: new Float32Array(3) } })).toThrow(
      /tensor 'w': shape \[2, 2\] has 4 elements, data has 3/,
    );
    expect(() => encodeSafetensors({ __metadata__: t([1]) })).toThrow(/reserved/);
  });
});

describe('safetensors corruption', () => {
  const good = encodeSafetensors({ a: t([2]), b: t([3]) });
  const four = new Uint8Array(8);
  const cases: [string, Uint8Array, RegExp][] = [
    ['empty file', new Uint8Array(0), /truncated file: 0 bytes, need at least 8/],
    ['short length field', new Uint8Array(5), /truncated file: 5 bytes/],
    ['header length past the end', good.subarray(0, 20), /header length \d+ is larger than the file \(20 bytes/],
    ['huge header length', (() => { const b = new Uint8Array(16); new DataView(b.buffer).setUint32(4, 1, true); return b; })(), /exceeds the 100000000-byte limit/],
    ['truncated data', good.subarray(0, good.length - 4), /tensor 'b': data_offsets \[8, 20\] out of range \(data section has 16 bytes; truncated file\?\)/],
    ['bad JSON', raw('{"a": {', four), /header is not valid JSON/],
    ['non-object header', raw('[1,2]', four), /header must be a JSON object, got an array/],
    ['dtype F16', raw({ a: { dtype: 'F16', shape: [2], data_offsets: [0, 4] } }, new Uint8Array(4)), /tensor 'a': dtype "F16" is not supported \(only "F32"\)/],
    ['shape/size mismatch', raw({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, four), /tensor 'a': shape \[3\] needs 12 bytes of F32, data_offsets \[0, 8\] span 8/],
    ['negative shape', raw({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 8] } }, four), /shape must hold non-negative integers/],
    ['offsets out of range', raw({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, four), /tensor 'a': data_offsets \[0, 16\] out of range/],
    ['offsets reversed', raw({ a: { dtype: 'F32', shape: [0], data_offsets: [8, 4] } }, four), /end before begin/],
    ['offsets malformed', raw({ a: { dtype: 'F32', shape: [2], data_offsets: [0] } }, four), /data_offsets must be \[begin, end\]/],
    ['overlap', raw({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, four), /tensors 'a' and 'b' overlap/],
    ['hole', raw({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, four), /hole in data section before tensor 'a' \(bytes 0\.\.4 unused\)/],
    ['trailing bytes', raw({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, four), /4 trailing bytes after the last tensor/],
    ['bad metadata', raw({ __metadata__: { step: 5 } }, new Uint8Array(0)), /__metadata__\.step must be a string, got number/],
    ['unknown entry field', raw({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8], extra: 1 } }, four), /tensor 'a': unknown field 'extra'/],
    ['invalid UTF-8', raw('{"\xff"}', four).map((b, i) => (i === 10 ? 0xff : b)), /header is not valid UTF-8/],
  ];
  for (const [name, bytes, message] of cases) {
    it(name, () => {
      let error: unknown;
      try {
        decodeSafetensors(bytes);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(SafetensorsError);
      expect((error as Error).message).toMatch(/^safetensors: /);
      expect((error as Error).message).toMatch(message);
    });
  }
  it('header-only reader accepts a good file', () => {
    expect(decodeSafetensorsHeader(good).entries.map((e) => e.name)).toEqual(['a', 'b']);
  });
});
