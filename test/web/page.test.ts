/**
 * The web page in a real browser (Chromium, headless; chromium.ts): it loads a model folder from
 * the page's own server, reads a CSV the way a user picks it, and its maps must equal the Node CPU
 * backend's predictions (`predictTable` on the same observations and grid points, observations
 * from the numbers written, not from the page's parser) on the WebGPU path (SwiftShader) and on the
 * WebAssembly CPU path (?backend=cpu). The maps are drawn (pixel variance), the hover read-out and
 * click-to-add work, bad files show the command line's message, and the console stays clean.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parquetWriteBuffer } from 'hyparquet-writer';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPredictor } from '../../src/api/load-node.js';
import { predictTable } from '../../src/api/predict-table.js';
import { makeTable, numericColumn, type Table } from '../../src/data/table.js';
import { CpuBackend } from '../../src/engine/cpu/backend.js';
import { buildBrowserLibrary, buildWebPage } from '../../src/web/build-node.js';
import { startWebServer, type WebServer } from '../../src/web/server-node.js';
import type { PageResult } from '../../src/web/main.js';
import { allclose } from '../helpers/backends.js';
import { randomContext, removeTempDirs, ROOT, runCli, tempDir, writeCsvText, writeRandomModel } from '../cli-predict/fixtures.js';
import { chromiumAvailable, launchChromium } from './chromium.js';

const HAVE_CHROMIUM = chromiumAvailable();
const DEMO = path.join(ROOT, 'models', 'demo-gp2d');

/** The README's example for `bsa-tnp/browser` (the import resolved to the built bundle). */
const EXAMPLE_HTML = `<!doctype html><link rel="icon" href="data:,"><script type="module">
import { loadModel, predictTable, tableFromRecords, tableToRecords } from './lib.js';

const model = await loadModel('models/small/', { backend: 'cpu' });
const observations = tableFromRecords([{ s0: 0.1, s1: -0.4, f: 1.2 }, { s0: -0.8, s1: 0.3, f: 0.4 }]);
const targets = tableFromRecords([{ id: 'a', s0: 0, s1: 0 }, { id: 'b', s0: 0.5, s1: 0.5 }]);
const out = await predictTable(model, observations, targets);
window.example = { kind: model.backend.kind, records: tableToRecords(out) };
model.dispose();
</script>`;

