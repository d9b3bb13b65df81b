import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // WebGPU (Dawn) and worker pools are process-global: run files in forks, one at a time per worker.
    pool: 'forks',
    setupFiles: ['test/setup.ts'],
  },
});
