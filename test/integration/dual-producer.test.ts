import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { createEtcdClient } from '../../src/adapters/etcd/client.js';
import { createDualProducer, DualSendError } from '../../src/sdk/dual-producer.js';
import { createRoutedConsumer } from '../../src/sdk/routed-consumer.js';
import { LOCAL, STATE_DIR, randomId, waitFor } from '../../bench/support/local-stack.js';
import { createTopicEverywhere, putRoute, routeTo } from '../support/sdk-stack.js';

const rooms = Object.entries(LOCAL.rooms).map(([room, r]) => ({ room, brokers: r.brokers }));

function pidOf(service: string): number {
  return Number(readFileSync(join(STATE_DIR, service, 'pid'), 'utf8').trim());
}

// Issue 11, hole 2: a record that one room accepted was never processed. The promise now: a send
// that resolved is processed at least once by the pipeline's consumers, across room hiccups and
// switches; already-processed records are dropped by their id.
describe('dual producer and routed consumer: every accepted record is processed (real Kafka and etcd)', () => {
  let etcd: Etcd3;
  const prefix = `/switchyard-dual-${randomId()}`;

  beforeAll(() => {
    etcd = createEtcdClient({ endpoints: [LOCAL.etcd] });
  });
  afterAll(async () => {
    await etcd.delete().prefix(prefix).exec();
    etcd.close();
  });

  it("room-a's broker frozen for 1.5 s (a long GC pause), then a switch to room-b: nothing accepted is lost, nothing processed twice", async () => {
    const id = randomId();
    const topic = `dual-${id}`;
    const group = `dual-group-${id}`;
    const pipeline = `dual-${id}`;
    await createTopicEverywhere(topic, 3);
    await putRoute(etcd, prefix, routeTo(pipeline, 1, 'room-a', topic, group));

    const processed = new Map<number, number>();
    const consumer = createRoutedConsumer({
      pipeline,
      etcd: { endpoints: [LOCAL.etcd], prefix },
      marginMs: 1000,
      fromBeginning: true,
      eachMessage: async (m) => {
        const seq = Number(m.value!.toString());
        processed.set(seq, (processed.get(seq) ?? 0) + 1);
      },
    });
    const producer = createDualProducer({ rooms, sendTimeoutMs: 300 });
    const accepted: number[] = [];
    const onlyOneRoom: number[] = [];
    const kafkaA = pidOf(LOCAL.rooms['room-a'].service);
    let frozen = false;
    try {
      await consumer.start();
      await waitFor('consuming room-a', 20_000, () => consumer.route?.epoch === 1);
      const started = Date.now();
      let seq = 0;
      let switched = false;
      while (Date.now() - started < 6000) {
        const elapsed = Date.now() - started;
        if (!frozen && elapsed > 1000 && elapsed < 2500) {
          process.kill(kafkaA, 'SIGSTOP');
          frozen = true;
        }
        if (frozen && elapsed >= 2500) {
          process.kill(kafkaA, 'SIGCONT');
          frozen = false;
        }
        if (!switched && elapsed >= 4000) {
          await putRoute(etcd, prefix, routeTo(pipeline, 2, 'room-b', topic, group));
          switched = true;
        }
        seq++;
        const result = await producer.send(topic, [{ value: String(seq), timestamp: Date.now(), partition: seq % 3 }]).catch(() => undefined);
        if (result) {
          accepted.push(seq);
          if (!result['room-a'] || !result['room-b']) onlyOneRoom.push(seq);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      if (frozen) process.kill(kafkaA, 'SIGCONT');
      frozen = false;
      await waitFor('every accepted record processed', 30_000, () => accepted.every((s) => processed.has(s)));
      await new Promise((r) => setTimeout(r, 1000));
      const lost = accepted.filter((s) => !processed.has(s));
      const twice = [...processed].filter(([, n]) => n > 1).map(([s]) => s);
      console.log(
        `dual producer: ${accepted.length} accepted, ${onlyOneRoom.length} at first by one room only (${onlyOneRoom.slice(0, 12).join(',')}), ` +
          `lost ${lost.length}, processed twice ${twice.length}, duplicates dropped by id ${consumer.status().duplicatesDropped}`,
      );
      // The freeze really left records in one room only, which the queue then healed.
      expect(onlyOneRoom.length).toBeGreaterThanOrEqual(5);
      expect(consumer.route?.room).toBe('room-b');
      expect(lost).toEqual([]);
      expect(twice).toEqual([]);
      expect(producer.stats().map((s) => s.queuedRecords)).toEqual([0, 0]);
    } finally {
      if (frozen) process.kill(kafkaA, 'SIGCONT');
      await consumer.close();
      await producer.close(2000);
    }
  });

  it('a send that reaches no room rejects, naming each room', async () => {
    // Nothing listens on these loopback ports.
    const producer = createDualProducer({
      rooms: [
        { room: 'room-a', brokers: ['127.0.0.1:9'] },
        { room: 'room-b', brokers: ['127.0.0.1:10'] },
      ],
      sendTimeoutMs: 300,
    });
    try {
      const started = Date.now();
      const err = await producer.send('t', [{ value: 'x', timestamp: Date.now(), partition: 0 }]).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(DualSendError);
      expect(Object.keys((err as DualSendError).errors)).toEqual(['room-a', 'room-b']);
      expect(Date.now() - started).toBeLessThan(3000);
      // A rejected batch is withdrawn: it is not written later when a room comes back.
      await waitFor('queues emptied', 5000, () => producer.stats().every((s) => s.queuedRecords === 0));
    } finally {
      await producer.close(0);
    }
  });
});
