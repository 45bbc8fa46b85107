// Committed offsets through kafkajs' cluster layer (as the position reader does: pinned kafkajs
// 2.2.4). admin.fetchOffsets looks every named topic up in the metadata for each group it is asked
// about (refreshMetadataIfNecessary and a scan of the topic list per call): with 1,000 groups a
// second over 1,000 topics, that was the largest part of an idle controller's CPU. Here the
// metadata is read every 10 s (or for a topic not seen yet) and indexed once,
// each group's coordinator is remembered until a request to it fails, and each group costs one
// OffsetFetch naming its partitions.

import type { CommittedOffsets, GroupOffsetReader } from '../../ports/group-offsets.js';
import type { Logger } from '../../ports/logger.js';
import { createKafka } from './kafka-client.js';
import { clusterOf, type KafkajsCluster } from './position-reader.js';
import { kafkaAccessFor, type KafkaAccessBook } from '../../ports/kafka-access.js';
import { withTimeout } from '../../sdk/timeout.js';

interface CoordinatorBroker {
  offsetFetch(req: { groupId: string; topics: { topic: string; partitions: { partition: number }[] }[] }): Promise<{ responses: { topic: string; partitions: { partition: number; offset: string }[] }[] }>;
}

interface OffsetsCluster extends KafkajsCluster {
  findGroupCoordinator(q: { groupId: string }): Promise<CoordinatorBroker>;
}

const UNKNOWN_TOPIC = 'UNKNOWN_TOPIC_OR_PARTITION';

/** How often the lag reader reads the room's metadata (partition counts) again. */
const METADATA_REFRESH_MS = 10_000;

/** GroupOffsetReader on one long-lived kafkajs cluster per room. */
export class KafkaGroupOffsetReader implements GroupOffsetReader {
  private cluster: OffsetsCluster | undefined;
  /** Per topic: its partitions, from the metadata last read (refreshedAt). */
  private index: Map<string, { partitionId: number }[]> | undefined;
  private refreshedAt = 0;
  /** Per group: its coordinator, until a request to it fails. */
  private readonly coordinators = new Map<string, CoordinatorBroker>();

  constructor(
    private readonly room: string,
    private readonly brokers: readonly string[],
    private readonly log: Logger,
    private readonly concurrency = 64,
    private readonly access?: KafkaAccessBook,
  ) {}

  async read(groups: readonly { readonly group: string; readonly topics: readonly string[] }[], timeoutMs: number): Promise<CommittedOffsets> {
    const deadline = Date.now() + timeoutMs;
    if (!this.cluster) {
      const kafka = createKafka({ clientId: `switchyard-lag-${this.room}`, brokers: this.brokers, log: this.log, timeoutMs: Math.min(timeoutMs, 3000), retries: 2, quiet: true, access: () => kafkaAccessFor(this.access, this.brokers) });
      const cluster = clusterOf(kafka) as OffsetsCluster;
      for (const m of ['refreshMetadata', 'findGroupCoordinator'] as const) {
        if (typeof cluster[m] !== 'function') throw new Error(`kafkajs cluster has no ${m}(): the lag reader needs kafkajs 2.2.x`);
      }
      try {
        await cluster.connect();
      } catch (err) {
        void withTimeout(cluster.disconnect(), 1000).catch(() => undefined);
        throw err;
      }
      this.cluster = cluster;
    }
    const cluster = this.cluster;
    let layout: Map<string, { partition: number }[]>;
    try {
      layout = await this.partitions(cluster, [...new Set(groups.flatMap((g) => g.topics))]);
    } catch (err) {
      void this.close();
      throw err;
    }
    const out: CommittedOffsets = new Map();
    let next = 0;
    let failure: Error | undefined;
    const worker = async () => {
      while (next < groups.length && Date.now() < deadline && !failure) {
        const { group, topics } = groups[next++]!;
        // A topic this room does not hold is left out (no commit to read), as admin did by failing the group.
        const request = topics.flatMap((topic) => {
          const partitions = layout.get(topic);
          return partitions && partitions.length > 0 ? [{ topic, partitions }] : [];
        });
        if (request.length === 0) continue;
        try {
          let coordinator = this.coordinators.get(group);
          if (!coordinator) {
            coordinator = await cluster.findGroupCoordinator({ groupId: group });
            this.coordinators.set(group, coordinator);
          }
          const res = await coordinator.offsetFetch({ groupId: group, topics: request }).catch((err: unknown) => {
            this.coordinators.delete(group);
            throw err;
          });
          const byTopic = new Map<string, Map<number, number>>();
          for (const t of res.responses) byTopic.set(t.topic, new Map(t.partitions.map((p) => [p.partition, Number(p.offset)])));
          out.set(group, byTopic);
        } catch (err) {
          failure = err as Error;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, groups.length) }, worker));
    if (failure && out.size === 0) {
      void this.close();
      throw failure;
    }
    return out;
  }

  /** Per topic present in this room: its partitions, from metadata refreshed only when needed and indexed once. */
  private async partitions(cluster: OffsetsCluster, topics: readonly string[]): Promise<Map<string, { partition: number }[]>> {
    const present: string[] = [];
    try {
      await cluster.addMultipleTargetTopics([...topics]);
      present.push(...topics);
    } catch (err) {
      if ((err as { type?: string }).type !== UNKNOWN_TOPIC) throw err;
      for (const topic of topics) {
        try {
          await cluster.addMultipleTargetTopics([topic]);
          present.push(topic);
        } catch (e) {
          if ((e as { type?: string }).type !== UNKNOWN_TOPIC) throw e;
        }
      }
    }
    // Read again every METADATA_REFRESH_MS, or for a topic not in the index (kafkajs' own
    // refreshMetadataIfNecessary compares every target topic with every topic: quadratic).
    const now = Date.now();
    if (now - this.refreshedAt >= METADATA_REFRESH_MS || !this.index || present.some((t) => !this.index!.has(t))) {
      await cluster.refreshMetadata();
      this.refreshedAt = now;
      const loaded = (cluster as unknown as { brokerPool?: { metadata?: { topicMetadata?: unknown } } }).brokerPool?.metadata?.topicMetadata;
      this.index = Array.isArray(loaded) ? new Map((loaded as { topic: string; partitionMetadata: { partitionId: number }[] }[]).map((t) => [t.topic, t.partitionMetadata])) : undefined;
    }
    const index = this.index;
    return new Map(present.map((topic) => [topic, (index ? (index.get(topic) ?? []) : cluster.findTopicPartitionMetadata(topic)).map((p) => ({ partition: p.partitionId }))]));
  }

  async close(): Promise<void> {
    const c = this.cluster;
    this.cluster = undefined;
    this.coordinators.clear();
    this.index = undefined;
    if (c) await withTimeout(c.disconnect(), 1000).catch(() => undefined);
  }
}
