// Keeps every pipeline's source cap in etcd equal to what the core plans (core/caps.ts), as the
// leader only, once a second and in the background: a slow etcd must not hold up the tick.
//
// Each round: the operators' overrides, each pipeline's inbound rate in its serving room (from
// the position history) and its consumer lag, into planCaps; every cap that differs from the
// stored one is written in a fenced compare-and-set (epoch + 1), recorded in the cap history and
// logged. Shedding is sticky (a shed tier waits for room to spare): what is shed, and in which
// room, is read back from the stored caps each round, so a new leader carries on where the old
// one was.

import { CORRECTION_DEADBAND, inboundRate, INBOUND_WINDOW_MS, planCaps, quotaCorrection, sameCap, SETTLED_DEADBAND, shedOf, type Baseline, type CapPlan, type CapRecord, type DesiredCap, type QuotaSample } from '../core/caps.js';
import { partitionsOf } from '../core/data-estimate.js';
import type { GroupOffsetReader } from '../ports/group-offsets.js';
import type { Route, TierName, TierPolicy, Topology } from '../core/model.js';
import type { CapStore } from '../ports/cap-store.js';
import type { ClientQuotas } from '../ports/client-quotas.js';
import type { Logger } from '../ports/logger.js';
import type { Fence, RouteStore } from '../ports/route-store.js';
import type { LagTracker } from './lag-tracker.js';
import type { PositionTracker } from './position-tracker.js';

/** What an operator sees of the caps: an adapter maps it to Prometheus. Calls never throw. */
export interface CapMetrics {
  cap(pipeline: string, recordsPerSecond: number | undefined, shed: boolean): void;
  recovery(pipeline: string, etaSeconds: number | undefined, alert: boolean): void;
  capWrite(outcome: 'written' | 'fenced' | 'conflict' | 'error'): void;
}

export const noCapMetrics: CapMetrics = { cap() {}, recovery() {}, capWrite() {} };

export interface CapKeeperDeps {
  readonly caps: RouteStore<CapRecord>;
  readonly store: CapStore;
  /** The baselines as on disk now (re-read when a file changes); a broken file keeps the last good set. */
  readonly baselines: () => ReadonlyMap<string, ReadonlyMap<string, Baseline>>;
  /** The tier policies as on disk now (their cap settings apply without a restart); default: the topology's. */
  readonly policies?: () => ReadonlyMap<TierName, TierPolicy>;
  /** Each room's position history (the PositionTracker): the inbound rates. */
  readonly positions?: Pick<PositionTracker, 'history'>;
  /** Each pipeline's consumer lag (the LagTracker). */
  readonly lag?: Pick<LagTracker, 'lags'>;
  readonly log: Logger;
  readonly metrics?: CapMetrics;
  /** Default 1000 ms. */
  readonly intervalMs?: number;
  /** How far back the inbound rate looks (default 5000 ms). */
  readonly rateWindowMs?: number;
  /** Who publishes the plan (this replica's observer name). */
  readonly by: string;
  /**
   * Per room, its brokers' client quotas: a serving chain with a `quotaClientId` (a consumer that
   * does not embed the SDK) has its cap set there as consumer_byte_rate (ADR 0011).
   */
  readonly quotas?: ReadonlyMap<string, ClientQuotas>;
  /** Per room, a reader of consumer groups' committed offsets: how fast a quota'd consumer reads. */
  readonly groups?: ReadonlyMap<string, GroupOffsetReader>;
}

/** A quota'd consumer's read rate is judged over this long, from this long after its quota changed. */
const CORRECTION_WINDOW_MS = 20_000;
const CORRECTION_SETTLE_MS = 2000;

/** A quota already set is set again this often anyway (someone may have changed it by hand). */
const QUOTA_REFRESH_MS = 60_000;

/** The published plan stays well inside etcd's request size. */
const PUBLISHED_MAX = 2000;


