/**
 * Sharded prediction (no Node built-ins): `predict --shard I/N` computes the I-th of N contiguous
 * parts (I = 0 … N−1, as Kubernetes' JOB_COMPLETION_INDEX counts) and `bsa-tnp merge` joins them.
 *
 * A grid is split by whole grid rows (so every shard is itself a georeferenced strip), a targets
 * file by data rows: part I holds [⌊I·T/N⌋, ⌊(I+1)·T/N⌋) of T rows. Each shard's output file
 * comes with a sidecar `<file>.shard.json` (`ShardInfo`) that lets merge check that all N parts
 * are present, disjoint, from the same grid/targets and with the same columns.
 */
import { UserError } from './errors.js';
import type { GridSpec } from './raster.js';
import type { TargetChunk } from './predict-stream.js';
import type { Polygon } from './mask.js';
import { insideAny } from './mask.js';
import { type Column, type Table, makeTable } from '../data/table.js';

export interface Shard {
  index: number;
  count: number;
}

/** Parses "I/N" with 0 <= I < N. */
export function parseShard(text: string, flag = '--shard'): Shard {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  if (!m) throw new UserError(`${flag}: expected I/N (part I of N, counting from 0, e.g. 0/3), got '${text}'`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1) throw new UserError(`${flag}: N must be at least 1, got '${text}'`);
  if (index >= count) throw new UserError(`${flag}: I counts from 0 and must be below N=${count}, got ${index} (parts are 0/${count} … ${count - 1}/${count})`);
  return { index, count };
}

/** Part `index` of `count` of `total` items: [start, end). */
export function shardRange(total: number, shard: Shard): [number, number] {
  return [Math.floor((shard.index * total) / shard.count), Math.floor(((shard.index + 1) * total) / shard.count)];
}

export const SHARD_FORMAT = 'bsa-tnp-shard';

/** The sidecar `<file>.shard.json` of one shard's output. */
export interface ShardInfo {
  format: typeof SHARD_FORMAT;
  version: 1;
  shard: number;
  of: number;
  /** 'grid': `range` counts grid rows of `grid`; 'targets': data rows of the targets file. */
  unit: 'grid-rows' | 'target-rows';
  range: [number, number];
  total: number;
  /** Output file columns (the CSV header; for a grid the first two are the axes). */
  columns: string[];
  /** The predicted columns among them (GeoTIFF band names); absent in older sidecars: columns after the first two. */
  bands?: string[];
  grid: GridSpec | null;
  /** The output file's name (relative to the sidecar) and format. */
  file: string;
  fileFormat: 'csv' | 'geotiff' | 'geojson';
  /** Whether a --mask was applied (cells outside are absent / NoData). */
  masked: boolean;
  crs: { epsg: number; geographic: boolean } | null;
}

/**
 * Points of grid rows [r0, r1) (grid.ts order), `chunk` at a time, skipping cells outside `mask`.
 */
export function* gridRowTargets(grid: GridSpec, r0: number, r1: number, chunk: number, mask: readonly Polygon[] | null): Generator<TargetChunk> {
  const at = (lo: number, hi: number, n: number, i: number) => (n === 1 ? (lo + hi) / 2 : lo + (i * (hi - lo)) / (n - 1));
  let x = new Float64Array(chunk);
  let y = new Float64Array(chunk);
  let n = 0;
  for (let r = r0; r < r1; r++) {
    const yr = at(grid.y0, grid.y1, grid.height, r);
    for (let c = 0; c < grid.width; c++) {
      const xc = at(grid.x0, grid.x1, grid.width, c);
      if (mask && !insideAny(mask, xc, yr)) continue;
      x[n] = xc;
      y[n] = yr;
      if (++n === chunk) {
        yield { columns: [x, y], n };
        x = new Float64Array(chunk);
        y = new Float64Array(chunk);
        n = 0;
      }
    }
  }
  if (n > 0) yield { columns: [x, y], n };
}

/** Number of grid cells in rows [r0, r1) inside `mask` (all when null). */
export function countGridCells(grid: GridSpec, r0: number, r1: number, mask: readonly Polygon[] | null): number {
  if (!mask) return (r1 - r0) * grid.width;
  let n = 0;
  for (const ch of gridRowTargets(grid, r0, r1, 65536, mask)) n += ch.n;
  return n;
}

/** Rows [start, end) of a stream of target tables (chunks of a file), each chunk cut to the range. */
export async function* sliceTables(source: AsyncIterable<Table> | Iterable<Table>, start: number, end: number): AsyncGenerator<Table> {
  let seen = 0;
  for await (const t of source) {
    const from = Math.max(0, start - seen);
    const to = Math.min(t.rows, end - seen);
    seen += t.rows;
    if (to > from) yield from === 0 && to === t.rows ? t : sliceTable(t, from, to);
    if (seen >= end) break;
  }
}

/** Rows [from, to) of a table. */
export function sliceTable(t: Table, from: number, to: number): Table {
  return makeTable(t.names, t.columns.map((c): Column => (c.kind === 'number'
    ? { kind: 'number', values: c.values.slice(from, to) }
    : { kind: 'text', values: c.values.slice(from, to) })), 'targets');
}
