/**
 * Exact GP baseline benchmark (src/data/gp-fit): one log marginal likelihood + analytic gradient
 * evaluation (pair distances precomputed, as in a fit) and one whole fit (two L-BFGS starts) at n points, space-time Matérn 3/2 on
 * (lon, lat great-circle) × time, data drawn from that GP.
 *
 *   npm run bench -- gp-fit [--n 250,500,1000] [--reps 3]
 *
 * Prints per n {"bench":"gp-fit","n","eval_seconds_median","eval_cpu_seconds_median",
 * "fit_seconds","fit_cpu_seconds","evaluations","loadavg"} on stdout. CPU seconds (process CPU
 * time) are less disturbed by other load on a shared machine than wall-clock seconds.
 */
import { loadavg } from 'node:os';
import { choleskyInPlace, lowerMatVec } from '../src/data/cholesky.js';
import { type GpKernel, PairDistances, covariance } from '../src/data/gp-fit/kernel.js';
import { fitGp, seededRandom } from '../src/data/gp-fit/fit.js';
import { logMarginal, packTheta } from '../src/data/gp-fit/lml.js';

function arg(args: string[], name: string, d: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : d;
}

const cpu = (): number => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };

export async function run(args: string[]): Promise<void> {
  const ns = arg(args, 'n', '250,500,1000').split(',').map(Number);
  const reps = Number(arg(args, 'reps', '3'));
  const k: GpKernel = { kind: 'matern32', dim: 3, groups: [
    { name: 's', cols: [0, 1], metric: 'great-circle', ard: false }, { name: 't', cols: [2], metric: 'euclidean', ard: false }] };
  const truth = { signalVar: 1, noiseVar: 0.05, mean: 0, lengthscales: Float64Array.of(150, 3) };
  for (const n of ns) {
    const rnd = seededRandom(n);
    const x = new Float64Array(3 * n);
    for (let i = 0; i < n; i++) { x[3 * i] = 6 + 9 * rnd(); x[3 * i + 1] = 47 + 8 * rnd(); x[3 * i + 2] = 30 * rnd(); }
    const K = covariance(k, truth.lengthscales, truth.signalVar, x, n);
    choleskyInPlace(K, n, 1e-8);
    const z = Float64Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(rnd() + 1e-300)) * Math.cos(2 * Math.PI * rnd()));
    const y = lowerMatVec(K, n, z, new Float64Array(n)).map((v) => v + Math.sqrt(truth.noiseVar) * (rnd() - 0.5) * Math.sqrt(12));
    const theta = packTheta(truth, true);
    const distances = new PairDistances(k, x, n); // built once per fit, as fitGp does
    const wall: number[] = [];
    const cpus: number[] = [];
    for (let r = 0; r < reps; r++) {
      const c0 = cpu();
      const t0 = performance.now();
      logMarginal(k, x, y, n, theta, { fitMean: true, grad: true, distances });
      wall.push((performance.now() - t0) / 1000);
      cpus.push(cpu() - c0);
    }
    const med = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
    const c0 = cpu();
    const t0 = performance.now();
    const fit = fitGp(k, x, y, n, { fitPoints: n });
    const fitSeconds = (performance.now() - t0) / 1000;
    process.stdout.write(`${JSON.stringify({
      bench: 'gp-fit', n, eval_seconds_median: med(wall), eval_cpu_seconds_median: med(cpus), fit_seconds: fitSeconds,
      fit_cpu_seconds: cpu() - c0, evaluations: fit.evaluations, iterations: fit.iterations,
      fitted: { lengthscales: Array.from(fit.params.lengthscales), noiseVar: fit.params.noiseVar }, loadavg: loadavg()[0],
    })}\n`);
  }
}
