/**
 * `bsa-tnp merge`: joins the parts written by `predict --shard I/N` into one CSV, GeoTIFF or
 * GeoJSON file (logic in src/io/merge.ts), optionally with PNG maps.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type CliContext, CliError, type CommandSpec, EXIT_OK, type ParsedArgs, UsageError } from '../args.js';
import { mergeShards } from '../../io/merge.js';
import { contextPoints, writeMapPngs } from '../../io/map-pngs.js';

async function run(args: ParsedArgs, ctx: CliContext): Promise<number> {
  const cmd = 'merge';
  const out = typeof args.values.out === 'string' ? args.values.out : undefined;
  if (out === undefined) throw new UsageError('bsa-tnp merge: missing --out FILE (.csv, .tif or .geojson)');
  const png = typeof args.values.png === 'string' ? args.values.png : undefined;
  const context = typeof args.values.context === 'string' ? args.values.context : undefined;
  if (context !== undefined && png === undefined) throw new UsageError('bsa-tnp merge: --context only marks points on the --png maps; give --png DIR too');
  const abs = (p: string) => path.resolve(ctx.cwd, p);
  const outFile = abs(out);
  if (!fs.existsSync(path.dirname(outFile))) throw new CliError(`${cmd}: the folder of --out '${outFile}' does not exist`);
  const files = args.positionals.map(abs);
  if (files.includes(outFile)) throw new CliError(`${cmd}: --out '${outFile}' is also one of the shard files; choose another name`);
  const res = await mergeShards(files, outFile, cmd, png !== undefined);
  if (png !== undefined) {
    if (!res.raster) throw new CliError(`${cmd}: --png needs grid shards`);
    const axes = res.columns.slice(0, 2);
    const points = context !== undefined ? await contextPoints(abs(context), axes) : null;
    writeMapPngs(abs(png), res.raster, points, cmd, axes);
  }
  const summary = { event: 'merge_done', out: outFile, format: res.format, shards: res.shards, rows: res.rows, ...(png ? { png: abs(png) } : {}) };
  ctx.stdout.write(ctx.stdout.isTTY ? `merged ${res.shards} shards (${res.rows} rows) into ${outFile}\n` : `${JSON.stringify(summary)}\n`);
  return EXIT_OK;
}

export const mergeCommand: CommandSpec = {
  name: 'merge',
  summary: "Join the parts written by 'predict --shard I/N' into one CSV, GeoTIFF or GeoJSON file.",
  positionals: { names: ['shard-files...'], min: 1, max: Infinity },
  description: `
Each shard file comes with a sidecar FILE.shard.json written by 'bsa-tnp predict --shard I/N'.
merge checks that all N parts are present exactly once, that they tile the grid (or targets file)
without gaps or overlaps and come from the same run (columns, grid, mask, format), then writes
--out: .csv (from CSV shards: byte for byte what an unsharded run writes), .tif (a GeoTIFF, from
CSV or GeoTIFF grid shards) or .geojson (from GeoJSON shards). Nothing is written on an error.

Examples:
  bsa-tnp merge --out map.csv part-0.csv part-1.csv part-2.csv
  bsa-tnp merge --out map.tif --png maps/ --context obs.csv part-*.csv`,
  options: {
    out: { type: 'string', short: 'o', value: 'FILE', description: 'merged output: .csv, .tif or .geojson' },
    png: { type: 'string', value: 'FOLDER', description: 'also write mean.png and std.png maps (grid shards)' },
    context: { type: 'string', short: 'c', value: 'FILE', description: 'context table (CSV, Parquet or GeoJSON) whose points are marked on the --png maps' },
  },
  run,
};
