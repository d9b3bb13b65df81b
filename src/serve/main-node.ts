/**
 * The service's lifecycle in a Node process (what `bsa-tnp serve` runs): create the backend,
 * load the model once, start the server, log, and on SIGTERM or SIGINT shut down gracefully
 * (stop accepting, finish accepted requests, release the model and backend) and resolve; a
 * second signal during the shutdown exits at once with code 130.
 */
import * as path from 'node:path';
import type { Precision } from '../kernels/bsa/desc.js';
import { type BackendName, createBackend, explainBackendError, loadPredictor } from '../api/load-node.js';
import type { ServeLimits } from './limits.js';
import { startServer } from './server.js';

export interface ServiceOptions {
  model: string;
  host: string;
  port: number;
  backend: BackendName;
  precision: Precision;
  chunk: number;
  limits: ServeLimits;
  /** Log each request as a JSON line on `stderr`. */
  logRequests: boolean;
}

export interface ServiceStreams {
  stdout: { write(text: string): unknown; isTTY?: boolean };
  stderr: { write(text: string): unknown };
}

/** Runs the service until a signal; returns the exit code (0 after a graceful shutdown). */
export async function runService(opts: ServiceOptions, io: ServiceStreams): Promise<number> {
  const handle = await createBackend(opts.backend, 'serve');
  try {
    const predictor = loadPredictor(opts.model, handle.backend, 'serve', { precision: opts.precision });
    try {
      const model = path.basename(path.resolve(opts.model));
      const running = await startServer({
        predictor, model, backend: handle.description, limits: opts.limits, chunk: opts.chunk, host: opts.host, port: opts.port,
        log: (event) => {
          if (event.event !== 'request' || opts.logRequests) io.stderr.write(`${JSON.stringify(event)}\n`);
        },
      });
      const info = { event: 'listening', url: running.url, model, folder: path.resolve(opts.model), backend: handle.description, pid: process.pid };
      io.stdout.write(io.stdout.isTTY
        ? `bsa-tnp serve: model '${model}' on ${handle.description}, listening on ${running.url} (POST /predict, GET /healthz, GET /metrics; Ctrl-C stops)\n`
        : `${JSON.stringify(info)}\n`);
      await new Promise<void>((resolve) => {
        let signals = 0;
        const onSignal = (signal: NodeJS.Signals) => {
          if (++signals > 1) {
            io.stderr.write(`${JSON.stringify({ event: 'shutdown_forced', signal })}\n`);
            process.exit(130);
          }
          io.stderr.write(`${JSON.stringify({ event: 'signal', signal })}\n`);
          void running.close().then(() => {
            process.off('SIGTERM', onSignal);
            process.off('SIGINT', onSignal);
            resolve();
          });
        };
        process.on('SIGTERM', onSignal);
        process.on('SIGINT', onSignal);
      });
      io.stdout.write(io.stdout.isTTY ? 'bsa-tnp serve: stopped\n' : `${JSON.stringify({ event: 'stopped' })}\n`);
      return 0;
    } finally {
      predictor.dispose();
    }
  } catch (e) {
    throw explainBackendError(e, handle, 'serve');
  } finally {
    handle.dispose();
  }
}
