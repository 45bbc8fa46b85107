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
//
// The lookup is two calls for that reason: starting it asks the log ends at once (a placement
// does that beside its etcd read of the watermarks, which the timestamps come from), and `at`
// asks the timestamps only once those log ends are answered. Any earlier start keeps that order:
// an SDK standby starts its lookups when the served room's connection fails, before the move
// (routed-consumer.ts, readAhead). An older log end only matters to a partition with no record at
// or after its timestamp, which then starts earlier: records read again, none skipped.

import type { Admin } from 'kafkajs';
import type { KafkaClient } from './kafka-client.js';
import { clusterFactorySymbol, type KafkajsCluster } from './position-reader.js';

/** A lookup under way on one topic: its partitions' log ends were asked when it started. */
export interface OffsetLookup {
  /**
   * Per partition: the first offset whose record timestamp is at or after the partition's
   * timestamp, else its log end as answered before this was asked (what kafkajs' admin answers).
   * Rejects on any broker error (a moved leader, say) and for a partition with no known leader:
   * the caller falls back to the admin's own calls, which refresh metadata and retry.
   */
  at(timestamps: ReadonlyMap<number, number>): Promise<Map<number, string>>;
  /** Every partition's log start (earliest offset), asked with the log ends. */
  starts(): Promise<Map<number, string>>;
}

/**
 * Starts a lookup on `topic`: asks the log end and the log start of every partition in `leaders`
 * (partition to leader id; when the caller knows them, a metadata read is saved), else of every
 * partition the admin's metadata lists, at once.
 */
export type OffsetsByTime = (topic: string, leaders?: ReadonlyMap<number, number>) => OffsetLookup;

/** What of the admin's kafkajs cluster this uses (the position reader's view of it, plus these). */
type AdminCluster = Pick<KafkajsCluster, 'findTopicPartitionMetadata' | 'findBroker'> & {
  readonly isolationLevel?: number;
  addTargetTopic(topic: string): Promise<void>;
};

const LATEST = -1;
const EARLIEST = -2;

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
  const ask = async (leader: number, topic: string, partitions: { partition: number; timestamp: number }[]) => {
    const broker = await c.findBroker({ nodeId: String(leader) });
    const answer = await broker.listOffsets({ replicaId: -1, isolationLevel: c.isolationLevel ?? 1, topics: [{ topic, partitions }] });
    return answer.responses.flatMap((r) => (r.topic === topic ? r.partitions : []));
  };
  const offsetsByTime: OffsetsByTime = (topic, known) => {
    const ends = (async () => {
      // Leaders from metadata the caller read, else from the admin's (read once per topic).
      let leaders = known;
      if (!leaders) {
        await c.addTargetTopic(topic);
        leaders = new Map(c.findTopicPartitionMetadata(topic).map((p) => [p.partitionId, p.leader]));
      }
      const out = new Map<number, string>();
      const starts = new Map<number, string>();
      await Promise.all(
        [...byLeader(topic, leaders, leaders.keys())].flatMap(([leader, partitions]) => [
          (async () => {
            for (const p of await ask(leader, topic, partitions.map((partition) => ({ partition, timestamp: LATEST })))) out.set(p.partition, String(p.offset));
          })(),
          (async () => {
            for (const p of await ask(leader, topic, partitions.map((partition) => ({ partition, timestamp: EARLIEST })))) starts.set(p.partition, String(p.offset));
          })(),
        ]),
      );
      return { leaders, ends: out, starts };
    })();
    // Answered through `at`; a lookup never asked is not an unhandled rejection.
    ends.catch(() => undefined);
    return {
      at: async (timestamps) => {
        const { leaders, ends: logEnds } = await ends;
        const out = new Map<number, string>();
        await Promise.all(
          [...byLeader(topic, leaders, timestamps.keys())].map(async ([leader, partitions]) => {
            for (const p of await ask(leader, topic, partitions.map((partition) => ({ partition, timestamp: timestamps.get(partition)! })))) {
              const end = logEnds.get(p.partition);
              if (Number(p.offset) >= 0) out.set(p.partition, String(p.offset));
              else if (end !== undefined) out.set(p.partition, end);
            }
          }),
        );
        for (const p of timestamps.keys()) if (!out.has(p)) throw new Error(`no offset answered for ${topic}/${p}`);
        return out;
      },
      starts: async () => (await ends).starts,
    };
  };
  return { admin, offsetsByTime };
}

/** `partitions` grouped by their leader; a partition with none known is an error, not a silent gap. */
function byLeader(topic: string, leaders: ReadonlyMap<number, number>, partitions: Iterable<number>): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const partition of partitions) {
    const leader = leaders.get(partition);
    if (leader === undefined || leader < 0) throw new Error(`no leader known for ${topic}/${partition}`);
    let list = out.get(leader);
    if (!list) out.set(leader, (list = []));
    list.push(partition);
  }
  return out;
}
