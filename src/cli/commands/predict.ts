/**
 * `bsa-tnp predict`: predictions at target points (a table file or a regular grid, optionally
 * masked and/or one shard of the job) from context observations (CSV, Parquet or GeoJSON with the
 * user's column names), in the data's own units. The context is encoded once; targets stream
 * through the model as tables in chunks (api/predict-stream.ts), so memory is bounded by --chunk,
 * and rows go to the writer --out's name asks for (CSV, GeoTIFF, GeoJSON: io/predict-output.ts) as
 * they are produced; every writer is atomic (an error or Ctrl-C leaves no partial file).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PRECISIONS, type Precision } from '../../kernels/bsa/desc.js';
import { type CliContext, CliError, type CommandSpec, EXIT_OK, type ParsedArgs, UsageError } from '../args.js';
import { gridExtentWarning, parseGridBounds, parseGridSize } from '../../api/grid.js';
import { countTableRows, gridAxes, gridTableNames, gridTables, loadContextTable, parseAt, pointAxes, streamTablePredictions, tableTargets } from '../../api/predict-stream.js';
import { predictionColumns } from '../../api/predict-table.js';
import { openMapOutput, parseMapArgs, planGrid, planTargetRows } from '../../io/predict-maps.js';
import { contextPoints, writeMapPngs } from '../../io/map-pngs.js';
import { readTableHeader } from '../../io/table-read.js';
import { type Predictor } from '../../api/predictor.js';
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

  const at = parseAt(str(args, 'at'), cmd);
  if (grid === undefined && Object.keys(at).length > 0) throw new UsageError('bsa-tnp predict: --at only applies to --grid (give the values as columns of --targets)');
  const delimiter = str(args, 'delimiter');
  const strict = args.values.strict === true;
  const warn = (m: string) => ctx.stderr.write(`warning: ${m}\n`);
  const tableOptions = { ...(delimiter !== undefined ? { delimiter } : {}), strict, warn };

  const handle = await createBackend(backendName, cmd);
  let predictor: Predictor | null = null;
  try {
    predictor = loadPredictor(abs(model!), handle.backend, cmd, { precision });
    const axes = bounds ? gridAxes(predictor, at, cmd) : null;
    const nc = await loadContextTable(predictor, abs(context!), cmd, tableOptions);
    if (pngDir && predictor.valueKind !== 'gaussian') throw new CliError(`${cmd}: --png needs a Gaussian model (this one is categorical)`);
    // The context points in the grid's units, read once: for the extent warning and the PNG overlay.
    const points = bounds && axes ? await contextPoints(abs(context!), axes, tableOptions.delimiter) : null;
    const note = bounds && points ? gridExtentWarning(bounds, points.x, points.y) : null;
    if (note !== null) warn(note);
    // The target source: grid rows (this shard's, without masked cells) or rows of a table file.
    const gridSpec = bounds && size ? { ...bounds, ...size } : null;
    const delimiter = tableOptions.delimiter !== undefined ? { delimiter: tableOptions.delimiter } : {};
    let plan;
    let targetNames: string[];
    if (gridSpec && axes) {
      const cells = planGrid(gridSpec, chunk, map);
      plan = { ...cells, targets: gridTables(axes, at, cells.targets) };
      targetNames = gridTableNames(axes, at);
    } else {
      const file = abs(targets!);
      targetNames = await readTableHeader(file, { label: `${cmd}: targets`, ...delimiter });
      plan = planTargetRows(tableTargets(file, chunk, cmd, tableOptions), await countTableRows(file, `${cmd}: targets`), map);
    }
    // Output columns: carried target columns, the inputs, then the predictions (predict-table.ts).
    const cols = predictionColumns(predictor, targetNames);
    const header = [...cols.carried, ...cols.inputs, ...cols.outputs];
    const xyNames = axes ?? pointAxes(predictor);
    const output = openMapOutput({
      file: outFile, header, outputs: cols.outputs.length,
      xy: xyNames ? [header.indexOf(xyNames[0]), header.indexOf(xyNames[1])] : null,
      grid: gridSpec, plan, map, distance: predictor.config.data.distance, keepRaster: pngDir !== null, command: cmd,
    });
    const t0 = performance.now();
    const written = await streamTablePredictions({
      predictor, targets: plan.targets, total: plan.total, out: outFile, progress: ctx.stderr, label: cmd, chunk, strict, warn,
      targetsLabel: bounds ? 'grid' : `targets '${abs(targets!)}'`,
      targetNames, openWriter: () => output.writer, allowEmpty: map.shard !== null, firstRow: gridSpec ? 0 : plan.range[0],
    });
    output.finish();
    const seconds = (performance.now() - t0) / 1000;
    if (pngDir && output.raster && axes) {
      writeMapPngs(pngDir, output.raster, points, cmd, axes);
    }
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
  summary: 'Predict mean, std and a 90% interval at target points (a table or a grid) from context observations (CSV, Parquet or GeoJSON).',
  positionals: { names: ['[model-folder]'], min: 0, max: 1 },
  description: `
Reads the context observations and the target points from tables with your own column names:
CSV (comma, semicolon or tab; RFC 4180 quotes), Parquet or GeoJSON Point features (lon, lat from
the geometry). The model folder's data schema (see 'bsa-tnp info') says which columns are the
coordinates (e.g. lon, lat), time, covariates and outputs; it holds the units, categories,
transforms and normalisation learned in training, so give values in their own units. Extra
columns are allowed (ignored in the context, carried through from the targets).

Missing values: an empty, NA, NaN or null output value is not used as context; a row with a
missing coordinate, time or covariate is dropped with a warning on stderr (--strict: an error).

The output holds per target row the target columns the schema does not name (ids, labels),
then the schema's input columns, then for each output pm10: pm10_mean, pm10_std, pm10_lo90,
pm10_hi90 in the data's units (with a log/log1p/Box-Cox transform: mean and std of the
back-transformed distribution, the interval from the transformed 5% and 95% quantiles;
categorical models: one probability per class). With --grid and --size the targets are a regular
grid over the model's two spatial columns (row-major, y ascending; lon/lat bounds for great-circle
models); a model that also takes time or covariates needs their values with --at. The output is
written atomically: on an error no partial file is left. Progress goes to stderr (a bar on a
terminal, JSON lines otherwise); a summary goes to stdout (a JSON line when stdout is not a terminal).

The output format follows --out's name: .tif/.tiff writes a GeoTIFF (grid only): Float32 bands
of the prediction columns, pixel centres at the grid points (the --grid bounds are the centres of
the edge cells), NoData (NaN) outside --mask. .geojson writes Point features (the two spatial
columns) with the other columns as properties. Any other name writes CSV. --png draws mean.png
and std.png of the first output with a colour bar and the context points.

With --shard I/N the command computes only the I-th of N contiguous parts (grid rows, or data rows
of --targets) and writes a sidecar FILE.shard.json; 'bsa-tnp merge' joins the parts.

Examples:
  bsa-tnp predict --model models/demo-gp2d --context obs.csv --targets points.csv --out pred.csv
  bsa-tnp predict --model models/demo-gp2d --context obs.csv --grid=-2,2,-2,2 --size 128x128 --out pred.csv --png maps/
  bsa-tnp predict --model pm10-model --context stations.parquet --grid=5,15,45,55 --at time=2024-01-15 --out map.csv
  bsa-tnp predict --model models/demo-gp2d --context obs.csv --grid=-2,2,-2,2 --size 512x512 --out map.tif --mask region.geojson
  bsa-tnp predict --model models/demo-gp2d --context obs.csv --grid=-2,2,-2,2 --size 512x512 --out part-1.csv --shard 1/3

A value that starts with '-' must be attached with '=': --grid=-2,2,-2,2.`,
  options: {
    model: { type: 'string', short: 'm', value: 'DIR', description: 'model folder (config.json + model.safetensors); may also be given as the positional argument' },
    context: { type: 'string', short: 'c', value: 'FILE', description: 'context observations (CSV, Parquet or GeoJSON)' },
    targets: { type: 'string', short: 't', value: 'FILE', description: 'target points (CSV, Parquet or GeoJSON with the input columns)' },
    grid: { type: 'string', value: 'X0,X1,Y0,Y1', description: 'predict on a regular grid over these bounds instead of --targets' },
    size: { type: 'string', value: 'WxH', description: 'grid size', default: '128x128' },
    out: { type: 'string', short: 'o', value: 'FILE', description: 'output file: .csv (columns + mean, std, 90% interval), .tif (GeoTIFF, grid only) or .geojson (points)' },
    chunk: { type: 'string', value: 'N', description: 'target points per model call (bounds memory; results do not depend on it)', default: String(DEFAULT_CHUNK) },
    png: { type: 'string', value: 'FOLDER', description: 'also write mean.png and std.png maps with colour bars and the context points (grid only)' },
    mask: { type: 'string', value: 'FILE', description: 'GeoJSON (multi)polygon: predict only grid cells inside it (others: no CSV row, GeoTIFF NoData)' },
    shard: { type: 'string', value: 'I/N', description: 'compute only part I of N (0 <= I < N; contiguous grid rows or target rows); join with bsa-tnp merge' },
    crs: { type: 'string', value: 'EPSG:CODE', description: 'CRS tag for GeoTIFF output (default: EPSG:4326 for great-circle models, else none)' },
    at: { type: 'string', value: 'NAME=V,...', description: 'with --grid: values of the model\'s other inputs (time=2024-01-01,elev=300)' },
    delimiter: { type: 'string', value: 'C', description: 'CSV field separator (comma, semicolon, tab, ...); detected from the header when absent' },
    strict: { type: 'boolean', description: 'a row with a missing coordinate, time or covariate is an error (default: dropped with a warning)' },
    backend: { type: 'string', value: 'cpu|webgpu', description: 'compute backend', default: 'cpu' },
    device: { type: 'string', value: 'cpu|webgpu', description: 'same as --backend' },
    precision: { type: 'string', value: 'f32|f16|f16-fast', description: 'attention precision on webgpu: f16 = tensor cores with split products (f32-accurate), f16-fast = one f16 product (≈1e-3 relative)', default: 'f32' },
  },
  run,
};
