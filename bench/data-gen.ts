/**
 * Host-side batch generation speed on one thread: training batches of a task (default the
 * `gp-mixture` prior task with its default options, batch 8), as a training worker makes them.
 *
 *   npm run bench -- data-gen [--tasks gp-mixture,gp2d] [--batches 20] [--batch 8]
 *
 * One JSON line per task: {"bench":"data-gen","task","batch","threads":1,"ms_median","ms_min",
 * "batches","date"}. The first two batches are warm-up (JIT, wasm compile) and not counted.
 */
import { Rng } from '../src/engine/random.js';
import { resolveTask } from '../src/train/tasks.js';
import { arg, median } from './args.js';

export async function run(args: string[]): Promise<void> {
  const tasks = arg(args, 'tasks', 'gp-mixture').split(',');
  const batches = Number(arg(args, 'batches', '20'));
  const batch = Number(arg(args, 'batch', '8'));
  for (const task of tasks) {
    const gen = resolveTask({ name: task, options: {} }, batch).generator;
    const rng = Rng.fromSeed(1);
    const times: number[] = [];
    for (let r = 0; r < batches + 2; r++) {
      const key = rng.split();
      const t0 = performance.now();
      gen(key);
      if (r >= 2) times.push(performance.now() - t0);
    }
    console.log(JSON.stringify({ bench: 'data-gen', task, batch, threads: 1, ms_median: +median(times).toFixed(2),
      ms_min: +Math.min(...times).toFixed(2), batches, date: new Date().toISOString() }));
  }
}
