// A Kafka consumer that follows its pipeline's route across rooms.
//
// It watches the route in etcd. On a higher epoch it stops consuming in the old room (bounded:
// a dead room cannot hold it up), restarts in the new room from (last processed event time -
// margin) per partition, and reports how long each part of the move took. Event time is the
// record timestamp the producer wrote into both rooms, so it names the same place in either log.
//
// Why this loses nothing: every record with an event time after the watermark was not yet
// processed; `fetchTopicOffsetsByTimestamp(wm - margin)` returns an offset at or before the first
// such record in the new room. Records between (wm - margin) and wm may be processed twice.

import type { Consumer, EachMessagePayload, Admin } from 'kafkajs';
import type { Etcd3 } from 'etcd3';
import type { Route } from '../core/model.js';
import { createEtcdClient } from '../adapters/etcd/client.js';
import { EtcdRouteStore } from '../adapters/etcd/route-store.js';
import { EtcdWatermarkStore } from '../adapters/etcd/watermark-store.js';
import { EtcdJournalStore } from '../adapters/etcd/journal-store.js';
import { randomUUID } from 'node:crypto';
import { createKafka } from '../adapters/kafka/kafka-client.js';
import { silentLogger, type Logger } from '../ports/logger.js';
import type { RouteStore } from '../ports/route-store.js';
import type { WatermarkStore } from '../ports/watermark-store.js';
import { withTimeout } from './timeout.js';

export interface RoutedMessage {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  /** Event time: the record's timestamp, epoch ms. */
  readonly timestamp: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: Record<string, unknown>;
  /** The room and route epoch this record was read under. */
  readonly room: string;
  readonly epoch: number;
}

/** How one move between rooms went, reported once the first record arrives in the new room. */
export interface FlipReport {
  readonly pipeline: string;
  readonly fromRoom: string | undefined;
  readonly toRoom: string;
  readonly epoch: number;
  /** When the controller decided (route.since), epoch ms. */
  readonly decidedAt: number;
  /** When this consumer saw the new route. */
  readonly seenAt: number;
  readonly stoppedOldAt: number;
  /** When offsets were placed in the new room. */
  readonly seekedAt: number;
  readonly firstMessageAt: number;
  /** Per topic and partition: the event time the consumer restarted from. */
  readonly seekFrom: Readonly<Record<string, Readonly<Record<number, number>>>>;
}

export interface RoutedConsumerOptions {
  readonly pipeline: string;
  readonly etcd: { readonly endpoints: readonly string[]; readonly prefix?: string };
  readonly eachMessage: (message: RoutedMessage) => Promise<void>;
  /** Replay window when moving rooms (the tier policy's duplicateMarginMs). */
  readonly marginMs: number;
  readonly clientId?: string;
  /** On the very first start, with no committed offsets and no watermark: from the beginning? */
  readonly fromBeginning?: boolean;
  readonly watermarkFlushMs?: number;
  /**
   * Longest wait for the old room's consumer to stop before moving on without it (default 300 ms).
   * Waiting only trims duplicates in a graceful switch; safety never depends on it, because
   * records the old consumer still delivers are dropped.
   */
  readonly stopTimeoutMs?: number;
  readonly logger?: Logger;
  readonly onFlip?: (report: FlipReport) => void;
}

interface Active {
  readonly route: Route;
  readonly consumer: Consumer;
  readonly generation: number;
  /** Silences this consumer's client logs once it is abandoned in a dead room. */
  readonly mute: { value: boolean };
}

interface Placement {
  readonly offsets: Map<string, { partition: number; offset: string }[]>;
  readonly seekFrom: Record<string, Record<number, number>>;
}

interface PendingReport {
  fromRoom: string | undefined;
  route: Route;
  seenAt: number;
  stoppedOldAt: number;
  seekedAt: number;
  seekFrom: Record<string, Record<number, number>>;
}

export class RoutedConsumer {
  private etcd: Etcd3 | undefined;
  private routes: RouteStore | undefined;
  private marks: WatermarkStore | undefined;
  private journals: EtcdJournalStore | undefined;
  /** The generation whose first record has been acknowledged to the controller. */
  private ackedGeneration = 0;
  private readonly instanceId = randomUUID().slice(0, 8);
  private stopWatch: (() => Promise<void>) | undefined;
  private active: Active | undefined;
  private generation = 0;
  private latest: Route | undefined;
  private chain: Promise<void> = Promise.resolve();
  private flushTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private pendingReport: PendingReport | undefined;
  /** topic -> partition -> last processed event time. */
  private readonly watermarks = new Map<string, Map<number, number>>();
  private readonly dirty = new Set<string>();
  private readonly log: Logger;

  constructor(private readonly opts: RoutedConsumerOptions) {
    this.log = (opts.logger ?? silentLogger).child({ component: 'routed-consumer', pipeline: opts.pipeline });
  }

  /** The route currently consumed, if any. */
  get route(): Route | undefined {
    return this.active?.route;
  }

