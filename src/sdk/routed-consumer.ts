// A Kafka consumer that follows its pipeline's route across rooms.
//
// It follows the route in etcd (through watch errors and compactions: see RouteStore.watch). On a
// higher epoch it first reaches the new room (connects, checks the topics); only then does it let
// go of the old room (bounded: a dead room cannot hold it up) and restart in the new one from
// (last processed timestamp - margin) per partition (src/sdk/offset-plan.ts). A room it cannot
// reach is reported (status, metric, presence in etcd) and, by `onUnreachableRoom`, the old room
// is kept while it works ('stay', the default) or consumption stops ('stop') (ADR 0008).
//
// Why this loses nothing: every record with a timestamp after the watermark was not yet
// processed; `fetchTopicOffsetsByTimestamp(wm - margin)` returns an offset at or before the first
// such record in the new room. Records between (wm - margin) and wm may be read twice; those the
// dual producer wrote carry an id, and the ones already processed are dropped (record-ids.ts).

import { kafkaAccessFor, type KafkaAccessBook } from '../ports/kafka-access.js';
import type { Consumer, EachMessagePayload, Admin } from 'kafkajs';
import type { Etcd3 } from 'etcd3';
import type { Route } from '../core/model.js';
import { createEtcdClient, type SdkEtcdOptions } from '../adapters/etcd/client.js';
import { consumerRouteRefusal, type AllowedRooms } from './allow-list.js';
import { EtcdRouteStore } from '../adapters/etcd/route-store.js';
import { EtcdWatermarkStore } from '../adapters/etcd/watermark-store.js';
import { EtcdJournalStore } from '../adapters/etcd/journal-store.js';
import { randomUUID } from 'node:crypto';
import { createKafka, idleWakeInstalled, wakeIdleFetches } from '../adapters/kafka/kafka-client.js';
import { silentLogger, type Logger } from '../ports/logger.js';
import type { RouteStore } from '../ports/route-store.js';
import type { WatermarkStore } from '../ports/watermark-store.js';
import { withTimeout } from './timeout.js';
import type { RouteDelivery } from '../ports/route-store.js';
import { EtcdConsumerAnnouncer } from '../adapters/etcd/consumer-registry.js';
import type { ConsumerPresence } from '../ports/consumer-registry.js';
import { noSdkMetrics, type SdkMetrics } from '../ports/sdk-metrics.js';
import { layoutOf, planPlacement, type Placement, type TopicLayout } from './offset-plan.js';
import { adminWithOffsetsByTime, type OffsetLookup, type OffsetsByTime } from '../adapters/kafka/offsets-by-time.js';
import { Deduplicator, eventTimeOf, recordIdOf } from './record-ids.js';
import { RatePacer, type PacerStatus, type RatePacingOptions, type TopicPartition } from './rate-pacer.js';
import { followCap } from './cap-watch.js';
import type { CapRecord } from '../core/caps.js';
import { EtcdSignalStore } from '../adapters/etcd/signal-store.js';
import { SignalReporter } from './signal-reporter.js';

export interface RoutedMessage {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  /** Event time, epoch ms: the producer's `sy-et` header when it set one, else the record's timestamp. */
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
  /** The move promoted the paused standby member already joined in the new room. */
  readonly promoted?: boolean;
  /** The stored watermarks came from the read made when the served room's connection failed, not from a read during the move. */
  readonly marksReadAhead?: boolean;
  /** Topics whose log ends the promoted standby had asked when the served room's connection failed (the move asked only the timestamps). */
  readonly lookupsReadAhead?: number;
}

export interface RoutedConsumerOptions {
  readonly pipeline: string;
  readonly etcd: SdkEtcdOptions;
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
  /**
   * When the route names a room this client cannot reach: keep consuming the old room while it
   * works ('stay', the default), or stop consuming until the new room answers ('stop'). Either
   * way the client keeps trying the new room, says so in its presence (the controller's verify
   * step sees it) and in `status()`, and sets `switchyard_sdk_route_unreachable`. ADR 0008.
   */
  readonly onUnreachableRoom?: 'stay' | 'stop';
  /**
   * How far behind the others a producer's last processed record may be and still pull a move's
   * restart point back to it (default 30 s; see Deduplicator.laggards). Larger covers longer
   * per-producer delays in the old room, at the cost of reading (not processing) more on a move.
   */
  readonly lateProducerWindowMs?: number;
  /** Backstop re-read of the route (default 5000 ms); the watch is the fast path. */
  readonly resyncMs?: number;
  /** Lease TTL of this instance's presence key (default 10 s). */
  readonly presenceTtlSeconds?: number;
  readonly metrics?: SdkMetrics;
  readonly logger?: Logger;
  readonly onFlip?: (report: FlipReport) => void;
  /**
   * Tell the observers when a connection to the served room's Kafka fails (refused, reset, closed
   * by the broker), so that they probe it at once instead of at their next interval (ADR 0018;
   * default true). A hint only: the observers' own probes and quorum decide.
   */
  readonly signals?: boolean;
  /**
   * Source caps (issue 15): each partition is paced to its share of the cap the controller
   * stores at `<prefix>/caps/<pipeline>` (src/sdk/rate-pacer.ts); no cap stored = unpaced.
   * `false` ignores caps altogether.
   */
  readonly pacing?: RatePacingOptions | false;
  /**
   * The rooms this client may be sent to, with their brokers (e.g. from the topology). A route
   * naming another room or broker is refused: logged, reported in `status()` and presence, and
   * the client stays where it is. Absent: every route is followed. Defence in depth against a
   * forged etcd write (docs/security.md).
   */
  readonly allowedRooms?: AllowedRooms;
  /**
   * TLS and SASL by broker address (host:port), resolved each time the client connects to a room
   * (a function is called then, so a rotated password is picked up). A route's brokers get the
   * access of their entry only: brokers not named here get no credentials.
   */
  readonly kafkaAccess?: KafkaAccessBook;
  /**
   * Keep a paused member joined to the group in the room a failover would go to, when the route
   * names one (the tier's `standbyConsumer: joined`), so that a flip there is a seek and a resume
   * instead of a connect and a group join (default true). It costs one more Kafka client per
   * instance (a few connections, heartbeats) and reads nothing until promoted.
   */
  readonly standbyConsumer?: boolean;
}

