// Committed offsets through kafkajs' cluster layer (as the position reader does: pinned kafkajs
// 2.2.4). admin.fetchOffsets looks every named topic up in the metadata for each group it is asked
// about (refreshMetadataIfNecessary and a scan of the topic list per call): with 1,000 groups a
// second over 1,000 topics, that was the largest part of an idle controller's CPU. Here the
// metadata is read every 10 s (or for a topic not seen yet) and indexed once, and each group's
// coordinator is remembered until a request to it fails. kafkajs sends one OffsetFetch per group
// (v4): 1,000 requests a second for 1,000 pipelines, with their buffers and socket writes the
// largest part of a steady controller's CPU after 5 minutes. A coordinator that speaks v8 (Kafka
// 3.0 and later) is asked for all its groups in one request, sent over kafkajs' own connection.

import type { CommittedOffsets, GroupOffsetReader } from '../../ports/group-offsets.js';
import type { Logger } from '../../ports/logger.js';
import { createKafka } from './kafka-client.js';
import { clusterOf, type KafkajsCluster } from './position-reader.js';
import { kafkaAccessFor, type KafkaAccessBook } from '../../ports/kafka-access.js';
import { withTimeout } from '../../sdk/timeout.js';
import { Reader, Writer } from './wire.js';

interface CoordinatorBroker {
  readonly nodeId: number | string;
  offsetFetch(req: { groupId: string; topics: { topic: string; partitions: { partition: number }[] }[] }): Promise<{ responses: { topic: string; partitions: { partition: number; offset: string }[] }[] }>;
  /** ApiVersions as kafkajs read them on connect: per API key, its version range. */
  readonly versions?: Record<number, { minVersion: number; maxVersion: number }> | null;
  readonly connectionPool?: { send(protocol: KafkajsProtocolRequest): Promise<unknown> };
}

/** What kafkajs' connection sends: an encoder-like payload, and a decoder of the answer. */
interface KafkajsProtocolRequest {
  readonly request: { apiKey: number; apiVersion: number; apiName: string; encode(): Promise<{ buf: Buffer; buffer: Buffer }> };
  readonly response: { decode(payload: Buffer): Promise<unknown>; parse(data: unknown): Promise<unknown> };
  readonly requestTimeout?: number;
}

const OFFSET_FETCH = 9;
/** The first OffsetFetch version that names several groups (KIP-709, Kafka 3.0). */
const OFFSET_FETCH_GROUPS = 8;
/** Groups per batched request: bounds one request's size. */
const GROUPS_PER_REQUEST = 500;

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
  /**
   * Per group: its coordinator's node id, until a request to it fails. The broker itself is
   * looked up by id each read: kafkajs replaces a broker object its metadata no longer names.
   */
  private readonly coordinators = new Map<string, string>();
  /** Coordinator node ids a batched request failed on: asked group by group. */
  private readonly noBatch = new Set<string>();
  /** OffsetFetch requests sent: batched (v8, many groups) and one group each (kafkajs). */
  readonly sent = { batched: 0, perGroup: 0 };

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
    let failure: Error | undefined;
    // Each group's request (a topic this room does not hold is left out: no commit to read) and coordinator.
    const wanted: { group: string; topics: { topic: string; partitions: { partition: number }[] }[] }[] = [];
    for (const { group, topics } of groups) {
      const request = topics.flatMap((topic) => {
        const partitions = layout.get(topic);
        return partitions && partitions.length > 0 ? [{ topic, partitions }] : [];
      });
      if (request.length > 0) wanted.push({ group, topics: request });
    }
    const byNode = new Map<string, typeof wanted>();
    let next = 0;
    const locate = async () => {
      while (next < wanted.length && Date.now() < deadline) {
        const w = wanted[next++]!;
        try {
          let node = this.coordinators.get(w.group);
          if (node === undefined) {
            node = String((await cluster.findGroupCoordinator({ groupId: w.group })).nodeId);
            this.coordinators.set(w.group, node);
          }
          const list = byNode.get(node);
          if (list) list.push(w);
          else byNode.set(node, [w]);
        } catch (err) {
          failure = err as Error;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, wanted.length) }, locate));
    // One OffsetFetch per coordinator for all its groups (v8); a broker older than Kafka 3.0, or
    // one a batched request failed on, one per group (64 at a time).
    const forget = (group: string) => this.coordinators.delete(group);
    const one = async (coordinator: CoordinatorBroker, w: (typeof wanted)[number]) => {
      this.sent.perGroup++;
      try {
        const res = await coordinator.offsetFetch({ groupId: w.group, topics: w.topics });
        const byTopic = new Map<string, Map<number, number>>();
        for (const t of res.responses) byTopic.set(t.topic, new Map(t.partitions.map((p) => [p.partition, Number(p.offset)])));
        out.set(w.group, byTopic);
      } catch (err) {
        forget(w.group);
        failure = err as Error;
      }
    };
    const single: [CoordinatorBroker, (typeof wanted)[number]][] = [];
    await Promise.all(
      [...byNode].map(async ([node, list]) => {
        let coordinator: CoordinatorBroker;
        try {
          coordinator = (await cluster.findBroker({ nodeId: node })) as unknown as CoordinatorBroker;
        } catch (err) {
          for (const w of list) forget(w.group);
          failure = err as Error;
          return;
        }
        const batched = this.noBatch.has(node) ? undefined : batchedOffsetFetch(coordinator);
        if (!batched) {
          for (const w of list) single.push([coordinator, w]);
          return;
        }
        for (let i = 0; i < list.length; i += GROUPS_PER_REQUEST) {
          const chunk = list.slice(i, i + GROUPS_PER_REQUEST);
          this.sent.batched++;
          try {
            for (const [group, answer] of await batched(chunk, Math.max(1, deadline - Date.now()))) {
              if (answer instanceof Error) {
                forget(group);
                failure = answer;
              } else out.set(group, answer);
            }
          } catch (err) {
            // The request itself failed (a broker that refuses v8 drops the connection): this
            // coordinator is asked group by group from now on.
            this.noBatch.add(node);
            for (const w of chunk) forget(w.group);
            failure = err as Error;
          }
        }
      }),
    );
    let nextSingle = 0;
    const worker = async () => {
      while (nextSingle < single.length && Date.now() < deadline) {
        const [coordinator, w] = single[nextSingle++]!;
        await one(coordinator, w);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, single.length) }, worker));
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

