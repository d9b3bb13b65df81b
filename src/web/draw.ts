/**
 * Drawing for the web page: a predicted field on a canvas (colour map, y up), observations on top,
 * a colour bar with tick labels, and the geometry shared with the hover read-out (canvas pixel ↔
 * data coordinates). Pure canvas 2D; no model code.
 */
import type { GridBounds } from '../api/grid.js';
import { colorAt, type ColorMapName } from '../io/colormap.js';

/** A field on a regular grid (row-major, row 0 at y0, like api/grid.ts). */
export interface Field {
  bounds: GridBounds;
  width: number;
  height: number;
  values: Float64Array;
}

/** Finite min and max (0, 1 when there are none; widened when flat). */
export function range(values: ArrayLike<number>): { lo: number; hi: number } {
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  }
  if (!Number.isFinite(lo)) return { lo: 0, hi: 1 };
  if (hi === lo) return { lo: lo - 0.5, hi: hi + 0.5 };
  return { lo, hi };
}

/** Data coordinates of a canvas pixel (y up). */
export function pixelToData(b: GridBounds, canvas: { width: number; height: number }, px: number, py: number): { x: number; y: number } {
  return { x: b.x0 + (px / canvas.width) * (b.x1 - b.x0), y: b.y1 - (py / canvas.height) * (b.y1 - b.y0) };
}

/** Canvas pixel of data coordinates. */
export function dataToPixel(b: GridBounds, canvas: { width: number; height: number }, x: number, y: number): { px: number; py: number } {
  return { px: ((x - b.x0) / (b.x1 - b.x0)) * canvas.width, py: ((b.y1 - y) / (b.y1 - b.y0)) * canvas.height };
}

/** Index of the grid node nearest to data point (x, y), or -1 outside the area. */
export function nearestNode(f: Pick<Field, 'bounds' | 'width' | 'height'>, x: number, y: number): number {
  const { x0, x1, y0, y1 } = f.bounds;
  if (x < x0 || x > x1 || y < y0 || y > y1) return -1;
  const c = Math.round(((x - x0) / (x1 - x0)) * (f.width - 1));
  const r = Math.round(((y - y0) / (y1 - y0)) * (f.height - 1));
  return r * f.width + c;
}

export interface Point {
  x: number;
  y: number;
  value: number;
}

/**
 * Draws `field` over the whole canvas through `cmap` on [lo, hi] (grid nodes at cell centres,
 * smoothed), then `points`: filled with their value's colour when `colorPoints`, else white.
 */
export function drawField(canvas: HTMLCanvasElement, field: Field, cmap: ColorMapName, lo: number, hi: number,
  points: readonly Point[], colorPoints: boolean): void {
  const ctx = canvas.getContext('2d')!;
  const img = new ImageData(field.width, field.height);
  const span = hi > lo ? hi - lo : 1;
  for (let r = 0; r < field.height; r++) {
    const row = field.height - 1 - r; // y up
    for (let c = 0; c < field.width; c++) {
      const v = field.values[r * field.width + c]!;
      const [R, G, B] = Number.isFinite(v) ? colorAt(cmap, (v - lo) / span) : [128, 128, 128];
      const p = (row * field.width + c) * 4;
      img.data[p] = R; img.data[p + 1] = G; img.data[p + 2] = B; img.data[p + 3] = 255;
    }
  }
  const tile = new OffscreenCanvas(field.width, field.height);
  tile.getContext('2d')!.putImageData(img, 0, 0);
  ctx.imageSmoothingEnabled = true;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.drawImage(tile, 0, 0, canvas.width, canvas.height);
  drawPoints(canvas, field.bounds, points, colorPoints ? { cmap, lo, hi } : null);
}

/** Observation markers: a disc with a dark outline. */
export function drawPoints(canvas: HTMLCanvasElement, b: GridBounds, points: readonly Point[],
  fill: { cmap: ColorMapName; lo: number; hi: number } | null): void {
  const ctx = canvas.getContext('2d')!;
  const r = points.length > 400 ? 2.5 : 4;
  for (const p of points) {
    const { px, py } = dataToPixel(b, canvas, p.x, p.y);
    ctx.beginPath();
    ctx.arc(px, py, r, 0, 2 * Math.PI);
    if (fill) {
      const [R, G, B] = colorAt(fill.cmap, (p.value - fill.lo) / (fill.hi > fill.lo ? fill.hi - fill.lo : 1));
      ctx.fillStyle = `rgb(${R},${G},${B})`;
    } else {
      ctx.fillStyle = '#fff';
    }
    ctx.fill();
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = fill ? '#fff' : '#000';
    ctx.stroke();
  }
}

/** Short number for read-outs: up to 4 significant digits, no trailing zeros. */
export function formatTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(2);
  return String(Number(v.toPrecision(4)));
}

/** Colour-bar label: decimals fitted to the bar's span (2 digits past its leading one). */
export function formatBarTick(v: number, span: number): string {
  if (!(span > 0) || Math.abs(v) >= 1e6 || span < 1e-6) return formatTick(v);
  const digits = Math.min(6, Math.max(0, Math.ceil(-Math.log10(span)) + 2));
  const text = v.toFixed(digits);
  return /^-0(\.0*)?$/.test(text) ? text.slice(1) : text;
}

/** A vertical colour bar (high values on top) with 5 tick labels and a title. */
export function drawColorBar(canvas: HTMLCanvasElement, cmap: ColorMapName, lo: number, hi: number, title: string): void {
  const ctx = canvas.getContext('2d')!;
  const { width, height } = canvas;
  ctx.clearRect(0, 0, width, height);
  const top = 24, bottom = height - 10, barX = 6, barW = 18;
  for (let y = top; y < bottom; y++) {
    const [R, G, B] = colorAt(cmap, 1 - (y - top) / (bottom - top - 1));
    ctx.fillStyle = `rgb(${R},${G},${B})`;
    ctx.fillRect(barX, y, barW, 1);
  }
  ctx.strokeStyle = '#333';
  ctx.lineWidth = 1;
  ctx.strokeRect(barX + 0.5, top + 0.5, barW - 1, bottom - top - 1);
  ctx.fillStyle = '#222';
  ctx.font = '12px system-ui, sans-serif';
  ctx.textBaseline = 'middle';
  for (let k = 0; k <= 4; k++) {
    const v = lo + ((hi - lo) * k) / 4;
    const y = bottom - ((bottom - top - 1) * k) / 4;
    ctx.fillRect(barX + barW, Math.round(y), 4, 1);
    ctx.fillText(formatBarTick(v, hi - lo), barX + barW + 7, y);
  }
  ctx.textBaseline = 'top';
  ctx.font = 'bold 12px system-ui, sans-serif';
  ctx.fillText(title, 2, 4);
}
