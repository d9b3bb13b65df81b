/**
 * POST /predict: read and check the request (body.ts, request.ts), wait for the model in the
 * bounded queue (queue.ts), predict through the shared table API (`predictTable`), and answer
 * JSON `{"predictions": [...]}` or CSV. The time limit covers the queue wait and the prediction;
 * a running prediction checks it (and whether the client is still there) between chunks of
 * targets, yielding to the event loop each time so health checks and refusals stay prompt.
 */
import type * as http from 'node:http';
import { UserError } from '../api/errors.js';
import { predictTable } from '../api/predict-table.js';
import type { Predictor } from '../api/predictor.js';
import { type Table, TableError, makeTable, tableToRecords } from '../data/table.js';
import { formatNumber } from '../io/csv.js';
import { gridExtentWarning } from '../api/grid.js';
import { bodyText, readBody } from './body.js';
import { tableToCsv } from './csv-table.js';
import { ClientGoneError, HttpError, limitError } from './http-error.js';
import type { ServeLimits } from './limits.js';
import type { Metrics } from './metrics.js';
import { answerFormat, bodyKind } from './negotiate.js';
import { QueueFullError, type SerialQueue } from './queue.js';
import { type PredictRequest, contextColumns, parseCsvRequest, parseJsonRequest } from './request.js';

export interface PredictContext {
  predictor: Predictor;
  queue: SerialQueue;
  metrics: Metrics;
  limits: ServeLimits;
  chunk: number;
  /** /predict requests between arrival and answer (reading, parsing, waiting, predicting). */
  pending: { count: number };
}

/**
 * Requests read or held at once, at most: bodies in memory stay bounded (about this many times
 * --max-body) even when many clients upload at the same time.
 */
export function maxPending(limits: ServeLimits): number {
  return 2 * (limits.queue + 1);
}

function busy(ctx: PredictContext): HttpError {
  const wait = ctx.queue.estimatedWaitSeconds();
  return limitError(503, 'queue', ctx.limits.queue,
    `the service is busy: ${ctx.queue.length} requests are already waiting for the model (server flag --queue); retry in about ${wait} s`,
    { 'Retry-After': String(wait) });
}

