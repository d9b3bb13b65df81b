/**
 * First look at the exact GP and the naive baselines on the two real data sets (docs/real-data.md):
 *   Colorado: for each of a few months, hold out a random 20 % of the stations reporting tmax and
 *   predict them from the others (GP: lon/lat great-circle + elevation); climatology = the station's
 *   mean for that calendar month over 1961–1990, persistence = its previous month.
 *   PM10: on random days of 2008–2009 predict every station's PM10 from all stations' previous
 *   7 days (GP: lon/lat + date, log transform); climatology = the station's mean log PM10 over
 *   1998–2007, persistence = the previous day.
 * Scores pooled over all predicted rows (api/predictive.ts). Usage:
 *   npx tsx scripts/real-data-first-look.ts [colorado|pm10|both] [--kernel matern32] [--days 20]
 * Prints a markdown table and JSON lines.
 */
import { type CvModel, takeRows } from '../src/api/cv.js';
import { gpPredictTables, numbers } from '../src/api/gp-table.js';
import { climatologyModel, persistenceModel } from '../src/api/naive-baselines.js';
import { type Predictive, scorePredictive } from '../src/api/predictive.js';
import { type GpKernelKind } from '../src/data/gp-fit/kernel.js';
import { seededRandom } from '../src/data/gp-fit/fit.js';
import { type Table, makeTable, numericColumn } from '../src/data/table.js';
import { readTable } from '../src/io/table-read.js';

const args = process.argv.slice(2);
const which = args.find((a) => !a.startsWith('--') && !/^\d+$/.test(a) && !args[args.indexOf(a) - 1]?.startsWith('--')) ?? 'both';
const opt = (name: string, d: string): string => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1]! : d; };
const kernel = opt('kernel', 'matern32') as GpKernelKind;

interface Acc { mean: number[]; std: number[]; y: number[]; seconds: number; cpu: number; logShift?: number }
const acc = (): Acc => ({ mean: [], std: [], y: [], seconds: 0, cpu: 0 });
/** Process CPU seconds (less disturbed than wall-clock time by other load on a shared machine). */
const cpuNow = (): number => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
let cpuMark = cpuNow();
function add(a: Acc, p: Predictive, y: ArrayLike<number>, seconds: number): void {
  a.cpu += cpuNow() - cpuMark;
  for (let i = 0; i < y.length; i++) { a.mean.push(p.mean[i]!); a.std.push(p.std[i]!); a.y.push(y[i]!); }
  a.seconds += seconds;
  a.logShift = p.logShift;
  cpuMark = cpuNow();
}
function report(dataset: string, name: string, a: Acc): void {
  const p: Predictive = { mean: Float64Array.from(a.mean), std: Float64Array.from(a.std), ...(a.logShift !== undefined ? { logShift: a.logShift } : {}) };
  const s = scorePredictive(p, a.y);
  console.log(`| ${dataset} | ${name} | ${s.n} | ${s.nll.toFixed(3)} | ${s.rmse.toFixed(3)} | ${(100 * s.coverage95).toFixed(1)} % | ${a.seconds.toFixed(1)} | ${a.cpu.toFixed(1)} |`);
  console.error(JSON.stringify({ dataset, model: name, ...s, seconds: a.seconds, cpu_seconds: a.cpu }));
}
async function timed(model: CvModel, ctx: Table, tgt: Table): Promise<{ p: Predictive; s: number }> {
  cpuMark = cpuNow();
  const t0 = performance.now();
  const p = await model(ctx, tgt);
  return { p, s: (performance.now() - t0) / 1000 };
}
function rowsWhere(t: Table, pred: (i: number) => boolean): number[] {
  const out: number[] = [];
  for (let i = 0; i < t.rows; i++) if (pred(i)) out.push(i);
  return out;
}
function withColumn(t: Table, name: string, values: Float64Array): Table {
  return makeTable([...t.names, name], [...t.columns, { kind: 'number', values }], 'table');
}

console.log('| data | model | n | NLL | RMSE | 95 % cover | seconds | CPU s |');
console.log('|---|---|---|---|---|---|---|---|');

