import { defineConfig } from 'vitest/config';

const shared = {
  globalSetup: ['test/global-setup.ts'],
  testTimeout: 30_000,
  hookTimeout: 60_000,
  pool: 'forks' as const,
};

export default defineConfig({
  test: {
    // Two cores: each file gets its own database, so files may run side by side.
    maxWorkers: 2,
    projects: [
      'vitest.unit.config.ts',
      {
        test: {
          ...shared,
          name: 'suite',
          include: ['test/**/*.test.ts'],
          exclude: ['test/chaos.test.ts', 'test/unit/**'],
        },
      },
      // Chaos runs alone, after every other file: its timings (400 ms gateway attempts, kills every
      // second) must not compete with other files for the two cores. It runs its own Postgres.
      {
        test: {
          ...shared,
          globalSetup: [],
          name: 'chaos',
          include: ['test/chaos.test.ts'],
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
