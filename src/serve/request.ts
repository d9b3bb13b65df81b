/**
 * Turns a /predict request into context and target tables, checking everything that can be
 * checked before the request waits for the model: JSON syntax (400), the request's shape and
 * types, unknown fields (with a did-you-mean), numbers out of float32 range, the model's columns
 * and the point limits (all 422).
 *
 * Forms (README "HTTP service"):
 *   JSON  {"context": RECORDS | "CSV text", "targets": RECORDS | "CSV text" | {"grid": GRID}}
 *         RECORDS = [{"s0": 0.1, "s1": -0.3, "f": 1.2}, ...] with the model's column names;
 *         GRID = {"bounds": [x0, x1, y0, y1], "size": [width, height] | n}
 *   CSV   a text/csv body is the context; the targets are a grid given in the query string:
 *         POST /predict?grid=x0,x1,y0,y1&size=WxH
 */
import { makeGrid, parseGridBounds, parseGridSize, GridSpecError, type GridBounds, type GridSize } from '../api/grid.js';
import type { Predictor } from '../api/predictor.js';
import { type Table, TableError, makeTable, tableFromRecords } from '../data/table.js';
import { didYouMean } from '../models/config-checks.js';
import { checkNumber, tableFromCsvText } from './csv-table.js';
import { HttpError, limitError } from './http-error.js';
import type { ServeLimits } from './limits.js';

export interface PredictRequest {
  context: Table;
  targets: Table;
  /** Set when the targets are a grid (row-major, y ascending; api/grid.ts). */
  grid: { bounds: GridBounds; size: GridSize } | null;
  /** Context columns the model does not use (ignored; the answer says so). */
  ignored: string[];
}

type PointLimits = Pick<ServeLimits, 'maxContext' | 'maxTargets'>;

const TOP_FIELDS = ['context', 'targets'] as const;
const GRID_FIELDS = ['bounds', 'size'] as const;
const CSV_QUERY = ['grid', 'size'] as const;

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `a string`;
  if (typeof v === 'object') return 'an object';
  return `${typeof v === 'number' ? 'the number' : `a ${typeof v}`} ${JSON.stringify(v)}`;
}

/** Refuses keys outside `known`, naming the closest known one. */
function checkFields(obj: Record<string, unknown>, known: readonly string[], where: string): void {
  for (const key of Object.keys(obj)) {
    if (known.includes(key)) continue;
    const guess = didYouMean(key, known);
    throw new HttpError(422, `${where}unknown field '${key}'${guess !== undefined ? `; did you mean '${guess}'?` : ''} (fields: ${known.join(', ')})`,
      { field: key });
  }
}

