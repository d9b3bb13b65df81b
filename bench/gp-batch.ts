/**
 * GP batch generation on one thread: the 2-D GP task's batches with `sampling` 'joint' (one draw
 * at all 1536 locations: a 1536² Cholesky) against 'marginal' (the 512 context slots jointly, each
 * test point from its conditional: the first 512 columns of the factor), side by side in one run.
 *
 *   npm run bench -- gp-batch [--tasks gp2d,gp2d-scaled] [--reps 9]
 *
 * One JSON line per (task, sampling): {"bench":"gp-batch","task","sampling","seconds_median",
 * "seconds_min","reps"}, plus a line with the ratio joint / marginal per task. Batches alternate
 * between the two modes so that load on a shared machine hits both alike.
 */
import { Rng } from '../src/engine/random.js';
import { resolveTask } from '../src/train/tasks.js';
import { arg, median } from './args.js';

export async function run(args: string[]): Promise<void> {
  const tasks = arg(args, 'tasks', 'gp2d').split(',');
  const reps = Number(arg(args, 'reps', '9'));
  const modes = ['joint', 'marginal'] as const;
  for (const task of tasks) {
    const gens = modes.map((sampling) => resolveTask({ name: task, options: { sampling } }, 8).generator);
    const times: number[][] = modes.map(() => []);
    const rng = Rng.fromSeed(1);
    for (let r = 0; r <= reps; r++) {
      const key = rng.split();
      for (const [k, gen] of gens.entries()) {
        const t0 = performance.now();
        gen(key.split());
        if (r > 0) times[k]!.push((performance.now() - t0) / 1000); // r = 0: warm-up
      }
    }
    for (const [k, sampling] of modes.entries()) {
      console.log(JSON.stringify({ bench: 'gp-batch', task, sampling, seconds_median: +median(times[k]!).toFixed(4),
        seconds_min: +Math.min(...times[k]!).toFixed(4), reps, date: new Date().toISOString() }));
    }
    console.log(JSON.stringify({ bench: 'gp-batch', task, ratio_joint_over_marginal: +(median(times[0]!) / median(times[1]!)).toFixed(2) }));
  }
}
