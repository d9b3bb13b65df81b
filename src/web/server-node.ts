/**
 * The local web server behind `bsa-tnp web` (Node only): serves the page (built by build-node.ts)
 * and, read-only, the config.json and model.safetensors of the listed model folders, plus
 * models/index.json listing them. Nothing else on disk is reachable: a model file is looked up by
 * folder name in the list, never by a path taken from the request.
 *
 * Responses carry Cross-Origin-Opener/Embedder-Policy so the page is cross-origin isolated: the
 * browser then allows SharedArrayBuffer and the CPU backend uses its shared WebAssembly heap.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import type { PageFiles } from './build-node.js';

export interface ServedModel {
  /** Name in the page's list and in URLs (models/NAME/). */
  name: string;
  /** Absolute folder holding config.json and model.safetensors. */
  dir: string;
}

export interface WebServer {
  url: string;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.css': 'text/css; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json', '.json': 'application/json', '.safetensors': 'application/octet-stream',
};

const MODEL_FILES = new Set(['config.json', 'model.safetensors']);

/** Model folders under `dir` (each with config.json and model.safetensors), sorted by name. */
export function listModelFolders(dir: string): ServedModel[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && [...MODEL_FILES].every((f) => fs.existsSync(path.join(dir, e.name, f))))
    .map((e) => ({ name: e.name, dir: path.join(dir, e.name) }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** Starts the server on `host:port` (port 0: any free port). */
export async function startWebServer(opts: { page: PageFiles; models: readonly ServedModel[]; host: string; port: number }): Promise<WebServer> {
  const byName = new Map(opts.models.map((m) => [m.name, m]));
  const index = JSON.stringify(opts.models.map((m) => ({ name: m.name, url: `models/${encodeURIComponent(m.name)}/` })));
  const server = http.createServer((req, res) => {
    const headers = {
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
    };
    const send = (status: number, type: string, body: string | Uint8Array) => {
      res.writeHead(status, { ...headers, 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'only GET and HEAD\n');
    let pathname: string;
    try {
      pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    } catch {
      return send(400, 'text/plain', 'bad URL\n');
    }
    if (pathname === '/') pathname = '/index.html';
    if (pathname === '/models/index.json') return send(200, TYPES['.json']!, index);
    const m = /^\/models\/([^/]+)\/([^/]+)$/.exec(pathname);
    if (m) {
      const model = byName.get(m[1]!);
      if (!model || !MODEL_FILES.has(m[2]!)) return send(404, 'text/plain', `not found: ${pathname}\n`);
      const file = path.join(model.dir, m[2]!);
      fs.stat(file, (err, st) => {
        if (err) return send(404, 'text/plain', `not found: ${pathname}\n`);
        res.writeHead(200, { ...headers, 'Content-Type': TYPES[path.extname(file)]!, 'Content-Length': st.size });
        if (req.method === 'HEAD') return res.end();
        fs.createReadStream(file).on('error', () => res.destroy()).pipe(res);
      });
      return;
    }
    const body = opts.page.get(pathname.slice(1));
    if (!body) return send(404, 'text/plain', `not found: ${pathname}\n`);
    return send(200, TYPES[path.extname(pathname)] ?? 'application/octet-stream', body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${host}:${addr.port}/`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
