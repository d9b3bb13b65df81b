/**
 * Builds the browser artefacts: dist/web/ (the page `bsa-tnp web` serves: index.html, style.css,
 * main.js) and dist/browser/ (the `bsa-tnp/browser` ES module, index.js, with type declarations
 * in dist/browser/types/ emitted by tsc). Run: `node --import tsx scripts/build-web.ts`.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildBrowserLibrary, buildWebPage, ROOT } from '../src/web/build-node.js';

const dist = path.join(ROOT, 'dist');
const webDir = path.join(dist, 'web');
const libDir = path.join(dist, 'browser');
fs.rmSync(webDir, { recursive: true, force: true });
fs.rmSync(libDir, { recursive: true, force: true });
fs.mkdirSync(webDir, { recursive: true });
for (const [name, bytes] of await buildWebPage({ minify: true })) fs.writeFileSync(path.join(webDir, name), bytes);
await buildBrowserLibrary(libDir);
// Declarations for src/browser.ts and what it reaches (tsc follows the imports).
execFileSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'),
  '--declaration', '--emitDeclarationOnly', '--noEmit', 'false', '--skipLibCheck', '--strict',
  '--target', 'ES2022', '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--lib', 'ES2022,ESNext.Disposable,DOM',
  '--types', '@webgpu/types', '--rootDir', path.join(ROOT, 'src'), '--outDir', path.join(libDir, 'types'),
  path.join(ROOT, 'src', 'browser.ts')], { stdio: 'inherit', cwd: ROOT });
const sizes = (dir: string) => fs.readdirSync(dir).filter((f) => fs.statSync(path.join(dir, f)).isFile())
  .map((f) => `${f} ${(fs.statSync(path.join(dir, f)).size / 1024).toFixed(0)} KiB`).join(', ');
process.stdout.write(`${JSON.stringify({ event: 'build_web_done', web: sizes(webDir), browser: sizes(libDir) })}\n`);