describe.skipIf(!HAVE_CHROMIUM)('web page in Chromium', () => {
  let browser: Browser;
  let server: WebServer;
  let dir: string;
  let modelDir: string;
  let csv: string;
  const ctxRows = randomContext(40, 5);

  beforeAll(async () => {
    dir = tempDir('web');
    modelDir = path.join(dir, 'small');
    await writeRandomModel(modelDir, 7);
    csv = path.join(dir, 'obs.csv');
    // An extra text column (station ids): the page must carry it and ignore it.
    writeCsvText(csv, ['station', 's0', 's1', 'f'], ctxRows.map((r, i) => [`st${i}`, ...r]));
    const libDir = path.join(dir, 'lib');
    const [page] = await Promise.all([buildWebPage(), buildBrowserLibrary(libDir), launchChromium().then((b) => { browser = b; })]);
    // The README's bsa-tnp/browser example, run against the built library.
    page.set('lib.js', fs.readFileSync(path.join(libDir, 'index.js')));
    page.set('example.html', new TextEncoder().encode(EXAMPLE_HTML));
    server = await startWebServer({ page, models: [{ name: 'small', dir: modelDir }, { name: 'demo-gp2d', dir: DEMO }], host: '127.0.0.1', port: 0 });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    removeTempDirs();
  });

  /** Opens the page; every console error/warning and uncaught exception is collected. */
  async function open(query: string): Promise<{ page: Page; problems: string[] }> {
    const page = await browser.newPage({ viewport: { width: 1200, height: 820 } });
    const problems: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`console.${m.type()}: ${m.text()}`); });
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    await page.goto(`${server.url}?${query}`);
    await waitState(page, ['ready', 'done', 'error']);
    return { page, problems };
  }

  async function waitState(page: Page, states: string[], timeout = 90_000): Promise<string> {
    await page.waitForFunction((s) => s.includes(document.body.dataset.state ?? ''), states, { timeout });
    return page.evaluate(() => document.body.dataset.state!);
  }

  async function result(page: Page): Promise<PageResult> {
    return page.evaluate(() => (globalThis as unknown as { bsaTnpPage: { result: PageResult } }).bsaTnpPage.result);
  }

  /** Node CPU predictions at the page's grid points from the observations as written. */
  async function nodePredictions(folder: string, rows: number[][], x: number[], y: number[]): Promise<{ mean: Float64Array; std: Float64Array }> {
    const backend = new CpuBackend();
    const predictor = loadPredictor(folder, backend, 'test');
    try {
      const col = (j: number) => ({ kind: 'number' as const, values: Float64Array.from(rows, (r) => r[j]!) });
      const context: Table = makeTable(['s0', 's1', 'f'], [col(0), col(1), col(2)]);
      const targets = makeTable(['s0', 's1'], [{ kind: 'number', values: Float64Array.from(x) }, { kind: 'number', values: Float64Array.from(y) }]);
      const out = await predictTable(predictor, context, targets);
      return { mean: numericColumn(out, 'f_mean'), std: numericColumn(out, 'f_std') };
    } finally {
      predictor.dispose();
    }
  }

  /** Standard deviation of pixel brightness and number of distinct colours of a canvas. */
  function canvasStats(page: Page, id: string): Promise<{ std: number; colours: number; width: number }> {
    return page.evaluate((cid) => {
      const c = document.getElementById(cid) as HTMLCanvasElement;
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let s = 0, s2 = 0;
      const colours = new Set<number>();
      const n = d.length / 4;
      for (let i = 0; i < d.length; i += 4) {
        const v = d[i]! + d[i + 1]! + d[i + 2]!;
        s += v; s2 += v * v;
        colours.add((d[i]! << 16) | (d[i + 1]! << 8) | d[i + 2]!);
      }
      return { std: Math.sqrt(Math.max(0, s2 / n - (s / n) ** 2)), colours: colours.size, width: c.width };
    }, id);
  }

  for (const backend of ['webgpu', 'cpu'] as const) {
    it(`predicts a CSV's maps equal to the Node CPU backend's on the ${backend} path`, async () => {
      const { page, problems } = await open(`backend=${backend}&model=small&grid=24`);
      expect(await page.textContent('#backend')).toContain(backend === 'webgpu' ? 'Backend: WebGPU' : 'Backend: WebAssembly CPU');
      await page.setInputFiles('#file', csv);
      expect(await waitState(page, ['done', 'error'])).toBe('done');
      const r = await result(page);
      expect(r.backend).toBe(backend);
      expect(r.context).toBe(ctxRows.length);
      expect(r.width).toBe(24);
      expect(r.x).toHaveLength(r.width * r.height);
      // The area is the observations' box plus 10% (shown rounded to 6 significant digits).
      const xs = ctxRows.map((q) => q[0]!);
      expect(r.bounds.x0).toBeCloseTo(Math.min(...xs) - 0.1 * (Math.max(...xs) - Math.min(...xs)), 4);
      const ref = await nodePredictions(modelDir, ctxRows, r.x, r.y);
      expect(allclose(r.mean, ref.mean, 0, 1e-4)).toBeNull();
      expect(allclose(r.std, ref.std, 0, 1e-4)).toBeNull();
      expect(Math.min(...r.std)).toBeGreaterThan(0);
      for (const id of ['mean', 'std', 'mean-bar', 'std-bar']) {
        const s = await canvasStats(page, id);
        expect(s.std, id).toBeGreaterThan(10);
        expect(s.colours, id).toBeGreaterThan(30);
      }
      expect(await page.textContent('#timing')).toMatch(new RegExp(`^Predicted ${r.width * r.height} points \\(24 × ${r.height}\\) from 40 observations in \\d+\\.\\d\\d s on ${backend === 'webgpu' ? 'WebGPU' : 'the WebAssembly CPU backend'}`));
      // Hover: the read-out shows mean ± std of the grid node under the cursor (the centre one).
      const box = (await page.locator('#mean').boundingBox())!;
      await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
      const readout = (await page.textContent('#readout'))!;
      const m = /^s0 = (\S+), s1 = (\S+): {2}f = (\S+) ± (\S+) \(mean ± std\)$/.exec(readout);
      expect(m, readout).not.toBeNull();
      const c = Math.round((r.width - 1) / 2 + 0), row = Math.round((r.height - 1) / 2);
      const near = [row * r.width + c, row * r.width + c - 1, (row - 1) * r.width + c, (row - 1) * r.width + c - 1]
        .map((i) => Number(r.mean[i]!.toPrecision(4)));
      expect(near).toContain(Number(m![3]));
      expect(problems).toEqual([]);
      await page.close();
    });
  }

  it('falls back to the WebAssembly CPU backend, and says why, in a browser without a WebGPU adapter', async () => {
    const plain = await launchChromium(['--headless=new', '--no-sandbox']);
    try {
      const page = await plain.newPage();
      const problems: string[] = [];
      page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(m.text()); });
      await page.goto(`${server.url}?model=small&grid=12`);
      await waitState(page, ['ready', 'done', 'error']);
      expect(await page.textContent('#backend')).toMatch(/^Backend: WebAssembly CPU \(cpu \(1 thread, shared wasm heap\)\); WebGPU not used: webgpu: no adapter found \(browser\)\. Model 'small' loaded in \d+\.\d\d s\.$/);
      await page.setInputFiles('#file', csv);
      expect(await waitState(page, ['done', 'error'])).toBe('done');
      const r = await result(page);
      expect(r.backend).toBe('cpu');
      const ref = await nodePredictions(modelDir, ctxRows, r.x, r.y);
      expect(allclose(r.mean, ref.mean, 0, 1e-4)).toBeNull();
      // Chromium's own notice when it finds no adapter; nothing else.
      expect(problems).toEqual(['No available adapters.']);
    } finally {
      await plain.close();
    }
  });

  it('adds a clicked observation with the value from the box and predicts again', async () => {
    const { page, problems } = await open('backend=cpu&model=small&grid=16');
    expect(await page.textContent('#timing')).toContain('Load observations or click on a map');
    await page.fill('#click-value', '9.5');
    const box = (await page.locator('#std').boundingBox())!;
    await page.mouse.click(box.x + box.width * 0.25, box.y + box.height * 0.75);
    expect(await waitState(page, ['done', 'error'])).toBe('done');
    const r = await result(page);
    expect(r.context).toBe(1);
    // No observations before the click: the area is the model's default (normalisation mean ± 2 std).
    expect(r.bounds).toEqual({ x0: -3, x1: 5, y0: -1.5, y1: 0.5 });
    const px = -3 + 0.25 * 8, py = 0.5 - 0.75 * 2;
    const ref = await nodePredictions(modelDir, [[px, py, 9.5]], r.x, r.y);
    expect(allclose(r.mean, ref.mean, 0, 2e-3)).toBeNull(); // the click position is rounded to a pixel
    expect(problems).toEqual([]);
    await page.close();
  });

  it('shows the command line\'s message for a CSV with a bad cell, and for a missing column', async () => {
    const bad = path.join(dir, 'bad.csv');
    writeCsvText(bad, ['s0', 's1', 'f'], [[0, 0, 1], [1, 0, 2], [0, 1, 'abc'], [1, 1, 3]]);
    const { page, problems } = await open('backend=cpu&model=small&grid=16');
    await page.setInputFiles('#file', bad);
    expect(await waitState(page, ['done', 'error'])).toBe('error');
    const shown = (await page.textContent('#error'))!;
    expect(shown).toBe("web: context 'bad.csv': row 3, column 'f': expected a number, got 'abc'");
    expect(await page.isVisible('#error')).toBe(true);
    // The command line on the same file names the same row, column and cell.
    const cli = await runCli(['predict', '--model', modelDir, '--context', bad, '--grid=0,1,0,1', '--size', '4x4', '--out', path.join(dir, 'out.csv')]);
    expect(cli.code).toBe(1);
    // (The tables merge changed the command line's wording: "context 'FILE': row 3, column 'f'", no line number.)
    expect(cli.stderr).toContain("row 3, column 'f': expected a number, got 'abc'");
    expect(shown.replace(/^web: /, '')).toBe(cli.stderr.trim().replace(/^bsa-tnp predict: context '[^']*'/, "context 'bad.csv'"));
    const cols = path.join(dir, 'cols.csv');
    writeCsvText(cols, ['s0', 's1', 'value'], [[0, 0, 1]]);
    await page.setInputFiles('#file', cols);
    expect(await waitState(page, ['done', 'error'])).toBe('error');
    // The schema-aware API's message (api/predict-table.ts checkColumns), as the command line words it.
    const missing = (await page.textContent('#error'))!;
    expect(missing).toMatch(/^web: context 'cols\.csv': missing column 'f'\. The model in '[^']*' expects 2 spatial coordinates \(s0, s1\) and 1 output \(f\); the table has: s0, s1, value$/);
    expect(problems).toEqual([]);
    await page.close();
  });

  it('predicts with the shipped demo-gp2d model on the CPU path like Node does', async () => {
    const { page, problems } = await open('backend=cpu&model=demo-gp2d&grid=12');
    const rows = randomContext(30, 9).map(([a, b, f]) => [a! / 2.5 - 0.2, b! + 0.5, f! / 4]);
    const file = path.join(dir, 'demo.csv');
    writeCsvText(file, ['s0', 's1', 'f'], rows);
    await page.setInputFiles('#file', file);
    expect(await waitState(page, ['done', 'error'])).toBe('done');
    const r = await result(page);
    const ref = await nodePredictions(DEMO, rows, r.x, r.y);
    expect(allclose(r.mean, ref.mean, 0, 1e-4)).toBeNull();
    expect(allclose(r.std, ref.std, 0, 1e-4)).toBeNull();
    expect(problems).toEqual([]);
    await page.close();
  });

  it('keeps the page responsive while the CPU backend predicts (the work runs in a worker)', async () => {
    const { page, problems } = await open('backend=cpu&model=demo-gp2d&grid=160');
    // A timer on the page's main thread: the longest gap between its ticks while the page predicts.
    await page.evaluate(() => {
      const w = globalThis as unknown as { ticks: number[] };
      w.ticks = [];
      const tick = () => { w.ticks.push(performance.now()); setTimeout(tick, 5); };
      tick();
    });
    const rows = randomContext(200, 13).map(([a, b, f]) => [a! / 2.5, b! / 2.5, f!]);
    const file = path.join(dir, 'many.csv');
    writeCsvText(file, ['s0', 's1', 'f'], rows);
    const t0 = await page.evaluate(() => performance.now());
    await page.setInputFiles('#file', file);
    expect(await waitState(page, ['done', 'error'])).toBe('done');
    const r = await result(page);
    const ticks = await page.evaluate((from) => (globalThis as unknown as { ticks: number[] }).ticks.filter((t) => t >= from), t0);
    let gap = 0;
    for (let i = 1; i < ticks.length; i++) gap = Math.max(gap, ticks[i]! - ticks[i - 1]!);
    // The prediction (25,600 grid points from 200 observations on one CPU thread) takes long
    // enough that a blocked main thread would show a gap of about its whole duration.
    expect(r.seconds).toBeGreaterThan(0.4);
    expect(gap, `longest gap ${gap.toFixed(0)} ms during ${(r.seconds * 1000).toFixed(0)} ms of prediction`).toBeLessThan(r.seconds * 1000 * 0.5);
    const ref = await nodePredictions(DEMO, rows, r.x, r.y);
    expect(allclose(r.mean, ref.mean, 0, 1e-4)).toBeNull();
    expect(problems).toEqual([]);
    await page.close();
  });

  it('reads observations from a Parquet file (int64 and text columns too) like from a CSV', async () => {
    const rows = randomContext(25, 11);
    const file = path.join(dir, 'obs.parquet');
    fs.writeFileSync(file, new Uint8Array(parquetWriteBuffer({
      columnData: [
        { name: 'id', data: rows.map((_, i) => BigInt(i)), type: 'INT64' },
        { name: 'site', data: rows.map((_, i) => `site ${i}`), type: 'STRING' },
        { name: 's0', data: Float64Array.from(rows, (r) => r[0]!), type: 'DOUBLE' },
        { name: 's1', data: Float64Array.from(rows, (r) => r[1]!), type: 'DOUBLE' },
        { name: 'f', data: Float64Array.from(rows, (r) => r[2]!), type: 'DOUBLE' },
      ],
    })));
    const { page, problems } = await open('backend=cpu&model=small&grid=12');
    await page.setInputFiles('#file', file);
    expect(await waitState(page, ['done', 'error'])).toBe('done');
    const r = await result(page);
    expect(r.context).toBe(25);
    const ref = await nodePredictions(modelDir, rows, r.x, r.y);
    expect(allclose(r.mean, ref.mean, 0, 1e-4)).toBeNull();
    expect(allclose(r.std, ref.std, 0, 1e-4)).toBeNull();
    // Not Parquet at all: the reader's message names the file.
    const junk = path.join(dir, 'junk.parquet');
    fs.writeFileSync(junk, 's0,s1,f\n1,2,3\n');
    await page.setInputFiles('#file', junk);
    expect(await waitState(page, ['done', 'error'])).toBe('error');
    expect(await page.textContent('#error')).toMatch(/^web: context 'junk\.parquet' cannot be read as Parquet \(.+\)$/);
    expect(problems).toEqual([]);
    await page.close();
  });

  it('runs the README example of bsa-tnp/browser from the built bundle', async () => {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(m.text()); });
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(`${server.url}example.html`);
    await page.waitForFunction(() => 'example' in globalThis, null, { timeout: 60_000 });
    const ex = await page.evaluate(() => (globalThis as unknown as { example: { kind: string; records: Record<string, unknown>[] } }).example);
    expect(ex.kind).toBe('cpu');
    const ref = await nodePredictions(modelDir, [[0.1, -0.4, 1.2], [-0.8, 0.3, 0.4]], [0, 0.5], [0, 0.5]);
    expect(ex.records.map((r) => Object.keys(r))).toEqual([0, 1].map(() => ['id', 's0', 's1', 'f_mean', 'f_std', 'f_lo90', 'f_hi90']));
    expect(ex.records.map((r) => r.id)).toEqual(['a', 'b']);
    expect(allclose(ex.records.map((r) => r.f_mean as number), ref.mean, 0, 1e-4)).toBeNull();
    expect(allclose(ex.records.map((r) => r.f_std as number), ref.std, 0, 1e-4)).toBeNull();
    expect(problems).toEqual([]);
    await page.close();
  });

  it('serves only the listed model files', async () => {
    const get = (p: string) => fetch(new URL(p, server.url)).then((res) => res.status);
    expect(await get('models/index.json')).toBe(200);
    expect(await get('models/small/config.json')).toBe(200);
    expect(await get('models/small/trainer_state.json')).toBe(404);
    expect(await get('models/small/..%2F..%2Fetc%2Fpasswd')).toBe(404);
    expect(await get('models/nope/config.json')).toBe(404);
    const index = await (await fetch(new URL('models/index.json', server.url))).json();
    expect(index).toEqual([{ name: 'small', url: 'models/small/' }, { name: 'demo-gp2d', url: 'models/demo-gp2d/' }]);
    expect(fs.existsSync(path.join(modelDir, 'model.safetensors'))).toBe(true);
  });
});