export class CapKeeper {
  private running = false;
  private lastRun = 0;
  private latest: CapPlan | undefined;
  /** Pipelines whose recovery ETA is past their objective: logged when that starts and ends. */
  private alerting = new Set<string>();
  /** Broker quotas as last set, by room and client id (undefined: removed). */
  private readonly quotasSet = new Map<string, { readonly bytes: number | undefined; readonly at: number }>();
  /** Per room and client id: the quota's correction factor (core/caps.ts quotaCorrection), since when, and the reads since. */
  private readonly corrections = new Map<string, { factor: number; changedAt: number; samples: QuotaSample[]; settled: boolean }>();
  /** Pipelines already told they have no mean record size for their broker quota. */
  private readonly noSize = new Set<string>();

  constructor(private readonly deps: CapKeeperDeps) {}

  /** The tiers' policies for the caps: as re-read from disk, for the tiers the topology has. */
  private policies(topology: Topology): ReadonlyMap<TierName, TierPolicy> {
    const fresh = this.deps.policies?.();
    if (!fresh) return topology.policies;
    return new Map([...topology.policies].map(([tier, p]) => [tier, fresh.get(tier) ?? p]));
  }

  /** The last plan (for status and metrics); undefined before the first round. */
  plan(): CapPlan | undefined {
    return this.latest;
  }

  /** A leader's round, at most once per interval; resolves 'fenced' when a write says we no longer lead. */
  async round(topology: Topology, routes: ReadonlyMap<string, Route | undefined>, fence: Fence, lost: AbortSignal, now: number): Promise<'fenced' | 'done' | 'skipped'> {
    if (this.running || now - this.lastRun < (this.deps.intervalMs ?? 1000)) return 'skipped';
    this.running = true;
    this.lastRun = now;
    try {
      return await this.once(topology, routes, fence, lost, now);
    } finally {
      this.running = false;
    }
  }

