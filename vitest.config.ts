import { defineConfig } from 'vitest/config';

// Unit tests: pure code and fakes only, no servers. Fast; run in parallel.
export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts'],
    testTimeout: 10_000,
  },
});
