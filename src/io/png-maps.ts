/**
 * Map figures as PNG (Node only through png.ts): a field on a prediction grid drawn with axes and
 * coordinate ticks, a title, a colour bar with value ticks, and observation points overlaid;
 * `hconcat` puts several maps side by side (the demo's truth | mean | std figure).
 *
 * Cells are drawn as the areas of raster.ts (pixel centres = grid points), nearest-neighbour,
 * in the data's aspect ratio (clamped to 1:4 … 4:1), about 400 pixels on the longer side.
 * NaN cells (masked, or outside the shard) are light grey. Labels use the built-in 5×7 font at
 * twice its size; ticks are "nice" numbers (1, 2, 5 × 10^k).
 */
import { type ColorMapName, colorAt, encodePng } from './png.js';
import { type Canvas, GLYPH_HEIGHT, drawText, textWidth } from './font.js';
import { type GridSpec, rasterEdges } from '../api/raster.js';
import { writeFileAtomic } from '../train/atomic.js';

type Rgb = readonly [number, number, number];

const FONT = 2;
const TEXT_H = GLYPH_HEIGHT * FONT;
const INK: Rgb = [33, 33, 33];
const GRID_GREY: Rgb = [217, 217, 217];

export interface MapOptions {
  title: string;
  cmap?: ColorMapName;
  vmin?: number;
  vmax?: number;
  /** Observation points (data coordinates) drawn as white discs with a dark outline. */
  points?: { x: ArrayLike<number>; y: ArrayLike<number> };
  /** Axis titles (e.g. the coordinate column names): x under the x ticks, y above the y axis. */
  xLabel?: string;
  yLabel?: string;
  /** Radius of the point discs in pixels (default 2.2; the outline adds 1.2). */
  pointRadius?: number;
  /** Longer side of the plot area in pixels (default 400). */
  size?: number;
}

/** About `n` evenly spaced round numbers (1, 2, 5 × 10^k) covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, n = 5): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (hi <= lo) return [lo];
  const raw = (hi - lo) / Math.max(1, n);
  const p = 10 ** Math.floor(Math.log10(raw));
  // The round step whose tick count is closest to n (ties: the larger step).
  const span = hi - lo;
  const step = [10, 5, 2.5, 2, 1].map((m) => m * p).reduce((best, s) => (Math.abs(span / s - n) < Math.abs(span / best - n) ? s : best));
  const out: number[] = [];
  for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k++) out.push(k * step);
  return out;
}

/** Label for tick values spaced `step` apart, same decimals for all: "0.25", "-3", "1.0", "1.5e-4", "2.5e+5". */
export function formatTick(v: number, step: number): string {
  if (Math.abs(v) < step * 1e-9) v = 0; // no "-0.0"; zero gets the other labels' decimals
  const big = Math.max(Math.abs(v), step);
  if (big >= 1e5 || step < 1e-3) {
    if (v === 0) return '0';
    const digits = Math.max(0, Math.min(4, Math.ceil(Math.log10(Math.abs(v) / step) - 1e-9)));
    return v.toExponential(digits).replace(/\.?0+e/, 'e');
  }
  let decimals = 0;
  while (decimals < 8 && Math.abs(step * 10 ** decimals - Math.round(step * 10 ** decimals)) > 1e-6 * step * 10 ** decimals) decimals++;
  return v.toFixed(decimals);
}

function blank(width: number, height: number): Canvas {
  const data = new Uint8Array(width * height * 4).fill(255);
  return { width, height, data };
}

function put(c: Canvas, x: number, y: number, rgb: Rgb): void {
  if (x < 0 || y < 0 || x >= c.width || y >= c.height) return;
  const p = (y * c.width + x) * 4;
  c.data[p] = rgb[0];
  c.data[p + 1] = rgb[1];
  c.data[p + 2] = rgb[2];
  c.data[p + 3] = 255;
}

function rect(c: Canvas, x0: number, y0: number, w: number, h: number, rgb: Rgb): void {
  for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) put(c, x, y, rgb);
}