  private async once(topology: Topology, routes: ReadonlyMap<string, Route | undefined>, fence: Fence, lost: AbortSignal, now: number): Promise<'fenced' | 'done'> {
    const { log } = this.deps;
    const overrides = await this.deps.store.overrides((pipeline, why) => log.warn('cap override not readable; ignored', { pipeline, why }));
    for (const [pipeline, o] of overrides) {
      if (o.until === undefined || o.until > now) continue;
      overrides.delete(pipeline);
      await this.deps.store.clearOverride(pipeline);
      log.info('cap override expired and removed', { pipeline, by: o.by, reason: o.reason });
    }
    const histories = this.deps.positions?.history();
    const lags = this.deps.lag?.lags();
    const inbound = new Map<string, number>();
    const lag = new Map<string, number>();
    for (const [name, route] of routes) {
      const p = topology.pipelines.get(name);
      if (!route || !p) continue;
      const rate = inboundRate(histories?.get(route.room) ?? [], p.topics, this.deps.rateWindowMs ?? INBOUND_WINDOW_MS);
      if (rate !== undefined) inbound.set(name, rate);
      const l = lags?.get(name);
      if (l && l.room === route.room) lag.set(name, l.totalLag);
    }
    // What is shed, and where, is what the stored caps say: the same for every leader, and for the CLI.
    const stored = await this.deps.caps.list((pipeline, why) => log.warn('stored cap not readable; it will be rewritten', { pipeline, why }));
    const plan = planCaps({ ...topology, baselines: this.deps.baselines(), policies: this.policies(topology) }, { now, routes, overrides, inbound, lag, shed: shedOf([...stored.values()].map((s) => s.route)) });
    this.latest = plan;
    for (const step of plan.steps) log.warn('shedding', { step });
    const alerting = new Set(plan.verdicts.filter((v) => v.alert).map((v) => v.pipeline));
    for (const v of plan.verdicts) {
      if (v.alert && !this.alerting.has(v.pipeline)) log.warn('recovery ETA past the objective', { pipeline: v.pipeline, room: v.room, reason: v.reason });
      if (!v.alert && this.alerting.has(v.pipeline)) log.info('recovery ETA back within the objective', { pipeline: v.pipeline, reason: v.reason });
    }
    this.alerting = alerting;
    for (const v of plan.verdicts) {
      this.deps.metrics?.cap(v.pipeline, v.cap, v.rule === 'shed');
      this.deps.metrics?.recovery(v.pipeline, v.eta?.kind === 'recovering' ? v.eta.etaMs / 1000 : v.eta?.kind === 'caught-up' ? 0 : undefined, v.alert);
    }

    const shown = plan.verdicts.filter((v) => v.rule !== 'uncapped' || v.alert);
    await this.deps.store
      .publishPlan({ at: now, by: this.deps.by, verdicts: shown.slice(0, PUBLISHED_MAX), omitted: plan.verdicts.length - Math.min(shown.length, PUBLISHED_MAX) }, fence)
      .catch((err: unknown) => log.warn('cap plan not published', { error: err instanceof Error ? err.message : String(err) }));

    for (const [name, route] of routes) {
      if (lost.aborted) return 'fenced';
      if (!route) continue;
      const current = stored.get(name);
      const wanted: DesiredCap | undefined =
        plan.caps.get(name) ??
        (current && current.route.origin !== 'uncapped'
          ? { pipeline: name, room: route.room, recordsPerSecond: 0, paused: false, origin: 'uncapped', reason: plan.verdicts.find((v) => v.pipeline === name)?.reason ?? 'no cap applies' }
          : undefined);
      if (!wanted || sameCap(current?.route, wanted)) continue;
      const record: CapRecord = { ...wanted, epoch: (current?.route.epoch ?? 0) + 1, since: now };
      const outcome = await this.deps.caps.put(fence, record, current?.version).catch((err: unknown) => {
        log.warn('cap not written; will retry', { pipeline: name, error: err instanceof Error ? err.message : String(err) });
        return { kind: 'error' as const };
      });
      this.deps.metrics?.capWrite(outcome.kind);
      if (outcome.kind === 'fenced') return 'fenced';
      if (outcome.kind !== 'written') continue;
      const before = current && current.route.origin !== 'uncapped' ? current.route.recordsPerSecond : undefined;
      const after = record.origin === 'uncapped' ? undefined : record.recordsPerSecond;
      log.info('cap', { pipeline: name, room: record.room, before, after, paused: record.paused, origin: record.origin, epoch: record.epoch, reason: record.reason });
      await this.deps.store
        .record({ pipeline: name, at: now, room: record.room, before, after, origin: record.origin, reason: record.reason })
        .catch((err: unknown) => log.warn('cap change not recorded in history', { pipeline: name, error: err instanceof Error ? err.message : String(err) }));
    }
    await this.keepQuotas(topology, routes, plan, now);
    return 'done';
  }

