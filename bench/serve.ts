/**
 * HTTP service benchmark (must-show 2): starts the real `bsa-tnp serve` process on a backend with
 * a model folder (default: the shipped demo model), checks one answer against an in-process
 * `predictTable` on the CPU, then drives POST /predict with autocannon (programmatic API) at
 * 1, 8 and 64 concurrent clients, each request carrying a 300-point context and 10,000 target
 * points as JSON records.
 *
 *   npm run bench -- serve [--backend cpu|webgpu] [--model models/demo-gp2d] [--clients 1,8,64]
 *                          [--context 300] [--targets 10000] [--rounds 1] [--chunk 1024]
 *   (GPU machine: bash scripts/gpu-bundle.sh, then node .gpu/bundle/bench.js serve --backend webgpu,
 *    from the repository root: the model path is relative to the working directory)
 *
 * Each level sends max(8, clients × rounds) requests; the service's queue is sized so that every
 * client fits (queue = the largest client count), and the time limit is an hour, so no request
 * should be refused: a 503 or 504 would show in `status_5xx`/`non2xx` and mean a bug.
 * Prints one JSON line per level:
 *   {"bench":"serve","backend":…,"clients":64,"requests":…,"ok_2xx":…,"non2xx":…,"status_5xx":…,
 *    "errors":…,"timeouts":…,"seconds":…,"requests_per_s":…,"points_per_s":…,
 *    "latency_ms":{"p50":…,"p90":…,"p99":…,"mean":…,"max":…},"server_predict_s":…}
 * requests_per_s = answered 2xx / wall seconds of the level; server_predict_s = the service's own
 * time encoding and predicting during the level (from /metrics), the rest is queueing, JSON
 * and HTTP. Requests are predicted one at a time (one context per model), so latency grows
 * with the number of clients while throughput stays that of one request after another.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { createBackend, loadPredictor } from '../src/api/load-node.js';
import { predictTable } from '../src/api/predict-table.js';
import { Rng } from '../src/engine/random.js';
import { getColumn, tableFromRecords } from '../src/data/table.js';
import { arg } from './args.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));

/**
 * The command line to start: bin/bsa-tnp.js in the repository, or cli.js beside this file when
 * it runs from the GPU machine's bundle (scripts/gpu-bundle.sh), which has no TypeScript loader.
 */
function cliEntry(): string {
  const bundled = path.join(HERE, 'cli.js');
  return fs.existsSync(bundled) ? bundled : path.resolve(HERE, '..', 'bin', 'bsa-tnp.js');
}

interface Served {
  url: string;
  stop(): Promise<number | null>;
}

function startService(args: string[]): Promise<Served> {
  const child = spawn(process.execPath, [cliEntry(), 'serve', '--port', '0', '--quiet', ...args]);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let err = '';
  child.stderr.on('data', (d: Buffer) => { err += d.toString(); process.stderr.write(d); });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!out.includes('\n')) return;
      const info = JSON.parse(out.split('\n')[0]!) as { url: string };
      resolve({ url: info.url, stop: async () => { child.kill('SIGTERM'); return exited; } });
    });
    void exited.then((code) => reject(new Error(`bench serve: the service exited with ${code} before listening:\n${err}`)));
  });
}

/**
 * One request on a fresh connection (agent: false): a reused keep-alive connection that the
 * service closes for idleness at the same moment would fail the bench for no reason of its own.
 */
