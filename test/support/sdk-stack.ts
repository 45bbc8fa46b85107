// Helpers for SDK tests on the real local stack: a topic in both rooms, records with chosen
// timestamps written to chosen rooms, routes written straight to etcd (as a controller would).

import type { Etcd3 } from 'etcd3';
import type { Route } from '../../src/core/model.js';
import { createKafka } from '../../src/adapters/kafka/kafka-client.js';
import { silentLogger } from '../../src/ports/logger.js';
import { LOCAL, type LocalRoom } from '../../bench/support/local-stack.js';

export async function createTopicEverywhere(topic: string, partitions: number): Promise<void> {
  for (const room of Object.values(LOCAL.rooms)) {
    const admin = createKafka({ clientId: 'sdk-test-admin', brokers: room.brokers, log: silentLogger }).admin();
    await admin.connect();
    try {
      await admin.createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }], waitForLeaders: true });
    } finally {
      await admin.disconnect();
    }
  }
}

export interface TestRecord {
  readonly value: string;
  readonly partition: number;
  readonly timestamp: number;
}

/** Writes the records, in order, to the topic in each of the given rooms. */
export async function writeRecords(topic: string, records: readonly TestRecord[], rooms: readonly LocalRoom[] = ['room-a', 'room-b']): Promise<void> {
  for (const room of rooms) {
    const producer = createKafka({ clientId: 'sdk-test-producer', brokers: LOCAL.rooms[room].brokers, log: silentLogger }).producer();
    await producer.connect();
    try {
      await producer.send({ topic, acks: -1, messages: records.map((r) => ({ value: r.value, partition: r.partition, timestamp: String(r.timestamp) })) });
    } finally {
      await producer.disconnect();
    }
  }
}

/** Sets a group's committed offsets in one room (the group must have no running member there). */
export async function commitOffsets(room: LocalRoom, group: string, topic: string, partitions: { partition: number; offset: string }[]): Promise<void> {
  const admin = createKafka({ clientId: 'sdk-test-admin', brokers: LOCAL.rooms[room].brokers, log: silentLogger }).admin();
  await admin.connect();
  try {
    await admin.setOffsets({ groupId: group, topic, partitions });
  } finally {
    await admin.disconnect();
  }
}

export function routeTo(pipeline: string, epoch: number, room: string, topic: string, group: string, brokers?: readonly string[]): Route {
  return {
    pipeline,
    chain: room === 'room-a' ? 'primary' : 'standby',
    room,
    epoch,
    since: Date.now(),
    reason: `test route epoch ${epoch}`,
    kafka: { brokers: [...(brokers ?? LOCAL.rooms[room as LocalRoom].brokers)], topics: [topic] },
    consumerGroup: group,
    history: [],
  };
}

/** Writes a route as the controller would (without the fence: tests own their prefix). */
export async function putRoute(etcd: Etcd3, prefix: string, route: Route): Promise<void> {
  await etcd.put(`${prefix}/routes/${route.pipeline}`).value(JSON.stringify(route)).exec();
}

/** Stores watermarks as consumers would have flushed them (fixed-width, see EtcdWatermarkStore). */
export async function putWatermarks(etcd: Etcd3, prefix: string, group: string, topic: string, marks: Record<number, number>): Promise<void> {
  for (const [p, ms] of Object.entries(marks)) {
    await etcd.put(`${prefix}/watermarks/${group}/${topic}/${p}`).value(String(ms).padStart(15, '0')).exec();
  }
}
