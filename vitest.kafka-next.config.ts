import { defineConfig } from 'vitest/config';

// The Kafka-facing suites, run a second time by scripts/test.sh against brokers on the newer Kafka
// (SWITCHYARD_KAFKA_VERSION, ADR 0003). The script starts those brokers; no Flink here.
export default defineConfig({
  test: {
    include: [
      'test/integration/kafka-probe.test.ts',
      'test/integration/kafka-secure.test.ts',
      'test/integration/client-quotas.test.ts',
      'test/integration/group-inspector.test.ts',
      'test/integration/position-reader.test.ts',
      'test/integration/offsets-by-time.test.ts',
      'test/integration/group-offsets.test.ts',
      'test/integration/route-follow.test.ts',
      'test/integration/sdk-consumer.test.ts',
      'test/integration/dual-producer.test.ts',
      'test/integration/switch-runner.test.ts',
      'test/e2e/failover.test.ts',
      'test/e2e/room-loss.test.ts',
    ],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