function call(url: string, body?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: body === undefined ? 'GET' : 'POST', agent: false, headers: body === undefined ? {} : { 'Content-Type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Scrapes one unlabelled sample from /metrics. */
async function metric(url: string, name: string): Promise<number> {
  const { text } = await call(`${url}/metrics`);
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

export async function run(args: string[]): Promise<void> {
  const backend = arg(args, 'backend', 'cpu');
  const model = path.resolve(arg(args, 'model', 'models/demo-gp2d'));
  const clients = arg(args, 'clients', '1,8,64').split(',').map(Number);
  const nc = Number(arg(args, 'context', '300'));
  const nt = Number(arg(args, 'targets', '10000'));
  const rounds = Number(arg(args, 'rounds', '1'));
  const chunk = arg(args, 'chunk', '1024');

  // A smooth field observed with noise at scattered points; targets on a 100 × 100 layout in [-2, 2]².
  const rng = Rng.fromSeed(1);
  const context = Array.from({ length: nc }, () => {
    const s0 = -2 + 4 * rng.uniform();
    const s1 = -2 + 4 * rng.uniform();
    return { s0, s1, f: Math.sin(2 * s0) * Math.cos(s1) + 0.1 * rng.normal() };
  });
  const side = Math.ceil(Math.sqrt(nt));
  const targets = Array.from({ length: nt }, (_, i) => ({ s0: -2 + (4 * (i % side)) / (side - 1), s1: -2 + (4 * Math.floor(i / side)) / (side - 1) }));
  const body = JSON.stringify({ context, targets });

  const served = await startService(['--model', model, '--backend', backend, '--queue', String(Math.max(...clients)),
    '--timeout-ms', '3600000', '--max-targets', String(Math.max(nt, 1_000_000)), '--chunk', chunk]);
  try {
    const health = JSON.parse((await call(`${served.url}/healthz`)).text) as { backend: string };
    // Check before timing: one answer against predictTable in this process on the CPU.
    const t0 = performance.now();
    const res = await call(`${served.url}/predict`, body);
    const firstMs = performance.now() - t0;
    const answer = JSON.parse(res.text) as { predictions: { f_mean: number; f_std: number }[] };
    if (res.status !== 200 || answer.predictions.length !== nt) throw new Error(`bench serve: check request got ${res.status}`);
    const cpu = await createBackend('cpu', 'bench');
    const predictor = loadPredictor(model, cpu.backend, 'bench');
    const want = await predictTable(predictor, tableFromRecords(context), tableFromRecords(targets));
    predictor.dispose();
    cpu.dispose();
    let maxDiff = 0;
    for (const name of ['f_mean', 'f_std'] as const) {
      const col = getColumn(want, name).values as Float64Array;
      answer.predictions.forEach((p, i) => { maxDiff = Math.max(maxDiff, Math.abs(p[name] - col[i]!) / (1 + Math.abs(col[i]!))); });
    }
    const tol = backend === 'cpu' ? 1e-5 : 1e-3;
    if (!(maxDiff <= tol)) throw new Error(`bench serve: served predictions differ from predictTable by ${maxDiff} (> ${tol})`);
    process.stdout.write(`${JSON.stringify({ bench: 'serve', check: 'ok', backend: health.backend, context: nc, targets: nt, body_bytes: body.length, max_rel_diff_vs_cpu: maxDiff, first_request_ms: Math.round(firstMs) })}\n`);

    for (const c of clients) {
      const amount = Math.max(8, c * rounds);
      const predictBefore = await metric(served.url, 'bsa_tnp_predict_seconds_total');
      const r = await autocannon({
        url: `${served.url}/predict`, method: 'POST', headers: { 'Content-Type': 'application/json' }, body,
        connections: c, amount, timeout: 3600,
      });
      const predictAfter = await metric(served.url, 'bsa_tnp_predict_seconds_total');
      const ok = r['2xx'];
      process.stdout.write(`${JSON.stringify({
        bench: 'serve', backend: health.backend, clients: c, context: nc, targets: nt, requests: amount,
        ok_2xx: ok, non2xx: r.non2xx, status_5xx: r['5xx'], errors: r.errors, timeouts: r.timeouts,
        seconds: Math.round(r.duration * 100) / 100,
        requests_per_s: Math.round((ok / r.duration) * 1000) / 1000,
        points_per_s: Math.round((ok * nt) / r.duration),
        latency_ms: { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, mean: Math.round(r.latency.mean), max: r.latency.max },
        server_predict_s: Math.round((predictAfter - predictBefore) * 100) / 100,
      })}\n`);
    }
  } finally {
    const code = await served.stop();
    if (code !== 0) process.stderr.write(`bench serve: the service exited with ${code} after SIGTERM\n`);
  }
}