/** What this instance is doing, as it also tells the controller (its presence key). */
export interface RoutedConsumerStatus {
  readonly consumer: string;
  readonly state: ConsumerPresence['state'];
  /** The newest route seen. */
  readonly epoch: number | undefined;
  readonly room: string | undefined;
  /** The route actually consumed now. */
  readonly servingEpoch: number | undefined;
  readonly servingRoom: string | undefined;
  readonly reason: string | undefined;
  readonly duplicatesDropped: number;
  /** The source cap applied and what pacing does now. */
  readonly pacing: PacerStatus;
}

interface Active {
  readonly route: Route;
  readonly consumer: Consumer;
  readonly generation: number;
  /** Silences this consumer's client logs once it is abandoned in a dead room. */
  readonly mute: { value: boolean };
}

/** A consumer reached in one room: connected, subscribed, its admin still open for placement. */
interface Member {
  readonly room: string;
  readonly brokers: readonly string[];
  readonly group: string;
  readonly topics: readonly string[];
  readonly clientId: string;
  readonly admin: Admin;
  readonly offsetsByTime: OffsetsByTime | undefined;
  /** The topics' partitions and leaders, read when reached, and again each time a standby joins. */
  layout: ReadonlyMap<string, TopicLayout>;
  readonly consumer: Consumer;
  readonly paced: TopicPartition[];
  readonly mute: { value: boolean };
  /** What its records are handled under: set when it serves (a standby's generation matches nothing). */
  readonly serving: { route: Route | undefined; generation: number };
  /** Whether consumer.run has been called (a standby runs paused). */
  running: boolean;
  /** A standby: in the group now (its last GROUP_JOIN came after its last crash). */
  joined: boolean;
  /** Ends its idle wait after a resume (a member born a standby sleeps long; see reach). */
  readonly wake: () => void;
  /** A standby's offset lookups started when the served room's connection failed, by topic (see readAhead). */
  readonly lookupsAhead: Map<string, { readonly at: number; readonly leaders: ReadonlyMap<number, number>; readonly lookup: OffsetLookup }>;
}

/** The paused member kept in the failover room, once joined. */
interface Standby {
  readonly room: string;
  readonly brokers: readonly string[];
  member: Member | undefined;
  /** Settles when the member is joined, or given up. */
  ready: Promise<void>;
}

interface PendingReport {
  fromRoom: string | undefined;
  route: Route;
  seenAt: number;
  stoppedOldAt: number;
  seekedAt: number;
  seekFrom: Record<string, Record<number, number>>;
  promoted?: boolean;
  marksReadAhead?: boolean;
  lookupsReadAhead?: number;
}

export class RoutedConsumer {
  private etcd: Etcd3 | undefined;
  private routes: RouteStore | undefined;
  private marks: WatermarkStore | undefined;
  private journals: EtcdJournalStore | undefined;
  /** The generation whose first record has been acknowledged to the controller. */
  private ackedGeneration = 0;
  private readonly instanceId = randomUUID().slice(0, 8);
  private announcer: EtcdConsumerAnnouncer | undefined;
  private readonly dedup = new Deduplicator();
  private readonly metrics: SdkMetrics;
  private presence: { state: ConsumerPresence['state']; reason?: string } = { state: 'starting' };
  private duplicatesDropped = 0;
  /** Set while the newest route's room cannot be reached; the old consumer may still be serving. */
  private stoppedForUnreachable = false;
  /** Old rooms' consumers being stopped in the background after a move (close waits for them). */
  private readonly releasing = new Set<Promise<void>>();
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
  private readonly pacer: RatePacer;
  private stopCapWatch: (() => Promise<void>) | undefined;
  private signalStore: EtcdSignalStore | undefined;
  private signals: SignalReporter | undefined;
  private standby: Standby | undefined;
  private standbys = 0;
  /** Builds the standby a moment after a move (see moveOnce). */
  private standbyTimer: NodeJS.Timeout | undefined;
  private movingTimer: NodeJS.Timeout | undefined;
  private movingPresence: ConsumerPresence | undefined;
  /** Stored watermarks read when the served room's connection failed, by group and topic (see readAhead). */
  private readonly marksAhead = new Map<string, { readonly at: number; readonly marks: Promise<Map<number, number> | undefined> }>();
  /** The presence to write next, while a write is in flight; the chain of writes. */
  private nextPresence: ConsumerPresence | undefined;
  private announcing: Promise<void> = Promise.resolve();

