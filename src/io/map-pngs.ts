/**
 * The PNG maps of `predict --png DIR` and `merge --png DIR` (Node only): mean.png and std.png of
 * the first value column, each with axes, a colour bar with value ticks and the context points
 * (viridis for the mean, magma for the std).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readTable } from './table-read.js';
import { renderMap, writeCanvasPng } from './png-maps.js';
import { type GridRaster } from '../api/raster.js';
import { UserError } from '../api/errors.js';

export interface Points {
  x: Float64Array;
  y: Float64Array;
}

/**
 * The two map axes' columns (e.g. lon, lat) of a context table (CSV, Parquet or GeoJSON, read by
 * io/table-read.ts), for drawing; rows with a missing value are skipped. Null when the file
 * cannot be read or lacks numeric columns of those names (maps are then drawn without points).
 */
export async function contextPoints(file: string, axes: readonly string[], delimiter?: string): Promise<Points | null> {
  if (axes.length < 2) return null;
  try {
    const t = await readTable(file, { label: 'context', columns: axes.slice(0, 2), ...(delimiter !== undefined ? { delimiter } : {}) });
    const [cx, cy] = t.columns;
    if (cx?.kind !== 'number' || cy?.kind !== 'number') return null;
    const keep: number[] = [];
    for (let i = 0; i < t.rows; i++) if (Number.isFinite(cx.values[i]!) && Number.isFinite(cy.values[i]!)) keep.push(i);
    return { x: Float64Array.from(keep, (i) => cx.values[i]!), y: Float64Array.from(keep, (i) => cy.values[i]!) };
  } catch {
    return null;
  }
}

/** Writes mean.png and std.png for the raster's first `<f>_mean` and `<f>_std` bands. */
export function writeMapPngs(dir: string, raster: GridRaster, points: Points | null, command: string, axes: readonly string[] = []): string[] {
  const mean = raster.names.findIndex((n) => n.endsWith('_mean'));
  if (mean < 0 || raster.names[mean + 1] !== raster.names[mean]!.replace(/_mean$/, '_std')) {
    throw new UserError(`${command}: --png needs a Gaussian model's <f>_mean and <f>_std columns, got ${raster.names.join(', ')}`);
  }
  const f = raster.names[mean]!.replace(/_mean$/, '');
  fs.mkdirSync(dir, { recursive: true });
  const common = { ...(points ? { points } : {}), ...(axes.length >= 2 ? { xLabel: axes[0]!, yLabel: axes[1]! } : {}) };
  writeCanvasPng(path.join(dir, 'mean.png'), renderMap(raster.bands[mean]!, raster.grid, { ...common, title: `${f}: predictive mean`, cmap: 'viridis' }, raster.r0, raster.r1));
  writeCanvasPng(path.join(dir, 'std.png'), renderMap(raster.bands[mean + 1]!, raster.grid, { ...common, title: `${f}: predictive std`, cmap: 'magma' }, raster.r0, raster.r1));
  return ['mean.png', 'std.png'];
}