  /**
   * The serving chain's own consumer, capped by a broker quota: cap x mean record size, shared by
   * the room's brokers (each enforces it on its own); a shed pipeline gets 1 byte/s. A chain that
   * no longer serves has its quota removed. Calls to a room that does not answer fail within the
   * adapter's timeout and are tried again next round.
   */
  private async keepQuotas(topology: Topology, routes: ReadonlyMap<string, Route | undefined>, plan: CapPlan, now: number): Promise<void> {
    const quotas = this.deps.quotas;
    if (!quotas) return;
    const baselines = this.deps.baselines();
    const calls: Promise<void>[] = [];
    for (const [name, route] of routes) {
      const p = topology.pipelines.get(name);
      if (!route || !p) continue;
      for (const chain of p.chains) {
        if (!chain.quotaClientId) continue;
        const room = topology.rooms.get(chain.room);
        const client = quotas.get(chain.room);
        if (!room || !client) continue;
        let bytes: number | undefined;
        const cap = chain.name === route.chain ? plan.caps.get(name) : undefined;
        if (cap) {
          const size = baselines.get(name)?.get(chain.room)?.meanRecordBytes ?? [...(baselines.get(name)?.values() ?? [])].find((b) => b.meanRecordBytes !== undefined)?.meanRecordBytes;
          if (size === undefined) {
            if (!this.noSize.has(name)) this.deps.log.warn('no mean record size in any baseline of the pipeline: its broker quota is left as it is', { pipeline: name, clientId: chain.quotaClientId });
            this.noSize.add(name);
            continue;
          }
          const key = `${chain.room}|${chain.quotaClientId}`;
          const factor = cap.paused ? 1 : await this.correction(key, cap.recordsPerSecond, chain.room, chain.quotaGroupId, p.topics, now);
          bytes = cap.paused ? 1 : Math.max(1, Math.round((cap.recordsPerSecond * size * factor) / room.kafka.brokers.length));
        } else {
          this.corrections.delete(`${chain.room}|${chain.quotaClientId}`);
        }
        const key = `${chain.room}|${chain.quotaClientId}`;
        const last = this.quotasSet.get(key);
        if (last && last.bytes === bytes && now - last.at < QUOTA_REFRESH_MS) continue;
        if (!last && bytes === undefined) continue;
        calls.push(
          client.setConsumerByteRate(chain.quotaClientId, bytes).then(
            () => {
              this.quotasSet.set(key, { bytes, at: now });
              if (last?.bytes !== bytes) this.deps.log.info('broker quota', { pipeline: name, room: chain.room, clientId: chain.quotaClientId, consumerByteRate: bytes ?? 'removed' });
            },
            (err: unknown) => this.deps.log.warn('broker quota not set; will retry', { pipeline: name, room: chain.room, clientId: chain.quotaClientId, error: err instanceof Error ? err.message : String(err) }),
          ),
        );
      }
    }
    await Promise.all(calls);
  }

  /**
   * The correction factor of a quota'd consumer's byte rate: its group's committed offsets and the
   * log ends are sampled every round; a whole window after the last change, the factor moves
   * toward what makes it read at the cap. 1 without a group to read or a reader for the room.
   */
  private async correction(key: string, cap: number, room: string, group: string | undefined, topics: readonly string[], now: number): Promise<number> {
    let c = this.corrections.get(key);
    if (!c) this.corrections.set(key, (c = { factor: 1, changedAt: now, samples: [], settled: false }));
    const reader = this.deps.groups?.get(room);
    const ends = this.deps.positions?.history().get(room)?.at(-1);
    if (!group || !reader || !ends) return c.factor;
    const committed = await reader.read([{ group, topics }], 2000).catch(() => undefined);
    const offsets = committed?.get(group);
    if (!offsets) return c.factor;
    let done = 0;
    let end = 0;
    for (const p of topics.flatMap((t) => partitionsOf(ends, t))) {
      const o = offsets.get(p.topic)?.get(p.partition);
      if (o === undefined || o < 0) continue;
      done += o;
      end += p.logEnd;
    }
    c.samples = [...c.samples.filter((s) => now - s.at <= CORRECTION_WINDOW_MS * 3), { at: now, committed: done, logEnd: end }];
    const settled = c.samples.filter((s) => s.at >= c!.changedAt + CORRECTION_SETTLE_MS);
    const next = quotaCorrection(c.factor, cap, settled, CORRECTION_WINDOW_MS, c.settled ? SETTLED_DEADBAND : CORRECTION_DEADBAND);
    if (Math.abs(next.factor - c.factor) >= 0.005) {
      this.deps.log.info('broker quota corrected', { key, from: Number(c.factor.toFixed(3)), to: Number(next.factor.toFixed(3)), why: next.why });
      c.factor = next.factor;
      c.changedAt = now;
      c.settled = false;
    } else if (next.rate !== undefined && next.rate > 0) {
      // Read within the band over a whole window: settled, until an error past the wider band.
      c.settled = true;
    }
    return c.factor;
  }
}
