/**
 * The map options of `bsa-tnp predict` (Node only), kept apart from the command so front ends can
 * share them: --shard I/N (a contiguous part of the grid rows or target rows), --mask FILE (a
 * GeoJSON polygon region of a grid), --crs EPSG:code (GeoTIFF tag), and choosing the targets and
 * output writer that follow from them.
 */
import * as fs from 'node:fs';
import { type Crs, crsFor, parseCrs } from '../api/crs.js';
import { type Polygon, polygonsOf } from '../api/mask.js';
import { type Shard, type ShardInfo, SHARD_FORMAT, countGridCells, gridRowTargets, parseShard, shardRange, sliceTables } from '../api/shard.js';
import { type GridSpec } from '../api/raster.js';
import { type TargetChunk } from '../api/predict-stream.js';
import { type Table } from '../data/table.js';
import { UserError } from '../api/errors.js';
import { type Output, openOutput, writeShardInfo } from './predict-output.js';
import * as path from 'node:path';

export interface MapArgs {
  shard: Shard | null;
  mask: readonly Polygon[] | null;
  crs: Crs | null;
}

/** Parses --shard, --mask (reads the file) and --crs. */
export function parseMapArgs(values: { shard?: string; mask?: string; crs?: string }, command: string): MapArgs {
  let mask: Polygon[] | null = null;
  if (values.mask !== undefined) {
    const label = `${command}: --mask '${values.mask}'`;
    let text: string;
    try {
      text = fs.readFileSync(values.mask, 'utf8');
    } catch (e) {
      throw new UserError(`${label} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new UserError(`${label} is not valid JSON (${(e as Error).message}); expected a GeoJSON Polygon, MultiPolygon, Feature or FeatureCollection`);
    }
    mask = polygonsOf(json, label);
  }
  return {
    shard: values.shard !== undefined ? parseShard(values.shard) : null,
    mask,
    crs: values.crs !== undefined ? parseCrs(values.crs) : null,
  };
}

export interface PlannedTargets<T> {
  targets: AsyncIterable<T> | Iterable<T>;
  total: number;
  /** Grid rows [r0, r1) or target rows [start, end) covered. */
  range: [number, number];
  /** Number of grid rows or target rows in the whole job. */
  whole: number;
}

/** Grid targets: all rows, or this shard's rows, without the cells outside the mask. */
export function planGrid(grid: GridSpec, chunk: number, map: MapArgs): PlannedTargets<TargetChunk> & { targets: Iterable<TargetChunk> } {
  if (map.shard && map.shard.count > grid.height) {
    throw new UserError(`--shard: a grid is split by rows and this one has ${grid.height}, so N=${map.shard.count} parts would leave some empty; use N <= ${grid.height}`);
  }
  const [r0, r1] = map.shard ? shardRange(grid.height, map.shard) : [0, grid.height];
  return { targets: gridRowTargets(grid, r0, r1, chunk, map.mask), total: countGridCells(grid, r0, r1, map.mask), range: [r0, r1], whole: grid.height };
}

/** Targets-file rows (tables in chunks): all, or this shard's contiguous rows (`rows` = data rows of the file). */
export function planTargetRows(source: AsyncIterable<Table>, rows: number, map: MapArgs): PlannedTargets<Table> {
  if (!map.shard) return { targets: source, total: rows, range: [0, rows], whole: rows };
  const [s, e] = shardRange(rows, map.shard);
  return { targets: sliceTables(source, s, e), total: e - s, range: [s, e], whole: rows };
}

export interface MapOutputOptions {
  file: string;
  /** All output file columns; the last `outputs` are predictions. */
  header: readonly string[];
  outputs: number;
  /** Indices of the point's x and y in `header` (null: the model has no two point columns). */
  xy: [number, number] | null;
  grid: GridSpec | null;
  plan: PlannedTargets<unknown>;
  map: MapArgs;
  distance: 'euclidean' | 'great-circle';
  keepRaster: boolean;
  command: string;
}

/** Opens the output writer; `finish()` (after the writer closed) writes a shard's sidecar. */
export function openMapOutput(o: MapOutputOptions): Output & { finish(): void } {
  const crs = crsFor(o.distance, o.map.crs);
  const out = openOutput({
    file: o.file, header: o.header, outputs: o.outputs, xy: o.xy, grid: o.grid,
    ...(o.grid ? { r0: o.plan.range[0], r1: o.plan.range[1] } : {}),
    crs, keepRaster: o.keepRaster, command: o.command,
  });
  const finish = () => {
    if (!o.map.shard) return;
    const info: ShardInfo = {
      format: SHARD_FORMAT, version: 1, shard: o.map.shard.index, of: o.map.shard.count,
      unit: o.grid ? 'grid-rows' : 'target-rows', range: o.plan.range, total: o.plan.whole,
      columns: [...o.header], bands: o.header.slice(o.header.length - o.outputs), grid: o.grid,
      file: path.basename(o.file), fileFormat: out.format, masked: o.map.mask !== null, crs,
    };
    writeShardInfo(o.file, info);
  };
  return { ...out, finish };
}
