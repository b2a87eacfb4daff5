import { defineConfig } from 'vitest/config';

/**
 * The reliability suite (`npm run test:chaos`, docs/reliability.md): one file at a time in a
 * forked process, so scenarios that load the machine do not run into each other.
 * ENMESH_CHAOS_FULL=1 runs the full-scale figures (about an hour).
 */
const full = process.env.ENMESH_CHAOS_FULL === '1';

export default defineConfig({
  resolve: { conditions: ['enmesh-source'] },
  ssr: { resolve: { conditions: ['enmesh-source'] } },
  test: {
    name: 'chaos',
    include: ['test/chaos/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
    testTimeout: full ? 1_500_000 : 240_000,
    hookTimeout: 120_000,
  },
});
