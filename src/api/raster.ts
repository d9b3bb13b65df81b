/**
 * Prediction grids as rasters (no Node built-ins): the cell geometry that GeoTIFF, PNG and shard
 * merging share, and `GridRaster`, which places output rows (coordinates + values) into bands.
 *
 * Convention (grid.ts): the bounds x0, x1, y0, y1 are the centres of the first and last cells,
 * so a W-wide grid has cells dx = (x1 − x0)/(W − 1) wide (for W = 1: one cell x1 − x0 wide centred
 * at the midpoint), and the raster's outer edges lie half a cell outside the bounds:
 * x0 − dx/2 … x1 + dx/2. GeoTIFFs use pixel-is-area with exactly these cells, so each pixel's
 * centre is a CSV grid point. Band arrays are in grid.ts order (row-major, row 0 = y0, the bottom).
 */
import type { GridBounds, GridSize } from './grid.js';
import { UserError } from './errors.js';

export type GridSpec = GridBounds & GridSize;

/** Cell width and height of a grid (see the file comment). */
export function cellSize(grid: GridSpec): { dx: number; dy: number } {
  return {
    dx: grid.width > 1 ? (grid.x1 - grid.x0) / (grid.width - 1) : grid.x1 - grid.x0,
    dy: grid.height > 1 ? (grid.y1 - grid.y0) / (grid.height - 1) : grid.y1 - grid.y0,
  };
}

/** Centre of column `c` / row `r`, computed as grid.ts and predict-stream.ts compute points. */
export function cellCentre(grid: GridSpec, c: number, r: number): { x: number; y: number } {
  const at = (lo: number, hi: number, n: number, i: number) => (n === 1 ? (lo + hi) / 2 : lo + (i * (hi - lo)) / (n - 1));
  return { x: at(grid.x0, grid.x1, grid.width, c), y: at(grid.y0, grid.y1, grid.height, r) };
}

/** Outer edges of grid rows [r0, r1) over all columns: west, east, south, north. */
export function rasterEdges(grid: GridSpec, r0 = 0, r1 = grid.height): { west: number; east: number; south: number; north: number } {
  const { dx, dy } = cellSize(grid);
  const first = cellCentre(grid, 0, r0);
  const last = cellCentre(grid, grid.width - 1, r1 - 1);
  return { west: first.x - dx / 2, east: last.x + dx / 2, south: first.y - dy / 2, north: last.y + dy / 2 };
}

/**
 * The cell of a grid point given by its coordinates (exact for points the grid generated), or -1
 * when (x, y) is not within a tenth of a cell of a cell centre.
 */
export function cellIndex(grid: GridSpec, x: number, y: number): number {
  const { dx, dy } = cellSize(grid);
  const fc = grid.width > 1 ? (x - grid.x0) / dx : (x - (grid.x0 + grid.x1) / 2) / dx;
  const fr = grid.height > 1 ? (y - grid.y0) / dy : (y - (grid.y0 + grid.y1) / 2) / dy;
  const c = Math.round(fc);
  const r = Math.round(fr);
  if (c < 0 || r < 0 || c >= grid.width || r >= grid.height || Math.abs(fc - c) > 0.1 || Math.abs(fr - r) > 0.1) return -1;
  return r * grid.width + c;
}

/**
 * Float32 bands over grid rows [r0, r1) (a whole grid, or one shard's strip of it); cells never
 * written stay NaN (masked or not predicted), written as NoData in GeoTIFFs.
 */
export class GridRaster {
  readonly bands: Float32Array[];
  readonly rows: number;

  constructor(readonly grid: GridSpec, readonly names: readonly string[], readonly r0 = 0, readonly r1 = grid.height) {
    if (!(r0 >= 0 && r1 <= grid.height && r0 <= r1)) throw new Error(`GridRaster: expected 0 <= r0 <= r1 <= ${grid.height}, got ${r0}, ${r1}`);
    this.rows = r1 - r0;
    this.bands = names.map(() => new Float32Array(this.rows * grid.width).fill(NaN));
  }

  /**
   * Places one output row: `row[xi]`, `row[yi]` are the point's coordinates, `row[firstValue + b]`
   * band b's value (other cells may hold text; they are not read). `where` names the source in the error for a point off this raster.
   */
  add(row: ArrayLike<number | string | null>, xi: number, yi: number, firstValue: number, where: () => string): void {
    const num = (v: number | string | null | undefined) => (typeof v === 'number' ? v : NaN);
    const cell = cellIndex(this.grid, num(row[xi]), num(row[yi]));
    const local = cell - this.r0 * this.grid.width;
    if (cell < 0 || local < 0 || local >= this.rows * this.grid.width) {
      throw new UserError(`${where()}: point (${row[xi]}, ${row[yi]}) is not a cell centre of grid rows ${this.r0}..${this.r1 - 1} ` +
        `of ${describeGrid(this.grid)}; the rows must come from 'bsa-tnp predict --grid' with the same --grid and --size`);
    }
    for (let b = 0; b < this.bands.length; b++) this.bands[b]![local] = num(row[firstValue + b]);
  }
}

/** "--grid=x0,x1,y0,y1 --size WxH" for messages. */
export function describeGrid(grid: GridSpec): string {
  return `--grid=${grid.x0},${grid.x1},${grid.y0},${grid.y1} --size ${grid.width}x${grid.height}`;
}
