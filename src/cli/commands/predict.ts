/**
 * `bsa-tnp predict`: predictions at target points (a CSV file or a regular grid) from context
 * observations (CSV), in the data's own units. The context is encoded once; targets stream
 * through the model in chunks, so memory is bounded by --chunk, and rows go to the output CSV as
 * they are produced, through the atomic writer (an error or Ctrl-C leaves no partial file).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PRECISIONS, type Precision } from '../../kernels/bsa/desc.js';
import { type CliContext, CliError, type CommandSpec, EXIT_OK, type ParsedArgs, UsageError } from '../args.js';
import { parseGridBounds, parseGridSize } from '../../api/grid.js';
import { checkGridModel, checkTargetsHeader, countDataRows, csvTargets, loadContext, streamPredictions } from '../../api/predict-stream.js';
import { type Predictor } from '../../api/predictor.js';
import { openMapOutput, parseMapArgs, planGrid, planTargetRows } from '../../io/predict-maps.js';
import { contextPoints, writeMapPngs } from '../../io/map-pngs.js';
import { createBackend, explainBackendError, loadPredictor, parseBackendName } from '../../api/load-node.js';

const DEFAULT_CHUNK = 4096;

function str(args: ParsedArgs, name: string): string | undefined {
  const v = args.values[name];
  return typeof v === 'string' ? v : undefined;
}

/** An integer option of at least `min` (default 1), or `fallback` when absent. */
export function intOption(args: ParsedArgs, name: string, command: string, fallback: number, min = 1): number {
  const v = str(args, name);
  if (v === undefined) return fallback;
  if (!/^\d+$/.test(v.trim()) || Number(v) < min || !Number.isSafeInteger(Number(v))) {
    throw new UsageError(`bsa-tnp ${command}: --${name} must be an integer >= ${min}, got '${v}'`);
  }
  return Number(v);
}

