/**
 * Multiscale 2-D GP task (experiments.md §4): 128 locations uniform in [−0.5, 0.5]² plus 128 in
 * [−1.5, 1.5]² (256 in all, permuted together), one shared RBF GP with ℓ ~ Beta(3, 7),
 * Nc ∈ [64, 128), Nt = 128 disjoint, noise 0.1 on context, batch 32.
 */
import type { TaskGenerator } from './batch.js';
import { GP_JITTER, RBF_BETA_PRIOR } from './gp.js';
import { type GpTaskConfig, gpTask } from './tasks.js';

export const MULTISCALE_2D = {
  regions: [
    { lo: [-0.5, -0.5], hi: [0.5, 0.5], count: 128 },
    { lo: [-1.5, -1.5], hi: [1.5, 1.5], count: 128 },
  ],
  ncMin: 64, ncMax: 128, nt: 128, batch: 32, noiseStd: 0.1,
  prior: RBF_BETA_PRIOR, jitter: GP_JITTER, testIncludesContext: false,
} as const satisfies GpTaskConfig;

/** Seeded generator of multiscale batches; `overrides` change any field (e.g. `batch`). */
export function multiscaleTask(overrides: Partial<GpTaskConfig> = {}): TaskGenerator {
  return gpTask({ ...MULTISCALE_2D, ...overrides });
}
