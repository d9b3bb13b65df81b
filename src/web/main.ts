/**
 * The bsa-tnp web page (index.html): pick a model folder served by `bsa-tnp web`, load
 * observations from a CSV or Parquet file or click on the map to add them, and see the predictive
 * mean and standard deviation over an area as colour maps, with a hover read-out and the time
 * taken. Runs on WebGPU, else on the WebAssembly CPU backend in a worker (cpu-worker.ts, so the page
 * stays responsive while it predicts). URL parameters: `backend=cpu|webgpu|auto`,
 * `model=NAME`, `grid=N` (grid nodes along the longer side).
 *
 * Everything goes through the browser prediction API (api/load-browser.ts, api/predict-table.ts),
 * so a bad file gets the same message the command line prints. For tests and scripts the page
 * publishes its state on `document.body.dataset.state` ('loading', 'ready', 'predicting', 'done',
 * 'error') and its last result on `window.bsaTnpPage`.
 */
import { type BrowserBackend, type BrowserBackendChoice, createBrowserBackend, loadModel } from '../api/load-browser.js';
import { type GridBounds, makeGrid } from '../api/grid.js';
import { describeColumns, type Predictor } from '../api/predictor.js';
import { UserError } from '../api/errors.js';
import { numericColumn, type Table, tableFromRecords, tableToRecords } from '../data/table.js';
import { readTableFile } from '../io/browser-table.js';
import { CpuWorkerClient, errorText } from './cpu-client.js';
import { predictGrid } from './predict-grid.js';
import { drawColorBar, drawField, type Field, formatTick, nearestNode, pixelToData, type Point, range } from './draw.js';

const COMMAND = 'web';

interface ModelEntry { name: string; url: string }