async function run(args: ParsedArgs, ctx: CliContext): Promise<number> {
  const cmd = 'predict';
  const model = str(args, 'model') ?? args.positionals[0];
  if (str(args, 'model') !== undefined && args.positionals.length > 0) {
    throw new UsageError(`bsa-tnp predict: give the model folder once (--model DIR or a positional argument), got both`);
  }
  const context = str(args, 'context');
  const targets = str(args, 'targets');
  const grid = str(args, 'grid');
  const out = str(args, 'out');
  const missing = [model === undefined ? '--model DIR' : '', context === undefined ? '--context FILE' : '', out === undefined ? '--out FILE' : ''].filter(Boolean);
  if (missing.length > 0) throw new UsageError(`bsa-tnp predict: missing ${missing.join(', ')}`);
  if ((targets === undefined) === (grid === undefined)) {
    throw new UsageError(`bsa-tnp predict: give the target points with exactly one of --targets FILE or --grid X0,X1,Y0,Y1 (with --size WxH)`);
  }
  if (grid === undefined && str(args, 'size') !== undefined) throw new UsageError('bsa-tnp predict: --size only applies to --grid');
  if (grid === undefined && str(args, 'png') !== undefined) throw new UsageError('bsa-tnp predict: --png only applies to --grid');
  if (grid === undefined && str(args, 'mask') !== undefined) throw new UsageError('bsa-tnp predict: --mask only applies to --grid');
  if (str(args, 'shard') !== undefined && str(args, 'png') !== undefined) {
    throw new UsageError('bsa-tnp predict: --png draws whole maps, not shards: merge the shards first (bsa-tnp merge --out map.tif --png DIR ...)');
  }
  if (str(args, 'backend') !== undefined && str(args, 'device') !== undefined) throw new UsageError('bsa-tnp predict: give --backend or --device, not both');
  const chunk = intOption(args, 'chunk', cmd, DEFAULT_CHUNK);
  const backendName = parseBackendName(args.values.backend ?? args.values.device, cmd);
  const precision = (str(args, 'precision') ?? 'f32') as Precision;
  if (!PRECISIONS.includes(precision)) {
    throw new UsageError(`bsa-tnp predict: --precision must be one of ${PRECISIONS.join(', ')}, got '${precision}'`);
  }
  if (precision !== 'f32' && backendName !== 'webgpu') {
    throw new UsageError(`bsa-tnp predict: --precision ${precision} needs --backend webgpu (the CPU backend computes in f32)`);
  }
  const bounds = grid !== undefined ? parseGridBounds(grid) : null;
  const size = grid !== undefined ? parseGridSize(str(args, 'size') ?? '128x128') : null;
  const abs = (p: string) => path.resolve(ctx.cwd, p);
  const map = parseMapArgs({ shard: str(args, 'shard'), mask: str(args, 'mask') !== undefined ? abs(str(args, 'mask')!) : undefined, crs: str(args, 'crs') }, cmd);
  const outFile = abs(out!);
  const pngDir = str(args, 'png') !== undefined ? abs(str(args, 'png')!) : null;
  if (!fs.existsSync(path.dirname(outFile))) throw new CliError(`${cmd}: the folder of --out '${outFile}' does not exist`);
  if (fs.existsSync(outFile) && fs.statSync(outFile).isDirectory()) throw new CliError(`${cmd}: --out '${outFile}' is a folder, expected a file name`);

  const handle = await createBackend(backendName, cmd);
  let predictor: Predictor | null = null;
  try {
    predictor = loadPredictor(abs(model!), handle.backend, cmd, { precision });
    if (bounds) checkGridModel(predictor, cmd);
    const nc = await loadContext(predictor, abs(context!), cmd);
    if (targets !== undefined) await checkTargetsHeader(predictor, abs(targets), cmd);
    const gridSpec = bounds && size ? { ...bounds, ...size } : null;
    const plan = gridSpec
      ? planGrid(gridSpec, chunk, map)
      : planTargetRows(csvTargets(predictor, abs(targets!), chunk, cmd), await countDataRows(abs(targets!)), chunk, map);
    if (pngDir && predictor.valueKind !== 'gaussian') throw new CliError(`${cmd}: --png needs a Gaussian model (this one is categorical)`);
    const header = [...predictor.layout.coordinates, ...predictor.outputColumns()];
    const output = openMapOutput({
      file: outFile, header, coordinates: predictor.layout.coordinates.length, grid: gridSpec, plan, map,
      distance: predictor.config.data.distance, keepRaster: pngDir !== null, command: cmd,
    });
    const t0 = performance.now();
    const written = await streamPredictions({
      predictor, targets: plan.targets, total: plan.total, out: outFile, progress: ctx.stderr, label: cmd,
      openWriter: () => output.writer,
    });
    output.finish();
    const seconds = (performance.now() - t0) / 1000;
    if (pngDir && output.raster) writeMapPngs(pngDir, output.raster, await contextPoints(abs(context!), predictor.layout.coordinates), cmd, predictor.layout.coordinates);
    const summary = {
      event: 'predict_done', out: outFile, points: written, context: nc, chunk, backend: handle.description,
      seconds: Math.round(seconds * 1000) / 1000, format: output.format, ...(pngDir ? { png: pngDir } : {}),
      ...(map.shard ? { shard: `${map.shard.index}/${map.shard.count}`, range: plan.range } : {}),
    };
    ctx.stdout.write(ctx.stdout.isTTY
      ? `wrote ${written} predictions from ${nc} context points to ${outFile} in ${summary.seconds} s${pngDir ? `; mean.png and std.png in ${pngDir}` : ''}\n`
      : `${JSON.stringify(summary)}\n`);
    return EXIT_OK;
  } catch (e) {
    throw explainBackendError(e, handle, cmd);
  } finally {
    predictor?.dispose();
    handle.dispose();
  }
}

/** Upscale small grids so the PNG is at least ~256 pixels wide. */
export function pngScale(width: number, height: number): number {
  return Math.max(1, Math.min(8, Math.floor(256 / Math.max(width, height))));
}

