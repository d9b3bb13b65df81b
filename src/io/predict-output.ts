/**
 * Where `predict` and `merge` put their rows (Node only): the output format follows the file name
 * (.tif/.tiff: GeoTIFF of a grid; .geojson/.json: GeoJSON points; anything else: CSV), optionally
 * also kept as a raster for PNG maps, and for `--shard` a sidecar `<file>.shard.json`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CsvWriter } from './csv.js';
import { GeoJsonWriter } from './geojson-out.js';
import { MAX_GEOTIFF_BANDS, encodeGeoTiff } from './geotiff.js';
import { type GridSpec, GridRaster } from '../api/raster.js';
import { type Crs } from '../api/crs.js';
import { type ShardInfo } from '../api/shard.js';
import { UserError } from '../api/errors.js';
import { writeFileAtomic } from '../train/atomic.js';

/** One output row: numbers, text (carried target columns, ISO times) or null (missing). */
export type Cell = number | string | null;

/** What every writer offers (CsvWriter has exactly this shape). */
export interface RowWriter {
  writeCells(row: readonly Cell[]): void;
  close(): void;
  abort(): void;
}

export type OutputFormat = 'csv' | 'geotiff' | 'geojson';

/** The format a file name asks for. */
export function outputFormat(file: string): OutputFormat {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.tif' || ext === '.tiff') return 'geotiff';
  if (ext === '.geojson' || ext === '.json') return 'geojson';
  return 'csv';
}

export interface OutputOptions {
  file: string;
  /** All columns: carried and input columns, then the output columns (the last `outputs`). */
  header: readonly string[];
  /** Number of output columns at the end of `header` (the GeoTIFF bands / raster). */
  outputs: number;
  /** Indices in `header` of the point's x and y (GeoJSON geometry, grid cell); null when the model has no 2 such columns. */
  xy: [number, number] | null;
  /** The grid (required for GeoTIFF), and the grid rows this output holds. */
  grid: GridSpec | null;
  r0?: number;
  r1?: number;
  crs: Crs | null;
  /** Also keep the output columns as a raster (for PNG maps); needs `grid`. */
  keepRaster?: boolean;
  command: string;
}

export interface Output {
  writer: RowWriter;
  /** The output columns on the grid, filled as rows arrive (when `keepRaster`, or for GeoTIFF). */
  raster: GridRaster | null;
  format: OutputFormat;
}

/** Opens the writer for `opts.file` (see the file comment). */
export function openOutput(opts: OutputOptions): Output {
  const format = outputFormat(opts.file);
  const { grid, xy } = opts;
  const first = opts.header.length - opts.outputs;
  if (format === 'geotiff' && !grid) {
    throw new UserError(`${opts.command}: a GeoTIFF (--out '${opts.file}') needs a grid: give --grid X0,X1,Y0,Y1 --size WxH, or write .csv or .geojson`);
  }
  if (format === 'geotiff' && opts.outputs > MAX_GEOTIFF_BANDS) {
    throw new UserError(`${opts.command}: a GeoTIFF holds at most ${MAX_GEOTIFF_BANDS} bands, this model has ${opts.outputs} output columns; write .csv instead`);
  }
  if ((format === 'geojson' || grid) && !xy) {
    throw new UserError(`${opts.command}: ${grid ? 'a grid' : `GeoJSON output '${opts.file}'`} needs 2 point coordinate columns, the model has none; write CSV instead`);
  }
  const raster = grid && (format === 'geotiff' || opts.keepRaster) ? new GridRaster(grid, opts.header.slice(first), opts.r0 ?? 0, opts.r1 ?? grid.height) : null;
  const where = () => `${opts.command}: output '${opts.file}'`;
  const add = raster ? (row: readonly Cell[]) => raster.add(row, xy![0], xy![1], first, where) : null;
  if (format === 'geotiff') {
    let done = false;
    return {
      format, raster,
      writer: {
        writeCells: (row) => add!(row),
        close: () => {
          if (done) return;
          done = true;
          writeFileAtomic(opts.file, encodeGeoTiff({ grid: grid!, r0: raster!.r0, r1: raster!.r1, names: raster!.names, bands: raster!.bands, crs: opts.crs }));
        },
        abort: () => { done = true; },
      },
    };
  }
  const inner: RowWriter = format === 'geojson' ? GeoJsonWriter.open(opts.file, opts.header, xy!) : CsvWriter.open(opts.file, opts.header);
  if (!add) return { format, raster, writer: inner };
  return {
    format, raster,
    writer: {
      writeCells: (row) => {
        add(row);
        inner.writeCells(row);
      },
      close: () => inner.close(),
      abort: () => inner.abort(),
    },
  };
}

/** The sidecar of a shard's output file. */
export function shardSidecar(file: string): string {
  return `${file}.shard.json`;
}

/** Writes `<file>.shard.json` atomically. */
export function writeShardInfo(file: string, info: ShardInfo): void {
  writeFileAtomic(shardSidecar(file), `${JSON.stringify(info, null, 2)}\n`);
}

/** Reads and checks a shard's sidecar; `file` is the shard's output file. */
export function readShardInfo(file: string, command: string): ShardInfo {
  const side = shardSidecar(file);
  if (!fs.existsSync(file)) throw new UserError(`${command}: shard file '${file}' does not exist`);
  if (!fs.existsSync(side)) {
    throw new UserError(`${command}: '${file}' has no sidecar '${path.basename(side)}': give the files written by 'bsa-tnp predict --shard I/N' (each comes with one)`);
  }
  let info: ShardInfo;
  try {
    info = JSON.parse(fs.readFileSync(side, 'utf8')) as ShardInfo;
  } catch (e) {
    throw new UserError(`${command}: sidecar '${side}' is not valid JSON (${(e as Error).message})`);
  }
  if (info?.format !== 'bsa-tnp-shard' || info.version !== 1) throw new UserError(`${command}: '${side}' is not a bsa-tnp shard description (format 'bsa-tnp-shard', version 1)`);
  return info;
}
