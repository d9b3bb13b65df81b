/**
 * `bsa-tnp serve`: parses the flags of the HTTP prediction service and starts it
 * (src/serve/main-node.ts); everything else lives in src/serve.
 */
import * as path from 'node:path';
import { PRECISIONS, type Precision } from '../../kernels/bsa/desc.js';
import { parseBackendName } from '../../api/load-node.js';
import { type CliContext, type CommandSpec, type ParsedArgs, UsageError } from '../args.js';
import { DEFAULT_LIMITS, DEFAULT_SERVE_CHUNK, type ServeLimits, formatBytes, parseByteSize } from '../../serve/limits.js';
import { runService } from '../../serve/main-node.js';
import { intOption } from './predict.js';

function str(args: ParsedArgs, name: string): string | undefined {
  const v = args.values[name];
  return typeof v === 'string' ? v : undefined;
}

async function run(args: ParsedArgs, ctx: CliContext): Promise<number> {
  const cmd = 'serve';
  const model = str(args, 'model') ?? args.positionals[0];
  if (str(args, 'model') !== undefined && args.positionals.length > 0) {
    throw new UsageError('bsa-tnp serve: give the model folder once (--model DIR or a positional argument), got both');
  }
  if (model === undefined) throw new UsageError('bsa-tnp serve: missing --model DIR');
  const port = intOption(args, 'port', cmd, 8080, 0);
  if (port > 65535) throw new UsageError(`bsa-tnp serve: --port must be 0..65535 (0 picks a free port), got ${port}`);
  const maxBodyText = str(args, 'max-body');
  const maxBody = maxBodyText === undefined ? DEFAULT_LIMITS.maxBody : parseByteSize(maxBodyText);
  if (maxBody === null) throw new UsageError(`bsa-tnp serve: --max-body must be a size such as 10mb, 512kb or 100000 (bytes), got '${maxBodyText}'`);
  const limits: ServeLimits = {
    maxBody,
    maxContext: intOption(args, 'max-context', cmd, DEFAULT_LIMITS.maxContext),
    maxTargets: intOption(args, 'max-targets', cmd, DEFAULT_LIMITS.maxTargets),
    timeoutMs: intOption(args, 'timeout-ms', cmd, DEFAULT_LIMITS.timeoutMs),
    queue: intOption(args, 'queue', cmd, DEFAULT_LIMITS.queue, 0),
    bodyTimeoutMs: intOption(args, 'body-timeout-ms', cmd, DEFAULT_LIMITS.bodyTimeoutMs),
    headerTimeoutMs: intOption(args, 'header-timeout-ms', cmd, DEFAULT_LIMITS.headerTimeoutMs),
  };
  const backend = parseBackendName(args.values.backend, cmd);
  const precision = (str(args, 'precision') ?? 'f32') as Precision;
  if (!PRECISIONS.includes(precision)) throw new UsageError(`bsa-tnp serve: --precision must be one of ${PRECISIONS.join(', ')}, got '${precision}'`);
  if (precision !== 'f32' && backend !== 'webgpu') throw new UsageError(`bsa-tnp serve: --precision ${precision} needs --backend webgpu (the CPU backend computes in f32)`);
  return runService({
    model: path.resolve(ctx.cwd, model),
    host: str(args, 'host') ?? '127.0.0.1',
    port, backend, precision, limits,
    chunk: intOption(args, 'chunk', cmd, DEFAULT_SERVE_CHUNK),
    logRequests: args.values.quiet !== true,
  }, ctx);
}

export const serveCommand: CommandSpec = {
  name: 'serve',
  summary: 'Serve predictions over HTTP (POST /predict, GET /healthz, GET /metrics).',
  positionals: { names: ['[model-folder]'], min: 0, max: 1 },
  description: `
Loads the model once and answers POST /predict with JSON records or CSV: the context observations
and the target points (or a grid) in, mean, std and 90% interval per target out, in target order,
with extra target fields (ids) carried through. Requests are predicted one at a time; up to
--queue more wait, and beyond that the answer is 503 with Retry-After. Every refusal is a JSON
error naming the problem (and the limit, for limits). SIGTERM or Ctrl-C stops accepting, finishes
the requests already accepted and exits 0. See README.md, "HTTP service", for the request format.

Prints one line on stdout when listening (a JSON line with the URL when stdout is not a
terminal); logs one JSON line per request on stderr (--quiet: none).

Examples:
  bsa-tnp serve --model models/demo-gp2d
  curl -s localhost:8080/predict -H 'Content-Type: application/json' \\
    -d '{"context": [{"s0": 0, "s1": 0, "f": 1.2}], "targets": [{"id": "a", "s0": 0.5, "s1": 0}]}'`,
  options: {
    model: { type: 'string', short: 'm', value: 'DIR', description: 'model folder (config.json + model.safetensors); may also be given as the positional argument' },
    port: { type: 'string', short: 'p', value: 'N', description: 'TCP port (0 picks a free one)', default: '8080' },
    host: { type: 'string', value: 'ADDR', description: 'address to listen on (0.0.0.0: every interface)', default: '127.0.0.1' },
    backend: { type: 'string', value: 'cpu|webgpu', description: 'compute backend', default: 'cpu' },
    precision: { type: 'string', value: 'f32|f16|f16-fast', description: 'attention precision on webgpu (see predict --help)', default: 'f32' },
    queue: { type: 'string', value: 'N', description: 'requests that may wait while one predicts; more get 503', default: String(DEFAULT_LIMITS.queue) },
    'max-body': { type: 'string', value: 'SIZE', description: 'largest request body; larger gets 413', default: formatBytes(DEFAULT_LIMITS.maxBody).replace(' MiB', 'mb') },
    'max-context': { type: 'string', value: 'N', description: 'most context points per request; more gets 422', default: String(DEFAULT_LIMITS.maxContext) },
    'max-targets': { type: 'string', value: 'N', description: 'most target points per request (grids included); more gets 422', default: String(DEFAULT_LIMITS.maxTargets) },
    'timeout-ms': { type: 'string', value: 'MS', description: 'time from arrival to answer, queue wait included; longer gets 504', default: String(DEFAULT_LIMITS.timeoutMs) },
    'body-timeout-ms': { type: 'string', value: 'MS', description: 'time for a request body to arrive; slower gets 408', default: String(DEFAULT_LIMITS.bodyTimeoutMs) },
    'header-timeout-ms': { type: 'string', value: 'MS', description: 'time for request headers to arrive; slower gets 408', default: String(DEFAULT_LIMITS.headerTimeoutMs) },
    chunk: { type: 'string', value: 'N', description: 'target points per model call (memory; how often a request checks its deadline)', default: String(DEFAULT_SERVE_CHUNK) },
    quiet: { type: 'boolean', description: 'do not log requests on stderr' },
  },
  run,
};