/**
 * OffsetFetch v8 (KIP-709) over a kafkajs broker's own connection: every named group in one
 * request. kafkajs 2.2.4 speaks v4 at most, one group per request, and has no flexible versions:
 * its request header is v1, so the body starts with the empty tagged-field section that makes
 * it a v2 header, and the answer starts with the response header's tagged fields. Undefined when
 * the broker does not speak v8 (the caller then asks group by group).
 */
function batchedOffsetFetch(coordinator: CoordinatorBroker) {
  const range = coordinator.versions?.[OFFSET_FETCH];
  const pool = coordinator.connectionPool;
  if (!range || range.maxVersion < OFFSET_FETCH_GROUPS || !pool) return undefined;
  return async (list: readonly { group: string; topics: readonly { topic: string; partitions: readonly { partition: number }[] }[] }[], timeoutMs: number): Promise<Map<string, Map<string, Map<number, number>> | Error>> => {
    const body = new Writer()
      .noTags() // the request header's tagged fields
      .compactArray(list, (w, g) =>
        w
          .compactString(g.group)
          .compactArray(g.topics, (wt, t) => wt.compactString(t.topic).compactArray(t.partitions, (wp, p) => wp.int32(p.partition)).noTags())
          .noTags(),
      )
      .bool(false) // require_stable
      .noTags()
      .bytes();
    const payload = (await pool.send({
      request: { apiKey: OFFSET_FETCH, apiVersion: OFFSET_FETCH_GROUPS, apiName: 'OffsetFetch', encode: async () => ({ buf: body, buffer: body }) },
      response: { decode: async (b: Buffer) => b, parse: async (b: unknown) => b },
      requestTimeout: timeoutMs,
    })) as Buffer;
    return decodeOffsetFetchV8(payload);
  };
}

/** Per group: its committed offsets by topic and partition (-1: none), or the error the broker gave for it. */
function decodeOffsetFetchV8(payload: Buffer): Map<string, Map<string, Map<number, number>> | Error> {
  const r = new Reader(payload);
  r.skipTags(); // the response header's tagged fields
  r.int32(); // throttle_time_ms
  const out = new Map<string, Map<string, Map<number, number>> | Error>();
  for (let g = r.compactArrayLength(); g > 0; g--) {
    const group = r.compactString() ?? '';
    const byTopic = new Map<string, Map<number, number>>();
    for (let t = r.compactArrayLength(); t > 0; t--) {
      const topic = r.compactString() ?? '';
      const offsets = new Map<number, number>();
      for (let p = r.compactArrayLength(); p > 0; p--) {
        const partition = r.int32();
        const offset = r.int64();
        r.int32(); // committed_leader_epoch
        r.compactString(); // metadata
        const error = r.int16();
        r.skipTags();
        // A partition the broker could not answer for is left out: its lag is unknown, not zero.
        if (error === 0) offsets.set(partition, offset);
      }
      r.skipTags();
      byTopic.set(topic, offsets);
    }
    const error = r.int16();
    r.skipTags();
    out.set(group, error === 0 ? byTopic : new Error(`OffsetFetch of group ${group}: broker error code ${error}`));
  }
  return out;
}
