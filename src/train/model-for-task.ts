/**
 * A named model's configuration for a training task (registry.ts `modelConfigFor`): the task's
 * coordinate dims and the bounding box of its locations (ConvCNP grids it) come from the task's
 * own configuration (src/train/tasks.ts), so `train --model NAME --task T` fits T.
 */
import { type AnyModelConfig, type TaskConfig } from '../models/config.js';
import { modelConfigFor, type TaskShape } from '../models/registry.js';
import { resolveTask } from './tasks.js';

/** Dims, output and s-domain of a training task (tasks.ts `ResolvedTask.shape`). */
export function taskShapeOf(task: TaskConfig, batchSize = 1): TaskShape {
  return resolveTask(task, batchSize).shape;
}

export function modelConfigForTask(name: string, task: TaskConfig, batchSize = 1): AnyModelConfig {
  return modelConfigFor(name, taskShapeOf(task, batchSize));
}
