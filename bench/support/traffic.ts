// A dual-writing producer and an SDK consumer for e2e tests on a FaultStack, counting what room-b
// acknowledged and what the consumer processed, and a wait for every replica's observations.

import type { FaultStack } from './fault-stack.js';
import { LOCAL, waitFor, type LocalRoom } from './local-stack.js';
import { EtcdObservationStore } from '../../src/adapters/etcd/observation-store.js';
import { createKafka } from '../../src/adapters/kafka/kafka-client.js';
import { silentLogger } from '../../src/ports/logger.js';
import { createDualProducer, type DualProducer, type SendResult } from '../../src/sdk/dual-producer.js';
import { createRoutedConsumer, type FlipReport } from '../../src/sdk/routed-consumer.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until every named replica has published observations (the leader judges with them). */
export async function allPublishing(s: FaultStack, names: readonly string[]): Promise<void> {
  const store = new EtcdObservationStore(s.etcd, s.cfg.prefix, 2);
  await waitFor(`observations from ${names.join(', ')}`, 20_000, async () => {
    const seen = new Set((await store.readAll()).observations.map((o) => o.observer));
    return names.every((n) => seen.has(n)) ? true : undefined;
  });
}

/** A dual-writing producer (500 records/s) and an SDK consumer that counts what it processed. */
export function traffic(s: FaultStack) {
  const producer = createDualProducer({ rooms: Object.entries(LOCAL.rooms).map(([room, r]) => ({ room, brokers: r.brokers })), sendTimeoutMs: 300 });
  const seen = new Set<number>();
  const ackedByB = new Set<number>();
  let flip: FlipReport | undefined;
  const consumer = createRoutedConsumer({
    pipeline: 'live-dashboard',
    etcd: { endpoints: [LOCAL.etcd], prefix: s.cfg.prefix },
    marginMs: 2000,
    fromBeginning: true,
    eachMessage: async (m) => {
      seen.add(Number(m.value!.toString()));
    },
    onFlip: (r) => {
      flip = r;
    },
  });
  let producing = true;
  const loop = (async () => {
    for (let seq = 0; producing; seq++) {
      const batch = Array.from({ length: 5 }, (_, i) => ({ value: String(seq * 5 + i), timestamp: Date.now(), partition: (seq * 5 + i) % 3 }));
      const acked = await producer.send(s.cfg.topic, batch).catch(() => undefined);
      if (acked?.['room-b']) for (const r of batch) ackedByB.add(Number(r.value));
      await sleep(10);
    }
  })();
  return {
    seen,
    ackedByB,
    flip: () => flip,
    consumer,
    async stop() {
      producing = false;
      await loop;
    },
    async close() {
      producing = false;
      await loop;
      await consumer.close().catch(() => undefined);
      await producer.close(500).catch(() => undefined);
    },
  };
}

/**
 * Records into a room's stream-job input (the local stack's job topic), `perBatch` every
 * `everyMs`, until the returned stop is called: a job only fails or backs up on records.
 */
export async function feedJob(room: LocalRoom, perBatch = 20, everyMs = 100): Promise<() => Promise<void>> {
  const producer = createKafka({ clientId: `feed-${room}`, brokers: LOCAL.rooms[room].brokers, log: silentLogger }).producer();
  await producer.connect();
  let on = true;
  const loop = (async () => {
    while (on) {
      await producer.send({ topic: LOCAL.rooms[room].flink.in, messages: Array.from({ length: perBatch }, (_, i) => ({ value: `feed-${Date.now()}-${i}` })) }).catch(() => undefined);
      await sleep(everyMs);
    }
  })();
  return async () => {
    on = false;
    await loop;
    await producer.disconnect().catch(() => undefined);
  };
}

/**
 * Sends `{ seq }` records through a dual producer, `rate` a second in batches every 10 ms, key
 * `k<seq>`, partition `seq % partitions`; `onSent` gets each batch's sequence numbers and which
 * rooms took it (undefined: no room did, the send rejected). Returns the function that stops it.
 */
export function produceSequence(
  producer: DualProducer,
  topic: string,
  o: { readonly rate: number; readonly partitions: number },
  onSent: (seqs: readonly number[], rooms: SendResult | undefined) => void,
): () => Promise<void> {
  let producing = true;
  const perBatch = Math.max(1, Math.round(o.rate / 100));
  let seq = 0;
  const done = (async () => {
    while (producing) {
      const now = Date.now();
      const seqs = Array.from({ length: perBatch }, () => ++seq);
      const batch = seqs.map((s) => ({ key: `k${s}`, value: JSON.stringify({ seq: s }), timestamp: now, partition: s % o.partitions }));
      onSent(seqs, await producer.send(topic, batch).catch(() => undefined));
      await sleep(10);
    }
  })();
  return async () => {
    producing = false;
    await done.catch(() => undefined);
  };
}
