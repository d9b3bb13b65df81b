/**
 * Streaming prediction (Node only): target points come in chunks as tables (from a table file —
 * CSV, Parquet, GeoJSON — with the user's column names, or generated on a grid, optionally masked
 * and sharded), are encoded through the model's schema and predicted (predict-table.ts), and leave
 * as rows through an atomic writer (CSV by default; `predict` passes io/predict-output.ts's
 * CSV/GeoTIFF/GeoJSON writer) as soon as they are produced. Memory is bounded by the chunk size:
 * neither the targets nor the predictions are ever held whole (except a grid raster kept for a
 * GeoTIFF or PNGs). `streamPredictions` is the older numeric path (the demo's grid).
 */
import * as fs from 'node:fs';
import { CsvWriter } from '../io/csv.js';
import { type GridBounds, type GridSize } from './grid.js';
import { Progress, type ProgressSink } from './progress.js';
import { fillOutputRow, type Prediction, type Predictor } from './predictor.js';
import { UserError } from './errors.js';
import { type Table, makeTable } from '../data/table.js';
import { schemaColumns } from '../data/schema/index.js';
import { didYouMean } from '../models/config-checks.js';
import { detectFormat, fileLabel, readTable, readTableHeader, streamTable } from '../io/table-read.js';
import { checkColumns, predictTargets, predictionColumns, setContextTable } from './predict-table.js';

