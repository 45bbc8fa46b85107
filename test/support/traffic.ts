// Live traffic for e2e tests on the FaultStack: a producer writing to both rooms every 20 ms and
// an SDK consumer of live-dashboard that follows the routes, until stop().

import type { FaultStack } from '../../bench/support/fault-stack.js';
import { LOCAL, waitFor } from '../../bench/support/local-stack.js';
import { createDualProducer } from '../../src/sdk/dual-producer.js';
import { createRoutedConsumer, type RoutedConsumer } from '../../src/sdk/routed-consumer.js';

export interface Traffic {
  readonly consumer: RoutedConsumer;
  processed(): number;
  stop(): Promise<void>;
}

/** Starts producing and consuming; resolves once the consumer has processed records in room-a. */
export async function startTraffic(stack: FaultStack): Promise<Traffic> {
  const producer = createDualProducer({ rooms: Object.entries(LOCAL.rooms).map(([room, r]) => ({ room, brokers: r.brokers })), sendTimeoutMs: 300 });
  let producing = true;
  const loop = (async () => {
    for (let seq = 0; producing; seq++) {
      await producer.send(stack.cfg.topic, [{ value: String(seq), timestamp: Date.now(), partition: seq % 3 }]).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  let processed = 0;
  const consumer = createRoutedConsumer({
    pipeline: stack.cfg.pipeline,
    etcd: { endpoints: [LOCAL.etcd], prefix: stack.cfg.prefix },
    marginMs: 2000,
    eachMessage: async () => {
      processed++;
    },
  });
  await consumer.start();
  await waitFor('records consumed in room-a', 20_000, () => (processed > 20 ? true : undefined));
  return {
    consumer,
    processed: () => processed,
    stop: async () => {
      producing = false;
      await loop;
      await consumer.close();
      await producer.close();
    },
  };
}
