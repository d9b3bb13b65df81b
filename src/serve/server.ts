/**
 * The HTTP prediction service (`bsa-tnp serve`): one loaded model answering POST /predict, with
 * GET /healthz, GET /metrics (Prometheus) and GET / (an index). Built on node:http. Every refusal
 * is a JSON error (http-error.ts), including those Node raises before a request exists (malformed
 * HTTP, headers too large or too slow: the 'clientError' hook). `close()` is the graceful
 * shutdown: stop accepting, finish what was accepted (queued requests included), then close.
 */
import * as http from 'node:http';
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Predictor } from '../api/predictor.js';
import { UserError } from '../api/errors.js';
import { didYouMean } from '../models/config-checks.js';
import { ClientGoneError, HttpError } from './http-error.js';
import { type ServeLimits } from './limits.js';
import { Metrics, type Route } from './metrics.js';
import { handlePredict, send } from './predict-route.js';
import { SerialQueue } from './queue.js';

export interface ServeConfig {
  predictor: Predictor;
  /** Model name for /healthz (the folder's name). */
  model: string;
  /** The backend, in words (/healthz). */
  backend: string;
  limits: ServeLimits;
  /** Target points per model call. */
  chunk: number;
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** One JSON object per event (request answered, shutdown); omit for silence. */
  log?: (event: Record<string, unknown>) => void;
}

export interface RunningServer {
  /** "http://127.0.0.1:8080" */
  url: string;
  port: number;
  metrics: Metrics;
  queue: SerialQueue;
  /** /predict requests between arrival and answer (being read, parsed, waiting or predicted). */
  pending(): number;
  /** Graceful shutdown; resolves when every connection is closed. Idempotent. */
  close(): Promise<void>;
}

const ENDPOINTS: Readonly<Record<string, readonly string[]>> = {
  '/predict': ['POST'],
  '/healthz': ['GET', 'HEAD'],
  '/metrics': ['GET', 'HEAD'],
  '/': ['GET', 'HEAD'],
};

/** Most open connections; more are closed by Node at once (a flood cannot exhaust file handles). */
const MAX_CONNECTIONS = 1024;
/** After refusing a request whose body was not read, how long to drain it before closing. */
const LINGER_MS = 1000;

function routeOf(path: string): Route {
  return path in ENDPOINTS ? (path as Route) : 'other';
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  send(res, status, 'application/json; charset=utf-8', `${JSON.stringify(body)}\n`, headers);
}

