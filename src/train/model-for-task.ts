/**
 * A named model's configuration for a training task (registry.ts `modelConfigFor`): the task's
 * coordinate dims and the bounding box of its locations (ConvCNP grids it) come from the task's
 * own configuration (src/train/tasks.ts), so `train --model NAME --task T` fits T.
 */
import { type AnyModelConfig, type TaskConfig } from '../models/config.js';
import { modelConfigFor, type TaskShape } from '../models/registry.js';
import { resolveTask } from './tasks.js';

/** Dims and s-domain of a training task (every task here is a GP on s with one Gaussian value). */
export function taskShapeOf(task: TaskConfig, batchSize = 1): TaskShape {
  const { config } = resolveTask(task, batchSize);
  const regions = config.regions;
  const D = regions[0]!.lo.length;
  const lo = Array.from({ length: D }, (_, d) => Math.min(...regions.map((r) => r.lo[d]!)));
  const hi = Array.from({ length: D }, (_, d) => Math.max(...regions.map((r) => r.hi[d]!)));
  return { dims: { s: D }, domain: { lo, hi } };
}

export function modelConfigForTask(name: string, task: TaskConfig, batchSize = 1): AnyModelConfig {
  return modelConfigFor(name, taskShapeOf(task, batchSize));
}
