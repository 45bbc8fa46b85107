// Replication positions through kafkajs' cluster layer. kafkajs has no public API to read the
// newest record of a partition without joining a consumer group, so this uses its Cluster and
// Broker objects (pinned kafkajs 2.2.4; the shape is checked at connect and fails loudly if it
// changes): one ListOffsets (latest) per leader for the log ends, then one Fetch per leader at
// log end - 1, capped at 64 KiB per partition, for the newest record's timestamp.

import type { Logger } from '../../ports/logger.js';
import type { PartitionPosition, PositionReader, RoomPositions } from '../../ports/position-reader.js';
import { withTimeout } from '../../sdk/timeout.js';
import { createKafka, type KafkaClient } from './kafka-client.js';
import { kafkaAccessFor, type KafkaAccessBook } from '../../ports/kafka-access.js';

export interface KafkajsBroker {
  listOffsets(req: { replicaId: number; isolationLevel: number; topics: { topic: string; partitions: { partition: number; timestamp: number }[] }[] }): Promise<{ responses: { topic: string; partitions: { partition: number; offset: string }[] }[] }>;
  fetch(req: unknown): Promise<{ responses: { topicName: string; partitions: { partition: number; errorCode: number; highWatermark: string; messages: { offset: string; timestamp: string }[] }[] }[] }>;
}

export interface KafkajsCluster {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  addMultipleTargetTopics(topics: string[]): Promise<void>;
  refreshMetadata(): Promise<void>;
  findTopicPartitionMetadata(topic: string): { partitionId: number; leader: number }[];
  findBroker(q: { nodeId: string }): Promise<KafkajsBroker>;
  fetchTopicsOffset(q: { topic: string; partitions: { partition: number }[]; fromBeginning: boolean }[]): Promise<{ topic: string; partitions: { partition: number; offset: string }[] }[]>;
}

/** Where kafkajs 2.2.x keeps a client's cluster factory (an own property under a private symbol), if it does. */
export function clusterFactorySymbol(kafka: KafkaClient): symbol | undefined {
  const sym = Object.getOwnPropertySymbols(kafka).find((s) => s.description === 'private:Kafka:createCluster');
  return sym && typeof (kafka as unknown as Record<symbol, unknown>)[sym] === 'function' ? sym : undefined;
}

export function clusterOf(kafka: KafkaClient): KafkajsCluster {
  const sym = clusterFactorySymbol(kafka);
  if (!sym) throw new Error('kafkajs cluster layer not found: the position reader needs kafkajs 2.2.x');
  const create = (kafka as unknown as Record<symbol, unknown>)[sym];
  const cluster = (create as (o: object) => KafkajsCluster)({ allowAutoTopicCreation: false, isolationLevel: 0, metadataMaxAge: 60_000 });
  for (const m of ['connect', 'addMultipleTargetTopics', 'findTopicPartitionMetadata', 'findBroker', 'fetchTopicsOffset'] as const) {
    if (typeof cluster[m] !== 'function') throw new Error(`kafkajs cluster has no ${m}(): the position reader needs kafkajs 2.2.x`);
  }
  return cluster;
}

/** How often the position reader reads the rooms' metadata (partition leaders) again. */
const METADATA_REFRESH_MS = 10_000;

export class KafkaPositionReader implements PositionReader {
  private cluster: KafkajsCluster | undefined;
  /** Per topic: its partitions' leaders, from the metadata last read (refreshedAt). */
  private leaders: Map<string, { partitionId: number; leader: number }[]> | undefined;
  private refreshedAt = 0;
  /** Per topic/partition: the log end at the last Fetch of its newest record, and that record's timestamp. */
  private readonly newestAt = new Map<string, { end: number; ts: number }>();
  private readonly kafka: KafkaClient;

  constructor(
    private readonly room: string,
    brokers: readonly string[],
    log: Logger,
    private readonly now: () => number = Date.now,
    access?: KafkaAccessBook,
  ) {
    this.kafka = createKafka({ clientId: `switchyard-positions-${room}`, brokers, log, timeoutMs: 1000, retries: 0, quiet: true, access: () => kafkaAccessFor(access, brokers) });
  }

  async read(topics: readonly string[], timeoutMs: number): Promise<RoomPositions> {
    try {
      return await withTimeout(this.sample(topics), timeoutMs);
    } catch (err) {
      // Not awaited: disconnecting a cluster whose connect to a dead broker is still pending may
      // never settle, and the caller's tick must not wait on it.
      void this.close();
      throw err;
    }
  }

