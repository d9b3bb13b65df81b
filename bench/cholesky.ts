/**
 * Cholesky benchmark: `choleskyInPlace` (src/data/cholesky.ts) on an RBF kernel matrix of 2-D
 * points (the GP sampler's matrix), run on T worker threads at once, as the data workers do.
 *
 *   npm run bench -- cholesky [--n 1536,6144] [--threads 1,2] [--reps 5] [--module PATH --impl NAME]
 *
 * `--module` loads `choleskyInPlace` from another file (e.g. an older version saved with
 * `git show REV:src/data/cholesky.ts > /tmp/old.mts`; .mts because outside the package a .ts file
 * would load as CommonJS) to compare implementations on the same machine.
 * Prints per (n, threads) one line {"bench":"cholesky","impl","n","threads","seconds_median",...}
 * on stdout: the median over reps × threads factorisations, each timed inside its worker; all T
 * workers start each repetition together. `cpu_seconds_median` (process CPU time per repetition
 * divided by T, so it includes the copy of A) is less disturbed by other load on a shared machine.
 * Before timing, every worker checks L Lᵀ = A + jitter·I on sampled entries.
 */
import { availableParallelism, loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

// The worker builds its own matrix (no 300 MB copies between threads), then times one
// factorisation of a fresh copy per message.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  (await import(workerData.tsx)).register();
  const { choleskyInPlace } = await import(workerData.module);
  const n = workerData.n, jitter = 1e-5;
  let s = 12345;
  const rand = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 2 ** 32; };
  const p = Float64Array.from({ length: 2 * n }, () => 4 * rand() - 2);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    const dx = p[2 * i] - p[2 * j], dy = p[2 * i + 1] - p[2 * j + 1];
    a[i * n + j] = Math.exp(-(dx * dx + dy * dy) / (2 * 0.3 * 0.3));
  }
  const l = new Float64Array(n * n);
  const factor = () => { l.set(a); const t0 = performance.now(); choleskyInPlace(l, n, jitter); return (performance.now() - t0) / 1000; };
  factor();
  let worst = 0;
  for (let t = 0; t < 64; t++) {
    const i = Math.floor(rand() * n), j = Math.floor(rand() * (i + 1));
    let r = 0;
    for (let k = 0; k <= j; k++) r += l[i * n + k] * l[j * n + k];
    worst = Math.max(worst, Math.abs(r - a[i * n + j] - (i === j ? jitter : 0)));
  }
  if (!(worst < 1e-9)) throw new Error('L Lᵀ differs from A by ' + worst);
  parentPort.on('message', () => parentPort.postMessage({ seconds: factor() }));
  parentPort.postMessage({ ready: true });
})().catch((e) => parentPort.postMessage({ fatal: String(e && e.stack || e) }));
`;

function list(args: string[], name: string, fallback: number[]): number[] {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const v = (args[i + 1] ?? '').split(',').map(Number);
  if (!v.every((x) => Number.isInteger(x) && x >= 1)) throw new Error(`bench cholesky: expected positive integers after ${name}, got ${args[i + 1]}`);
  return v;
}

function text(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(name);
  return i < 0 ? fallback : args[i + 1] ?? fallback;
}

/** Per repetition: the factorisations' wall seconds, and the process CPU seconds divided by the thread count. */
async function measure(module: string, n: number, threads: number, reps: number): Promise<{ wall: number[]; cpu: number[] }> {
  const workers: Worker[] = [];
  let pending: ((m: { seconds: number }) => void)[] = [];
  const ready: Promise<void>[] = [];
  for (let t = 0; t < threads; t++) {
    const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { n, module, tsx: import.meta.resolve('tsx/esm/api') } });
    workers.push(w);
    ready.push(new Promise((resolve, reject) => {
      w.on('error', reject);
      w.on('message', (m: { ready?: boolean; fatal?: string; seconds?: number }) => {
        if (m.fatal) reject(new Error(m.fatal));
        else if (m.ready) resolve();
        else pending.shift()!(m as { seconds: number });
      });
    }));
  }
  try {
    await Promise.all(ready);
    const wall: number[] = [], cpu: number[] = [];
    for (let r = 0; r < reps; r++) {
      const c0 = process.cpuUsage();
      const done = workers.map((w) => new Promise<{ seconds: number }>((resolve) => { pending.push(resolve); w.postMessage(0); }));
      for (const m of await Promise.all(done)) wall.push(m.seconds);
      const c = process.cpuUsage(c0);
      cpu.push((c.user + c.system) / 1e6 / threads);
      pending = [];
    }
    return { wall, cpu };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

export async function run(args: string[]): Promise<void> {
  const sizes = list(args, '--n', [1536, 6144]);
  const threadCounts = list(args, '--threads', [1, 2]);
  const reps = list(args, '--reps', [5])[0]!;
  const path = text(args, '--module', '');
  const module = path ? pathToFileURL(path).href : new URL('../src/data/cholesky.ts', import.meta.url).href;
  const impl = text(args, '--impl', path ? path : 'current');
  for (const n of sizes) {
    for (const threads of threadCounts) {
      const { wall, cpu } = await measure(module, n, threads, reps);
      const s = wall.sort((x, y) => x - y);
      const median = (v: number[]): number => { v.sort((x, y) => x - y); const h = v.length >> 1; return v.length % 2 ? v[h]! : (v[h - 1]! + v[h]!) / 2; };
      const wallMedian = median(s);
      process.stdout.write(JSON.stringify({
        bench: 'cholesky', impl, n, threads, reps, seconds_median: +wallMedian.toFixed(4),
        seconds_min: +s[0]!.toFixed(4), seconds_max: +s[s.length - 1]!.toFixed(4),
        cpu_seconds_median: +median(cpu).toFixed(4),
        gflops_per_thread: +(n ** 3 / 3 / wallMedian / 1e9).toFixed(2),
        cores: availableParallelism(), load_average: +loadavg()[0]!.toFixed(2),
      }) + '\n');
    }
  }
}