  constructor(private readonly opts: RoutedConsumerOptions) {
    this.log = (opts.logger ?? silentLogger).child({ component: 'routed-consumer', pipeline: opts.pipeline });
    this.metrics = opts.metrics ?? noSdkMetrics;
    this.pacer = new RatePacer({ pipeline: opts.pipeline, ...(opts.pacing || {}), metrics: this.metrics, logger: this.log.child({ component: 'rate-pacer' }) });
  }

  /** This instance's name in acknowledgements and presence keys. */
  get consumerId(): string {
    return `${this.opts.clientId ?? 'sdk'}-${this.instanceId}`;
  }

  /** The route currently consumed, if any. */
  get route(): Route | undefined {
    return this.active?.route;
  }

  status(): RoutedConsumerStatus {
    return {
      consumer: this.consumerId,
      state: this.presence.state,
      epoch: this.latest?.epoch,
      room: this.latest?.room,
      servingEpoch: this.active?.route.epoch,
      servingRoom: this.active?.route.room,
      reason: this.presence.reason,
      duplicatesDropped: this.duplicatesDropped,
      pacing: this.pacer.status(),
    };
  }

  /** Says what this instance does now, in etcd (best effort: the lease keeps it only while we live). */
  private setPresence(state: ConsumerPresence['state'], reason?: string): void {
    this.presence = { state, ...(reason !== undefined && { reason }) };
    const latest = this.latest;
    if (!latest || !this.announcer || this.closed) return;
    const serving = this.active?.route;
    const presence: ConsumerPresence = {
      consumer: this.consumerId,
      pipeline: this.opts.pipeline,
      epoch: latest.epoch,
      room: latest.room,
      state,
      ...(serving && { servingRoom: serving.room, servingEpoch: serving.epoch }),
      ...(this.standby?.member?.joined && { standbyClientId: this.standby.member.clientId, standbyRoom: this.standby.room }),
      since: Date.now(),
      ...(reason !== undefined && { reason }),
    };
    // A move that ends within MOVING_QUIET_MS is never written as 'moving': the 'consuming' that
    // ends it is its one write. A room's failure moves all its clients at once, and their writes
    // reach etcd together, in the window where each of them reads its watermarks. A 'moving' said
    // again (a standby joining, say) updates what is written, not when.
    if (state === 'moving') {
      this.movingPresence = presence;
      this.movingTimer ??= setTimeout(() => {
        this.movingTimer = undefined;
        const p = this.movingPresence;
        this.movingPresence = undefined;
        if (p) this.announcePresence(p);
      }, MOVING_QUIET_MS);
      return;
    }
    clearTimeout(this.movingTimer);
    this.movingTimer = undefined;
    this.movingPresence = undefined;
    this.announcePresence(presence);
  }

  private announcePresence(presence: ConsumerPresence): void {
    if (!this.announcer || this.closed) return;
    // One write at a time, the newest last: two in flight could land in either order, and an
    // older presence would then stand (e.g. one that does not name the standby member).
    const announcer = this.announcer;
    const first = this.nextPresence === undefined;
    this.nextPresence = presence;
    if (!first) return;
    this.announcing = this.announcing.then(async () => {
      while (this.nextPresence) {
        const p = this.nextPresence;
        await announcer.announce(p).catch((err: Error) => this.log.debug('could not announce presence', { error: err.message }));
        if (this.nextPresence === p) this.nextPresence = undefined;
      }
    });
  }

  /** Starts watching the route; resolves once the watch is in place (consuming starts on the first route). */
  async start(): Promise<void> {
    const prefix = this.opts.etcd.prefix ?? '/switchyard';
    this.etcd = createEtcdClient(this.opts.etcd);
    this.routes = new EtcdRouteStore(this.etcd, prefix);
    this.marks = new EtcdWatermarkStore(this.etcd, prefix);
    this.journals = new EtcdJournalStore(this.etcd, prefix);
    this.announcer = new EtcdConsumerAnnouncer(this.etcd, prefix, this.opts.presenceTtlSeconds ?? 10);
    if (this.opts.signals !== false) {
      const announcer = this.announcer;
      this.signalStore = new EtcdSignalStore(this.etcd, prefix, { lease: () => announcer.currentLease() });
      this.signals = new SignalReporter(this.signalStore, this.consumerId, this.log);
    }
    this.flushTimer = setInterval(() => void this.flush(), this.opts.watermarkFlushMs ?? 200);
    this.stopWatch = await this.routes.watch(
      this.opts.pipeline,
      (route, meta) => this.onRoute(route, meta),
      (err) => {
        this.metrics.watchError(this.opts.pipeline);
        this.log.warn('route watch error; re-reading the route and watching again', { error: err.message });
      },
      this.opts.resyncMs !== undefined ? { resyncMs: this.opts.resyncMs } : {},
    );
    if (this.opts.pacing !== false) {
      this.stopCapWatch = await followCap(
        this.etcd,
        prefix,
        this.opts.pipeline,
        (cap) => this.onCap(cap),
        (err) => {
          this.metrics.watchError(this.opts.pipeline);
          this.log.warn('cap watch error; re-reading the cap and watching again', { error: err.message });
        },
        this.opts.resyncMs ?? 5000,
      );
    }
  }