  private async sample(topics: readonly string[]): Promise<RoomPositions> {
    if (!this.cluster) {
      const cluster = clusterOf(this.kafka);
      await cluster.connect();
      this.cluster = cluster;
    }
    const cluster = this.cluster;
    // A topic missing in this room yields no partitions (the estimate then says so), not a room
    // without any sample.
    const present: string[] = [];
    try {
      await cluster.addMultipleTargetTopics([...topics]);
      present.push(...topics);
    } catch (err) {
      if ((err as { type?: string }).type !== 'UNKNOWN_TOPIC_OR_PARTITION') throw err;
      for (const topic of topics) {
        try {
          await cluster.addMultipleTargetTopics([topic]);
          present.push(topic);
        } catch (e) {
          if ((e as { type?: string }).type !== 'UNKNOWN_TOPIC_OR_PARTITION') throw e;
        }
      }
    }
    // Leaders rarely move: the metadata (all topics, decoded) is read again every
    // METADATA_REFRESH_MS, not every sample. A leader that moved meanwhile answers with an error,
    // the read fails, and the cluster is rebuilt (close) with fresh metadata on the next one.
    const now = Date.now();
    if (now - this.refreshedAt >= METADATA_REFRESH_MS || !this.leaders || present.some((t) => !this.leaders!.has(t))) {
      await cluster.refreshMetadata();
      this.refreshedAt = now;
      // The partitions' leaders from the metadata just read, indexed once: findTopicPartitionMetadata
      // scans the metadata's topic list per call (quadratic in topics); it is the fallback only.
      const loaded = (cluster as unknown as { brokerPool?: { metadata?: { topicMetadata?: unknown } } }).brokerPool?.metadata?.topicMetadata;
      this.leaders = Array.isArray(loaded) ? new Map((loaded as { topic: string; partitionMetadata: { partitionId: number; leader: number }[] }[]).map((t) => [t.topic, t.partitionMetadata])) : undefined;
    }
    const index = this.leaders;
    const layout = present.map((topic) => ({ topic, partitions: index ? (index.get(topic) ?? []) : cluster.findTopicPartitionMetadata(topic) }));
    // The log ends: one ListOffsets (latest) per leader. Not cluster.fetchTopicsOffset: it merges
    // the answers by spreading an object per topic, quadratic in topics (with 1,000 topics, over
    // half of an idle controller's CPU).
    const endsByLeader = new Map<number, Map<string, { partition: number; timestamp: number }[]>>();
    for (const t of layout) {
      for (const p of t.partitions) {
        if (p.leader < 0) continue;
        let topicsOfLeader = endsByLeader.get(p.leader);
        if (!topicsOfLeader) endsByLeader.set(p.leader, (topicsOfLeader = new Map()));
        let parts = topicsOfLeader.get(t.topic);
        if (!parts) topicsOfLeader.set(t.topic, (parts = []));
        parts.push({ partition: p.partitionId, timestamp: -1 });
      }
    }
    const endOf = new Map<string, number>();
    await Promise.all(
      [...endsByLeader].map(async ([leader, topicsOfLeader]) => {
        const broker = await cluster.findBroker({ nodeId: String(leader) });
        const res = await broker.listOffsets({ replicaId: -1, isolationLevel: 0, topics: [...topicsOfLeader].map(([topic, partitions]) => ({ topic, partitions })) });
        for (const r of res.responses) for (const p of r.partitions) endOf.set(`${r.topic}/${p.partition}`, Number(p.offset));
      }),
    );

    // The newest record of each non-empty partition whose log end moved since the last sample (an
    // unmoved one still has the same newest record; a topic re-created to the very same log end
    // would keep the old timestamp until it moves): one Fetch per leader at log end - 1.
    const newest = new Map<string, number>();
    const fetchesByLeader = new Map<number, Map<string, { partition: number; fetchOffset: string; maxBytes: number }[]>>();
    for (const t of layout) {
      for (const p of t.partitions) {
        const key = `${t.topic}/${p.partitionId}`;
        const end = endOf.get(key) ?? 0;
        if (end <= 0 || p.leader < 0) continue;
        const known = this.newestAt.get(key);
        if (known && known.end === end) {
          newest.set(key, known.ts);
          continue;
        }
        let topicsOfLeader = fetchesByLeader.get(p.leader);
        if (!topicsOfLeader) fetchesByLeader.set(p.leader, (topicsOfLeader = new Map()));
        let parts = topicsOfLeader.get(t.topic);
        if (!parts) topicsOfLeader.set(t.topic, (parts = []));
        parts.push({ partition: p.partitionId, fetchOffset: String(end - 1), maxBytes: 65_536 });
      }
    }
    const byLeader = new Map([...fetchesByLeader].map(([leader, m]) => [leader, [...m].map(([topic, partitions]) => ({ topic, partitions }))]));
    await Promise.all(
      [...byLeader].map(async ([leader, fetchTopics]) => {
        const broker = await cluster.findBroker({ nodeId: String(leader) });
        const res = await broker.fetch({ replicaId: -1, isolationLevel: 0, maxWaitTime: 0, minBytes: 0, maxBytes: 1_048_576, topics: fetchTopics });
        for (const r of res.responses) {
          for (const p of r.partitions) {
            const end = endOf.get(`${r.topicName}/${p.partition}`) ?? 0;
            let ts: number | undefined;
            for (const m of p.messages) if (Number(m.offset) < end) ts = Math.max(ts ?? 0, Number(m.timestamp));
            const key = `${r.topicName}/${p.partition}`;
            // Only a record found is kept: an empty answer may be the response's byte limit
            // reached before this partition, and is asked again next time.
            if (ts !== undefined) {
              newest.set(key, ts);
              this.newestAt.set(key, { end, ts });
            }
          }
        }
      }),
    );
    const partitions: PartitionPosition[] = layout.flatMap((t) =>
      t.partitions.map((p) => {
        const key = `${t.topic}/${p.partitionId}`;
        const ts = newest.get(key);
        return { topic: t.topic, partition: p.partitionId, logEnd: endOf.get(key) ?? 0, ...(ts !== undefined && { newestTs: ts }) };
      }),
    );
    return { room: this.room, at: this.now(), partitions };
  }

  async close(): Promise<void> {
    const c = this.cluster;
    this.cluster = undefined;
    this.leaders = undefined;
    if (c) await withTimeout(c.disconnect(), 1000).catch(() => undefined);
  }
}
