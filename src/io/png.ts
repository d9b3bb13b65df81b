/**
 * PNG output for `predict` and `demo` (Node only): images are encoded by the `pngjs` package.
 *
 * `renderField` maps a [H, W] float field through a colour map (no colour bar; png-maps.ts adds
 * axes, a colour bar and labels) and can mark points; `encodePng` writes 8-bit RGB or RGBA with
 * filter type 0 on every row (the maps compress well without filtering, and files stay simple
 * for independent decoders).
 */
import { PNG } from 'pngjs';
import { writeFileAtomic } from '../train/atomic.js';
import { colorAt, type ColorMapName, type Rgb } from './colormap.js';

// The colour maps moved to colormap.ts (no Node built-ins, so the web page shares them).
export { colorAt, type ColorMapName } from './colormap.js';

export interface Image {
  width: number;
  height: number;
  /** 3 (RGB) or 4 (RGBA) bytes per pixel. */
  channels: 3 | 4;
  /** Row-major, top row first: `height·width·channels` bytes. */
  data: Uint8Array;
}

export const PNG_SIGNATURE = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Encodes an 8-bit RGB/RGBA image as PNG bytes. */
export function encodePng(image: Image): Uint8Array {
  const { width, height, channels, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(`encodePng: expected positive integer width and height, got ${width}x${height}`);
  }
  if (data.length !== width * height * channels) {
    throw new Error(`encodePng: expected ${width * height * channels} bytes for ${width}x${height}x${channels}, got ${data.length}`);
  }
  const png = new PNG({ width, height, colorType: channels === 3 ? 2 : 6, inputColorType: channels === 3 ? 2 : 6, inputHasAlpha: channels === 4 });
  png.data = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const out = PNG.sync.write(png, { colorType: channels === 3 ? 2 : 6, inputColorType: channels === 3 ? 2 : 6, inputHasAlpha: channels === 4, filterType: 0 });
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** Writes a PNG file atomically. */
export function writePng(file: string, image: Image): void {
  writeFileAtomic(file, encodePng(image));
}

export interface Marker {
  /** Fractional grid column and row of the point (see `gridCell` in grid.ts). */
  col: number;
  row: number;
}

export interface RenderOptions {
  cmap?: ColorMapName;
  /** Colour range; default: min and max of the finite values. */
  vmin?: number;
  vmax?: number;
  /** 'lower' (default): field row 0 is the bottom image row (y ascending, like grid.ts). */
  origin?: 'lower' | 'upper';
  /** Integer upscaling: each cell becomes scale×scale pixels (default 1). */
  scale?: number;
  markers?: readonly Marker[];
  /** Disc colour of markers (default white), drawn with a black outline. */
  markerColor?: Rgb;
  /** Disc radius in pixels (default 2). */
  markerRadius?: number;
  /** Colour of non-finite cells (default mid grey). */
  nanColor?: Rgb;
}

/**
 * Renders a [height, width] float field (row-major) to an RGB image.
 *
 * **Returns** an `Image` of `width·scale × height·scale` pixels.
 */
export function renderField(field: ArrayLike<number>, height: number, width: number, options: RenderOptions = {}): Image {
  if (field.length !== height * width) throw new Error(`renderField: expected ${height}x${width} = ${height * width} values, got ${field.length}`);
  const scale = options.scale ?? 1;
  if (!Number.isInteger(scale) || scale < 1) throw new Error(`renderField: scale must be a positive integer, got ${scale}`);
  let lo = options.vmin ?? Infinity;
  let hi = options.vmax ?? -Infinity;
  if (options.vmin === undefined || options.vmax === undefined) {
    for (let i = 0; i < field.length; i++) {
      const v = field[i]!;
      if (!Number.isFinite(v)) continue;
      if (options.vmin === undefined && v < lo) lo = v;
      if (options.vmax === undefined && v > hi) hi = v;
    }
  }
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) [lo, hi] = [0, 1];
  const span = hi > lo ? hi - lo : 1;
  const cmap = options.cmap ?? 'viridis';
  const nan = options.nanColor ?? [128, 128, 128];
  const W = width * scale;
  const H = height * scale;
  const data = new Uint8Array(W * H * 3);
  const flip = (options.origin ?? 'lower') === 'lower';
  for (let r = 0; r < height; r++) {
    const imageRow = flip ? height - 1 - r : r;
    for (let c = 0; c < width; c++) {
      const v = field[r * width + c]!;
      const rgb = Number.isFinite(v) ? colorAt(cmap, (v - lo) / span) : nan;
      for (let dy = 0; dy < scale; dy++) {
        let p = ((imageRow * scale + dy) * W + c * scale) * 3;
        for (let dx = 0; dx < scale; dx++, p += 3) {
          data[p] = rgb[0];
          data[p + 1] = rgb[1];
          data[p + 2] = rgb[2];
        }
      }
    }
  }
  const radius = options.markerRadius ?? 2;
  const fill = options.markerColor ?? [255, 255, 255];
  for (const m of options.markers ?? []) {
    const cx = (m.col + 0.5) * scale;
    const cy = ((flip ? height - 1 - m.row : m.row) + 0.5) * scale;
    const outer = radius + 1;
    for (let y = Math.floor(cy - outer); y <= Math.ceil(cy + outer); y++) {
      for (let x = Math.floor(cx - outer); x <= Math.ceil(cx + outer); x++) {
        if (x < 0 || y < 0 || x >= W || y >= H) continue;
        const d = Math.hypot(x + 0.5 - cx, y + 0.5 - cy);
        if (d > outer) continue;
        const rgb = d <= radius ? fill : [0, 0, 0];
        const p = (y * W + x) * 3;
        data[p] = rgb[0]!;
        data[p + 1] = rgb[1]!;
        data[p + 2] = rgb[2]!;
      }
    }
  }
  return { width: W, height: H, channels: 3, data };
}