  private onCap(cap: CapRecord | undefined): void {
    if (this.closed) return;
    this.pacer.setCap(cap);
    if (!cap) {
      this.log.info('no source cap: reading unpaced');
      return;
    }
    this.log.info('source cap applied', { epoch: cap.epoch, recordsPerSecond: cap.recordsPerSecond, paused: cap.paused, origin: cap.origin, capRoom: cap.room, reason: cap.reason });
    this.warnIfOtherRoom();
  }

  /** The controller writes the serving room's cap; one for another room is applied all the same, and said. */
  private warnIfOtherRoom(): void {
    const cap = this.pacer.status().cap;
    const serving = this.active?.route.room ?? this.latest?.room;
    if (cap && serving && cap.room !== serving) {
      this.log.warn('the source cap was computed for another room than the one served; applying it', { capRoom: cap.room, servingRoom: serving, epoch: cap.epoch });
    }
  }

  private onRoute(route: Route, meta: RouteDelivery = { reset: false }): void {
    if (this.latest && route.epoch <= this.latest.epoch && !meta.reset) return;
    const refusal = consumerRouteRefusal(route, this.opts.allowedRooms);
    if (refusal) {
      // Not followed and not taken as the latest: the next genuine route (a higher epoch) is.
      this.metrics.route(this.opts.pipeline, route.epoch, false);
      this.log.error('route refused: not in the allowed rooms', { epoch: route.epoch, room: route.room, brokers: route.kafka.brokers, reason: refusal });
      this.setPresence('unreachable', `refused: ${refusal}${this.active ? `; still consuming ${this.active.route.room} (epoch ${this.active.route.epoch})` : '; not consuming'}`);
      return;
    }
    if (meta.reset) this.log.warn('route key was reset (re-created or restored); following it', { epoch: route.epoch, previousEpoch: meta.previousEpoch });
    this.latest = route;
    this.metrics.route(this.opts.pipeline, route.epoch, true);
    this.log.info('route seen', { epoch: route.epoch, room: route.room, chain: route.chain });
    this.setPresence(this.active ? 'moving' : 'starting');
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
        const reason = `cannot start in ${route.room}: ${(err as Error).message}`;
        this.metrics.route(this.opts.pipeline, route.epoch, false);
        this.log.error('route names a room this client cannot reach; retrying', { room: route.room, epoch: route.epoch, attempt, error: (err as Error).message, policy: this.opts.onUnreachableRoom ?? 'stay' });
        await this.onUnreachable(reason);
        await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** attempt)));
      }
    }
  }

  /** The new room cannot be reached: keep the old room ('stay') or stop consuming ('stop'). */
  private async onUnreachable(reason: string): Promise<void> {
    const old = this.active;
    if ((this.opts.onUnreachableRoom ?? 'stay') === 'stop' && old) {
      this.generation++;
      this.active = undefined;
      this.pacer.detach();
      this.stoppedForUnreachable = true;
      await this.stopConsumer(old.consumer, old.route.room);
      old.mute.value = true;
      await this.flush();
    }
    this.setPresence('unreachable', this.active ? `${reason}; still consuming ${this.active.route.room} (epoch ${this.active.route.epoch})` : `${reason}; not consuming`);
  }

  /**
   * Reaches `room` for `route`'s group and topics: a Kafka client, its admin (left open for the
   * placement), a consumer connected and subscribed, not yet running. A standby's client tells
   * the observers nothing (it serves nobody).
   */
  private async reach(route: Route, room: string, brokers: readonly string[], standby: boolean): Promise<Member> {
    const muted = { value: false };
    const serving: Member['serving'] = { route: undefined, generation: -1 };
    const roomLog = this.log.child({ room, ...(standby && { standby: true }) });
    const base = this.opts.clientId ?? `switchyard-sdk-${this.opts.pipeline}`;
    const clientId = standby ? `${base}-standby-${this.instanceId}-${++this.standbys}` : base;
    const kafka = createKafka({
      clientId,
      brokers,
      log: {
        ...roomLog,
        warn: (msg, fields) => (muted.value ? undefined : roomLog.warn(msg, fields)),
        error: (msg, fields) => (muted.value ? undefined : roomLog.error(msg, fields)),
      },
      timeoutMs: 3000,
      access: () => kafkaAccessFor(this.opts.kafkaAccess, brokers),
      // Only while this room is served or being reached: a room let go of, or a standby, is no news.
      onConnectionTrouble: (broker, why) => {
        if (muted.value || this.closed) return;
        if (serving.route ? serving.generation === this.generation : !standby) this.signals?.trouble(room, broker, why);
        if (serving.route && serving.generation === this.generation) this.readAhead(serving.route);
      },
    });
    // The admin, and a lookup of each partition's offset by its own timestamp over the admin's connections.
    const { admin, offsetsByTime } = adminWithOffsetsByTime(kafka);
    const idleMs = standby ? (idleWakeInstalled ? STANDBY_IDLE_MS : STANDBY_POLL_MS) : 50;
    const consumer = kafka.consumer({
      groupId: route.consumerGroup,
      sessionTimeout: 6000,
      heartbeatInterval: 500,
      // A paused kafkajs consumer sleeps this long between looks at its partitions. A promotion
      // wakes it (wakeIdleFetches), so a standby sleeps long; without that hook it looks every
      // 10 ms, and a promotion waits 5 ms on average.
      maxWaitTimeInMs: idleMs,
      retry: { retries: 10, initialRetryTime: 100, maxRetryTime: 1000 },
    });
    try {
      await admin.connect();
      const metadata = await admin.fetchTopicMetadata({ topics: [...route.kafka.topics] });
      const paced = pacedPartitions(route.kafka.topics, metadata.topics);
      await consumer.connect();
      for (const topic of route.kafka.topics) {
        await consumer.subscribe({ topic, fromBeginning: this.opts.fromBeginning ?? false });
      }
      if (standby) {
        // Joining a room's group rebalances it: a paused member must not take partitions from
        // instances still reading there (not moved yet, or staying: ADR 0008). Wait until they left.
        const [group] = (await admin.describeGroups([route.consumerGroup])).groups;
        const readers = (group?.members ?? []).filter((m) => !m.clientId.includes('-standby-'));
        if (readers.length > 0) throw new Error(`group ${route.consumerGroup} is still read in ${room} by ${readers.length} member(s); the standby member joins once they left`);
      }
      const wake = idleMs === STANDBY_IDLE_MS ? () => wakeIdleFetches(STANDBY_IDLE_MS) : () => undefined;
      return { room, brokers, group: route.consumerGroup, topics: route.kafka.topics, clientId, admin, offsetsByTime, layout: layoutOf(metadata.topics), consumer, paced, mute: muted, serving, running: false, joined: false, wake, lookupsAhead: new Map() };
    } catch (err) {
      muted.value = true;
      void admin.disconnect().catch(() => undefined);
      void withTimeout(consumer.disconnect(), 1000).catch(() => undefined);
      throw err;
    }
  }

  /** Lets go of a member in the background (close waits for it). */
  private release(member: Member): void {
    member.mute.value = true;
    void member.admin.disconnect().catch(() => undefined);
    const release: Promise<void> = this.stopConsumer(member.consumer, member.room).finally(() => this.releasing.delete(release));
    this.releasing.add(release);
    // A stop waits for the member's fetch loop: one asleep is woken to see it now.
    member.wake();
  }

  /** The standby member, if it is joined in `route`'s room for its group and topics; any other standby is let go of. */
  private takeStandby(route: Route): Member | undefined {
    const sb = this.standby;
    const m = sb?.member;
    if (!sb) return undefined;
    const fits = m !== undefined && m.running && m.joined && m.room === route.room && m.group === route.consumerGroup && sameList(m.brokers, route.kafka.brokers) && sameList(m.topics, route.kafka.topics);
    if (!fits) return undefined;
    this.standby = undefined;
    return m;
  }

  /**
   * Keeps a paused member joined in the room the route names as its failover target (in the
   * background, retrying while the route stands), or lets go of one no longer wanted. With
   * `start: false` it only lets go (a new one is started later).
   */
  private keepStandby(route: Route, start = true): void {
    const want = this.opts.standbyConsumer !== false && !this.closed ? route.standby : undefined;
    const allowed = want && !consumerRouteRefusal({ ...route, room: want.room, kafka: { ...route.kafka, brokers: want.brokers } }, this.opts.allowedRooms);
    const cur = this.standby;
    if (cur && allowed && cur.room === want.room && sameList(cur.brokers, want.brokers) && (!cur.member || (cur.member.group === route.consumerGroup && sameList(cur.member.topics, route.kafka.topics)))) return;
    if (cur) {
      this.standby = undefined;
      void cur.ready.then(() => cur.member && this.release(cur.member));
    }
    if (!want || !allowed || !start) return;
    const sb: Standby = { room: want.room, brokers: want.brokers, member: undefined, ready: Promise.resolve() };
    this.standby = sb;
    sb.ready = (async () => {
      for (let attempt = 0; this.standby === sb && !this.closed; attempt++) {
        let m: Member | undefined;
        try {
          m = await this.reach(route, want.room, want.brokers, true);
          const member = m;
          if (this.standby !== sb || this.closed) {
            this.release(member);
            return;
          }
          // Its admin stays open: promotion plans the restart offsets with it at once.
          // Paused from the moment it joins, before its first fetch: it holds its partitions and reads nothing.
          member.consumer.on(member.consumer.events.GROUP_JOIN, () => {
            this.pauseAll(member);
            member.joined = true;
            // A promotion places offsets from this layout without reading metadata (offset-plan.ts):
            // read it again at each join, which follows any change of the topics' partitions. (Not
            // once it serves: its admin is closed after the placement.)
            if (member.serving.route) return;
            void member.admin
              .fetchTopicMetadata({ topics: [...member.topics] })
              .then((m) => {
                member.layout = layoutOf(m.topics);
              })
              .catch((err: Error) => this.log.debug('standby member could not read metadata again', { room: member.room, error: err.message }));
            this.setPresence(this.presence.state, this.presence.reason);
          });
          // A standby that crashes is not promoted; one kafkajs gives up on is replaced.
          member.consumer.on(member.consumer.events.CRASH, (e) => {
            member.joined = false;
            if (member.serving.route || e.payload.restart || this.standby?.member !== member) return;
            this.standby = undefined;
            this.release(member);
            if (this.active && !this.closed) this.keepStandby(this.active.route);
          });
          m = member;
          await m.consumer.run({ eachMessage: (p) => this.handle(p, member.serving.route!, member.serving.generation, member.wake) });
          this.pauseAll(m);
          m.running = true;
          if (this.standby !== sb || this.closed) {
            this.release(m);
            return;
          }
          sb.member = m;
          this.log.info('standby member joined, paused', { room: m.room, group: m.group, clientId: m.clientId });
          this.setPresence(this.presence.state, this.presence.reason);
          return;
        } catch (err) {
          if (m) this.release(m);
          this.log.debug('standby member not joined; retrying', { room: want.room, attempt, error: (err as Error).message });
          // In short slices, so that a close or a new route does not wait out the backoff.
          const until = Date.now() + Math.min(5000, 250 * 2 ** attempt);
          while (Date.now() < until && this.standby === sb && !this.closed) await new Promise((r) => setTimeout(r, 100));
        }
      }
    })();
  }

  private pauseAll(m: Member): void {
    if (m.serving.route) return;
    try {
      m.consumer.pause(m.topics.map((topic) => ({ topic })));
    } catch (err) {
      this.log.debug('standby member not paused yet', { room: m.room, error: (err as Error).message });
    }
  }

  private async moveOnce(route: Route, seenAt: number): Promise<void> {
    const old = this.active;
    if (old?.route === route) return;

    // A standby member joined there already is promoted; else reach the new room before letting
    // go of the old one: a room this client cannot reach must not cost it the room it can (ADR 0008).
    const promoted = this.takeStandby(route);
    const member = promoted ?? (await this.reach(route, route.room, route.kafka.brokers, false));
    let placement: Placement;
    let stoppedOldAt: number;
    const readAhead: ReadAhead = { used: 0, fresh: 0, lookups: 0 };
    try {
      if (this.closed || this.latest !== route) throw new Superseded();

      // The cut-over: from here on, anything the old consumer still delivers is dropped unprocessed,
      // so its watermarks are final when the new room's offsets are planned from them.
      this.generation++;
      this.active = undefined;
      this.pacer.detach();
      if (old) {
        // Let go of the old room in the background: its revocation must not delay the new room.
        // Whatever it still delivers carries the old generation and is dropped; a record whose
        // handler is still running when the offsets are planned is at most read again (its
        // watermark is not yet raised), never skipped.
        old.mute.value = true;
        const release: Promise<void> = this.stopConsumer(old.consumer, old.route.room).finally(() => this.releasing.delete(release));
        this.releasing.add(release);
      }
      stoppedOldAt = Date.now();
      placement = await planPlacement(member.admin, route, (topic) => this.mergedWatermarks(route.consumerGroup, topic, readAhead), this.opts.marginMs, lookupsOf(member, readAhead), member.layout);
    } catch (err) {
      this.release(member);
      if (err instanceof Superseded) return;
      throw err;
    }
    void member.admin.disconnect().catch(() => undefined);
    const generation = this.generation;
    if (this.closed || this.latest !== route) {
      this.release(member);
      return;
    }
    const { consumer } = member;
    const wasMove = old !== undefined || this.stoppedForUnreachable;
    member.serving.route = route;
    member.serving.generation = generation;
    try {
      if (!member.running) {
        await consumer.run({ eachMessage: (p) => this.handle(p, member.serving.route!, member.serving.generation, member.wake) });
        member.running = true;
      }
      // A promoted standby was paused since it joined. Resumed, paced and sought in one synchronous
      // run: no fetch can start in between, so it reads from the seeks on, at the cap's pace.
      if (promoted) consumer.resume(member.topics.map((topic) => ({ topic })));
      // Pacing starts with the consumer (kafkajs refuses pause/resume before run), before any fetch answers.
      this.pacer.attach(member.paced, partitionSwitch(consumer, this.log, member.wake));
      // Seeks placed right after run(): kafkajs applies them before the next fetch and drops any
      // batch fetched for a partition whose seek is pending, so nothing before them is processed.
      // (admin.setOffsets would instead run a throwaway group member and cost a full fetch cycle.)
      for (const [topic, partitions] of placement.offsets) {
        for (const { partition, offset } of partitions) consumer.seek({ topic, partition, offset });
      }
      // The standby's idle wait ends now, not at its end: it fetches from the seeks at once.
      if (promoted) member.wake();
    } catch (err) {
      // (A standby kafkajs had dropped refuses resume and seek.) Nothing serves: the move is tried again, afresh.
      member.serving.route = undefined;
      member.serving.generation = -1;
      this.pacer.detach();
      this.release(member);
      throw err;
    }
    this.active = { route, consumer, generation, mute: member.mute };
    this.stoppedForUnreachable = false;
    this.warnIfOtherRoom();
    const seekedAt = Date.now();
    this.pendingReport = wasMove ? { fromRoom: old?.route.room, route, seenAt, stoppedOldAt, seekedAt, seekFrom: placement.seekFrom, ...(promoted && { promoted: true }), ...(readAhead.used > 0 && readAhead.fresh === 0 && { marksReadAhead: true }), ...(readAhead.lookups > 0 && { lookupsReadAhead: readAhead.lookups }) } : undefined;
    this.metrics.route(this.opts.pipeline, route.epoch, true);
    this.setPresence('consuming');
    this.log.info('consuming', { room: route.room, epoch: route.epoch, seekFrom: placement.seekFrom, fallback: placement.fallback, standbyPromoted: promoted !== undefined });
    // After a move, the next standby is built a little later: it is for the room just left, often
    // dead, and its client's connects and retries must not take the process's event loop from the
    // move itself (or from other consumers moving in the same process). One that no longer fits
    // (say, still joining the room now served) is let go of at once. docs/perf/scale.md.
    this.keepStandby(route, !wasMove);
    if (!wasMove) return;
    clearTimeout(this.standbyTimer);
    this.standbyTimer = setTimeout(() => {
      if (!this.closed && this.active?.route === route) this.keepStandby(route);
    }, STANDBY_AFTER_MOVE_MS);
  }

  /**
   * The served room's connection failed, so a move may be near. Two of its reads are made now, at
   * most once a second per topic, and a move within 2 s uses them instead of making them (reads
   * that, when a room fails, every client of the room makes at once):
   * - the group's stored watermarks (etcd). They only rise, so an earlier read can only restart a
   *   move at or before a fresh one's point: never a record skipped; at most what other members
   *   processed since the read is read again.
   * - the standby member's log ends (and starts), the first half of its offset lookup. The
   *   timestamps are still asked during the move, after these answers, which is the order the
   *   lookup needs (offsets-by-time.ts); an earlier log end can only start a partition with no
   *   record at or after its timestamp earlier.
   */
  private readAhead(route: Route): void {
    const now = Date.now();
    const due = (last: { readonly at: number } | undefined) => !last || now - last.at >= READ_AHEAD_EVERY_MS;
    for (const topic of route.kafka.topics) {
      const key = `${route.consumerGroup}\u0000${topic}`;
      if (this.marks && due(this.marksAhead.get(key))) this.marksAhead.set(key, { at: now, marks: this.marks.read(route.consumerGroup, topic).catch(() => undefined) });
    }
    const sb = this.standby?.member;
    if (!sb?.offsetsByTime || sb.serving.route || !sb.joined) return;
    for (const topic of sb.topics) {
      const known = sb.layout.get(topic);
      if (known && due(sb.lookupsAhead.get(topic))) sb.lookupsAhead.set(topic, { at: now, leaders: known.leaders, lookup: sb.offsetsByTime(topic, known.leaders) });
    }
  }

  private async mergedWatermarks(group: string, topic: string, readAhead: ReadAhead): Promise<Map<number, number>> {
    const merged = new Map(this.watermarks.get(topic) ?? []);
    const ahead = this.marksAhead.get(`${group}\u0000${topic}`);
    let stored = ahead && Date.now() - ahead.at <= READ_AHEAD_FRESH_MS ? await ahead.marks : undefined;
    if (stored) readAhead.used++;
    else {
      readAhead.fresh++;
      try {
        stored = await this.marks!.read(group, topic);
      } catch (err) {
        this.log.warn('could not read stored watermarks; using this process\'s own', { error: (err as Error).message });
      }
    }
    for (const [p, ts] of stored ?? []) merged.set(p, Math.max(ts, merged.get(p) ?? 0));
    // A producer behind the others here (its records arrived late in this room) pulls the restart
    // point back to its own last processed record; the records replayed for it are dropped by id.
    for (const [p, ts] of this.dedup.laggards(topic, merged, this.opts.lateProducerWindowMs ?? 30_000)) merged.set(p, ts);
    return merged;
  }

  private async handle(payload: EachMessagePayload, route: Route, generation: number, wake: () => void): Promise<void> {
    // A consumer being replaced may still deliver a batch: drop it, it will be read again.
    if (generation !== this.generation) return;
    const { topic, partition, message } = payload;
    // Before processing, so that a pause asked for here stops the batch right after this record.
    // Its resume also ends the member's idle wait (a member born a standby sleeps long).
    this.pacer.pace(topic, partition, () => {
      const resume = payload.pause();
      return () => {
        resume();
        wake();
      };
    });
    const timestamp = Number(message.timestamp);
    const id = recordIdOf(message.headers);
    if (this.dedup.isDuplicate(topic, partition, id)) {
      this.duplicatesDropped++;
      this.metrics.duplicateDropped(this.opts.pipeline);
      return;
    }
    await this.opts.eachMessage({
      topic,
      partition,
      offset: message.offset,
      timestamp: eventTimeOf(message.headers, timestamp),
      key: message.key,
      value: message.value,
      headers: message.headers ?? {},
      room: route.room,
      epoch: route.epoch,
    });
    this.dedup.processed(topic, partition, id, timestamp);
    let marks = this.watermarks.get(topic);
    if (!marks) this.watermarks.set(topic, (marks = new Map()));
    if (timestamp > (marks.get(partition) ?? 0)) {
      marks.set(partition, timestamp);
      this.dirty.add(topic);
    }
    if (this.ackedGeneration !== generation) {
      // Tell the controller's verify step that this route serves: the first record is processed.
      this.ackedGeneration = generation;
      const consumer = this.consumerId;
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
        ...(pending.promoted && { promoted: true }),
        ...(pending.marksReadAhead && { marksReadAhead: true }),
        ...(pending.lookupsReadAhead !== undefined && { lookupsReadAhead: pending.lookupsReadAhead }),
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
    clearTimeout(this.standbyTimer);
    clearTimeout(this.movingTimer);
    await this.stopWatch?.().catch(() => undefined);
    await this.stopCapWatch?.().catch(() => undefined);
    await this.chain;
    const active = this.active;
    this.active = undefined;
    this.generation++;
    this.pacer.detach();
    if (active) await this.stopConsumer(active.consumer, active.route.room);
    const sb = this.standby;
    this.standby = undefined;
    if (sb) {
      // Bounded: a standby still reaching a dead room lets go of itself once it sees the close.
      await Promise.race([sb.ready, new Promise((r) => setTimeout(r, 1000))]);
      if (sb.member) this.release(sb.member);
    }
    await Promise.all([...this.releasing]);
    await this.flush();
    await this.announcing;
    await this.announcer?.withdraw();
    await this.signalStore?.close();
    this.etcd?.close();
  }
}