function frame(c: Canvas, x0: number, y0: number, w: number, h: number, rgb: Rgb): void {
  rect(c, x0 - 1, y0 - 1, w + 2, 1, rgb);
  rect(c, x0 - 1, y0 + h, w + 2, 1, rgb);
  rect(c, x0 - 1, y0 - 1, 1, h + 2, rgb);
  rect(c, x0 + w, y0 - 1, 1, h + 2, rgb);
}

function finiteRange(field: ArrayLike<number>): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < field.length; i++) {
    const v = field[i]!;
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return Number.isFinite(lo) ? [lo, hi] : [0, 1];
}

/** A rendered map and where its plot area and colour bar are (pixels), for callers and tests. */
export interface MapCanvas extends Canvas {
  plot: { x: number; y: number; width: number; height: number };
  bar: { x: number; y: number; width: number; height: number };
  range: [number, number];
}

/**
 * Draws `field` (grid rows r0..r1 of `grid`, grid.ts order, row 0 = smallest y) as a map.
 */
export function renderMap(field: ArrayLike<number>, grid: GridSpec, options: MapOptions, r0 = 0, r1 = grid.height): MapCanvas {
  const rows = r1 - r0;
  if (field.length !== rows * grid.width) throw new Error(`renderMap: expected ${rows}x${grid.width} values, got ${field.length}`);
  const e = rasterEdges(grid, r0, r1);
  const spanX = e.east - e.west;
  const spanY = e.north - e.south;
  const aspect = Math.min(4, Math.max(0.25, spanX / spanY));
  const size = options.size ?? 400;
  const plotW = Math.max(1, Math.round(aspect >= 1 ? size : size * aspect));
  const plotH = Math.max(1, Math.round(aspect >= 1 ? size / aspect : size));
  let [lo, hi] = finiteRange(field);
  if (options.vmin !== undefined) lo = options.vmin;
  if (options.vmax !== undefined) hi = options.vmax;
  if (!(hi > lo)) hi = lo + (lo === 0 ? 1 : Math.abs(lo) * 1e-6);
  const cmap = options.cmap ?? 'viridis';

  const xt = niceTicks(e.west, e.east, Math.max(2, Math.round(plotW / 90)));
  const yt = niceTicks(e.south, e.north, Math.max(2, Math.round(plotH / 55)));
  const vt = niceTicks(lo, hi, 5);
  const step = (t: number[]) => (t.length > 1 ? t[1]! - t[0]! : Math.abs(t[0] ?? 1) || 1);
  const xl = xt.map((v) => formatTick(v, step(xt)));
  const yl = yt.map((v) => formatTick(v, step(yt)));
  const vl = vt.map((v) => formatTick(v, step(vt)));

  const padL = 12 + Math.max(0, ...yl.map((s) => textWidth(s, FONT))) + 8;
  const padT = 14 + TEXT_H + 12 + (options.yLabel ? 12 : 0);
  const barGap = 18;
  const barW = 18;
  const padR = barGap + barW + 6 + Math.max(0, ...vl.map((s) => textWidth(s, FONT))) + 14;
  const padB = 8 + TEXT_H + 16 + (options.xLabel ? TEXT_H + 8 : 0);
  const canvas = blank(padL + plotW + padR, padT + plotH + padB);

  // Cells (nearest neighbour at pixel centres).
  for (let py = 0; py < plotH; py++) {
    const yv = e.north - ((py + 0.5) / plotH) * spanY;
    const r = Math.min(rows - 1, Math.max(0, Math.floor(((yv - e.south) / spanY) * rows)));
    for (let px = 0; px < plotW; px++) {
      const xv = e.west + ((px + 0.5) / plotW) * spanX;
      const c = Math.min(grid.width - 1, Math.max(0, Math.floor(((xv - e.west) / spanX) * grid.width)));
      const v = field[r * grid.width + c]!;
      put(canvas, padL + px, padT + py, Number.isFinite(v) ? colorAt(cmap, (v - lo) / (hi - lo)) : GRID_GREY);
    }
  }
  // Observation points.
  const pts = options.points;
  if (pts) {
    const rIn = options.pointRadius ?? 2.2;
    const rOut = rIn + 1.2;
    for (let i = 0; i < pts.x.length; i++) {
      const x = pts.x[i]!;
      const y = pts.y[i]!;
      if (x < e.west || x > e.east || y < e.south || y > e.north) continue;
      const cx = padL + ((x - e.west) / spanX) * plotW;
      const cy = padT + ((e.north - y) / spanY) * plotH;
      for (let yy = Math.floor(cy - rOut); yy <= Math.ceil(cy + rOut); yy++) {
        for (let xx = Math.floor(cx - rOut); xx <= Math.ceil(cx + rOut); xx++) {
          const d = Math.hypot(xx + 0.5 - cx, yy + 0.5 - cy);
          if (d <= rIn) put(canvas, xx, yy, [255, 255, 255]);
          else if (d <= rOut) put(canvas, xx, yy, [20, 20, 20]);
        }
      }
    }
  }
  frame(canvas, padL, padT, plotW, plotH, INK);
  // Axis ticks and labels.
  xt.forEach((v, i) => {
    const x = Math.round(padL + ((v - e.west) / spanX) * plotW);
    rect(canvas, x, padT + plotH + 1, 1, 5, INK);
    const s = xl[i]!;
    drawText(canvas, s, x - textWidth(s, FONT) / 2, padT + plotH + 9, FONT, INK);
  });
  yt.forEach((v, i) => {
    const y = Math.round(padT + ((e.north - v) / spanY) * plotH);
    rect(canvas, padL - 6, y, 5, 1, INK);
    const s = yl[i]!;
    drawText(canvas, s, padL - 9 - textWidth(s, FONT), y - TEXT_H / 2, FONT, INK);
  });
  if (options.xLabel) drawText(canvas, options.xLabel, padL + plotW / 2 - textWidth(options.xLabel, FONT) / 2, padT + plotH + 9 + TEXT_H + 10, FONT, INK);
  if (options.yLabel) drawText(canvas, options.yLabel, Math.max(2, padL - textWidth(options.yLabel, FONT) / 2), padT - TEXT_H - 16, FONT, INK);
  // Title.
  drawText(canvas, options.title, padL + plotW / 2 - textWidth(options.title, FONT) / 2, 12, FONT, INK);
  // Colour bar.
  const bx = padL + plotW + barGap;
  for (let py = 0; py < plotH; py++) {
    const t = 1 - (py + 0.5) / plotH;
    rect(canvas, bx, padT + py, barW, 1, colorAt(cmap, t));
  }
  frame(canvas, bx, padT, barW, plotH, INK);
  vt.forEach((v, i) => {
    const y = Math.round(padT + (1 - (v - lo) / (hi - lo)) * plotH);
    rect(canvas, bx + barW + 1, y, 4, 1, INK);
    drawText(canvas, vl[i]!, bx + barW + 8, y - TEXT_H / 2, FONT, INK);
  });
  return { ...canvas, plot: { x: padL, y: padT, width: plotW, height: plotH }, bar: { x: bx, y: padT, width: barW, height: plotH }, range: [lo, hi] };
}

/** Several canvases side by side on white, top-aligned. */
export function hconcat(parts: readonly Canvas[], gap = 8): Canvas {
  const width = parts.reduce((w, p) => w + p.width, 0) + gap * Math.max(0, parts.length - 1);
  const height = Math.max(...parts.map((p) => p.height));
  const out = blank(width, height);
  let x0 = 0;
  for (const p of parts) {
    for (let y = 0; y < p.height; y++) out.data.set(p.data.subarray(y * p.width * 4, (y + 1) * p.width * 4), ((y * width) + x0) * 4);
    x0 += p.width + gap;
  }
  return out;
}

/** Writes a canvas as an RGBA PNG, atomically. */
export function writeCanvasPng(file: string, canvas: Canvas): void {
  writeFileAtomic(file, encodePng({ width: canvas.width, height: canvas.height, channels: 4, data: canvas.data }));
}
