import { defineConfig } from 'vitest/config';

// Integration and e2e tests against the real local services (scripts/services.sh). They share
// brokers and may kill one, so files run one at a time.
export default defineConfig({
  test: {
    include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    globalSetup: ['test/support/global-setup.ts'],
  },
});