/** Every partition of the route's topics in the room, topic (route order) then partition order: the order caps are split in. */
function pacedPartitions(topics: readonly string[], metadata: readonly { name: string; partitions: readonly { partitionId: number }[] }[]): TopicPartition[] {
  return topics.flatMap((topic) =>
    (metadata.find((t) => t.name === topic)?.partitions ?? [])
      .map((p) => p.partitionId)
      .sort((a, b) => a - b)
      .map((partition) => ({ topic, partition })),
  );
}

/** Pause and resume of one partition on a running kafkajs consumer; a stopped consumer's refusal is only logged. */
function partitionSwitch(consumer: Consumer, log: Logger, wake: () => void) {
  const call = (what: 'pause' | 'resume', tp: TopicPartition) => {
    try {
      consumer[what]([{ topic: tp.topic, partitions: [tp.partition] }]);
      if (what === 'resume') wake();
    } catch (err) {
      log.debug('pacing could not reach the consumer', { what, topic: tp.topic, partition: tp.partition, error: (err as Error).message });
    }
  };
  return { pause: (tp: TopicPartition) => call('pause', tp), resume: (tp: TopicPartition) => call('resume', tp) };
}

/** A move given up because a newer route (or close) overtook it. */
class Superseded extends Error {
  override readonly name = 'Superseded';
}

