import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // WebGPU (Dawn) and worker pools are process-global: run files in forks, one at a time per worker.
    pool: 'forks',
    // Two forks on the 2-core CI machine (vitest's default there is one): the lavapipe tests
    // compile their pipelines on one thread each (LP_NUM_THREADS=1), so a second fork halves the
    // wall time of a run whose shader cache is cold.
    maxWorkers: 2,
    setupFiles: ['test/setup.ts'],
  },
});