export const predictCommand: CommandSpec = {
  name: 'predict',
  summary: 'Predict mean, std and a 90% interval at target points (CSV or a grid) from context observations (CSV).',
  positionals: { names: ['[model-folder]'], min: 0, max: 1 },
  description: `
Reads the context observations (CSV with exactly the coordinate, covariate and value columns named
in the model folder's config.json; see 'bsa-tnp info'), applies the model's stored normalisation
(give values in their own units), encodes the context once and streams the targets through the
model in chunks of --chunk points. Targets are a CSV with exactly the coordinate and covariate
columns, or with --grid and --size a regular grid (row-major, y ascending; models with two
coordinates only).

The output CSV holds per target point its coordinates, then for each value column f:
f_mean, f_std, f_lo90, f_hi90 (the 90% interval mean -/+ 1.6449 std), in the data's units
(categorical models: f_p0, f_p1, ... class probabilities). It is written atomically: on an error
no partial file is left. Progress goes to stderr (a bar on a terminal, JSON lines otherwise); a
summary goes to stdout (a JSON line when stdout is not a terminal).

The output format follows --out's name: .tif/.tiff writes a GeoTIFF (grid only): Float32 bands
in the CSV's column order after the coordinates, pixel centres at the grid points (the --grid
bounds are the centres of the edge cells), NoData (NaN) outside --mask. .geojson writes Point
features with the output columns as properties. Any other name writes CSV.

With --shard I/N the command computes only the I-th of N contiguous parts (grid rows, or data rows
of --targets) and writes a sidecar FILE.shard.json; 'bsa-tnp merge' joins the parts.

Examples:
  bsa-tnp predict --model models/demo-gp2d --context obs.csv --targets points.csv --out pred.csv
  bsa-tnp predict --model models/demo-gp2d --context obs.csv --grid=-2,2,-2,2 --size 128x128 --out pred.csv --png maps/
  bsa-tnp predict --model models/demo-gp2d --context obs.csv --grid=-2,2,-2,2 --size 512x512 --out map.tif --mask region.geojson
  bsa-tnp predict --model models/demo-gp2d --context obs.csv --grid=-2,2,-2,2 --size 512x512 --out part-1.csv --shard 1/3

A value that starts with '-' must be attached with '=': --grid=-2,2,-2,2.`,
  options: {
    model: { type: 'string', short: 'm', value: 'DIR', description: 'model folder (config.json + model.safetensors); may also be given as the positional argument' },
    context: { type: 'string', short: 'c', value: 'FILE', description: 'context observations (CSV)' },
    targets: { type: 'string', short: 't', value: 'FILE', description: 'target points (CSV of coordinates/covariates)' },
    grid: { type: 'string', value: 'X0,X1,Y0,Y1', description: 'predict on a regular grid over these bounds instead of --targets' },
    size: { type: 'string', value: 'WxH', description: 'grid size', default: '128x128' },
    out: { type: 'string', short: 'o', value: 'FILE', description: 'output file: .csv (coordinates + mean, std, 90% interval), .tif (GeoTIFF, grid only) or .geojson (points)' },
    chunk: { type: 'string', value: 'N', description: 'target points per model call (bounds memory; results do not depend on it)', default: String(DEFAULT_CHUNK) },
    png: { type: 'string', value: 'FOLDER', description: 'also write mean.png and std.png maps with colour bars and the context points (grid only)' },
    mask: { type: 'string', value: 'FILE', description: 'GeoJSON (multi)polygon: predict only grid cells inside it (others: no CSV row, GeoTIFF NoData)' },
    shard: { type: 'string', value: 'I/N', description: 'compute only part I of N (0 <= I < N; contiguous grid rows or target rows); join with bsa-tnp merge' },
    crs: { type: 'string', value: 'EPSG:CODE', description: 'CRS tag for GeoTIFF output (default: EPSG:4326 for great-circle models, else none)' },
    backend: { type: 'string', value: 'cpu|webgpu', description: 'compute backend', default: 'cpu' },
    device: { type: 'string', value: 'cpu|webgpu', description: 'same as --backend' },
    precision: { type: 'string', value: 'f32|f16|f16-fast', description: 'attention precision on webgpu: f16 = tensor cores with split products (f32-accurate), f16-fast = one f16 product (≈1e-3 relative)', default: 'f32' },
  },
  run,
};