/** Starts the service; resolves once it listens. */
export async function startServer(config: ServeConfig): Promise<RunningServer> {
  const { predictor, limits } = config;
  const queue = new SerialQueue(limits.queue);
  const metrics = new Metrics();
  const log = config.log ?? (() => {});
  let shuttingDown = false;

  /** Requests being handled per connection, and answers whose headers may still change. */
  const active = new Map<net.Socket, number>();
  const pending = { count: 0 };
  const responses = new Set<http.ServerResponse>();
  const queueState = () => ({ in_flight: queue.running ? 1 : 0, waiting: queue.length, capacity: queue.capacity, pending: pending.count });

  /** Sends `e` as a JSON error; a request whose body is unread is drained briefly, then its connection closed. */
  const answerError = (req: http.IncomingMessage, res: http.ServerResponse, e: unknown): void => {
    if (e instanceof ClientGoneError) {
      req.socket.destroy();
      return;
    }
    let err: HttpError;
    if (e instanceof HttpError) err = e;
    else if (e instanceof UserError) err = new HttpError(422, e.message);
    else {
      const msg = e instanceof Error ? e.message : String(e);
      log({ event: 'internal_error', message: msg, stack: e instanceof Error ? e.stack : undefined });
      err = new HttpError(500, `internal error: ${msg}; please report it`);
    }
    if (res.headersSent) {
      req.socket.destroy();
      return;
    }
    const headers: Record<string, string> = { ...err.headers };
    const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
    if (hasBody && !req.complete) {
      headers.Connection = 'close';
      req.resume();
      res.once('finish', () => setTimeout(() => req.socket.destroy(), LINGER_MS).unref());
    }
    sendJson(res, err.status, err.body(), headers);
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const arrived = performance.now();
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://service');
    } catch {
      url = new URL('http://service/?');
    }
    const route = routeOf(url.pathname);
    let summary: Record<string, unknown> = {};
    res.once('finish', () => {
      const seconds = (performance.now() - arrived) / 1000;
      metrics.countRequest(route, res.statusCode);
      if (route === '/predict') metrics.observeLatency(seconds);
      log({ event: 'request', method: req.method, path: url.pathname.slice(0, 200), status: res.statusCode, ms: Math.round(seconds * 10000) / 10, ...summary });
    });
    const socket = req.socket;
    active.set(socket, (active.get(socket) ?? 0) + 1);
    res.once('close', () => {
      if (!res.writableFinished) metrics.clientAborts++;
      const n = (active.get(socket) ?? 1) - 1;
      active.set(socket, n);
      // During a shutdown a connection closes once its last answer is out (no keep-alive).
      if (shuttingDown && n === 0) socket.end();
    });
    if (shuttingDown) res.setHeader('Connection', 'close');
    else responses.add(res);
    res.once('close', () => responses.delete(res));
    try {
      const methods = ENDPOINTS[url.pathname];
      if (methods === undefined) {
        const guess = didYouMean(url.pathname, Object.keys(ENDPOINTS));
        throw new HttpError(404, `no endpoint '${url.pathname.slice(0, 200)}'${guess !== undefined ? `; did you mean '${guess}'?` : ''} ` +
          '(endpoints: POST /predict, GET /healthz, GET /metrics, GET /)');
      }
      if (!methods.includes(req.method ?? '')) {
        throw new HttpError(405, `${url.pathname} takes ${methods.filter((m) => m !== 'HEAD').join(' or ')}, got ${req.method}`, {}, { Allow: methods.join(', ') });
      }
      if (url.pathname === '/predict') {
        if (shuttingDown) throw new HttpError(503, 'the service is shutting down; retry on another instance', {}, { 'Retry-After': '1' });
        const s = await handlePredict({ predictor, queue, metrics, limits, chunk: config.chunk, pending }, req, res, url, arrived);
        summary = { ...s };
      } else if (url.pathname === '/healthz') {
        sendJson(res, shuttingDown ? 503 : 200, {
          status: shuttingDown ? 'shutting down' : 'ok',
          model: config.model,
          backend: config.backend,
          queue: queueState(),
          columns: {
            context: [...predictor.layout.coordinates, ...predictor.layout.values],
            targets: predictor.layout.coordinates,
            outputs: predictor.outputColumns(),
          },
          limits,
          uptime_s: Math.round((Date.now() - metrics.started) / 1000),
        });
      } else if (url.pathname === '/metrics') {
        send(res, 200, 'text/plain; version=0.0.4; charset=utf-8', metrics.render(queueState()));
      } else {
        sendJson(res, 200, {
          service: 'bsa-tnp', model: config.model, backend: config.backend,
          endpoints: {
            'POST /predict': 'predictions at target points or on a grid from context observations (JSON or CSV)',
            'GET /healthz': 'model, backend, queue and limits',
            'GET /metrics': 'Prometheus metrics',
          },
        });
      }
    } catch (e) {
      answerError(req, res, e);
    }
  };

  const server = http.createServer({
    headersTimeout: limits.headerTimeoutMs,
    // Backstop only: the body timer (body.ts) answers slow bodies with a JSON 408 first.
    requestTimeout: limits.headerTimeoutMs + limits.bodyTimeoutMs + 5000,
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(limits.headerTimeoutMs / 4))),
  }, (req, res) => { void handle(req, res); });
  server.maxConnections = MAX_CONNECTIONS;
  server.on('connection', (socket: net.Socket) => {
    active.set(socket, 0);
    socket.once('close', () => active.delete(socket));
  });
  // A socket silent for longer than any request may take is dropped (a client that never reads).
  server.timeout = limits.timeoutMs + limits.bodyTimeoutMs + limits.headerTimeoutMs + 30_000;
  // Refuse an announced oversized body before the client sends it (Expect: 100-continue).
  server.on('checkContinue', (req, res) => {
    const n = Number(req.headers['content-length'] ?? 0);
    if (!(n > limits.maxBody)) res.writeContinue();
    void handle(req, res);
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    const inFlight = (socket as Duplex & { _httpMessage?: http.ServerResponse })._httpMessage;
    if (err.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent) {
      socket.destroy();
      return;
    }
    let status = 400;
    let body: Record<string, unknown> = { error: `malformed HTTP request (${err.code ?? err.message})`, status };
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      status = 408;
      body = { error: `the request headers did not arrive within ${limits.headerTimeoutMs} ms (server flag --header-timeout-ms)`, status, limit: 'header-timeout-ms', max: limits.headerTimeoutMs };
    } else if (err.code === 'HPE_HEADER_OVERFLOW') {
      status = 431;
      body = { error: 'request headers are too large (over 16 KiB)', status };
    }
    const text = `${JSON.stringify(body)}\n`;
    socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`);
    setTimeout(() => socket.destroy(), LINGER_MS).unref();
    metrics.countRequest('none', status);
    log({ event: 'client_error', status, code: err.code });
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => {
      reject(new UserError(`serve: cannot listen on ${config.host}:${config.port} (${e.code ?? e.message}${e.code === 'EADDRINUSE' ? ': the port is in use; pick another with --port' : ''})`));
    };
    server.once('error', onError);
    server.listen(config.port, config.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;

  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      shuttingDown = true;
      // Stop accepting. Not http.Server.close(): that also destroys every connection it deems
      // idle, including one whose last answer is ended but still being flushed to a slow reader.
      const closed = new Promise<void>((resolve) => net.Server.prototype.close.call(server, () => resolve()));
      // Logged once the listening socket is closed (close() closes it at once), so a client that
      // has read this line is refused: no window in which the kernel still takes new connections.
      log({ event: 'shutdown_start', queue: queueState() });
      for (const res of responses) if (!res.headersSent) res.setHeader('Connection', 'close');
      for (const [socket, n] of active) if (n === 0) socket.end();
      await queue.drain();
      // Answers still being written get a few seconds, then every connection is closed.
      const force = setTimeout(() => server.closeAllConnections(), 5000);
      await closed;
      clearTimeout(force);
      log({ event: 'shutdown_done' });
    })();
    return closing;
  };

  return { url: `http://${host}:${port}`, port, metrics, queue, pending: () => pending.count, close };
}