  /** Starts watching the route; resolves once the watch is in place (consuming starts on the first route). */
  async start(): Promise<void> {
    const prefix = this.opts.etcd.prefix ?? '/switchyard';
    this.etcd = createEtcdClient({ endpoints: this.opts.etcd.endpoints });
    this.routes = new EtcdRouteStore(this.etcd, prefix);
    this.marks = new EtcdWatermarkStore(this.etcd, prefix);
    this.journals = new EtcdJournalStore(this.etcd, prefix);
    this.flushTimer = setInterval(() => void this.flush(), this.opts.watermarkFlushMs ?? 200);
    this.stopWatch = await this.routes.watch(
      this.opts.pipeline,
      (route) => this.onRoute(route),
      (err) => this.log.warn('route watch error; keeping the last known route', { error: err.message }),
    );
  }

  private onRoute(route: Route): void {
    if (this.latest && route.epoch <= this.latest.epoch) return;
    this.latest = route;
    this.log.info('route seen', { epoch: route.epoch, room: route.room, chain: route.chain });
    const seenAt = Date.now();
    // Moves run one at a time, in epoch order; a move overtaken by a newer route gives way.
    this.chain = this.chain.then(() => this.moveTo(route, seenAt)).catch((err: Error) => {
      this.log.error('move failed', { epoch: route.epoch, error: err.message });
    });
  }

