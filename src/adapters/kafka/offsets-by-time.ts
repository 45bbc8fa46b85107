// Offsets by timestamp, one timestamp per partition, in one ListOffsets per leader.
//
// kafkajs' admin asks one timestamp per topic (`fetchTopicOffsetsByTimestamp`), and each call is
// two round trips (the log ends, then the timestamps). A consumer placing a topic of 10
// partitions, each at its own watermark, made 20 round trips in a row: with 100 consumers moving
// at once in one process, about 600 ms (docs/perf/scale.md). This asks for every partition's log
// end, then every partition's own timestamp, through the admin's own cluster (no extra
// connection): two round trips per leader for the whole topic.
//
// The log ends come first, as kafkajs' admin does it. A partition with no record at or after its
// timestamp starts at the log end read before that answer: a record written in between is then
// at or after it, and read. Asked the other way round (the timestamps, then the log end of the
// partitions that had none), a record written between the two answers was skipped for good; the
// SDK test that promotes a standby while records arrive caught it.

import type { Admin } from 'kafkajs';
import type { KafkaClient } from './kafka-client.js';
import { clusterFactorySymbol, type KafkajsCluster } from './position-reader.js';

/**
 * Per partition: the first offset whose record timestamp is at or after the partition's timestamp,
 * else the log end as it was just before that answer (what kafkajs' admin answers). `leaders` (partition to leader id), when the
 * caller has just read them, saves a metadata read. Rejects on any broker error (a moved leader,
 * say): the caller falls back to the admin's own calls, which refresh metadata and retry.
 */
export type OffsetsByTime = (topic: string, timestamps: ReadonlyMap<number, number>, leaders?: ReadonlyMap<number, number>) => Promise<Map<number, string>>;

/** What of the admin's kafkajs cluster this uses (the position reader's view of it, plus these). */
type AdminCluster = Pick<KafkajsCluster, 'findTopicPartitionMetadata' | 'findBroker'> & {
  readonly isolationLevel?: number;
  addTargetTopic(topic: string): Promise<void>;
};

const LATEST = -1;

/**
 * `kafka.admin()`, and a per-partition offsets-by-time lookup over the cluster that admin uses.
 * The lookup is undefined if kafkajs' internals are not what 2.2.x has (callers then use the
 * admin's own calls).
 */
export function adminWithOffsetsByTime(kafka: KafkaClient): { admin: Admin; offsetsByTime: OffsetsByTime | undefined } {
  const holder = kafka as unknown as Record<symbol, unknown>;
  const sym = clusterFactorySymbol(kafka);
  if (!sym) return { admin: kafka.admin(), offsetsByTime: undefined };
  const create = holder[sym];
  let cluster: AdminCluster | undefined;
  holder[sym] = (o: object) => (cluster = (create as (o: object) => AdminCluster).call(kafka, o));
  let admin: Admin;
  try {
    admin = kafka.admin();
  } finally {
    holder[sym] = create;
  }
  const c = cluster;
  if (!c || typeof c.addTargetTopic !== 'function' || typeof c.findTopicPartitionMetadata !== 'function' || typeof c.findBroker !== 'function') {
    return { admin, offsetsByTime: undefined };
  }
  const offsetsByTime: OffsetsByTime = async (topic, timestamps, known) => {
    // Leaders from metadata the caller just read, else from the admin's (read once per topic).
    let leaders = known;
    if (!leaders) {
      await c.addTargetTopic(topic);
      leaders = new Map(c.findTopicPartitionMetadata(topic).map((p) => [p.partitionId, p.leader]));
    }
    const byLeader = new Map<number, { partition: number; timestamp: number }[]>();
    for (const [partition, timestamp] of timestamps) {
      const leader = leaders.get(partition);
      if (leader === undefined || leader < 0) throw new Error(`no leader known for ${topic}/${partition}`);
      let list = byLeader.get(leader);
      if (!list) byLeader.set(leader, (list = []));
      list.push({ partition, timestamp });
    }
    const out = new Map<number, string>();
    await Promise.all(
      [...byLeader].map(async ([leader, partitions]) => {
        const broker = await c.findBroker({ nodeId: String(leader) });
        const ask = async (parts: { partition: number; timestamp: number }[]) =>
          (await broker.listOffsets({ replicaId: -1, isolationLevel: c.isolationLevel ?? 1, topics: [{ topic, partitions: parts }] })).responses.flatMap((r) => (r.topic === topic ? r.partitions : []));
        const ends = new Map<number, string>();
        for (const p of await ask(partitions.map(({ partition }) => ({ partition, timestamp: LATEST })))) ends.set(p.partition, String(p.offset));
        for (const p of await ask(partitions)) {
          const end = ends.get(p.partition);
          if (Number(p.offset) >= 0) out.set(p.partition, String(p.offset));
          else if (end !== undefined) out.set(p.partition, end);
        }
      }),
    );
    for (const p of timestamps.keys()) if (!out.has(p)) throw new Error(`no offset answered for ${topic}/${p}`);
    return out;
  };
  return { admin, offsetsByTime };
}
