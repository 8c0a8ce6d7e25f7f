import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // chdb is a native engine: one per process, so test files run in forks, not threads.
    pool: 'forks',
    globalSetup: ['tests/setup/kafka.ts'],
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
});