  private async moveTo(route: Route, seenAt: number): Promise<void> {
    let attempt = 0;
    while (!this.closed && this.latest === route) {
      try {
        await this.moveOnce(route, seenAt);
        return;
      } catch (err) {
        attempt++;
        this.log.warn('could not start in the new room; retrying', { room: route.room, attempt, error: (err as Error).message });
        await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** attempt)));
      }
    }
  }

  private async moveOnce(route: Route, seenAt: number): Promise<void> {
    const old = this.active;
    if (old && old.route.epoch >= route.epoch) return;
    const generation = ++this.generation;
    this.active = undefined;
    if (old) {
      await this.stopConsumer(old.consumer, old.route.room);
      old.mute.value = true;
    }
    const stoppedOldAt = Date.now();

    const muted = { value: false };
    const roomLog = this.log.child({ room: route.room });
    const kafka = createKafka({
      clientId: this.opts.clientId ?? `switchyard-sdk-${this.opts.pipeline}`,
      brokers: route.kafka.brokers,
      log: {
        ...roomLog,
        warn: (msg, fields) => (muted.value ? undefined : roomLog.warn(msg, fields)),
        error: (msg, fields) => (muted.value ? undefined : roomLog.error(msg, fields)),
      },
      timeoutMs: 3000,
    });
    const movingRooms = old !== undefined && old.route.room !== route.room;
    const admin = kafka.admin();
    await admin.connect();
    let placement: Placement;
    try {
      placement = await this.planOffsets(admin, route, movingRooms);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }

    const consumer = kafka.consumer({
      groupId: route.consumerGroup,
      sessionTimeout: 6000,
      heartbeatInterval: 500,
      maxWaitTimeInMs: 50,
      retry: { retries: 10, initialRetryTime: 100, maxRetryTime: 1000 },
    });
    await consumer.connect();
    for (const topic of route.kafka.topics) {
      await consumer.subscribe({ topic, fromBeginning: this.opts.fromBeginning ?? false });
    }
    if (this.closed || this.latest !== route) {
      await this.stopConsumer(consumer, route.room);
      return;
    }
    this.active = { route, consumer, generation, mute: muted };
    await consumer.run({ eachMessage: (p) => this.handle(p, route, generation) });
    // Seeks placed right after run(): kafkajs applies them before the next fetch and drops any
    // batch fetched for a partition whose seek is pending, so nothing before them is processed.
    // (admin.setOffsets would instead run a throwaway group member and cost a full fetch cycle.)
    for (const [topic, partitions] of placement.offsets) {
      for (const { partition, offset } of partitions) consumer.seek({ topic, partition, offset });
    }
    const seekedAt = Date.now();
    this.pendingReport = old ? { fromRoom: old.route.room, route, seenAt, stoppedOldAt, seekedAt, seekFrom: placement.seekFrom } : undefined;
    this.log.info('consuming', { room: route.room, epoch: route.epoch, seekFrom: placement.seekFrom });
  }

  /**
   * Where the group starts in the room it is about to consume from. Moving rooms: by event time,
   * from the watermarks. First start: committed offsets stand; where the group has none but a
   * watermark exists (another instance consumed before), by event time too.
   */
  private async planOffsets(admin: Admin, route: Route, movingRooms: boolean): Promise<Placement> {
    const placement: Placement = { offsets: new Map(), seekFrom: {} };
    for (const topic of route.kafka.topics) {
      const marks = await this.mergedWatermarks(route.consumerGroup, topic);
      if (marks.size === 0) continue;
      if (!movingRooms) {
        const committed = await admin.fetchOffsets({ groupId: route.consumerGroup, topics: [topic] });
        const hasCommitted = committed.some((t) => t.partitions.some((p) => Number(p.offset) >= 0));
        if (hasCommitted) continue;
      }
      // Partitions we never processed restart from the oldest watermark we hold: nothing newer
      // than it can have been skipped on them either.
      const oldest = Math.min(...marks.values());
      const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
      const partitions = metadata.topics[0]?.partitions.map((p) => p.partitionId) ?? [];
      const from = new Map<number, number>();
      for (const p of partitions) from.set(p, Math.max(0, (marks.get(p) ?? oldest) - this.opts.marginMs));
      const byTimestamp = new Map<number, number[]>();
      for (const [p, ts] of from) byTimestamp.set(ts, [...(byTimestamp.get(ts) ?? []), p]);
      const placed: { partition: number; offset: string }[] = [];
      for (const [ts, ps] of byTimestamp) {
        const offsets = await admin.fetchTopicOffsetsByTimestamp(topic, ts);
        for (const o of offsets) if (ps.includes(o.partition)) placed.push({ partition: o.partition, offset: o.offset });
      }
      placement.offsets.set(topic, placed);
      placement.seekFrom[topic] = Object.fromEntries(from);
    }
    return placement;
  }

  private async mergedWatermarks(group: string, topic: string): Promise<Map<number, number>> {
    const merged = new Map(this.watermarks.get(topic) ?? []);
    try {
      const stored = await this.marks!.read(group, topic);
      for (const [p, ts] of stored) merged.set(p, Math.max(ts, merged.get(p) ?? 0));
    } catch (err) {
      this.log.warn('could not read stored watermarks; using this process\'s own', { error: (err as Error).message });
    }
    return merged;
  }

  private async handle(payload: EachMessagePayload, route: Route, generation: number): Promise<void> {
    // A consumer being replaced may still deliver a batch: drop it, it will be read again.
    if (generation !== this.generation) return;
    const { topic, partition, message } = payload;
    const timestamp = Number(message.timestamp);
    await this.opts.eachMessage({
      topic,
      partition,
      offset: message.offset,
      timestamp,
      key: message.key,
      value: message.value,
      headers: message.headers ?? {},
      room: route.room,
      epoch: route.epoch,
    });
    let marks = this.watermarks.get(topic);
    if (!marks) this.watermarks.set(topic, (marks = new Map()));
    if (timestamp > (marks.get(partition) ?? 0)) {
      marks.set(partition, timestamp);
      this.dirty.add(topic);
    }
    if (this.ackedGeneration !== generation) {
      // Tell the controller's verify step that this route serves: the first record is processed.
      this.ackedGeneration = generation;
      const consumer = `${this.opts.clientId ?? 'sdk'}-${this.instanceId}`;
      this.journals
        ?.ack(this.opts.pipeline, { consumer, epoch: route.epoch, room: route.room, firstMessageAt: Date.now() })
        .catch((err: Error) => this.log.warn('could not acknowledge the route', { epoch: route.epoch, error: err.message }));
    }
    const pending = this.pendingReport;
    if (pending && pending.route === route) {
      this.pendingReport = undefined;
      this.opts.onFlip?.({
        pipeline: this.opts.pipeline,
        fromRoom: pending.fromRoom,
        toRoom: route.room,
        epoch: route.epoch,
        decidedAt: route.since,
        seenAt: pending.seenAt,
        stoppedOldAt: pending.stoppedOldAt,
        seekedAt: pending.seekedAt,
        firstMessageAt: Date.now(),
        seekFrom: pending.seekFrom,
      });
    }
  }

  private async stopConsumer(consumer: Consumer, room: string): Promise<void> {
    const ms = this.opts.stopTimeoutMs ?? 300;
    const done = await withTimeout(consumer.disconnect(), ms).then(
      () => true,
      () => false,
    );
    if (!done) this.log.info('old consumer did not stop in time; left to stop in the background', { room, timeoutMs: ms });
  }

  /** Writes raised watermarks to etcd. Failures are retried on the next flush. */
  async flush(): Promise<void> {
    const group = this.latest?.consumerGroup;
    if (!this.marks || !group || this.dirty.size === 0) return;
    const topics = [...this.dirty];
    this.dirty.clear();
    for (const topic of topics) {
      try {
        await this.marks.advance(group, topic, this.watermarks.get(topic) ?? new Map());
      } catch (err) {
        this.dirty.add(topic);
        this.log.debug('watermark flush failed; will retry', { error: (err as Error).message });
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.flushTimer);
    await this.stopWatch?.().catch(() => undefined);
    await this.chain;
    const active = this.active;
    this.active = undefined;
    this.generation++;
    if (active) await this.stopConsumer(active.consumer, active.route.room);
    await this.flush();
    this.etcd?.close();
  }
}

export function createRoutedConsumer(opts: RoutedConsumerOptions): RoutedConsumer {
  return new RoutedConsumer(opts);
}
