/**
 * Builds the web page and the `bsa-tnp/browser` library with esbuild (Node only). The page is
 * index.html + style.css + main.js (main.ts bundled as an ES module for browsers); `bsa-tnp web`
 * builds it in memory when it starts, scripts/build-web.ts writes it to dist/web/. The library is
 * src/browser.ts bundled to dist/browser/index.js (papaparse and hyparquet included).
 *
 * Any Node built-in reached from browser code is a build error, so the page can never ship code
 * that only runs in Node.
 */
import * as fs from 'node:fs';
import { builtinModules } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Plugin } from 'esbuild';

/** Repository root (src/web → ../..). */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WEB_SRC = path.join(ROOT, 'src', 'web');

const NODE_BUILTINS = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);

/** esbuild plugin: an import of a Node built-in is an error naming the importing file. */
export const noNodeBuiltins: Plugin = {
  name: 'no-node-builtins',
  setup(b) {
    b.onResolve({ filter: /.*/ }, (args) => (NODE_BUILTINS.has(args.path) || args.path.startsWith('node:')
      ? { errors: [{ text: `${args.importer} imports the Node built-in '${args.path}', which browsers do not have` }] } : undefined));
  },
};

/** The page's files by name (index.html, style.css, main.js, cpu-worker.js and their source maps). */
export type PageFiles = Map<string, Uint8Array>;

/** Bundles the page in memory. `minify` for dist builds. */
export async function buildWebPage(options: { minify?: boolean } = {}): Promise<PageFiles> {
  const { build } = await import('esbuild');
  const res = await build({
    // main.js, and cpu-worker.js: the CPU backend in a worker (main.ts starts it beside main.js).
    entryPoints: { main: path.join(WEB_SRC, 'main.ts'), 'cpu-worker': path.join(WEB_SRC, 'cpu-worker.ts') },
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    outdir: '.',
    sourcemap: 'linked',
    minify: options.minify ?? false,
    write: false,
    logLevel: 'silent',
    plugins: [noNodeBuiltins],
  });
  const files: PageFiles = new Map();
  for (const f of res.outputFiles) files.set(path.basename(f.path), f.contents);
  for (const name of ['index.html', 'style.css']) files.set(name, fs.readFileSync(path.join(WEB_SRC, name)));
  return files;
}

/** Bundles src/browser.ts to `outdir/index.js` (ESM, with a source map). */
export async function buildBrowserLibrary(outdir: string): Promise<void> {
  const { build } = await import('esbuild');
  await build({
    entryPoints: [path.join(ROOT, 'src', 'browser.ts')],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    outfile: path.join(outdir, 'index.js'),
    sourcemap: true,
    logLevel: 'silent',
    plugins: [noNodeBuiltins],
  });
}

/** The page from dist/web/ (a prebuilt copy) when esbuild is not installed. */
export function readBuiltPage(dir = path.join(ROOT, 'dist', 'web')): PageFiles | null {
  if (!fs.existsSync(path.join(dir, 'main.js'))) return null;
  const files: PageFiles = new Map();
  for (const name of fs.readdirSync(dir)) files.set(name, fs.readFileSync(path.join(dir, name)));
  return files;
}
