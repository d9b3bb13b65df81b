/**
 * Test helpers for the HTTP service: an in-process server on 127.0.0.1 with an ephemeral port
 * over a small random model, the real `bsa-tnp serve` process (spawned, its URL read from its
 * first stdout line), and a raw-socket HTTP client for requests no well-behaved client sends
 * (stalls, truncations, huge bodies, broken HTTP).
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import { loadPredictor } from '../../src/api/load-node.js';
import type { Predictor } from '../../src/api/predictor.js';
import { CpuBackend } from '../../src/engine/cpu/backend.js';
import { DEFAULT_LIMITS, type ServeLimits } from '../../src/serve/limits.js';
import { type RunningServer, startServer } from '../../src/serve/server.js';
import { BIN, ROOT, tempDir, writeRandomModel } from '../cli-predict/fixtures.js';

export interface TestServer extends RunningServer {
  predictor: Predictor;
}

/** A small random model folder (test/cli-predict/fixtures.ts) in a fresh temp folder. */
export async function makeModel(prefix: string): Promise<{ dir: string; model: string }> {
  const dir = tempDir(prefix);
  const model = path.join(dir, 'model');
  await writeRandomModel(model, 1);
  return { dir, model };
}

/** Starts the service in this process on a free port. */
export async function startTestServer(model: string, limits: Partial<ServeLimits> = {}, chunk = 1024): Promise<TestServer> {
  const predictor = loadPredictor(model, new CpuBackend(), 'serve');
  const running = await startServer({
    predictor, model: 'test-model', backend: 'cpu (test)', chunk, host: '127.0.0.1', port: 0,
    limits: { ...DEFAULT_LIMITS, ...limits },
  });
  return { ...running, predictor };
}

export interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** fetch, with the body as text and the headers as a plain object. */
export async function request(url: string, init: RequestInit = {}): Promise<Answer> {
  const r = await fetch(url, init);
  const body = await r.text();
  const headers: Record<string, string> = {};
  r.headers.forEach((v, k) => { headers[k] = v; });
  return { status: r.status, headers, body };
}

/** POST JSON to /predict. */
export function postJson(base: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  return request(`${base}/predict`, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body) });
}

/** The JSON error of a refusal, checked to be JSON with a string `error`. */
export function errorOf(a: Answer): { error: string; status: number; limit?: string; max?: number; field?: string } {
  if (!a.headers['content-type']?.startsWith('application/json')) throw new Error(`expected a JSON error, got Content-Type ${a.headers['content-type']}: ${a.body}`);
  const e = JSON.parse(a.body) as { error: string; status: number };
  if (typeof e.error !== 'string' || e.status !== a.status) throw new Error(`malformed error body ${a.body}`);
  return e;
}

export interface RawOptions {
  /** Everything up to and including the blank line after the headers (or less, to stall mid-headers). */
  head: string;
  /** Body bytes to send after the head. */
  body?: Buffer | string;
  /** Stream this many bytes of filler after `body` (huge uploads), 1 MiB at a time, until an answer arrives. */
  stream?: number;
  /** Frame the streamed filler as chunked transfer encoding. */
  chunked?: boolean;
  /** After sending, keep the connection open without sending more (a stalled client). */
  stall?: boolean;
  /** Destroy the socket after sending (a broken connection): resolves with status 0. */
  destroy?: boolean;
  /** Give up after this long (ms); resolves with status -1. */
  timeoutMs?: number;
}

/** Parses the first HTTP response in `buf`; null until it is complete. */
function parseResponse(buf: Buffer): Answer | null {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0]!)?.[1] ?? NaN);
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  const len = Number(headers['content-length'] ?? NaN);
  const body = buf.subarray(end + 4);
  if (Number.isFinite(len)) return body.length >= len ? { status, headers, body: body.subarray(0, len).toString('utf8') } : null;
  return null;
}

/** Sends raw bytes to host:port and reads one answer (see RawOptions). */
export function rawRequest(port: number, o: RawOptions): Promise<Answer> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let got = Buffer.alloc(0);
    let done = false;
    const finish = (a: Answer) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(a);
    };
    const timer = setTimeout(() => finish({ status: -1, headers: {}, body: got.toString('utf8') }), o.timeoutMs ?? 30_000);
    socket.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      const a = parseResponse(got);
      if (a) finish(a);
    });
    socket.on('error', () => {});
    socket.on('close', () => finish(parseResponse(got) ?? { status: 0, headers: {}, body: got.toString('utf8') }));
    socket.on('connect', () => {
      socket.write(o.head);
      if (o.body !== undefined) socket.write(o.body);
      if (o.destroy) {
        setTimeout(() => finish({ status: 0, headers: {}, body: '' }), 5);
        return;
      }
      if (o.stream) {
        const filler = Buffer.alloc(1 << 20, 0x20);
        const mib = o.chunked ? Buffer.concat([Buffer.from('100000\r\n'), filler, Buffer.from('\r\n')]) : filler;
        let sent = 0;
        const pump = () => {
          while (!done && sent < o.stream! && !socket.destroyed) {
            sent += filler.length;
            if (!socket.write(mib)) {
              socket.once('drain', pump);
              return;
            }
          }
        };
        pump();
      }
    });
  });
}

export interface ServeProcess {
  child: ChildProcessWithoutNullStreams;
  url: string;
  port: number;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
}

/** Spawns `node bin/bsa-tnp.js serve --port 0 ...args` and waits for its "listening" line. */
export function spawnServe(args: readonly string[], timeoutMs = 60_000): Promise<ServeProcess> {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', ...args], { cwd: ROOT, env: { ...process.env, BSA_TNP_DEBUG: '1' } });
  let out = '';
  let err = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`serve did not start in ${timeoutMs} ms:\n${err}`)); }, timeoutMs);
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n')[0]!;
      if (out.includes('\n')) {
        clearTimeout(timer);
        try {
          const info = JSON.parse(line) as { url: string };
          resolve({ child, url: info.url, port: Number(new URL(info.url).port), stdout: () => out, stderr: () => err, exited });
        } catch {
          reject(new Error(`serve: unexpected first line '${line}'\n${err}`));
        }
      }
    });
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`serve exited with ${code} before listening:\n${err}`)); });
  });
}

/** Runs `tasks` with at most `n` at a time; results in task order. */
export async function pool<T>(tasks: readonly (() => Promise<T>)[], n: number): Promise<T[]> {
  const out = new Array<T>(tasks.length);
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < tasks.length) {
      const i = next++;
      out[i] = await tasks[i]!();
    }
  }));
  return out;
}
