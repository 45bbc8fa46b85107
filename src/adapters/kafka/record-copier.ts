// RecordCopier on kafkajs: reads through the cluster layer (a Fetch at an offset, no consumer
// group: see position-reader.ts) and appends with an idempotent producer, acks = all.

import type { Admin, Producer } from 'kafkajs';
import type { Logger } from '../../ports/logger.js';
import type { CopiedRecord, RecordCopier } from '../../ports/record-copier.js';
import { withTimeout } from '../../sdk/timeout.js';
import { createKafka, type KafkaClient } from './kafka-client.js';
import { kafkaAccessFor, type KafkaAccessBook } from '../../ports/kafka-access.js';
import { clusterOf, type KafkajsCluster } from './position-reader.js';

interface Room {
  readonly kafka: KafkaClient;
  cluster?: KafkajsCluster;
  admin?: Admin;
  producer?: Producer;
}

export class KafkaRecordCopier implements RecordCopier {
  private readonly rooms = new Map<string, Room>();

  constructor(
    brokersByRoom: ReadonlyMap<string, readonly string[]>,
    log: Logger,
    private readonly timeoutMs = 10_000,
    access?: KafkaAccessBook,
  ) {
    for (const [room, brokers] of brokersByRoom) {
      this.rooms.set(room, { kafka: createKafka({ clientId: `switchyard-backfill-${room}`, brokers, log, timeoutMs: 3000, retries: 2, quiet: true, access: () => kafkaAccessFor(access, brokers) }) });
    }
  }

  private room(name: string): Room {
    const r = this.rooms.get(name);
    if (!r) throw new Error(`unknown room ${name}`);
    return r;
  }

  async offsetFor(room: string, topic: string, partition: number, ts: number): Promise<number> {
    const r = this.room(room);
    if (!r.admin) {
      const admin = r.kafka.admin();
      await withTimeout(admin.connect(), this.timeoutMs);
      r.admin = admin;
    }
    const offsets = await withTimeout(r.admin.fetchTopicOffsetsByTimestamp(topic, ts), this.timeoutMs);
    const o = offsets.find((x) => x.partition === partition);
    if (!o) throw new Error(`${room} has no partition ${topic}/${partition}`);
    return Number(o.offset);
  }

  async read(room: string, topic: string, partition: number, offset: number, maxBytes: number): Promise<CopiedRecord[]> {
    const r = this.room(room);
    return withTimeout(
      (async () => {
        if (!r.cluster) {
          const cluster = clusterOf(r.kafka);
          await cluster.connect();
          r.cluster = cluster;
        }
        await r.cluster.addMultipleTargetTopics([topic]);
        const leader = r.cluster.findTopicPartitionMetadata(topic).find((p) => p.partitionId === partition)?.leader;
        if (leader === undefined || leader < 0) throw new Error(`${topic}/${partition} has no leader in ${room}`);
        const broker = await r.cluster.findBroker({ nodeId: String(leader) });
        const res = (await broker.fetch({
          replicaId: -1,
          isolationLevel: 0,
          maxWaitTime: 0,
          minBytes: 0,
          maxBytes,
          topics: [{ topic, partitions: [{ partition, fetchOffset: String(offset), maxBytes }] }],
        })) as unknown as { responses: { partitions: { messages: { offset: string; timestamp: string; key: Buffer | null; value: Buffer | null; headers?: Record<string, Buffer | string> }[] }[] }[] };
        const messages = res.responses[0]?.partitions[0]?.messages ?? [];
        // A fetch returns whole batches: drop what lies before the asked offset.
        return messages
          .filter((m) => Number(m.offset) >= offset)
          .map((m) => ({ offset: m.offset, timestamp: Number(m.timestamp), key: m.key, value: m.value, headers: m.headers ?? {} }));
      })(),
      this.timeoutMs,
    );
  }

  async append(room: string, topic: string, partition: number, records: readonly CopiedRecord[]): Promise<void> {
    if (records.length === 0) return;
    const r = this.room(room);
    if (!r.producer) {
      const producer = r.kafka.producer({ allowAutoTopicCreation: false, idempotent: true, maxInFlightRequests: 1 });
      await withTimeout(producer.connect(), this.timeoutMs);
      r.producer = producer;
    }
    await withTimeout(
      r.producer.send({
        topic,
        acks: -1,
        messages: records.map((m) => ({ partition, timestamp: String(m.timestamp), key: m.key, value: m.value, headers: { ...m.headers } })),
      }),
      this.timeoutMs,
    );
  }

  async close(): Promise<void> {
    await Promise.all(
      [...this.rooms.values()].map(async (r) => {
        await r.cluster?.disconnect().catch(() => undefined);
        await r.admin?.disconnect().catch(() => undefined);
        await r.producer?.disconnect().catch(() => undefined);
      }),
    );
  }
}
