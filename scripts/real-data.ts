/**
 * The real-data table of docs/real-data.md (issue 17 item 8, must-show 2): every model scored on the
 * SAME test tasks, built once from the split.
 *
 *   PM10 next-day forecast (time split: train 1998–2006, validate 2007, test 2008–2009):
 *     N seeded random test days d in 2008–2009; context = every station's PM10 on days d−7 … d−1,
 *     targets = every station's PM10 on day d. Log-space models are scored in µg/m³ (log-normal
 *     density by change of variables, api/predictive.ts). The one station-day with PM10 = 0 is left
 *     out everywhere (log).
 *   Colorado tmax at held-out stations (space split of the trained model: the same seeded station
 *     permutation as `train --data … --split space:A,B`): N seeded random months m in 1950–1997;
 *     context = the TRAINING stations' tmax in months m−W+1 … m, targets = the TEST stations' tmax
 *     in month m (stations never seen in training).
 *
 * Rows: BSA-TNP trained on the table (--model), BSA-TNP fitted from a prior (--fitted), the exact GP
 * (ML-II per task on the same context: Matérn 3/2), and naive baselines (persistence / climatology).
 The prior (--prior DIR) is fitted to EACH task's context by
 * `bsa-tnp fit … --max-seconds S` (--fit-seconds, default 15), as a user would fit it to the
 * observations at hand. --rows trained,fitted,gp,naive picks the rows (the tasks do not change).
 * Usage:
 *   npx tsx scripts/real-data.ts pm10 --model DIR [--prior DIR] [--tasks 30]
 *   npx tsx scripts/real-data.ts colorado --model DIR [--prior DIR] [--tasks 30] [--window 2]
 *       [--split space:0.7,0.15] [--seed 46]
 * Prints a markdown table (stdout) and JSON lines (stderr).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { takeRows, type CvModel } from '../src/api/cv.js';
import { gpPredictTables, numbers } from '../src/api/gp-table.js';
import { createBackend, loadPredictor } from '../src/api/load-node.js';
import { climatologyModel, persistenceModel } from '../src/api/naive-baselines.js';
import { predictTable } from '../src/api/predict-table.js';
import { type Predictive, scorePredictive } from '../src/api/predictive.js';
import { seededRandom } from '../src/data/gp-fit/fit.js';
import { parseSplit, splitRows, TEST, TRAIN } from '../src/data/table-tasks.js';
import { type Table, getColumn, numericColumn } from '../src/data/table.js';
import { readTable } from '../src/io/table-read.js';
import { loadModelFolder } from '../src/train/checkpoint.js';
import { encodeRows } from '../src/train/table-rows.js';

const args = process.argv.slice(2);
const which = args[0];
const opt = (name: string, d?: string): string | undefined => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1]! : d; };
const nTasks = Number(opt('tasks', '30'));
const modelDir = opt('model');
const priorDir = opt('prior');
const fitSeconds = opt('fit-seconds', '15')!;
// --fit-task forecast: fit the prior with `fit --task forecast --horizon 1` (hold out the context's
// last day, train on next-day forecasts), the fit that matches a next-day forecast task.
const fitTask = opt('fit-task', 'interpolate')!;
if (fitTask !== 'interpolate' && fitTask !== 'forecast') throw new Error(`real-data: --fit-task expected interpolate or forecast, got '${fitTask}'`);
const fitNote = `prior ${priorDir}, fit per task ≤ ${fitSeconds} s${fitTask === 'forecast' ? ', fit --task forecast --horizon 1' : ''}`;
const only = new Set((opt('rows', 'trained,fitted,gp,naive')!).split(','));
if (which !== 'pm10' && which !== 'colorado') throw new Error(`real-data: expected 'pm10' or 'colorado' first, got '${which}'`);

interface Acc { mean: number[]; std: number[]; y: number[]; seconds: number; log: boolean }
const acc = (log: boolean): Acc => ({ mean: [], std: [], y: [], seconds: 0, log });
function add(a: Acc, p: Predictive, y: ArrayLike<number>, seconds: number): void {
  if ((p.logShift !== undefined) !== a.log || (p.logShift ?? 0) !== 0) throw new Error('real-data: a predictive on the wrong scale');
  for (let i = 0; i < y.length; i++) { a.mean.push(p.mean[i]!); a.std.push(p.std[i]!); a.y.push(y[i]!); }
  a.seconds += seconds;
}
function report(dataset: string, name: string, a: Acc, note = ''): void {
  const p: Predictive = { mean: Float64Array.from(a.mean), std: Float64Array.from(a.std), ...(a.log ? { logShift: 0 } : {}) };
  const s = scorePredictive(p, a.y);
  console.log(`| ${name} | ${s.n} | ${s.nll.toFixed(3)} | ${s.rmse.toFixed(3)} | ${(100 * s.coverage95).toFixed(1)} % | ${a.seconds.toFixed(1)} | ${note} |`);
  console.error(JSON.stringify({ dataset, model: name, ...s, seconds: a.seconds }));
}
function rowsWhere(t: Table, pred: (i: number) => boolean): number[] {
  const out: number[] = [];
  for (let i = 0; i < t.rows; i++) if (pred(i)) out.push(i);
  return out;
}
const now = (): number => performance.now() / 1000;

const handle = await createBackend('cpu', 'real-data');
const predictors = [only.has('trained') ? modelDir : undefined].map((d) => (d === undefined ? null : loadPredictor(d, handle.backend, 'real-data')));
predictors.push(null);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'real-data-'));
let fitCount = 0;
const fitNotes: string[] = [];

function csvText(t: Table): string {
  const lines = [t.names.join(',')];
  for (let i = 0; i < t.rows; i++) {
    lines.push(t.columns.map((c) => {
      const v = c.values[i];
      return v === null || v === undefined || (typeof v === 'number' && !Number.isFinite(v)) ? '' : String(v);
    }).join(','));
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The prior fitted to one task's context (what a user does with \`bsa-tnp fit\`): the context is
 * written to a CSV, \`bsa-tnp fit --model PRIOR --context … --max-seconds S\` runs as a separate
 * process, and the fitted folder is loaded into predictors[1]. Returns the seconds it took.
 */
