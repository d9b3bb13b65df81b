/**
 * Must-show 6: `bsa-tnp fit` from a prior on ~2,000 real observations on this CPU, timed through the
 * real command line, with the fitted model's held-out NLL against the prior's zero-shot NLL on the
 * same held-out points (model units; `fit` measures both on its validation tasks).
 *
 *   npm run bench -- fit [--prior models/prior-gp-mixture] [--data pm10|colorado] [--n 2000]
 *                        [--start 2005-01-01] [--random-prior] [-- extra fit flags via --fit-args "..."]
 *
 * Data: data/pm10-germany/pm10.csv (daily PM10 at 70 stations; log transform) or
 * data/colorado-monthly/colorado-monthly.csv (monthly tmax at ~370 stations). The observations are
 * the first --n rows in time order from --start (whole days/months, the last one cut), written with
 * the file's own column names. A prior without a time group gets the one date with the most rows.
 * `--random-prior` times a randomly initialised prior of the paper's size (s 2-D + t 1-D, task
 * gp-mixture) when no trained prior exists: its NLLs mean nothing, its time is the real cost.
 *
 * One JSON line: {"bench":"fit","prior","priorKind","data","rows","stations","times","seconds",
 * "limitSeconds":120,"withinLimit","steps","stoppedEarly","kept","zeroShotNll","bestNll",
 * "improvement","cpuSeconds","heldOut","context","device"}. cpuSeconds is the fit process's own CPU
 * time (user + system, all threads): on a shared machine the wall time also holds other jobs' turns.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Rng } from '../src/engine/random.js';
import { BsaTnp } from '../src/models/bsa-tnp.js';
import { asBsaTnpConfig } from '../src/models/registry.js';
import { DEFAULT_CONFIG, MODEL_FOLDER_FORMAT_VERSION, parseModelFolderConfig } from '../src/models/config.js';
import { loadModelFolder, saveModelFolder, type Weights } from '../src/train/checkpoint.js';
import { arg } from './args.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const DATA = {
  pm10: { file: 'data/pm10-germany/pm10.csv', s: 'lon,lat', t: 'date', f: 'pm10', extra: ['--transform', 'pm10=log'], keep: ['station', 'lon', 'lat', 'date', 'pm10'] },
  colorado: { file: 'data/colorado-monthly/colorado-monthly.csv', s: 'lon,lat', t: 'date', f: 'tmax', extra: [], keep: ['station', 'lon', 'lat', 'date', 'tmax'] },
} as const;

/** The first `n` complete rows (value present) from `start` in time order, or the fullest single date. */
function pick(file: string, keep: readonly string[], value: string, start: string, n: number, oneDate: boolean): { header: string[]; rows: string[][]; stations: number; times: number } {
  const lines = fs.readFileSync(path.join(ROOT, file), 'utf8').trim().split('\n');
  const header = lines[0]!.split(',');
  const idx = keep.map((k) => header.indexOf(k));
  const vi = header.indexOf(value), di = header.indexOf('date');
  const all = lines.slice(1).map((l) => l.split(',')).filter((r) => r[vi] !== '' && r[di]! >= start);
  all.sort((a, b) => (a[di]! < b[di]! ? -1 : a[di]! > b[di]! ? 1 : 0));
  let rows: string[][];
  if (oneDate) {
    const count = new Map<string, number>();
    for (const r of all) count.set(r[di]!, (count.get(r[di]!) ?? 0) + 1);
    const best = [...count].sort((a, b) => b[1] - a[1])[0]![0];
    rows = all.filter((r) => r[di] === best).slice(0, n);
  } else rows = all.slice(0, n);
  return {
    header: [...keep], rows: rows.map((r) => idx.map((i) => r[i]!)),
    stations: new Set(rows.map((r) => r[header.indexOf('station')])).size, times: new Set(rows.map((r) => r[di])).size,
  };
}

async function randomPrior(dir: string): Promise<void> {
  const model = { ...DEFAULT_CONFIG, groups: { ...DEFAULT_CONFIG.groups, t: { dims: 1, embed: false, bias: { family: 'rbf', numBasis: 3, distance: 'euclidean' } } } };
  const config = parseModelFolderConfig({ formatVersion: MODEL_FOLDER_FORMAT_VERSION, model, data: { columns: { s: ['s0', 's1'], t: ['t0'] } }, training: { task: { name: 'gp-mixture', options: {} } } });
  const specs = new BsaTnp(asBsaTnpConfig(config.model, 'prior')).specs(Rng.fromSeed(1));
  const weights: Weights = new Map(specs.map((s) => [s.name, { shape: [...s.shape], data: s.init }]));
  await saveModelFolder(dir, config, weights);
}

function runFit(args: string[]): Promise<{ code: number; stdout: string; stderr: string; seconds: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'bsa-tnp.js'), 'fit', ...args], { cwd: ROOT });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); process.stderr.write(d); });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr, seconds: (performance.now() - t0) / 1000 }));
  });
}

export async function run(args: string[]): Promise<void> {
  const dataName = arg(args, 'data', 'pm10') as keyof typeof DATA;
  const d = DATA[dataName];
  if (!d) throw new Error(`bench fit: --data must be pm10 or colorado, got '${dataName}'`);
  const n = Number(arg(args, 'n', '2000'));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-fit-'));
  try {
    let prior = path.resolve(ROOT, arg(args, 'prior', 'models/prior-gp-mixture'));
    let priorKind = 'trained';
    if (args.includes('--random-prior')) {
      prior = path.join(tmp, 'prior');
      await randomPrior(prior);
      priorKind = 'random (timing only)';
    }
    if (!fs.existsSync(path.join(prior, 'config.json'))) throw new Error(`bench fit: no prior at '${prior}' (train it, give --prior DIR, or time a random one with --random-prior)`);
    const cfg = loadModelFolder(prior).config;
    const hasT = cfg.model.groups.t !== null;
    const sel = pick(d.file, d.keep, d.f, arg(args, 'start', dataName === 'pm10' ? '2005-01-01' : '1990-01-01'), n, !hasT);
    const obs = path.join(tmp, 'obs.csv');
    fs.writeFileSync(obs, `${sel.header.join(',')}\n${sel.rows.map((r) => r.join(',')).join('\n')}\n`);
    const extra = arg(args, 'fit-args', '').split(' ').filter(Boolean);
    const fitArgs = ['--model', prior, '--context', obs, '--s', d.s, ...(hasT ? ['--t', d.t] : []), '--f', d.f, ...d.extra, '--out', path.join(tmp, 'fitted'), ...extra];
    const r = await runFit(fitArgs);
    if (r.code !== 0) throw new Error(`bench fit: fit failed (exit ${r.code}):\n${r.stderr.slice(-2000)}`);
    const done = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, number | boolean | string | null>;
    const zero = done.zeroShotNll as number, best = done.bestNll as number | null;
    const fitted = done.kept === 'fitted' && best !== null ? best : zero;
    process.stdout.write(`${JSON.stringify({
      bench: 'fit', prior: path.relative(ROOT, prior) || prior, priorKind, data: d.file, rows: sel.rows.length, stations: sel.stations,
      times: sel.times, seconds: +r.seconds.toFixed(2), limitSeconds: 120, withinLimit: r.seconds <= 120, steps: done.step,
      stoppedEarly: done.stoppedEarly, kept: done.kept, zeroShotNll: zero, bestNll: best, fittedNll: fitted, improvement: zero - fitted,
      cpuSeconds: done.cpuSeconds, heldOut: done.heldOut, context: done.context, fitArgs: extra.join(' '), device: `cpu ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'})`,
    })}\n`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
