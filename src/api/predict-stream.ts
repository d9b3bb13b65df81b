/**
 * Streaming prediction (Node only): target points come in chunks (from a CSV file or generated
 * on a grid), go through `Predictor.predictChunk`, and leave as CSV rows through the atomic
 * writer as soon as they are produced. Memory is bounded by the chunk size: neither the targets
 * nor the predictions are ever held whole (except the optional grid fields kept for PNGs).
 */
import * as fs from 'node:fs';
import * as readline from 'node:readline';
import { CsvWriter, readCsv, readCsvRows, splitCsvLine } from '../io/csv.js';
import { type Grid, type GridBounds, type GridSize } from './grid.js';
import { Progress, type ProgressSink } from './progress.js';
import { checkHeader, fillOutputRow, type Prediction, type Predictor } from './predictor.js';
import { UserError } from './errors.js';

/** A chunk of target points: columns in `layout.coordinates` order, `n` long (arrays may be longer). */
export interface TargetChunk {
  columns: Float64Array[];
  n: number;
}

/** Reads a whole context CSV (checked against the model's columns) and encodes it. */
export async function loadContext(predictor: Predictor, file: string, command: string): Promise<number> {
  const { layout, config, folder } = predictor;
  const label = `${command}: context CSV '${file}'`;
  const header = await readHeader(file, label);
  const expected = [...layout.coordinates, ...layout.values];
  checkHeader(label, header, expected, config.data, true, folder);
  const data = await readCsv(file, { label, columns: expected, strict: true, allowEmpty: true });
  if (data.rows === 0) throw new UserError(`${label} is empty: it has a header but no observations; at least one is needed`);
  predictor.setContext(expected.map((c) => data.values.get(c)!), data.rows);
  return data.rows;
}

