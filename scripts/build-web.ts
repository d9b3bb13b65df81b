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
// Declarations for src/browser.ts and what it reaches (tsc follows the imports), with the
// project's own compiler settings.
const tsconfig = path.join(dist, 'tsconfig.browser.json');
fs.writeFileSync(tsconfig, JSON.stringify({
  extends: '../tsconfig.json',
  compilerOptions: { noEmit: false, declaration: true, emitDeclarationOnly: true, rootDir: '../src', outDir: './browser/types', types: ['node'] },
  include: [],
  // The WebGPU types the engine is written against: those of the \`webgpu\` package (newer than the
  // top-level @webgpu/types; the type check sees them through engine/webgpu/node.ts).
  files: ['../src/browser.ts', '../node_modules/webgpu/node_modules/@webgpu/types/dist/index.d.ts'],
}));
try {
  execFileSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', tsconfig], { stdio: 'inherit', cwd: ROOT });
} finally {
  fs.rmSync(tsconfig);
}
const sizes = (dir: string) => fs.readdirSync(dir).filter((f) => fs.statSync(path.join(dir, f)).isFile())
  .map((f) => `${f} ${(fs.statSync(path.join(dir, f)).size / 1024).toFixed(0)} KiB`).join(', ');
process.stdout.write(`${JSON.stringify({ event: 'build_web_done', web: sizes(webDir), browser: sizes(libDir) })}\n`);
