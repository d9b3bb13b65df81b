/**
 * `bsa-tnp merge`: joins the outputs of `predict --shard I/N` (Node only). Every shard file has a
 * sidecar `<file>.shard.json` (predict-output.ts); merge checks that all N parts are there once,
 * that their ranges tile the whole grid or targets file without gaps or overlaps, and that they
 * agree on columns, grid, mask and format, then writes:
 *  - CSV from CSV shards: the header once, then each shard's rows in order (byte for byte what one
 *    unsharded run writes);
 *  - GeoJSON from GeoJSON shards: the features in order (likewise byte for byte);
 *  - GeoTIFF from CSV or GeoTIFF shards of a grid (values exactly as in the shards).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { readCsvRows } from './csv.js';
import { decodeGeoTiff, encodeGeoTiff } from './geotiff.js';
import { outputFormat, readShardInfo } from './predict-output.js';
import { type ShardInfo, shardRange } from '../api/shard.js';
import { GridRaster, describeGrid } from '../api/raster.js';
import { UserError } from '../api/errors.js';
import { fsyncDir, writeFileAtomic } from '../train/atomic.js';

export interface MergeResult {
  format: 'csv' | 'geotiff' | 'geojson';
  shards: number;
  /** Rows (CSV/GeoJSON) or grid cells with values (GeoTIFF) written. */
  rows: number;
  /** The merged grid raster (GeoTIFF output, or when `keepRaster`), for PNG maps. */
  raster: GridRaster | null;
  /** The shards' columns (for a grid, the first two are its axes). */
  columns: string[];
}

interface Part {
  file: string;
  info: ShardInfo;
}

/** Reads and cross-checks the sidecars; returns the parts in shard order. */
export function checkShards(files: readonly string[], command: string): Part[] {
  if (files.length === 0) throw new UserError(`${command}: no shard files given; list the files written by 'bsa-tnp predict --shard I/N'`);
  const parts = files.map((file) => ({ file, info: readShardInfo(file, command) }));
  const first = parts[0]!;
  const n = first.info.of;
  const same = (what: string, get: (i: ShardInfo) => unknown) => {
    for (const p of parts) {
      if (JSON.stringify(get(p.info)) !== JSON.stringify(get(first.info))) {
        throw new UserError(`${command}: '${p.file}' and '${first.file}' come from different runs: their ${what} differ ` +
          `(${JSON.stringify(get(p.info))} vs ${JSON.stringify(get(first.info))})`);
      }
    }
  };
  same('shard counts (N)', (i) => i.of);
  same('output columns', (i) => i.columns);
  same('kinds (grid or targets file)', (i) => i.unit);
  same('grids', (i) => i.grid);
  same('sizes', (i) => i.total);
  same('masks (with/without --mask)', (i) => i.masked);
  same('file formats', (i) => i.fileFormat);
  const byIndex = new Map<number, Part>();
  for (const p of parts) {
    const other = byIndex.get(p.info.shard);
    if (other) throw new UserError(`${command}: '${other.file}' and '${p.file}' are both shard ${p.info.shard}/${n}; give each part once`);
    byIndex.set(p.info.shard, p);
  }
  const missing = Array.from({ length: n }, (_, i) => i).filter((i) => !byIndex.has(i));
  if (missing.length > 0) {
    throw new UserError(`${command}: missing shard${missing.length > 1 ? 's' : ''} ${missing.map((i) => `${i}/${n}`).join(', ')} ` +
      `(got ${[...byIndex.keys()].sort((a, b) => a - b).map((i) => `${i}/${n}`).join(', ')}); all ${n} parts are needed`);
  }
  const ordered = Array.from({ length: n }, (_, i) => byIndex.get(i)!);
  for (const p of ordered) {
    const want = shardRange(p.info.total, { index: p.info.shard, count: n });
    if (p.info.range[0] !== want[0] || p.info.range[1] !== want[1]) {
      throw new UserError(`${command}: '${p.file}' covers rows ${p.info.range[0]}..${p.info.range[1] - 1}, but shard ${p.info.shard}/${n} of ${p.info.total} ` +
        `must cover ${want[0]}..${want[1] - 1}; its sidecar was edited or comes from another version`);
    }
  }
  return ordered;
}

/** The lines of a text file, streamed. */
async function* lines(file: string): AsyncGenerator<string> {
  const stream = fs.createReadStream(file, { encoding: 'utf8' });
  const rl = readline.createInterface({ input: stream, crlfDelay: Infinity });
  try {
    for await (const line of rl) yield line;
  } finally {
    rl.close();
    stream.destroy();
  }
}

/** A temp file beside `out`, renamed into place by `commit`, removed by `abort`. */
function tempWriter(out: string): { write(s: string): void; commit(): void; abort(): void } {
  const tmp = path.join(path.dirname(out), `.${path.basename(out)}.tmp-${process.pid}`);
  const fd = fs.openSync(tmp, 'w');
  let buf: string[] = [];
  let size = 0;
  const flush = () => {
    fs.writeSync(fd, buf.join(''));
    buf = [];
    size = 0;
  };
  return {
    write(s) {
      buf.push(s);
      size += s.length;
      if (size > 1 << 20) flush();
    },
    commit() {
      flush();
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      fs.renameSync(tmp, out);
      fsyncDir(path.dirname(out));
    },
    abort() {
      try {
        fs.closeSync(fd);
      } catch {
        // already closed
      }
      fs.rmSync(tmp, { force: true });
    },
  };
}