/** What a /predict answer carried, for the request log. */
export interface PredictSummary {
  context: number;
  targets: number;
  queueMs: number;
  predictMs: number;
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Handles one /predict request; throws `HttpError`/`ClientGoneError` for the caller to answer. */
export async function handlePredict(ctx: PredictContext, req: http.IncomingMessage, res: http.ServerResponse, url: URL, arrived: number): Promise<PredictSummary> {
  const { limits } = ctx;
  // Refuse at once, before reading the body, when the queue is already full or too many
  // requests are being read: the client learns it without uploading, and memory stays bounded.
  if ((ctx.queue.running && ctx.queue.length >= ctx.queue.capacity) || ctx.pending.count >= maxPending(limits)) throw busy(ctx);
  ctx.pending.count++;
  try {
    return await predictOne(ctx, req, res, url, arrived);
  } finally {
    ctx.pending.count--;
  }
}

async function predictOne(ctx: PredictContext, req: http.IncomingMessage, res: http.ServerResponse, url: URL, arrived: number): Promise<PredictSummary> {
  const { limits } = ctx;
  const format = answerFormat(req.headers.accept);
  const kind = bodyKind(req.headers['content-type']);
  const text = bodyText(await readBody(req, limits));
  const parsed = kind === 'csv'
    ? parseCsvRequest(text, url.searchParams, ctx.predictor, limits)
    : parseJsonRequest(text, url.searchParams, ctx.predictor, limits);

  const abort = new AbortController();
  let queuedMs: number | null = null;
  const remaining = Math.max(0, limits.timeoutMs - (performance.now() - arrived));
  const deadline = setTimeout(() => abort.abort(limitError(504, 'timeout-ms', limits.timeoutMs,
    `the prediction did not finish within ${limits.timeoutMs} ms (server flag --timeout-ms; ${queuedMs === null ? 'still waiting in the queue' : `waited ${Math.round(queuedMs)} ms in the queue`}); ` +
    'send fewer target points or a smaller context, or retry when the service is less busy')), remaining);
  const onClose = () => {
    if (!res.writableFinished) abort.abort(new ClientGoneError('the client closed the connection before the answer'));
  };
  res.on('close', onClose);
  const enqueued = performance.now();
  let out: Table;
  let predictMs = 0;
  try {
    out = await ctx.queue.run(async () => {
      queuedMs = performance.now() - enqueued;
      const t0 = performance.now();
      try {
        return await predict(ctx, parsed, abort.signal);
      } finally {
        predictMs = performance.now() - t0;
        ctx.metrics.predictSeconds += predictMs / 1000;
      }
    }, abort.signal);
  } catch (e) {
    if (e instanceof QueueFullError) throw busy(ctx);
    throw e;
  } finally {
    clearTimeout(deadline);
    res.off('close', onClose);
  }
  ctx.metrics.contextPoints += parsed.context.rows;
  ctx.metrics.targetPoints += parsed.targets.rows;
  checkFinite(out, ctx.predictor, parsed);
  out = shortOutputs(out, ctx.predictor);

  const timing = `queue;dur=${(queuedMs ?? 0).toFixed(1)}, predict;dur=${predictMs.toFixed(1)}`;
  const warnings = [
    ...(parsed.grid ? [gridWarning(parsed, ctx.predictor)] : []),
    ...(parsed.ignored.length > 0 ? [`context column${parsed.ignored.length > 1 ? 's' : ''} ${parsed.ignored.map((n) => `'${n}'`).join(', ')} ` +
      `not used by the model (it uses ${contextColumns(ctx.predictor).join(', ')}); ignored`] : []),
  ].filter((w): w is string => w !== null);
  const warning = warnings.length > 0 ? warnings.join('; ') : null;
  if (format === 'csv') {
    // A CSV answer has no room for notes: the warning travels in a header.
    send(res, 200, 'text/csv; charset=utf-8', tableToCsv(out), { 'Server-Timing': timing, ...(warning ? { 'Bsa-Tnp-Warning': warning } : {}) });
  } else {
    const grid = parsed.grid && {
      bounds: [parsed.grid.bounds.x0, parsed.grid.bounds.x1, parsed.grid.bounds.y0, parsed.grid.bounds.y1],
      size: [parsed.grid.size.width, parsed.grid.size.height],
      order: 'row-major, y ascending: point r*width + c is column c of row r',
    };
    send(res, 200, 'application/json; charset=utf-8', JSON.stringify({ predictions: tableToRecords(out), ...(grid ? { grid } : {}), ...(warnings.length > 0 ? { warnings } : {}) }), { 'Server-Timing': timing });
  }
  return { context: parsed.context.rows, targets: parsed.targets.rows, queueMs: Math.round((queuedMs ?? 0) * 10) / 10, predictMs: Math.round(predictMs * 10) / 10 };
}

async function predict(ctx: PredictContext, parsed: PredictRequest, signal: AbortSignal): Promise<Table> {
  signal.throwIfAborted();
  try {
    return await predictTable(ctx.predictor, parsed.context, parsed.targets, {
      chunk: ctx.chunk,
      // An HTTP API refuses a row with a missing coordinate (422 naming row and column) rather than
      // silently answering fewer rows; a missing output value in a context row is a legitimate
      // missing observation (that row is not context), as on the command line.
      strict: true,
      onChunk: async () => {
        await yieldToEventLoop();
        signal.throwIfAborted();
      },
    });
  } catch (e) {
    if (e instanceof UserError || e instanceof TableError) throw new HttpError(422, httpText(e.message));
    throw e;
  }
}

/** A prediction API message as the service's client should read it: no command prefix, no CLI flag. */
function httpText(message: string): string {
  return message.replace(/^serve: /, '')
    .replace(' (--strict: rows with a missing coordinate, time or covariate are errors)',
      '; the service needs every coordinate, time and covariate (only an output value may be null)');
}

/** Non-finite outputs (coordinates far outside anything the model has seen) are refused, naming the row. */
function checkFinite(out: Table, predictor: Predictor, parsed: PredictRequest): void {
  const outputs = new Set(predictor.outputColumns());
  out.columns.forEach((c, j) => {
    if (!outputs.has(out.names[j]!) || c.kind !== 'number') return;
    const i = c.values.findIndex((v) => !Number.isFinite(v));
    if (i < 0) return;
    const coords = predictor.layout.coordinates.map((n) => {
      const col = parsed.targets.columns[parsed.targets.names.indexOf(n)]!;
      return `${n}=${col.values[i]}`;
    });
    throw new HttpError(422, `targets row ${i + 1} (${coords.join(', ')}): the model's ${out.names[j]} is not a finite number; ` +
      'the coordinates or the context values are probably far outside the range the model was trained on');
  });
}

/**
 * The model's outputs are float32 numbers; as float64 they print with 16 digits in JSON
 * (5.220717430114746). Each is replaced by the shortest decimal that reads back to the same
 * float32 (5.2207174), as the CSV writer prints them: the same value to float32 precision, and
 * JSON answers about 40 % smaller.
 */
function shortOutputs(out: Table, predictor: Predictor): Table {
  const outputs = new Set(predictor.outputColumns());
  const columns = out.columns.map((c, j) => (c.kind === 'number' && outputs.has(out.names[j]!)
    ? { kind: 'number' as const, values: Float64Array.from(c.values, (v) => Number(formatNumber(v))) }
    : c));
  return makeTable(out.names, columns, 'predictions');
}

/** Writes a complete answer. */
/** `gridExtentWarning` (api/grid.ts) for a grid request: most of the grid far from the context points. */
function gridWarning(parsed: PredictRequest, predictor: Predictor): string | null {
  const [cx, cy] = predictor.layout.coordinates;
  const col = (n: string | undefined) => {
    const i = n === undefined ? -1 : parsed.context.names.indexOf(n);
    const c = i < 0 ? undefined : parsed.context.columns[i];
    return c?.kind === 'number' ? c.values : null;
  };
  const x = col(cx), y = col(cy);
  return parsed.grid && x && y ? gridExtentWarning(parsed.grid.bounds, x, y, 'grid') : null;
}

export function send(res: http.ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void {
  const bytes = Buffer.from(body, 'utf8');
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': String(bytes.length), ...headers });
  res.end(bytes);
}