function fitPrior(ctx: Table, flags: string[]): number {
  const t0 = now();
  const dir = path.join(tmp, `fit${fitCount++}`);
  const file = `${dir}.csv`;
  fs.writeFileSync(file, csvText(ctx));
  const task = fitTask === 'forecast' ? ['--task', 'forecast', '--horizon', '1'] : [];
  const out = execFileSync(process.execPath, ['bin/bsa-tnp.js', 'fit', '--model', priorDir!, '--context', file, ...flags, ...task,
    '--max-seconds', fitSeconds, '--out', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const done = out.trim().split('\n').map((l) => { try { return JSON.parse(l) as Record<string, unknown>; } catch { return {}; } }).find((j) => j.event === 'fit_done');
  if (done) fitNotes.push(JSON.stringify(done));
  predictors[1]?.dispose();
  predictors[1] = loadPredictor(dir, handle.backend, 'real-data');
  return now() - t0;
}

/**
 * A BSA-TNP predictive from a model folder: data-unit mean/std from predictTable; for a log model
 * the log-space (m, s) are recovered exactly from the log-normal moments (s² = log(1 + (SD/E)²),
 * m = log E − s²/2) so that the score is the log-normal density, as for the GP.
 */
async function bsa(k: number, ctx: Table, tgt: Table, f: string, log: boolean): Promise<{ p: Predictive; s: number }> {
  const pr = predictors[k]!;
  const t0 = now();
  const out = await predictTable(pr, ctx, tgt);
  if (out.rows !== tgt.rows) throw new Error(`real-data: ${tgt.rows - out.rows} target rows dropped`);
  const E = numericColumn(out, `${f}_mean`);
  const SD = numericColumn(out, `${f}_std`);
  if (!log) return { p: { mean: E, std: SD }, s: now() - t0 };
  const m = new Float64Array(E.length); const s = new Float64Array(E.length);
  for (let i = 0; i < E.length; i++) {
    const s2 = Math.log1p((SD[i]! / E[i]!) ** 2);
    s[i] = Math.sqrt(s2); m[i] = Math.log(E[i]!) - s2 / 2;
  }
  return { p: { mean: m, std: s, logShift: 0 }, s: now() - t0 };
}
async function timed(model: CvModel, ctx: Table, tgt: Table): Promise<{ p: Predictive; s: number }> {
  const t0 = now();
  const p = await model(ctx, tgt);
  return { p, s: now() - t0 };
}
const names = ['BSA-TNP trained on the table', 'BSA-TNP prior fitted to each task\'s context'];

console.log('| model | n | NLL | RMSE | 95 % cover | seconds | note |');
console.log('|---|---|---|---|---|---|---|');

if (which === 'pm10') {
  const all = await readTable('data/pm10-germany/pm10.csv', { label: 'pm10' });
  const pm0 = numericColumn(all, 'pm10');
  const table = takeRows(all, rowsWhere(all, (i) => !(pm0[i]! <= 0))); // the one 0 (log); NaN rows stay (missing)
  const t = numbers(table, 'date', true, 'pm10');
  const pm = numericColumn(table, 'pm10');
  const first = Date.UTC(2008, 0, 1) / 86_400_000;
  const last = Date.UTC(2009, 11, 31) / 86_400_000;
  const rnd = seededRandom(Number(opt('seed', '42')));
  const days = new Set<number>();
  while (days.size < nTasks) days.add(first + Math.floor(rnd() * (last - first + 1)));
  const trainRows = rowsWhere(table, (i) => t[i]! < Date.UTC(2007, 0, 1) / 86_400_000 && Number.isFinite(pm[i]!));
  const train = takeRows(table, trainRows);
  const rows = [acc(true), acc(true), acc(true), acc(true), acc(true)];
  let nCtx = 0;
  for (const d of [...days].sort((a, b) => a - b)) {
    const ctx = takeRows(table, rowsWhere(table, (i) => t[i]! >= d - 7 && t[i]! < d && Number.isFinite(pm[i]!)));
    const tgtRows = rowsWhere(table, (i) => t[i] === d && Number.isFinite(pm[i]!));
    if (tgtRows.length === 0 || ctx.rows < 10) continue;
    nCtx += ctx.rows;
    const tgt = takeRows(table, tgtRows);
    const y = Float64Array.from(tgtRows, (r) => pm[r]!);
    if (predictors[0]) { const r = await bsa(0, ctx, tgt, 'pm10', true); add(rows[0]!, r.p, y, r.s); }
    if (priorDir && only.has('fitted')) {
      const fs1 = fitPrior(ctx, ['--s', 'lon,lat', '--t', 'date', '--f', 'pm10', '--transform', 'pm10=log']);
      const r = await bsa(1, ctx, tgt, 'pm10', true); add(rows[1]!, r.p, y, fs1 + r.s);
    }
    let gpNote = '';
    if (only.has('gp')) {
      const t0 = now();
      const g = gpPredictTables(ctx, tgt, { s: ['lon', 'lat'], t: 'date', x: [], f: 'pm10', kernel: 'matern32', transform: 'log' });
      add(rows[2]!, g.predictive, y, now() - t0);
      gpNote = `; GP ℓ_s ${g.fit.params.lengthscales[0]!.toFixed(0)} km, ℓ_t ${g.fit.params.lengthscales[1]!.toFixed(2)} d`;
    }
    if (only.has('naive')) {
      let c = await timed(persistenceModel({ station: 'station', t: 'date', f: 'pm10', transform: 'log' }, 1), ctx, tgt);
      add(rows[3]!, c.p, y, c.s);
      c = await timed(climatologyModel({ station: 'station', t: 'date', f: 'pm10', transform: 'log' }), train, tgt);
      add(rows[4]!, c.p, y, c.s);
    }
    console.error(`pm10 ${new Date(d * 86_400_000).toISOString().slice(0, 10)}: ${ctx.rows} context, ${tgt.rows} targets${gpNote}`);
  }
  console.error(`pm10: ${days.size} days, mean context ${(nCtx / days.size).toFixed(0)} rows`);
  const ds = `PM10 next day, ${nTasks} test days of 2008–2009`;
  if (predictors[0]) report(ds, names[0]!, rows[0]!, modelDir);
  if (priorDir && only.has('fitted')) report(ds, names[1]!, rows[1]!, fitNote);
  if (only.has('gp')) report(ds, 'exact GP, Matérn 3/2 (lon/lat + date, log), ML-II per task', rows[2]!);
  if (only.has('naive')) {
    report(ds, 'persistence (previous day, log)', rows[3]!);
    report(ds, 'climatology (station mean log PM10 1998–2006)', rows[4]!);
  }
} else {
  if (!modelDir) throw new Error('real-data colorado: --model DIR (the trained model) is needed: its schema and split define the held-out stations');
  const W = Number(opt('window', '2'));
  const split = parseSplit(opt('split', 'space:0.7,0.15')!);
  const seed = Number(opt('seed', '46')); // train's default seed
  const table = await readTable('data/colorado-monthly/colorado-monthly.csv', { label: 'colorado' });
  const schema = loadModelFolder(modelDir).config.data;
  // the trained model's station split, rebuilt exactly as train --data built it
  const { rows: enc, enc: encTable } = encodeRows(table, schema, 'colorado');
  const part = splitRows(enc, split, seed);
  const station = getColumn(table, 'station', 'colorado').values as readonly (string | null)[];
  const partOf = new Map<string, number>();
  for (let k = 0; k < enc.n; k++) partOf.set(String(station[encTable.rowIndex[k]!]), part[k]!);
  const dates = table.columns[table.names.indexOf('date')]!.values as readonly (string | null)[];
  const tmax = numericColumn(table, 'tmax');
  const mi = Int32Array.from(dates, (d) => Number(d!.slice(0, 4)) * 12 + Number(d!.slice(5, 7)) - 1);
  const rnd = seededRandom(Number(opt('task-seed', '7')));
  const months = new Set<number>();
  while (months.size < nTasks) months.add(1950 * 12 + Math.floor(rnd() * 48 * 12));
  const rows = [acc(false), acc(false), acc(false), acc(false)];
  let nCtx = 0; let nTgt = 0;
  for (const m of [...months].sort((a, b) => a - b)) {
    const ok = (i: number): boolean => Number.isFinite(tmax[i]!);
    const ctxRows = rowsWhere(table, (i) => ok(i) && mi[i]! > m - W && mi[i]! <= m && partOf.get(String(station[i])) === TRAIN);
    const tgtRows = rowsWhere(table, (i) => ok(i) && mi[i] === m && partOf.get(String(station[i])) === TEST);
    if (tgtRows.length === 0) continue;
    nCtx += ctxRows.length; nTgt += tgtRows.length;
    const ctx = takeRows(table, ctxRows);
    const tgt = takeRows(table, tgtRows);
    const y = Float64Array.from(tgtRows, (r) => tmax[r]!);
    if (predictors[0]) { const r = await bsa(0, ctx, tgt, 'tmax', false); add(rows[0]!, r.p, y, r.s); }
    if (priorDir && only.has('fitted')) {
      // a prior without a time group sees the current month's part of the context only
      const spaceOnly = loadModelFolder(priorDir).config.model.groups.t === null;
      const fctx = spaceOnly ? takeRows(table, ctxRows.filter((i) => mi[i] === m)) : ctx;
      const fs1 = fitPrior(fctx, spaceOnly ? ['--s', 'lon,lat', '--f', 'tmax'] : ['--s', 'lon,lat', '--t', 'date', '--f', 'tmax']);
      const r = await bsa(1, fctx, tgt, 'tmax', false); add(rows[1]!, r.p, y, fs1 + r.s);
    }
    let gpNote = '';
    if (only.has('gp')) {
      const t0 = now();
      const g = gpPredictTables(ctx, tgt, { s: ['lon', 'lat'], t: 'date', x: ['elev'], f: 'tmax', kernel: 'matern32' });
      add(rows[2]!, g.predictive, y, now() - t0);
      gpNote = `; GP ℓ_s ${g.fit.params.lengthscales[0]!.toFixed(0)} km, ℓ_t ${g.fit.params.lengthscales[1]!.toFixed(0)} d, ℓ_elev ${g.fit.params.lengthscales[2]!.toFixed(0)} m`;
    }
    if (!only.has('naive')) { console.error(`colorado ${Math.floor(m / 12)}-${m % 12 + 1}: ${ctx.rows} context, ${tgt.rows} targets${gpNote}`); continue; }
    // climatology: each held-out station's own mean tmax for this calendar month over all other years
    const cal = m % 12;
    const hist = takeRows(table, rowsWhere(table, (i) => ok(i) && mi[i]! % 12 === cal && Math.floor(mi[i]! / 12) !== Math.floor(m / 12)));
    const c = await timed(climatologyModel({ station: 'station', t: 'date', f: 'tmax' }), hist, tgt);
    add(rows[3]!, c.p, y, c.s);
    console.error(`colorado ${Math.floor(m / 12)}-${String(cal + 1).padStart(2, '0')}: ${ctx.rows} context, ${tgt.rows} targets${gpNote}`);
  }
  console.error(`colorado: ${months.size} months, mean context ${(nCtx / months.size).toFixed(0)}, mean targets ${(nTgt / months.size).toFixed(0)}`);
  const ds = `Colorado tmax at held-out stations, ${nTasks} months of 1950–1997`;
  if (predictors[0] && only.has('trained')) report(ds, names[0]!, rows[0]!, modelDir);
  if (priorDir && only.has('fitted')) report(ds, names[1]!, rows[1]!, fitNote);
  if (only.has('gp')) report(ds, 'exact GP, Matérn 3/2 (lon/lat + date + elev), ML-II per task', rows[2]!);
  if (only.has('naive')) report(ds, 'climatology (station mean for the calendar month, other years)', rows[3]!);
}
for (const n of fitNotes) console.error(n);
for (const p of predictors) p?.dispose();
handle.dispose();
fs.rmSync(tmp, { recursive: true, force: true });
