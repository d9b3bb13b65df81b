import { describe, expect, it } from 'vitest';
import { inflateSync } from 'node:zlib';
import { PNG_SIGNATURE, colorAt, encodePng, renderField } from '../../src/io/png.js';

// CRC-32 (ISO 3309 / PNG spec, bitwise form) for checking chunk CRCs independently of the encoder.
function crc32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) {
    c ^= bytes[i]!;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

interface Decoded { width: number; height: number; bitDepth: number; colorType: number; interlace: number; pixels: Uint8Array; types: string[] }

/** Minimal strict PNG decoder for filter-0 images: checks signature, chunk CRCs and structure. */
function decodePng(bytes: Uint8Array): Decoded {
  expect(Array.from(bytes.subarray(0, 8))).toEqual(Array.from(PNG_SIGNATURE));
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 8;
  const types: string[] = [];
  const idat: Uint8Array[] = [];
  let ihdr: Uint8Array | undefined;
  while (at < bytes.length) {
    const len = view.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    const data = bytes.subarray(at + 8, at + 8 + len);
    const crc = view.getUint32(at + 8 + len);
    expect(crc, `CRC of ${type}`).toBe(crc32(bytes, at + 4, at + 8 + len));
    types.push(type);
    if (type === 'IHDR') ihdr = data;
    if (type === 'IDAT') idat.push(data);
    at += 12 + len;
  }
  expect(at).toBe(bytes.length);
  expect(types[0]).toBe('IHDR');
  expect(types.at(-1)).toBe('IEND');
  const h = new DataView(ihdr!.buffer, ihdr!.byteOffset, 13);
  const width = h.getUint32(0);
  const height = h.getUint32(4);
  const channels = ihdr![9] === 2 ? 3 : 4;
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  expect(raw.length).toBe(height * (stride + 1));
  const pixels = new Uint8Array(height * stride);
  for (let r = 0; r < height; r++) {
    expect(raw[r * (stride + 1)]).toBe(0);
    pixels.set(raw.subarray(r * (stride + 1) + 1, (r + 1) * (stride + 1)), r * stride);
  }
  return { width, height, bitDepth: ihdr![8]!, colorType: ihdr![9]!, interlace: ihdr![12]!, pixels, types };
}

describe('PNG encoder', () => {
  it('crc32 matches the standard check value', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
  });

  it('encodes RGB and RGBA images that decode back to the same pixels', () => {
    for (const channels of [3, 4] as const) {
      const width = 7;
      const height = 5;
      const data = Uint8Array.from({ length: width * height * channels }, (_, i) => (i * 37) & 255);
      const d = decodePng(encodePng({ width, height, channels, data }));
      expect(d).toMatchObject({ width, height, bitDepth: 8, colorType: channels === 3 ? 2 : 6, interlace: 0, types: ['IHDR', 'IDAT', 'IEND'] });
      expect(Array.from(d.pixels)).toEqual(Array.from(data));
    }
  });

  it('rejects bad sizes', () => {
    expect(() => encodePng({ width: 2, height: 2, channels: 3, data: new Uint8Array(11) })).toThrow('encodePng: expected 12 bytes for 2x2x3, got 11');
    expect(() => encodePng({ width: 0, height: 2, channels: 3, data: new Uint8Array(0) })).toThrow(/positive integer/);
  });
});

describe('renderField', () => {
  it('maps min..max through the colour map with origin lower', () => {
    // field rows: r0 = [0, 1], r1 = [2, 3]; origin lower puts r1 on top.
    const img = renderField([0, 1, 2, 3], 2, 2, { cmap: 'gray' });
    const px = (x: number, y: number) => Array.from(img.data.subarray((y * 2 + x) * 3, (y * 2 + x) * 3 + 3));
    expect(px(0, 1)).toEqual([0, 0, 0]);
    expect(px(1, 0)).toEqual([255, 255, 255]);
    expect(px(0, 0)).toEqual([170, 170, 170]);
    const upper = renderField([0, 1, 2, 3], 2, 2, { cmap: 'gray', origin: 'upper' });
    expect(Array.from(upper.data.subarray(0, 3))).toEqual([0, 0, 0]);
  });

  it('viridis and magma endpoints, NaN colour, clamping', () => {
    expect(colorAt('viridis', 0)).toEqual([0x44, 0x01, 0x54]);
    expect(colorAt('viridis', 1)).toEqual([0xfd, 0xe7, 0x25]);
    expect(colorAt('magma', 2)).toEqual([0xfc, 0xfd, 0xbf]);
    const img = renderField([NaN, 5], 1, 2, { vmin: 0, vmax: 10 });
    expect(Array.from(img.data.subarray(0, 3))).toEqual([128, 128, 128]);
    expect(Array.from(img.data.subarray(3, 6))).toEqual(colorAt('viridis', 0.5));
  });

  it('scales and draws markers at grid positions', () => {
    const img = renderField(new Float32Array(16), 4, 4, { scale: 4, markers: [{ col: 1, row: 0 }], markerRadius: 2, markerColor: [255, 0, 0] });
    expect(img.width).toBe(16);
    expect(img.height).toBe(16);
    // Marker centre: x = 1.5·4 = 6, y = (3 + 0.5)·4 = 14 (row 0 at the bottom).
    const at = (x: number, y: number) => Array.from(img.data.subarray((y * 16 + x) * 3, (y * 16 + x) * 3 + 3));
    expect(at(6, 14)).toEqual([255, 0, 0]);
    expect(at(6, 6)).toEqual(colorAt('viridis', 0));
    const d = decodePng(encodePng(img));
    expect(Array.from(d.pixels)).toEqual(Array.from(img.data));
  });
});