async function mergeCsv(parts: Part[], out: string, command: string): Promise<number> {
  const w = tempWriter(out);
  let header: string | null = null;
  let rows = 0;
  try {
    for (const p of parts) {
      let first = true;
      for await (const line of lines(p.file)) {
        if (first) {
          first = false;
          if (header === null) {
            header = line;
            w.write(`${line}\n`);
          } else if (line !== header) {
            throw new UserError(`${command}: '${p.file}' has header '${line}', '${parts[0]!.file}' has '${header}'; the shards must come from one run`);
          }
          continue;
        }
        if (line === '') continue;
        w.write(`${line}\n`);
        rows++;
      }
      if (first) throw new UserError(`${command}: shard file '${p.file}' is empty (expected a CSV header)`);
    }
    w.commit();
  } catch (e) {
    w.abort();
    throw e;
  }
  return rows;
}

async function mergeGeoJson(parts: Part[], out: string, command: string): Promise<number> {
  const head = '{"type":"FeatureCollection","features":[\n';
  const tail = '\n]}\n';
  const bodies: string[] = [];
  let rows = 0;
  for (const p of parts) {
    const text = fs.readFileSync(p.file, 'utf8');
    let parsed: { features?: unknown[] };
    try {
      parsed = JSON.parse(text) as { features?: unknown[] };
    } catch (e) {
      throw new UserError(`${command}: '${p.file}' is not valid JSON (${(e as Error).message}); was the shard cut short?`);
    }
    if (!text.startsWith(head) || !text.endsWith(tail) || !Array.isArray(parsed.features)) {
      throw new UserError(`${command}: '${p.file}' is not a GeoJSON file written by 'bsa-tnp predict' (expected a FeatureCollection)`);
    }
    rows += parsed.features.length;
    const body = text.slice(head.length, text.length - tail.length);
    if (body !== '') bodies.push(body);
  }
  writeFileAtomic(out, `${head}${bodies.join(',\n')}${tail}`);
  return rows;
}

async function gridRaster(parts: Part[], command: string): Promise<GridRaster> {
  const info = parts[0]!.info;
  if (!info.grid) throw new UserError(`${command}: GeoTIFF and PNG output need grid shards (predict --grid ...), these shards come from a targets file`);
  const grid = info.grid;
  const names = info.bands ?? info.columns.slice(2);
  const raster = new GridRaster(grid, names);
  for (const p of parts) {
    if (p.info.fileFormat === 'csv') {
      const label = `${command}: shard '${p.file}'`;
      let row = 0;
      // The grid axes are the first two columns; other inputs (e.g. a --at time) are skipped.
      for await (const values of readCsvRows(p.file, { label, columns: [info.columns[0]!, info.columns[1]!, ...names], allowEmpty: true })) {
        row++;
        raster.add(values, 0, 1, 2, () => `${label}, row ${row}`);
      }
    } else if (p.info.fileFormat === 'geotiff') {
      const d = await decodeGeoTiff(new Uint8Array(fs.readFileSync(p.file)), `${command}: shard '${p.file}'`);
      const [r0, r1] = p.info.range;
      if (d.width !== grid.width || d.height !== r1 - r0 || d.bands.length !== names.length) {
        throw new UserError(`${command}: shard '${p.file}' is ${d.width}x${d.height} with ${d.bands.length} bands, its sidecar says ${grid.width}x${r1 - r0} with ${names.length} (${describeGrid(grid)})`);
      }
      d.bands.forEach((b, i) => raster.bands[i]!.set(b, r0 * grid.width));
    } else {
      throw new UserError(`${command}: GeoJSON shards merge into GeoJSON only (--out FILE.geojson)`);
    }
  }
  return raster;
}

/** Merges `files` into `out` (format from its name). `keepRaster`: also return the grid raster (for PNGs). */
export async function mergeShards(files: readonly string[], out: string, command: string, keepRaster = false): Promise<MergeResult> {
  const parts = checkShards(files, command);
  const format = outputFormat(out);
  const inFormat = parts[0]!.info.fileFormat;
  const n = parts.length;
  if (format === 'geotiff') {
    const raster = await gridRaster(parts, command);
    const info = parts[0]!.info;
    writeFileAtomic(out, encodeGeoTiff({ grid: raster.grid, names: raster.names, bands: raster.bands, crs: info.crs }));
    let rows = 0;
    for (let i = 0; i < raster.bands[0]!.length; i++) if (!Number.isNaN(raster.bands[0]![i]!)) rows++;
    return { format, shards: n, rows, raster, columns: info.columns };
  }
  if (format !== inFormat) {
    throw new UserError(`${command}: cannot merge ${inFormat} shards into ${format} ('${out}'); write ${inFormat === 'csv' ? '.csv or .tif' : inFormat === 'geojson' ? '.geojson' : '.tif'}`);
  }
  const rows = format === 'csv' ? await mergeCsv(parts, out, command) : await mergeGeoJson(parts, out, command);
  const raster = keepRaster ? await gridRaster(parts, command) : null;
  return { format, shards: n, rows, raster, columns: parts[0]!.info.columns };
}
