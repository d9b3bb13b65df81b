/**
 * Map file writers: `encodeGeoTiff` (the geotiff package lays out the header, we write the strip)
 * against the geotiff package's `writeArrayBuffer` given all the samples (it converts them one
 * DataView at a time), and PNG encoding through pngjs, for square grids with 4 Float32 bands.
 * `npm run bench -- maps-io [SIDE ...]` (default 256 512); JSON lines on stdout.
 */
import { writeArrayBuffer } from 'geotiff';
import { encodeGeoTiff } from '../src/io/geotiff.js';
import { encodePng } from '../src/io/png.js';

function time(f: () => unknown, reps: number): number {
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    f();
    t.push(performance.now() - t0);
  }
  return t.sort((a, b) => a - b)[Math.floor(reps / 2)]!;
}

export async function run(args: string[]): Promise<void> {
  const sides = args.length > 0 ? args.map(Number) : [256, 512];
  for (const side of sides) {
    const n = side * side;
    const grid = { x0: 0, x1: 1, y0: 0, y1: 1, width: side, height: side };
    const bands = [0, 1, 2, 3].map((b) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 1e-3 + b)));
    const ours = time(() => encodeGeoTiff({ grid, names: ['a', 'b', 'c', 'd'], bands, crs: null }), 3);
    const interleaved = new Float32Array(4 * n);
    for (let i = 0; i < n; i++) for (let b = 0; b < 4; b++) interleaved[4 * i + b] = bands[b]![i]!;
    const pkg = time(() => writeArrayBuffer(interleaved, { width: side, height: side, ModelPixelScale: [1, 1, 0], ModelTiepoint: [0, 0, 0, 0, 0, 0] }), 1);
    const rgba = new Uint8Array(4 * n);
    for (let i = 0; i < rgba.length; i++) rgba[i] = (Math.sin(i * 1e-4) * 127 + 128) | 0;
    const png = time(() => encodePng({ width: side, height: side, channels: 4, data: rgba }), 3);
    process.stdout.write(`${JSON.stringify({ bench: 'maps-io', side, bands: 4, geotiff_ours_ms: +ours.toFixed(1), geotiff_package_writer_ms: +pkg.toFixed(1), png_pngjs_ms: +png.toFixed(1) })}\n`);
  }
}