export function createRoutedConsumer(opts: RoutedConsumerOptions): RoutedConsumer {
  return new RoutedConsumer(opts);
}

/**
 * How long a paused standby member sleeps between looks at its partitions (see reach): long,
 * since a promotion wakes it. Also its fetches' long-poll wait once it serves; a seek or a pause
 * waits for a poll in flight only when its room has nothing new.
 */
const STANDBY_IDLE_MS = 200;
/** How long after a move the next standby member is started (see moveOnce). */
const STANDBY_AFTER_MOVE_MS = 1000;
/** The same without the wake hook (kafkajs loaded before the SDK replaced its idle wait). */
const STANDBY_POLL_MS = 10;
/** A move still under way after this long is written to the presence as 'moving' (see setPresence). */
const MOVING_QUIET_MS = 250;

/** Reads made ahead of a move (readAhead): at most this often per topic, and used by a move at most this old. */
const READ_AHEAD_EVERY_MS = 1000;
export const READ_AHEAD_FRESH_MS = 2000;

/** What a move took from the reads made ahead (readAhead) and what it read itself. */
export interface ReadAhead {
  used: number;
  fresh: number;
  lookups: number;
}

/**
 * The member's offset lookups for a placement: one started ahead (readAhead) on the same leaders
 * and fresh enough is taken (once), else a new one.
 */
export function lookupsOf(member: Pick<Member, 'offsetsByTime' | 'lookupsAhead'>, readAhead: ReadAhead, now: () => number = Date.now): OffsetsByTime | undefined {
  const start = member.offsetsByTime;
  if (!start) return undefined;
  return (topic, leaders) => {
    const ahead = member.lookupsAhead.get(topic);
    member.lookupsAhead.delete(topic);
    if (ahead && leaders === ahead.leaders && now() - ahead.at <= READ_AHEAD_FRESH_MS) {
      readAhead.lookups++;
      return ahead.lookup;
    }
    return start(topic, leaders);
  };
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