/** A chunk of target points: columns in `layout.coordinates` order, `n` long (arrays may be longer). */
export interface TargetChunk {
  columns: Float64Array[];
  n: number;
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

// ---------------------------------------------------------------------------------------------
// Tables with the user's column names (any format io/table-read.ts reads), through the schema.

/** Options for the table-based streaming below. */
export interface TableStreamOptions {
  /** CSV field separator; detected when absent. */
  delimiter?: string;
  /** Missing coordinates/times/covariates are errors instead of dropped rows. */
  strict?: boolean;
  /** Where warnings go (dropped rows): a line each. */
  warn: (message: string) => void;
}

/**
 * Reads a context file (CSV, Parquet or GeoJSON; only the columns the schema needs are kept) and
 * encodes it; returns the number of context points used.
 */
export async function loadContextTable(predictor: Predictor, file: string, command: string, options: TableStreamOptions): Promise<number> {
  const roles = schemaColumns(predictor.config.data);
  const label = `context '${file}'`;
  const delimiter = options.delimiter !== undefined ? { delimiter: options.delimiter } : {};
  // The header first, so a missing column is reported against what the model expects.
  checkColumns(predictor, await readTableHeader(file, { label: `${command}: context`, ...delimiter }), true, label);
  const table = await readTable(file, { label: `${command}: context`, columns: [...roles.s, ...roles.t, ...roles.x, ...roles.f], ...delimiter });
  return setContextTable(predictor, table, label, { strict: options.strict ?? false, onWarning: options.warn });
}

/** Target rows of a file in chunks (all columns: those the schema does not name are carried through). */
export function tableTargets(file: string, chunk: number, command: string, options: Pick<TableStreamOptions, 'delimiter'>): AsyncGenerator<Table, void, void> {
  return streamTable(file, { label: `${command}: targets`, ...(options.delimiter !== undefined ? { delimiter: options.delimiter } : {}) }, chunk);
}

/** Number of rows in a table file, for progress (CSV: non-blank lines after the header). */
export async function countTableRows(file: string, label = 'table'): Promise<number> {
  const format = detectFormat(file, fileLabel(file, label));
  if (format === 'csv') return countDataRows(file);
  let n = 0;
  for await (const t of streamTable(file, { format, label })) n += t.rows;
  return n;
}

/**
 * The two columns a `--grid` spans: the model's two `s` columns (lon, lat for great-circle models),
 * or, for a model without `s`, its only two input columns. Every other input column must be given
 * a value with `--at` (`time=2024-01-01,elev=300`); a missing one is a `UserError` naming it.
 */
export function gridAxes(predictor: Predictor, at: Readonly<Record<string, string>>, command: string): [string, string] {
  const roles = schemaColumns(predictor.config.data);
  const inputs = [...roles.s, ...roles.t, ...roles.x];
  const axes = roles.s.length === 2 ? roles.s : inputs.length === 2 ? inputs : null;
  if (!axes) {
    throw new UserError(`${command}: --grid needs a model with 2 spatial columns; the model in '${predictor.folder}' ` +
      `takes ${inputs.length === 0 ? 'none' : inputs.join(', ')}; give the points with --targets FILE instead`);
  }
  for (const k of Object.keys(at)) {
    if (!inputs.includes(k)) {
      const g = didYouMean(k, inputs);
      throw new UserError(`${command}: --at names '${k}', which is not an input of the model${g !== undefined ? ` (did you mean '${g}'?)` : ''}; its inputs are ${inputs.join(', ')}`);
    }
    if (axes.includes(k)) throw new UserError(`${command}: --at gives '${k}', which the grid already spans`);
  }
  const need = inputs.filter((c) => !axes.includes(c) && at[c] === undefined);
  if (need.length > 0) {
    throw new UserError(`${command}: --grid spans ${axes.join(', ')}, but the model also needs ${need.join(', ')}: ` +
      `give their values with --at, e.g. --at ${need.map((c) => `${c}=VALUE`).join(',')}`);
  }
  return [axes[0]!, axes[1]!];
}

/** Parses `--at name=value[,name=value]` (values stay text: numbers, ISO times or categories). */
export function parseAt(text: string | undefined, command: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (text === undefined) return out;
  for (const item of text.split(',')) {
    const eq = item.indexOf('=');
    if (eq <= 0 || eq === item.length - 1) throw new UserError(`${command}: --at expects NAME=VALUE[,NAME=VALUE], got '${item}'`);
    out[item.slice(0, eq).trim()] = item.slice(eq + 1).trim();
  }
  return out;
}

/**
 * Grid points as tables: the two axes named `axes` (from `gridTargets`, or shard.ts's
 * `gridRowTargets` for a shard's rows without masked cells) plus the `--at` constants as text.
 */
export function* gridTables(axes: readonly [string, string], at: Readonly<Record<string, string>>, chunks: Iterable<TargetChunk>): Generator<Table> {
  const extra = Object.entries(at);
  for (const { columns, n } of chunks) {
    yield makeTable([...axes, ...extra.map(([k]) => k)], [
      { kind: 'number', values: columns[0]!.slice(0, n) },
      { kind: 'number', values: columns[1]!.slice(0, n) },
      ...extra.map(([, v]) => ({ kind: 'text' as const, values: new Array<string>(n).fill(v) })),
    ], 'grid');
  }
}

/** The columns of a grid's target tables (`gridTables`). */
export function gridTableNames(axes: readonly [string, string], at: Readonly<Record<string, string>>): string[] {
  return [...axes, ...Object.keys(at)];
}

/**
 * The two columns that place a target on a map (GeoJSON geometry, PNG axes): the schema's two `s`
 * columns, or for a model without them its only two input columns; null otherwise.
 */
export function pointAxes(predictor: Predictor): [string, string] | null {
  const roles = schemaColumns(predictor.config.data);
  const inputs = [...roles.s, ...roles.t, ...roles.x];
  const axes = roles.s.length === 2 ? roles.s : roles.s.length === 0 && inputs.length === 2 ? inputs : null;
  return axes ? [axes[0]!, axes[1]!] : null;
}

/** A writer of output rows (CsvWriter, or io/predict-output.ts's GeoTIFF/GeoJSON writers). */
export interface CellWriter {
  writeCells(row: readonly (number | string | null)[]): void;
  close(): void;
  abort(): void;
}

export interface TableStreamPredictOptions {
  predictor: Predictor;
  targets: AsyncIterable<Table> | Iterable<Table>;
  /** Number of target rows, for progress. */
  total: number;
  out: string;
  progress: ProgressSink;
  label: string;
  strict?: boolean;
  warn: (message: string) => void;
  /** Targets per model call (memory bound). Default 4096. */
  chunk?: number;
  /** What the targets are, for messages ("targets 'points.csv'"). Default "targets". */
  targetsLabel?: string;
  /** Called with every chunk's output columns (`predictor.outputColumns()` order) and its first row. */
  onChunk?: (outputs: Float64Array[], start: number, n: number) => void;
  /**
   * The column names of the target tables, so the writer can be opened before the first row
   * (default: opened at the first chunk). Needed for an output that may hold no rows (a shard).
   */
  targetNames?: readonly string[];
  /** Opens the row writer for the output header (default: a CSV at `out`). */
  openWriter?: (header: readonly string[]) => CellWriter;
  /** No target rows at all is fine (an empty shard): the output holds the header only. */
  allowEmpty?: boolean;
  /** Rows of the targets file before the first streamed one (a shard), for row numbers in messages. */
  firstRow?: number;
}

/**
 * Streams predictions for target tables to `out` atomically (see predict-table.ts for the columns).
 * Rows dropped for missing inputs are summed into one warning. Returns the number of rows written.
 */
export async function streamTablePredictions(opts: TableStreamPredictOptions): Promise<number> {
  const { predictor } = opts;
  const open = (header: readonly string[]): CellWriter => (opts.openWriter ? opts.openWriter(header) : CsvWriter.open(opts.out, header));
  const headerOf = (names: readonly string[]) => {
    const { carried, inputs, outputs } = predictionColumns(predictor, names);
    return [...carried, ...inputs, ...outputs];
  };
  let header: readonly string[] | null = opts.targetNames ? headerOf(opts.targetNames) : null;
  let writer: CellWriter | null = header ? open(header) : null;
  const abortOnSignal = () => {
    writer?.abort();
    process.exit(130);
  };
  process.once('SIGINT', abortOnSignal);
  process.once('SIGTERM', abortOnSignal);
  const progress = new Progress({ total: opts.total, sink: opts.progress, label: opts.label, unit: 'pts' });
  let seen = 0;
  let written = 0;
  let dropped = 0;
  let first: { row: number; column: string } | null = null;
  try {
    for await (const chunk of opts.targets) {
      const table = await predictTargets(predictor, chunk, {
        chunk: opts.chunk ?? 4096, strict: opts.strict ?? false, rowOffset: (opts.firstRow ?? 0) + seen,
        onDropped: (count, f) => { dropped += count; first ??= f; },
      }, opts.targetsLabel ?? 'targets');
      if (!writer) {
        header = table.names;
        writer = open(header);
      } else if (table.names.join('\0') !== header!.join('\0')) {
        throw new Error(`${opts.label}: internal: prediction columns ${table.names.join(', ')} differ from the output header ${header!.join(', ')}`);
      }
      const nOut = predictor.outputColumns().length;
      opts.onChunk?.(table.columns.slice(table.columns.length - nOut).map((c) => c.values as Float64Array), written, table.rows);
      const cells = new Array<number | string | null>(table.names.length);
      for (let i = 0; i < table.rows; i++) {
        for (let j = 0; j < cells.length; j++) cells[j] = table.columns[j]!.values[i]!;
        writer.writeCells(cells);
      }
      seen += chunk.rows;
      written += table.rows;
      progress.update(Math.min(seen, opts.total));
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    if (!writer) {
      if (!opts.allowEmpty) throw new UserError(`${opts.label}: no target points`);
      throw new UserError(`${opts.label}: internal: an empty output needs targetNames`);
    }
    if (written === 0 && !(opts.allowEmpty && seen === 0)) {
      if (seen === 0) throw new UserError(`${opts.label}: no target points`);
      throw new UserError(`${opts.label}: every target row lacks a coordinate, time or covariate; nothing to predict`);
    }
    progress.finish();
    writer.close();
  } catch (e) {
    writer?.abort();
    throw e;
  } finally {
    process.off('SIGINT', abortOnSignal);
    process.off('SIGTERM', abortOnSignal);
  }
  if (dropped > 0 && first) {
    const f = first as { row: number; column: string };
    opts.warn(`${opts.label}: ${opts.targetsLabel ?? 'targets'}: ${dropped} row${dropped > 1 ? 's' : ''} dropped for a missing coordinate, time or covariate ` +
      `(first: row ${f.row}, column '${f.column}'); use --strict to make this an error`);
  }
  return written;
}