/** What the page shows after a prediction (published on window.bsaTnpPage for tests). */
export interface PageResult {
  backend: 'webgpu' | 'cpu';
  columns: string[];
  x: number[];
  y: number[];
  mean: number[];
  std: number[];
  width: number;
  height: number;
  bounds: GridBounds;
  context: number;
  seconds: number;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const ui = {
  backend: $('backend'), model: $<HTMLSelectElement>('model'), file: $<HTMLInputElement>('file'),
  clickValue: $<HTMLInputElement>('click-value'), resolution: $<HTMLSelectElement>('resolution'),
  x0: $<HTMLInputElement>('x0'), x1: $<HTMLInputElement>('x1'), y0: $<HTMLInputElement>('y0'), y1: $<HTMLInputElement>('y1'),
  predict: $<HTMLButtonElement>('predict'), clear: $<HTMLButtonElement>('clear'), columns: $('columns'), error: $('error'),
  mean: $<HTMLCanvasElement>('mean'), std: $<HTMLCanvasElement>('std'), meanBar: $<HTMLCanvasElement>('mean-bar'),
  stdBar: $<HTMLCanvasElement>('std-bar'), axes: $('area-legend'), readout: $('readout'), timing: $('timing'),
};

const state: {
  compute: BrowserBackend | null;
  predictor: Predictor | null;
  /** Observations from the loaded file (every column kept), or null. */
  loaded: { table: Table; label: string } | null;
  /** Points added by clicking, in the model's column names. */
  clicked: Record<string, number>[];
  fields: { mean: Field; std: Field } | null;
  busy: Promise<void>;
  /** On the CPU backend: the worker that predicts (cpu-worker.ts), so the page stays responsive. */
  worker: CpuWorkerClient | null;
} = { compute: null, predictor: null, loaded: null, clicked: [], fields: null, busy: Promise.resolve(), worker: null };

const page = globalThis as unknown as { bsaTnpPage?: { result: PageResult | null; error: string | null } };
page.bsaTnpPage = { result: null, error: null };

function setState(s: string): void {
  document.body.dataset.state = s;
}

function showError(e: unknown): void {
  // Reader errors (TableError) get the command prefix the prediction API's UserErrors carry; the
  // CPU worker words its errors with the same function.
  const { message, known } = errorText(e, COMMAND);
  const text = known ? message : `internal error: ${message}`;
  ui.error.textContent = text;
  ui.error.hidden = false;
  page.bsaTnpPage!.error = text;
  setState('error');
  if (!known) throw e;
}

function clearError(): void {
  ui.error.hidden = true;
  ui.error.textContent = '';
  page.bsaTnpPage!.error = null;
}

/** Runs page actions one at a time; errors go to the error box. */
function act(f: () => Promise<void>): Promise<void> {
  state.busy = state.busy.then(async () => {
    try {
      clearError();
      await f();
    } catch (e) {
      showError(e);
    }
  });
  return state.busy;
}

function names(p: Predictor): { sx: string; sy: string; f: string } {
  const [sx, sy] = p.layout.coordinates;
  return { sx: sx!, sy: sy!, f: p.layout.values[0]! };
}

/** The observations as one table: the loaded file's rows then the clicked points. */
function contextTable(): { table: Table; label: string } {
  if (state.clicked.length === 0 && state.loaded) return state.loaded;
  const rows = [...(state.loaded ? tableToRecords(state.loaded.table) : []), ...state.clicked];
  return { table: tableFromRecords(rows, 'observations'), label: state.loaded ? `${state.loaded.label} plus clicked points` : 'clicked points' };
}

function observationPoints(p: Predictor): Point[] {
  const { sx, sy, f } = names(p);
  const pts: Point[] = [];
  if (state.loaded) {
    const t = state.loaded.table;
    try {
      const xs = numericColumn(t, sx), ys = numericColumn(t, sy), fs = numericColumn(t, f);
      for (let i = 0; i < t.rows; i++) pts.push({ x: xs[i]!, y: ys[i]!, value: fs[i]! });
    } catch {
      // Drawn only when readable; the prediction reports the problem.
    }
  }
  for (const c of state.clicked) pts.push({ x: c[sx]!, y: c[sy]!, value: c[f]! });
  return pts;
}

function readArea(): GridBounds {
  const v = [ui.x0, ui.x1, ui.y0, ui.y1].map((i) => Number(i.value));
  const [x0, x1, y0, y1] = v as [number, number, number, number];
  if (!v.every(Number.isFinite) || !(x1 > x0) || !(y1 > y0)) {
    throw new UserError(`${COMMAND}: area: expected numbers with x from < x to and y from < y to, got x ${ui.x0.value} – ${ui.x1.value}, y ${ui.y0.value} – ${ui.y1.value}`);
  }
  return { x0, x1, y0, y1 };
}

function setArea(b: GridBounds): void {
  const r = (v: number) => String(Number(v.toPrecision(6)));
  ui.x0.value = r(b.x0); ui.x1.value = r(b.x1); ui.y0.value = r(b.y0); ui.y1.value = r(b.y1);
}

/** The observations' bounding box with a 10% margin; the model's default area without any. */
function autoArea(p: Predictor, pts: readonly Point[]): GridBounds {
  const finite = pts.filter((q) => Number.isFinite(q.x) && Number.isFinite(q.y));
  if (finite.length === 0) {
    const { sx, sy } = names(p);
    const n = p.config.data.normalization;
    const ax = n[sx] ?? { mean: 0, std: 1 }, ay = n[sy] ?? { mean: 0, std: 1 };
    return { x0: ax.mean - 2 * ax.std, x1: ax.mean + 2 * ax.std, y0: ay.mean - 2 * ay.std, y1: ay.mean + 2 * ay.std };
  }
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (const q of finite) { x0 = Math.min(x0, q.x); x1 = Math.max(x1, q.x); y0 = Math.min(y0, q.y); y1 = Math.max(y1, q.y); }
  const mx = x1 > x0 ? 0.1 * (x1 - x0) : 1, my = y1 > y0 ? 0.1 * (y1 - y0) : 1;
  return { x0: x0 - mx, x1: x1 + mx, y0: y0 - my, y1: y1 + my };
}

/** Grid size for the area: `res` nodes along the longer side, square cells. */
function gridSize(b: GridBounds, res: number): { width: number; height: number } {
  const w = b.x1 - b.x0, h = b.y1 - b.y0;
  return w >= h ? { width: res, height: Math.max(2, Math.round((res * h) / w)) } : { width: Math.max(2, Math.round((res * w) / h)), height: res };
}

/** Sizes the map canvases to the area's aspect ratio (longer side 420 px). */
function sizeCanvases(b: GridBounds): void {
  const w = b.x1 - b.x0, h = b.y1 - b.y0;
  const W = w >= h ? 420 : Math.max(120, Math.round((420 * w) / h));
  const H = w >= h ? Math.max(120, Math.round((420 * h) / w)) : 420;
  for (const c of [ui.mean, ui.std]) { c.width = W; c.height = H; }
  for (const c of [ui.meanBar, ui.stdBar]) c.height = Math.max(H, 200);
}

async function predict(): Promise<void> {
  const p = state.predictor;
  if (!p) return;
  if (!state.loaded && state.clicked.length === 0) {
    for (const c of [ui.mean, ui.std, ui.meanBar, ui.stdBar]) c.getContext('2d')!.clearRect(0, 0, c.width, c.height);
    page.bsaTnpPage!.result = null;
    ui.timing.textContent = 'Load observations or click on a map to add some, then the maps appear.';
    setState('ready');
    return;
  }
  setState('predicting');
  const area = readArea();
  const size = gridSize(area, Number(ui.resolution.value));
  const grid = makeGrid(area, size);
  const { sx, sy, f } = names(p);
  const ctx = contextTable();
  const t0 = performance.now();
  const xy = { x: grid.x, y: grid.y };
  const { mean, std } = state.worker ? await state.worker.predict(ctx.table, ctx.label, xy) : await predictGrid(p, ctx.table, ctx.label, xy);
  const seconds = (performance.now() - t0) / 1000;
  const field = (values: Float64Array): Field => ({ bounds: area, ...size, values });
  state.fields = { mean: field(mean), std: field(std) };
  sizeCanvases(area);
  const pts = observationPoints(p);
  const mr = range([...mean, ...pts.map((q) => q.value)]);
  const sr = range(std);
  drawField(ui.mean, state.fields.mean, 'viridis', mr.lo, mr.hi, pts, true);
  drawField(ui.std, state.fields.std, 'magma', sr.lo, sr.hi, pts, false);
  drawColorBar(ui.meanBar, 'viridis', mr.lo, mr.hi, `${f} mean`);
  drawColorBar(ui.stdBar, 'magma', sr.lo, sr.hi, `${f} std`);
  const backend = state.compute!;
  ui.timing.textContent = `Predicted ${(size.width * size.height).toLocaleString('en')} points (${size.width} × ${size.height}) from ` +
    `${ctx.table.rows.toLocaleString('en')} observations in ${seconds.toFixed(2)} s on ${backend.kind === 'webgpu' ? 'WebGPU' : 'the WebAssembly CPU backend'}. ` +
    `Horizontal: ${sx} from ${formatTick(area.x0)} to ${formatTick(area.x1)}; vertical: ${sy} from ${formatTick(area.y0)} to ${formatTick(area.y1)}.`;
  page.bsaTnpPage!.result = {
    backend: backend.kind, columns: [sx, sy, f], x: [...grid.x], y: [...grid.y], mean: [...mean], std: [...std],
    ...size, bounds: area, context: ctx.table.rows, seconds,
  };
  setState('done');
}

async function selectModel(entry: ModelEntry): Promise<void> {
  setState('loading');
  ui.backend.textContent = `Loading ${entry.name}…`;
  state.predictor?.dispose();
  state.predictor = null;
  state.fields = null;
  const t0 = performance.now();
  const p = await loadModel(entry.url, { backend: state.compute!.backend, command: COMMAND });
  if (p.valueKind !== 'gaussian' || p.layout.values.length !== 1) {
    p.dispose();
    throw new UserError(`${COMMAND}: the page maps models with one Gaussian value column; '${entry.name}' predicts ${describeColumns(p.config.data, true)} (${p.valueKind})`);
  }
  if (p.layout.coordinates.length !== 2) {
    const cols = p.layout.coordinates;
    p.dispose();
    throw new UserError(`${COMMAND}: the page maps models with exactly 2 coordinate columns; '${entry.name}' takes ${cols.length} (${cols.join(', ')}); use 'bsa-tnp predict --targets FILE' instead`);
  }
  // On the CPU the worker predicts with its own copy; this one gives the page the model's columns.
  if (state.worker) await state.worker.load(new URL(entry.url, location.href).href);
  state.predictor = p;
  const b = state.compute!;
  ui.backend.textContent = `Backend: ${b.kind === 'webgpu' ? 'WebGPU' : 'WebAssembly CPU'} (${b.description.replace(/^WebAssembly /, '')})` +
    `${b.fallbackReason ? `; WebGPU not used: ${b.fallbackReason}` : ''}. Model '${entry.name}' loaded in ${((performance.now() - t0) / 1000).toFixed(2)} s.`;
  ui.axes.textContent = `Area (${names(p).sx} from – to, ${names(p).sy} from – to)`;
  ui.columns.textContent = `This model reads ${describeColumns(p.config.data, true)}. Files may hold other columns too (ids, labels).`;
  const pts = observationPoints(p);
  setArea(autoArea(p, pts));
  await predict();
}

async function loadFile(file: File): Promise<void> {
  const p = state.predictor;
  if (!p) return;
  setState('loading');
  const table = await readTableFile(file, 'context');
  state.loaded = { table, label: `context '${file.name}'` }; // as the command line names files
  state.clicked = [];
  setArea(autoArea(p, observationPoints(p)));
  await predict();
}

function hover(canvas: HTMLCanvasElement, ev: MouseEvent): void {
  const p = state.predictor;
  const fields = state.fields;
  if (!p || !fields) return;
  const rect = canvas.getBoundingClientRect();
  const { x, y } = pixelToData(fields.mean.bounds, canvas, ((ev.clientX - rect.left) / rect.width) * canvas.width, ((ev.clientY - rect.top) / rect.height) * canvas.height);
  const i = nearestNode(fields.mean, x, y);
  if (i < 0) return;
  const { sx, sy, f } = names(p);
  ui.readout.textContent = `${sx} = ${formatTick(x)}, ${sy} = ${formatTick(y)}:  ${f} = ${formatTick(fields.mean.values[i]!)} ± ${formatTick(fields.std.values[i]!)} (mean ± std)`;
}

function click(canvas: HTMLCanvasElement, ev: MouseEvent): void {
  void act(async () => {
    const p = state.predictor;
    if (!p) return;
    const value = Number(ui.clickValue.value);
    if (ui.clickValue.value.trim() === '' || !Number.isFinite(value)) {
      throw new UserError(`${COMMAND}: value for clicked points: expected a number, got '${ui.clickValue.value}'`);
    }
    const b = readArea();
    const rect = canvas.getBoundingClientRect();
    const { x, y } = pixelToData(b, canvas, ((ev.clientX - rect.left) / rect.width) * canvas.width, ((ev.clientY - rect.top) / rect.height) * canvas.height);
    const { sx, sy, f } = names(p);
    state.clicked.push({ [sx]: x, [sy]: y, [f]: value });
    await predict();
  });
}

async function start(): Promise<void> {
  setState('loading');
  const params = new URLSearchParams(location.search);
  const choice = (params.get('backend') ?? 'auto') as BrowserBackendChoice;
  if (!['auto', 'cpu', 'webgpu'].includes(choice)) throw new UserError(`${COMMAND}: ?backend= must be auto, cpu or webgpu, got '${choice}'`);
  state.compute = await createBrowserBackend(choice, COMMAND);
  if (state.compute.kind === 'cpu') state.worker = new CpuWorkerClient(new URL('cpu-worker.js', import.meta.url));
  const res = await fetch('models/index.json');
  if (!res.ok) throw new UserError(`${COMMAND}: cannot list the models: models/index.json answered ${res.status}`);
  const models = await res.json() as ModelEntry[];
  if (models.length === 0) throw new UserError(`${COMMAND}: no model folders are served; start with 'bsa-tnp web --model DIR'`);
  for (const m of models) ui.model.add(new Option(m.name, m.url));
  const res0 = params.get('grid');
  if (res0 !== null) {
    if (!/^\d+$/.test(res0) || Number(res0) < 2 || Number(res0) > 512) throw new UserError(`${COMMAND}: ?grid= must be an integer 2..512, got '${res0}'`);
    if (!Array.from(ui.resolution.options).some((o) => o.value === res0)) ui.resolution.add(new Option(`${res0} × ${res0}`, res0));
    ui.resolution.value = res0;
  }
  const wanted = params.get('model');
  const entry = models.find((m) => m.name === wanted) ?? models[0]!;
  ui.model.value = entry.url;
  ui.model.onchange = () => void act(() => selectModel(models.find((m) => m.url === ui.model.value)!));
  ui.file.onchange = () => {
    const file = ui.file.files?.[0];
    if (file) void act(() => loadFile(file));
  };
  ui.predict.onclick = () => void act(predict);
  ui.clear.onclick = () => void act(async () => { state.clicked = []; state.loaded = null; ui.file.value = ''; state.fields = null; await predict(); });
  ui.resolution.onchange = () => void act(predict);
  for (const c of [ui.mean, ui.std]) {
    c.addEventListener('mousemove', (ev) => hover(c, ev));
    c.addEventListener('click', (ev) => click(c, ev));
  }
  await selectModel(entry);
}

void act(start);