if (which === 'colorado' || which === 'both') {
  const all = await readTable('data/colorado-monthly/colorado-monthly.csv', { label: 'colorado' });
  const dates = all.columns[all.names.indexOf('date')]!.values as readonly (string | null)[];
  const tmax = numericColumn(all, 'tmax');
  // month index (year·12 + month) so that "previous month" is a step of 1
  const mi = Float64Array.from(dates, (d) => Number(d!.slice(0, 4)) * 12 + Number(d!.slice(5, 7)) - 1);
  const table = withColumn(all, 'month', mi);
  const months = ['1990-01-01', '1990-07-01', '1995-04-01', '1995-10-01'];
  const gp = acc(); const clim = acc(); const pers = acc();
  for (const [k, month] of months.entries()) {
    const rows = rowsWhere(table, (i) => dates[i] === month && Number.isFinite(tmax[i]!));
    const rnd = seededRandom(100 + k);
    const test = new Set(rows.filter(() => rnd() < 0.2));
    const ctx = takeRows(table, rows.filter((r) => !test.has(r)));
    const tgtRows = [...test];
    const tgt = takeRows(table, tgtRows);
    const y = Float64Array.from(tgtRows, (r) => tmax[r]!);
    cpuMark = cpuNow();
    const t0 = performance.now();
    const r = gpPredictTables(ctx, tgt, { s: ['lon', 'lat'], x: ['elev'], f: 'tmax', kernel });
    add(gp, r.predictive, y, (performance.now() - t0) / 1000);
    console.error(`colorado ${month}: ${ctx.rows} context, ${tgt.rows} held out; GP ${r.fitSeconds.toFixed(1)} s fit, ℓ_s ${r.fit.params.lengthscales[0]!.toFixed(0)} km, ℓ_elev ${r.fit.params.lengthscales[1]!.toFixed(0)} m, noise std ${Math.sqrt(r.fit.params.noiseVar).toFixed(2)}`);
    // climatology: the same calendar month, 1961–1990 (the test year excluded)
    const m = Number(month.slice(5, 7));
    const year = Number(month.slice(0, 4));
    const hist = takeRows(table, rowsWhere(table, (i) => {
      const d = dates[i]!;
      const yr = Number(d.slice(0, 4));
      return Number(d.slice(5, 7)) === m && yr >= 1961 && yr <= 1990 && yr !== year && Number.isFinite(tmax[i]!);
    }));
    let c = await timed(climatologyModel({ station: 'station', t: 'month', f: 'tmax' }), hist, tgt);
    add(clim, c.p, y, c.s);
    // persistence: each held-out station's previous month; std from the one-month changes over the
    // past 12 months (the held-out stations' own past is not held out)
    const m0 = mi[rows[0]!]!;
    const past = takeRows(table, rowsWhere(table, (i) => mi[i]! >= m0 - 12 && mi[i]! < m0 && Number.isFinite(tmax[i]!)));
    c = await timed(persistenceModel({ station: 'station', t: 'month', f: 'tmax' }, 1), past, tgt);
    add(pers, c.p, y, c.s);
  }
  report('Colorado tmax, 20 % stations held out, 4 months', `GP ${kernel} (lon/lat + elev)`, gp);
  report('Colorado tmax, 20 % stations held out, 4 months', 'climatology (same month 1961–1990)', clim);
  report('Colorado tmax, 20 % stations held out, 4 months', 'persistence (previous month)', pers);
}

if (which === 'pm10' || which === 'both') {
  const table = await readTable('data/pm10-germany/pm10.csv', { label: 'pm10' });
  const t = numbers(table, 'date', true, 'pm10');
  const pm = numericColumn(table, 'pm10');
  const nDays = Number(opt('days', '20'));
  const first = Date.UTC(2008, 0, 8) / 86_400_000;
  const last = Date.UTC(2009, 11, 31) / 86_400_000;
  const rnd = seededRandom(42);
  const days = new Set<number>();
  while (days.size < nDays) days.add(first + Math.floor(rnd() * (last - first + 1)));
  const positive = (i: number): boolean => pm[i]! > 0; // one station-day of 149,151 is 0: left out (log)
  const train = takeRows(table, rowsWhere(table, (i) => t[i]! < first - 7 && positive(i)));
  const gp = acc(); const clim = acc(); const pers = acc();
  for (const d of [...days].sort((a, b) => a - b)) {
    const ctx = takeRows(table, rowsWhere(table, (i) => t[i]! >= d - 7 && t[i]! < d && positive(i)));
    const tgtRows = rowsWhere(table, (i) => t[i] === d && positive(i));
    if (tgtRows.length === 0 || ctx.rows < 10) continue;
    const tgt = takeRows(table, tgtRows);
    const y = Float64Array.from(tgtRows, (r) => pm[r]!);
    cpuMark = cpuNow();
    const t0 = performance.now();
    const r = gpPredictTables(ctx, tgt, { s: ['lon', 'lat'], t: 'date', x: [], f: 'pm10', kernel, transform: 'log' });
    add(gp, r.predictive, y, (performance.now() - t0) / 1000);
    console.error(`pm10 day ${new Date(d * 86_400_000).toISOString().slice(0, 10)}: ${ctx.rows} context, ${tgt.rows} targets; GP fit ${r.fitSeconds.toFixed(1)} s, ℓ_s ${r.fit.params.lengthscales[0]!.toFixed(0)} km, ℓ_t ${r.fit.params.lengthscales[1]!.toFixed(2)} d`);
    let c = await timed(climatologyModel({ station: 'station', t: 'date', f: 'pm10', transform: 'log' }), train, tgt);
    add(clim, c.p, y, c.s);
    c = await timed(persistenceModel({ station: 'station', t: 'date', f: 'pm10', transform: 'log' }, 1), ctx, tgt);
    add(pers, c.p, y, c.s);
  }
  const label = `PM10 next day from previous 7 days, ${nDays} days of 2008–2009`;
  report(label, `GP ${kernel} (lon/lat + date, log)`, gp);
  report(label, 'climatology (station mean log PM10 1998–2007)', clim);
  report(label, 'persistence (previous day, log)', pers);
}