/** The header row of a CSV file (first non-blank line), for column checks before reading rows. */
export async function readHeader(file: string, label: string): Promise<string[]> {
  try {
    await fs.promises.access(file, fs.constants.R_OK);
  } catch (e) {
    throw new UserError(`${label} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (fs.statSync(file).isDirectory()) throw new UserError(`${label} is a folder, expected a CSV file`);
  const stream = fs.createReadStream(file, { encoding: 'utf8' });
  const lines = readline.createInterface({ input: stream, crlfDelay: Infinity });
  try {
    for await (const line of lines) {
      const text = line.replace(/^\uFEFF/, '');
      if (text.trim() === '') continue;
      return splitCsvLine(text, () => `${label}: header`);
    }
  } finally {
    lines.close();
    stream.destroy();
  }
  throw new UserError(`${label} is empty (expected a header row of column names, then one row per point)`);
}

/** Counts the data rows of a CSV file (non-blank lines after the header), for progress totals. */
export async function countDataRows(file: string): Promise<number> {
  const stream = fs.createReadStream(file);
  let lines = 0;
  let blankRun = true;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (b === 10) {
        if (!blankRun) lines++;
        blankRun = true;
      } else if (b !== 13 && b !== 32 && b !== 9) blankRun = false;
    }
  }
  if (!blankRun) lines++;
  return Math.max(0, lines - 1);
}

/** Checks a targets CSV's header against the model; returns the label used in messages. */
export async function checkTargetsHeader(predictor: Predictor, file: string, command: string): Promise<string> {
  const label = `${command}: targets CSV '${file}'`;
  const header = await readHeader(file, label);
  checkHeader(label, header, predictor.layout.coordinates, predictor.config.data, false, predictor.folder);
  return label;
}

/** Target points from a CSV file, `chunk` rows at a time (columns checked against the model). */
export async function* csvTargets(predictor: Predictor, file: string, chunk: number, command: string): AsyncGenerator<TargetChunk> {
  const { layout } = predictor;
  const label = await checkTargetsHeader(predictor, file, command);
  const k = layout.coordinates.length;
  let columns = layout.coordinates.map(() => new Float64Array(chunk));
  let n = 0;
  for await (const row of readCsvRows(file, { label, columns: layout.coordinates, strict: true })) {
    for (let j = 0; j < k; j++) columns[j]![n] = row[j]!;
    if (++n === chunk) {
      yield { columns, n };
      columns = layout.coordinates.map(() => new Float64Array(chunk));
      n = 0;
    }
  }
  if (n > 0) yield { columns, n };
}

/**
 * Points of a regular grid (grid.ts order: row-major, y ascending), generated `chunk` at a time
 * without materialising the whole grid. The model must take exactly two coordinates.
 */
export function* gridTargets(bounds: GridBounds, size: GridSize, chunk: number): Generator<TargetChunk> {
  const total = size.width * size.height;
  const at = (lo: number, hi: number, n: number, i: number) => (n === 1 ? (lo + hi) / 2 : lo + (i * (hi - lo)) / (n - 1));
  for (let start = 0; start < total; start += chunk) {
    const n = Math.min(chunk, total - start);
    const x = new Float64Array(n);
    const y = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const p = start + i;
      x[i] = at(bounds.x0, bounds.x1, size.width, p % size.width);
      y[i] = at(bounds.y0, bounds.y1, size.height, Math.floor(p / size.width));
    }
    yield { columns: [x, y], n };
  }
}

/** Checks that `--grid` fits the model: exactly two coordinate columns. */
export function checkGridModel(predictor: Predictor, command: string): void {
  const cols = predictor.layout.coordinates;
  if (cols.length !== 2) {
    throw new UserError(`${command}: --grid needs a model with exactly 2 coordinate columns; the model in '${predictor.folder}' ` +
      `takes ${cols.length} (${cols.join(', ')}); give the points with --targets FILE instead`);
  }
}

export interface StreamOptions {
  predictor: Predictor;
  targets: AsyncIterable<TargetChunk> | Iterable<TargetChunk>;
  /** Number of target points, for progress. */
  total: number;
  out: string;
  progress: ProgressSink;
  label: string;
  /** Called with every chunk's prediction (e.g. to keep grid fields for PNGs). */
  onChunk?: (p: Prediction, start: number, n: number) => void;
  /** Opens the row writer for the header (default: a CSV at `out`; io/predict-output.ts has GeoTIFF, GeoJSON). */
  openWriter?: (header: readonly string[]) => { writeRow(row: ArrayLike<number>): void; close(): void; abort(): void };
}

/**
 * Streams predictions to `out` atomically: on any error the temporary file is removed and `out`
 * is left as it was. Returns the number of points written.
 */
export async function streamPredictions(opts: StreamOptions): Promise<number> {
  const { predictor } = opts;
  const header = [...predictor.layout.coordinates, ...predictor.outputColumns()];
  const writer = opts.openWriter ? opts.openWriter(header) : CsvWriter.open(opts.out, header);
  const abortOnSignal = () => {
    writer.abort();
    process.exit(130);
  };
  process.once('SIGINT', abortOnSignal);
  process.once('SIGTERM', abortOnSignal);
  const progress = new Progress({ total: opts.total, sink: opts.progress, label: opts.label, unit: 'pts' });
  let done = 0;
  try {
    const k = predictor.layout.coordinates.length;
    const row = new Float64Array(header.length);
    for await (const chunk of opts.targets) {
      const p = await predictor.predictChunk(chunk.columns, chunk.n);
      opts.onChunk?.(p, done, chunk.n);
      for (let i = 0; i < chunk.n; i++) {
        for (let j = 0; j < k; j++) row[j] = chunk.columns[j]![i]!;
        fillOutputRow(p, i, row, k);
        writer.writeRow(row);
      }
      done += chunk.n;
      progress.update(Math.min(done, opts.total));
      // Let the event loop run between chunks: on the CPU every await above resolves as a
      // microtask, so without this a Ctrl-C (SIGINT/SIGTERM handler) would wait for the end.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    progress.finish();
    writer.close();
  } catch (e) {
    writer.abort();
    throw e;
  } finally {
    process.off('SIGINT', abortOnSignal);
    process.off('SIGTERM', abortOnSignal);
  }
  return done;
}

/** Grid points as whole arrays (small grids: the demo). */
export function gridColumns(grid: Grid): Float64Array[] {
  return [grid.x, grid.y];
}
