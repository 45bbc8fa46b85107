// The data-loss scenario shared by bench:data and the data-budget e2e test: a consumer and two
// producers on a FaultStack's pipeline, with room-b's feed broken for a while.

import type { FaultStack } from '../support/fault-stack.js';
import { LOCAL, waitFor } from '../support/local-stack.js';
import { createDualProducer } from '../../src/sdk/dual-producer.js';
import { createRoutedConsumer } from '../../src/sdk/routed-consumer.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const both = Object.entries(LOCAL.rooms).map(([room, r]) => ({ room, brokers: r.brokers }));

/**
 * A consumer and two producers on the stack's pipeline: 3 s written to both rooms, then gapMs to
 * room-a only (room-b's feed broken) while the consumer is slow (60 ms a record against ~50
 * records/s), so that it falls a few hundred records behind, as consumers do under load.
 */
export async function withGap(stack: FaultStack, gapMs = 10_000) {
  const processed = new Set<number>();
  const counts = new Map<number, number>();
  let slow = false;
  // While held, the consumer processes nothing (what it has fetched waits in memory).
  let held: Promise<void> | undefined;
  let release: (() => void) | undefined;
  const consumer = createRoutedConsumer({
    pipeline: stack.cfg.pipeline,
    etcd: { endpoints: [LOCAL.etcd], prefix: stack.cfg.prefix },
    marginMs: 2000,
    fromBeginning: true,
    eachMessage: async (m) => {
      if (held) await held;
      if (slow) await sleep(60);
      const n = Number(m.value!.toString());
      processed.add(n);
      counts.set(n, (counts.get(n) ?? 0) + 1);
    },
  });
  const everywhere = createDualProducer({ rooms: both, sendTimeoutMs: 500 });
  // Room-b's feed broken: a producer that writes to room-a only.
  const onlyA = createDualProducer({ rooms: both.filter((r) => r.room === 'room-a'), sendTimeoutMs: 500 });
  const writtenOnlyToA: number[] = [];
  let seq = 0;
  const produce = async (p: typeof everywhere, ms: number, onlyInA: boolean) => {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      seq++;
      const ok = await p.send(stack.cfg.topic, [{ value: String(seq), timestamp: Date.now(), partition: seq % 3 }]).then(
        () => true,
        () => false,
      );
      if (ok && onlyInA) writtenOnlyToA.push(seq);
      await sleep(20);
    }
  };
  await consumer.start();
  await produce(everywhere, 3000, false);
  // A broker restarted a moment ago may still be loading its group metadata: start the gap only
  // once the consumer really consumes, or it would start late and the scenario would be another.
  await waitFor('the consumer to consume in room-a', 30_000, () => processed.size > 0);
  slow = true;
  await produce(onlyA, gapMs, true);
  await sleep(300);
  return {
    consumer,
    processed,
    counts,
    writtenOnlyToA,
    /**
     * Stops processing until fast(). Hold before the kill: a consumer that works through the
     * records it had already fetched from room-a while the controller decides would change the
     * loss under the decision (it once caught up entirely, so the failover lost nothing).
     */
    hold: () => {
      held ??= new Promise<void>((r) => (release = r));
    },
    /** Processing again, at full speed. */
    fast: () => {
      slow = false;
      release?.();
      held = undefined;
    },
    close: async () => {
      await consumer.close();
      await everywhere.close(0);
      await onlyA.close(0);
    },
  };
}

