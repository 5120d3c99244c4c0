import { defineConfig } from 'vitest/config';

/**
 * The unit tests: pure modules only, no global setup, so no Postgres and no processes. A project of
 * vitest.config.ts (so `npm test` runs them) and, alone, the test run of `npm run mutation`.
 */
export default defineConfig({
  test: {
    name: 'unit',
    include: ['test/unit/**/*.test.ts'],
    testTimeout: 10_000,
  },
});
