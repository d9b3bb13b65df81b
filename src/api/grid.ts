/**
 * Regular 2-D prediction grids for `predict --grid x0,x1,y0,y1 --size WxH` (no Node built-ins).
 *
 * Point order is row-major with y ascending: point `r·W + c` is at
 * (x0 + c·(x1 − x0)/(W − 1), y0 + r·(y1 − y0)/(H − 1)), both ends included; a size of 1 along an
 * axis uses the midpoint. Render with origin 'lower' (row 0 at the bottom of the image).
 */

export class GridSpecError extends Error {
  override name = 'GridSpecError';
}

export interface GridBounds {
  x0: number;
  x1: number;
  y0: number;
  y1: number;
}

export interface GridSize {
  width: number;
  height: number;
}

export interface Grid extends GridBounds, GridSize {
  /** x coordinate of each point, `width·height` long, row-major (y ascending). */
  x: Float64Array;
  y: Float64Array;
}

/** Parses "x0,x1,y0,y1" (finite numbers, x0 < x1, y0 < y1). `flag` names the option in errors. */
export function parseGridBounds(text: string, flag = '--grid'): GridBounds {
  const parts = text.split(',').map((p) => p.trim());
  const nums = parts.map(Number);
  if (parts.length !== 4 || parts.some((p) => p === '') || nums.some((n) => !Number.isFinite(n))) {
    throw new GridSpecError(`${flag}: expected four numbers x0,x1,y0,y1 (e.g. -2,2,-2,2), got '${text}'`);
  }
  const [x0, x1, y0, y1] = nums as [number, number, number, number];
  if (!(x0 < x1)) throw new GridSpecError(`${flag}: expected x0 < x1, got x0=${x0}, x1=${x1}`);
  if (!(y0 < y1)) throw new GridSpecError(`${flag}: expected y0 < y1, got y0=${y0}, y1=${y1}`);
  return { x0, x1, y0, y1 };
}

/** Parses "WxH" (e.g. 128x128) or a single "N" for N×N; at most `maxPoints` points in total. */
export function parseGridSize(text: string, flag = '--size', maxPoints = 1 << 24): GridSize {
  const m = /^\s*(\d+)\s*(?:[xX×]\s*(\d+))?\s*$/.exec(text);
  if (!m) throw new GridSpecError(`${flag}: expected WIDTHxHEIGHT (e.g. 128x128), got '${text}'`);
  const width = Number(m[1]);
  const height = Number(m[2] ?? m[1]);
  if (width < 1 || height < 1) throw new GridSpecError(`${flag}: width and height must be at least 1, got '${text}'`);
  if (width * height > maxPoints) throw new GridSpecError(`${flag}: ${width}x${height} = ${width * height} points exceeds the limit of ${maxPoints}`);
  return { width, height };
}

function axis(lo: number, hi: number, n: number, i: number): number {
  return n === 1 ? (lo + hi) / 2 : lo + (i * (hi - lo)) / (n - 1);
}

/** All points of the grid, row-major with y ascending. */
export function makeGrid(bounds: GridBounds, size: GridSize): Grid {
  const { width, height } = size;
  const x = new Float64Array(width * height);
  const y = new Float64Array(width * height);
  for (let r = 0; r < height; r++) {
    const yr = axis(bounds.y0, bounds.y1, height, r);
    for (let c = 0; c < width; c++) {
      x[r * width + c] = axis(bounds.x0, bounds.x1, width, c);
      y[r * width + c] = yr;
    }
  }
  return { ...bounds, ...size, x, y };
}

/** Fractional (column, row) of a data point on the grid, e.g. to place markers on an image. */
export function gridCell(grid: GridBounds & GridSize, px: number, py: number): { col: number; row: number } {
  const col = grid.width === 1 ? 0 : ((px - grid.x0) / (grid.x1 - grid.x0)) * (grid.width - 1);
  const row = grid.height === 1 ? 0 : ((py - grid.y0) / (grid.y1 - grid.y0)) * (grid.height - 1);
  return { col, row };
}

/**
 * A warning when most of the grid lies away from the context (beyond half the context's extent on
 * each side), as when a bounding box is typed in the GIS order minx,miny,maxx,maxy instead of
 * x0,x1,y0,y1. Null when the grid is where the data are, or there is no context.
 */
export function gridExtentWarning(b: GridBounds, x: ArrayLike<number>, y: ArrayLike<number>, flag = '--grid'): string | null {
  if (x.length === 0) return null;
  let cx0 = Infinity, cx1 = -Infinity, cy0 = Infinity, cy1 = -Infinity;
  for (let i = 0; i < x.length; i++) {
    cx0 = Math.min(cx0, x[i]!); cx1 = Math.max(cx1, x[i]!);
    cy0 = Math.min(cy0, y[i]!); cy1 = Math.max(cy1, y[i]!);
  }
  const padX = 0.5 * (cx1 - cx0), padY = 0.5 * (cy1 - cy0);
  const ox = Math.max(0, Math.min(b.x1, cx1 + padX) - Math.max(b.x0, cx0 - padX));
  const oy = Math.max(0, Math.min(b.y1, cy1 + padY) - Math.max(b.y0, cy0 - padY));
  const inside = (ox * oy) / ((b.x1 - b.x0) * (b.y1 - b.y0));
  if (inside >= 0.25) return null;
  const r = (v: number) => String(Math.round(v * 1e4) / 1e4);
  return `${flag} ${r(b.x0)},${r(b.x1)},${r(b.y0)},${r(b.y1)}: ${Math.round(100 * (1 - inside))} % of the grid lies away from the context points `
    + `(x ${r(cx0)} to ${r(cx1)}, y ${r(cy0)} to ${r(cy1)}), where predictions are close to the prior; `
    + `${flag} takes x0,x1,y0,y1 (not minx,miny,maxx,maxy)`;
}