/** Parses a JSON /predict body. */
export function parseJsonRequest(text: string, query: URLSearchParams, predictor: Predictor, limits: PointLimits): PredictRequest {
  for (const key of query.keys()) {
    throw new HttpError(422, `unknown query parameter '${key}': a JSON request carries everything in its body (the grid query parameters are for text/csv bodies)`);
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (e) {
    const detail = (e as Error).message;
    throw new HttpError(400, `request body is not valid JSON (${detail})${text.trim() === '' ? ': the body is empty' : ''}; ` +
      'expected {"context": [...], "targets": [...]} (NaN and Infinity are not JSON: send null for a missing value)');
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new HttpError(422, `request body: expected a JSON object {"context": ..., "targets": ...}, got ${describe(body)}`);
  }
  const obj = body as Record<string, unknown>;
  checkFields(obj, TOP_FIELDS, 'request body: ');
  for (const f of TOP_FIELDS) {
    if (obj[f] === undefined) throw new HttpError(422, `request body: missing field '${f}' (expected {"context": [...], "targets": [...]})`, { field: f });
  }
  const context = pointsTable(obj.context, 'context', limits.maxContext, 'max-context');
  const t = obj.targets;
  let targets: Table;
  let grid: PredictRequest['grid'] = null;
  if (t !== null && typeof t === 'object' && !Array.isArray(t)) {
    const g = t as Record<string, unknown>;
    checkFields(g, ['grid'], 'targets: ');
    if (g.grid === undefined) throw new HttpError(422, 'targets: expected an array of records, CSV text or {"grid": {"bounds": [x0, x1, y0, y1], "size": [width, height]}}, got an empty object');
    grid = jsonGrid(g.grid, limits);
    targets = gridTable(predictor, grid);
  } else {
    targets = pointsTable(t, 'targets', limits.maxTargets, 'max-targets');
  }
  return { context, targets, grid, ignored: checkColumns(predictor, context, targets) };
}

/** Parses a text/csv body (the context) with the grid in the query string. */
export function parseCsvRequest(text: string, query: URLSearchParams, predictor: Predictor, limits: PointLimits): PredictRequest {
  for (const key of query.keys()) {
    if ((CSV_QUERY as readonly string[]).includes(key)) continue;
    const guess = didYouMean(key, CSV_QUERY);
    throw new HttpError(422, `unknown query parameter '${key}'${guess !== undefined ? `; did you mean '${guess}'?` : ''} (a text/csv body takes ?grid=x0,x1,y0,y1&size=WxH)`, { field: key });
  }
  const gridText = query.get('grid');
  if (gridText === null) {
    throw new HttpError(422, 'a text/csv body is the context; give the targets as a grid in the query (POST /predict?grid=x0,x1,y0,y1&size=WxH), ' +
      'or send JSON {"context": "<csv>", "targets": "<csv>"} for target points');
  }
  const context = tableFromCsvText(text, 'context', 400);
  limitPoints(context.rows, 'context', limits.maxContext, 'max-context');
  let grid: PredictRequest['grid'];
  try {
    const bounds = parseGridBounds(gridText, 'grid');
    const size = parseGridSize(query.get('size') ?? '128x128', 'size', Number.MAX_SAFE_INTEGER);
    limitPoints(size.width * size.height, 'grid', limits.maxTargets, 'max-targets');
    grid = { bounds, size };
  } catch (e) {
    if (e instanceof GridSpecError) throw new HttpError(422, e.message);
    throw e;
  }
  const targets = gridTable(predictor, grid);
  return { context, targets, grid, ignored: checkColumns(predictor, context, targets) };
}

function limitPoints(n: number, label: string, max: number, flag: string): void {
  if (n > max) {
    throw limitError(422, flag, max, `${label}: ${n} points is more than the limit of ${max} per request (server flag --${flag}); split the request`);
  }
}

/** Records or CSV text → table, with types, numbers and the point limit checked. */
function pointsTable(v: unknown, label: string, max: number, flag: string): Table {
  if (typeof v === 'string') {
    const table = tableFromCsvText(v, label);
    limitPoints(table.rows, label, max, flag);
    if (table.rows === 0) throw new HttpError(422, `${label}: the CSV has a header but no rows; at least one point is needed`);
    return table;
  }
  if (!Array.isArray(v)) {
    throw new HttpError(422, `${label}: expected an array of records like {"s0": 0.1, "s1": -0.3, ...} or CSV text, got ${describe(v)}`);
  }
  limitPoints(v.length, label, max, flag);
  if (v.length === 0) throw new HttpError(422, `${label}: the array is empty; at least one point is needed`);
  v.forEach((r, i) => {
    if (r === null || typeof r !== 'object' || Array.isArray(r)) throw new HttpError(422, `${label}[${i}]: expected a record (an object of column values), got ${describe(r)}`);
    for (const [k, x] of Object.entries(r as Record<string, unknown>)) {
      if (typeof x === 'number') checkNumber(x, `${label}[${i}].${k}`);
      else if (x !== null && typeof x !== 'string') throw new HttpError(422, `${label}[${i}].${k}: expected a number, a string or null, got ${describe(x)}`);
    }
  });
  try {
    return tableFromRecords(v, label);
  } catch (e) {
    if (e instanceof TableError) throw new HttpError(422, e.message);
    throw e;
  }
}

function jsonGrid(v: unknown, limits: PointLimits): { bounds: GridBounds; size: GridSize } {
  const shape = 'targets.grid: expected {"bounds": [x0, x1, y0, y1], "size": [width, height]}';
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new HttpError(422, `${shape}, got ${describe(v)}`);
  const g = v as Record<string, unknown>;
  checkFields(g, GRID_FIELDS, 'targets.grid: ');
  const b = g.bounds;
  if (!Array.isArray(b) || b.length !== 4 || b.some((x) => typeof x !== 'number')) {
    throw new HttpError(422, `targets.grid.bounds: expected four numbers [x0, x1, y0, y1], got ${JSON.stringify(b) ?? 'nothing'}`);
  }
  (b as number[]).forEach((x, i) => checkNumber(x, `targets.grid.bounds[${i}]`));
  const s = g.size;
  const dims = typeof s === 'number' ? [s, s] : s;
  if (!Array.isArray(dims) || dims.length !== 2 || dims.some((x) => typeof x !== 'number' || !Number.isSafeInteger(x) || x < 1)) {
    throw new HttpError(422, `targets.grid.size: expected [width, height] (whole numbers ≥ 1) or one number n for n×n, got ${JSON.stringify(s) ?? 'nothing'}`);
  }
  const [width, height] = dims as [number, number];
  limitPoints(width * height, 'targets.grid', limits.maxTargets, 'max-targets');
  try {
    return { bounds: parseGridBounds((b as number[]).join(','), 'targets.grid.bounds'), size: { width, height } };
  } catch (e) {
    if (e instanceof GridSpecError) throw new HttpError(422, e.message);
    throw e;
  }
}

/** The grid's points as a table with the model's two coordinate columns. */
function gridTable(predictor: Predictor, grid: { bounds: GridBounds; size: GridSize }): Table {
  const cols = predictor.layout.coordinates;
  if (cols.length !== 2) {
    throw new HttpError(422, `a grid needs a model with exactly 2 coordinate columns; this model takes ${cols.length} (${cols.join(', ')}); send target points instead`);
  }
  const g = makeGrid(grid.bounds, grid.size);
  return makeTable(cols, [{ kind: 'number', values: g.x }, { kind: 'number', values: g.y }], 'grid');
}

/**
 * The model's columns must be present (context: coordinates and values; targets: coordinates).
 * Other context columns (a station id, another pollutant) are ignored, as `predict` ignores them,
 * and returned so that the answer can say so. (A misspelt model column cannot hide among them: the
 * model column would be missing, which is refused above with a did-you-mean.) Extra target columns
 * are carried through to the answer.
 */
function checkColumns(predictor: Predictor, context: Table, targets: Table): string[] {
  const { coordinates } = predictor.layout;
  const used = contextColumns(predictor);
  const need = (table: Table, names: readonly string[], label: string) => {
    for (const n of names) {
      if (table.names.includes(n)) continue;
      const guess = didYouMean(n, table.names);
      throw new HttpError(422, `${label}: no column '${n}'${guess !== undefined ? ` (is '${guess}' meant to be '${n}'?)` : ''}; ` +
        `the model needs ${names.join(', ')}; got ${table.names.join(', ')}`);
    }
  };
  need(context, used, 'context');
  need(targets, coordinates, 'targets');
  return context.names.filter((n) => !used.includes(n));
}

/** The columns a context must have, in the model's order: coordinates, then values. */
export function contextColumns(predictor: Predictor): string[] {
  return [...predictor.layout.coordinates, ...predictor.layout.values];
}
