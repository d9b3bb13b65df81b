/**
 * The exact GP posterior (the oracle that `eval` and the demo score against) on one thread: seconds
 * per batch of a task, and per batch element.
 *
 *   npm run bench -- oracle [--tasks gp2d,gp2d-scaled] [--reps 3] [--sampling marginal]
 *
 * One JSON line per task: {"bench":"oracle","task","nc_valid_mean","nt","seconds_median",
 * "seconds_min","reps"}. The batches come from the task's generator (seed 1), not timed.
 */
import { Rng } from '../src/engine/random.js';
import { gpOracle } from '../src/data/tasks.js';
import { resolveTask } from '../src/train/tasks.js';
import { arg, median } from './args.js';

export async function run(args: string[]): Promise<void> {
  const tasks = arg(args, 'tasks', 'gp2d,gp2d-scaled').split(',');
  const reps = Number(arg(args, 'reps', '3'));
  const sampling = arg(args, 'sampling', 'marginal');
  for (const task of tasks) {
    const gen = resolveTask({ name: task, options: { sampling } }, 8).generator;
    const rng = Rng.fromSeed(1);
    const times: number[] = [];
    let valid = 0, nt = 0, B = 0;
    for (let r = 0; r <= reps; r++) {
      const batch = gen(rng.split());
      const t0 = performance.now();
      gpOracle(batch);
      if (r > 0) times.push((performance.now() - t0) / 1000); // r = 0: warm-up
      B = batch.B;
      nt = batch.Nt;
      for (const v of batch.mask_ctx) valid += v;
    }
    console.log(JSON.stringify({ bench: 'oracle', task, sampling, B, nc_valid_mean: +(valid / ((reps + 1) * B)).toFixed(1), nt,
      seconds_median: +median(times).toFixed(3), seconds_min: +Math.min(...times).toFixed(3), reps, date: new Date().toISOString() }));
  }
}
