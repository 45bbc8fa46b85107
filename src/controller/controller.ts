// The imperative shell around the core: probe -> read routes -> decide -> execute, once per tick.
// Every replica probes and folds health (so a new leader starts with a warm view); only the
// leader reads routes and acts, and it stops acting the moment its leadership is lost.

import { componentVerdict, decide, INITIAL_STATE, targetVerdict, type ControllerState, type Decision } from '../core/decide.js';
import type { HealthStatus, Observation } from '../core/health.js';
import { failoverTargetOf, type Route, type Topology } from '../core/model.js';
import { estimatePipelines, type PipelineEstimateInput } from '../core/data-estimate.js';
import type { PositionTracker } from './position-tracker.js';
import type { CapKeeper } from './cap-keeper.js';
import type { RunbookKeeper } from './runbook-keeper.js';
import type { ClusterReporter } from './cluster-reporter.js';
import type { RunbookFacts } from '../core/runbook.js';
import type { LagTracker } from './lag-tracker.js';
import { eachBounded, SWITCH_CONCURRENCY } from './bounded.js';
import type { BackfillReconciler } from './backfill-reconciler.js';
import type { PartitionEstimate } from '../core/data-budget.js';
import type { WatermarkStore } from '../ports/watermark-store.js';
import type { ApplyResult, Executor } from '../executor/executor.js';
import type { RunResult, SwitchRunner } from '../executor/switch-runner.js';
import type { SwitchJournal } from '../core/journal.js';
import type { JournalStore, StoredJournal } from '../ports/journal-store.js';
import type { Clock } from '../ports/clock.js';
import { observeAll, type HealthProbe, type StreamJobReading } from '../ports/health-probe.js';
import type { Leadership, LeaderLock } from '../ports/leader-lock.js';
import type { Logger } from '../ports/logger.js';
import type { ControllerMetrics } from '../ports/metrics.js';
import type { RouteStore, StoredRoute } from '../ports/route-store.js';
import type { ObservationStore } from '../ports/observation-store.js';
import type { ClientSignal, SignalStore } from '../ports/signal-store.js';
import type { IntentStore } from '../ports/intent-store.js';
import type { Intents } from '../core/safety.js';
import { planSwitchover, predecessorOf, refusedUntil, whoAsked, type SwitchoverIntent, type SwitchoverPlan } from '../core/switchover.js';
import { journalProblem } from '../core/stored.js';

export interface ControllerDeps {
  readonly topology: Topology;
  readonly observer: string;
  readonly probes: readonly HealthProbe[];
  readonly routes: RouteStore;
  readonly observationStore: ObservationStore;
  readonly lock: LeaderLock;
  readonly executor: Executor;
  readonly journals: JournalStore;
  readonly runner: SwitchRunner;
  readonly intents: IntentStore;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: ControllerMetrics;
  /**
   * Counts a failure the loop contained and retries on the next tick, by where it happened
   * (`switch`, `switchover`, `init-route`, `routes`, `tick`). Prometheus: switchyard_loop_errors_total.
   */
  readonly countError?: (site: LoopErrorSite) => void;
  /** Replication positions per room and the consumers' watermarks: the data estimate (issue 12). */
  readonly positions?: PositionTracker;
  readonly watermarks?: WatermarkStore;
  /** Consumer lag per pipeline (Burrow-style windows), sampled in the background. */
  readonly lag?: LagTracker;
  /** Copies what lossy switches left in a room once it is back (tiers with automatic backfill); leader only. */
  readonly backfills?: BackfillReconciler;
  /** Keeps the source caps in etcd as the core plans them (baselines, overrides, shedding); leader only. */
  readonly caps?: CapKeeper;
  /** Runs started event runbooks (issue 16); leader only. */
  readonly runbooks?: RunbookKeeper;
  /** Shows pipelines, switches and the leader in Kubernetes (issue 17); leader only. */
  readonly cluster?: ClusterReporter;
  /**
   * /healthz and /readyz fail when no tick has completed for this long. Default: 5 intervals,
   * and at least 10 s (a tick during an etcd outage waits out a few 2 s call deadlines).
   */
  readonly stallAfterMs?: number;
  /**
   * Push signals from SDK clients (ADR 0018): a client that saw a room's Kafka connection fail
   * makes every observer probe that room ahead of its cadence for a while. Absent: no signals.
   */
  readonly signals?: SignalStore;
  /** Where a pipeline's route and journal are stored, to name them in a hold's reason. */
  readonly storeKeys?: { readonly route: (pipeline: string) => string; readonly journal: (pipeline: string) => string };
}

export type LoopErrorSite = 'switch' | 'switchover' | 'init-route' | 'routes' | 'tick' | 'caps' | 'runbooks';

const FENCED = 'a write was refused as fenced: etcd no longer holds the election key this replica campaigned with';

/** One room component (and subject) as an observer reports it. */
const observationKey = (o: Observation): string => `${o.room}|${o.component}|${o.subject ?? ''}`;

/**
 * Whether a tick publishes this observer's recent observations. An idle observer does not write
 * every tick; it writes when:
 * - anything it saw this tick or in the recent window is not OK or carried (no probe of its own),
 *   or was within the tiers' riseAfter ticks (the leader then counts every probe of a fall or a
 *   rise);
 * - this tick's probes were hurried by a signal (ADR 0018: the leader must hear them at once);
 * - else, only where the store's confirmations cannot keep the news fresh (ADR 0019: a tier's
 *   staleAfterMs under the confirmation slack plus two ticks plus the longest probe timeout), before the last publish is
 *   `heartbeatMs` (half the smallest staleAfterMs) old by the next tick: the leader, which takes an
 *   observation older than staleAfterMs as UNKNOWN, then always reads one at most staleAfterMs / 2
 *   old (plus one tick and one read). Otherwise `heartbeatMs` is Infinity: an unchanged
 *   observation is confirmed by the lease renewal that ends each tick, not written again;
 * - a status differs from what was last published for that room, component and subject (a
 *   component seen for the first time).
 * A publish that fails is not recorded: the next tick tries again.
 */
export class ObservationGate {
  /** Per room, component and subject: the status last published. */
  private readonly publishedStatus = new Map<string, HealthStatus>();
  /** When the last publish succeeded (clock ms); -Infinity before the first. */
  private lastPublishedAt = -Infinity;
  /** Ticks since this observer last saw something not OK (Infinity: never). */
  private ticksSinceNotOk = Infinity;

  constructor(
    /** Half the smallest staleAfterMs of the tiers. */
    private readonly heartbeatMs: number,
    private readonly intervalMs: number,
    /** The tiers' largest riseAfter. */
    private readonly riseAfter: number,
  ) {}

  /** Asked once per tick, with the window to publish and this tick's observations. */
  due(recent: readonly Observation[], observations: readonly Observation[], now: number): boolean {
    // A carried answer (no probe of its own this tick) is news like a failed one: a renewal must
    // never stand for it (ADR 0019).
    const news = (o: Observation) => o.status !== 'OK' || o.carried === true;
    const notOk = recent.some(news) || observations.some(news);
    this.ticksSinceNotOk = notOk ? 0 : this.ticksSinceNotOk + 1;
    if (notOk || this.ticksSinceNotOk <= this.riseAfter) return true;
    if (observations.some((o) => o.hurried)) return true;
    if (now + this.intervalMs - this.lastPublishedAt > this.heartbeatMs) return true;
    return recent.some((o) => this.publishedStatus.get(observationKey(o)) !== o.status);
  }

  /** Nothing of the last publish is held any more (its lease was lost): the next tick publishes. */
  forget(): void {
    this.lastPublishedAt = -Infinity;
    this.publishedStatus.clear();
  }

  /** Records a publish that succeeded: the heartbeat restarts, and these statuses are the news to beat. */
  published(recent: readonly Observation[], at: number): void {
    this.lastPublishedAt = at;
    for (const o of recent) this.publishedStatus.set(observationKey(o), o.status);
  }
}

/** How many of its own recent observations an observer publishes: several ticks' worth. */
const RECENT_KEPT = 32;

/** What the controller knows of a pipeline's data: its consumers' lag and a failover's cost now. */
export interface PipelineData {
  readonly pipeline: string;
  readonly lag?: { readonly status: string; readonly rule: string; readonly records: number; readonly timeLagMs?: number; readonly reason: string };
  /** Records a failover now would lose, and the longest span; absent when unknown. */
  readonly lossRecords?: number;
  readonly lossMs?: number;
  /** The estimate in one sentence (or why it is unknown). */
  readonly estimate?: string;
}

export interface ControllerStatus {
  readonly observer: string;
  readonly leader: boolean;
  readonly ready: boolean;
  readonly notReadyReason: string;
  readonly ticks: number;
  /** Whether the loop completes ticks (see /healthz); the reason when it does not. */
  readonly healthy: boolean;
  readonly unhealthyReason: string;
  /** When the last tick completed (epoch ms). */
  readonly lastTickAt: number;
  /** Per pipeline: consumer lag and what a failover now would lose (data-aware switching). */
  readonly data: readonly PipelineData[];
  readonly lastObservations: readonly Observation[];
  /** Each watched stream job as its room's Flink last reported it. */
  readonly jobs: readonly StreamJobReading[];
}

export class Controller {
  private state: ControllerState = INITIAL_STATE;
  private leadership: Leadership | undefined;
  /** Aborts the current leadership's acting signal (see stepDown). */
  private acting: AbortController | undefined;
  private ready = false;
  private notReadyReason = 'starting';
  private ticks = 0;
  private lastObservations: Observation[] = [];
  private data = new Map<string, PipelineData>();
  /** This observer's recent observations, published when they say something new (see ObservationGate). */
  private recent: Observation[] = [];
  private readonly gate: ObservationGate;
  private readonly lastVerdicts = new Map<string, string>();
  private readonly reported = new Set<string>();
  /** The leadership whose first acting tick has been logged (takeover time is measured to it). */
  private announced: Leadership | undefined;
  private readonly intervalMs: number;
  private readonly stallAfterMs: number;
  /** When the last tick completed (or the controller was built or started, before the first). */
  private lastTickAt: number;
  /** Why the last tick did not complete, if it did not. */
  private lastTickError = '';
  private stopped = false;
  /** The tick spacing while hurried by a signal (the tiers' shortest signalIntervalMs); undefined: signals are ignored. */
  private readonly signalIntervalMs: number | undefined;
  /** How long one signal keeps this observer hurried. */
  private readonly hurryForMs: number;
  /** Until when ticks are hurried (epoch ms): the latest of `hurriedRooms`. */
  private hurryUntil = 0;
  /** Per room signalled: until when its Kafka probes count as hurried. */
  private readonly hurriedRooms = new Map<string, number>();
  /** Per room hurried now: since when, without a break (a hurry that never convicts is cut short). */
  private readonly hurryBegan = new Map<string, number>();
  /** Per room: signals ignored until then, after a hurry whose probes kept passing. */
  private readonly signalCooldown = new Map<string, number>();
  /** Wakes the loop's sleep when a signal arrives. */
  private wake: AbortController | undefined;
  /**
   * Per room: this observer's own DOWN probes of its Kafka in a row, counted as the core folds
   * them (probes closer together than the spacing count once), and when the last counted one was.
   * A room it has convicted needs no more hurry.
   */
  private readonly ownDownStreak = new Map<string, { readonly streak: number; readonly at: number }>();
  /** That many DOWN probes in a row: every tier's fallAfter. */
  private readonly convictedAfter: number;

  constructor(private readonly deps: ControllerDeps) {
    const policies = [...deps.topology.policies.values()];
    const intervals = policies.map((p) => p.probeIntervalMs);
    this.intervalMs = intervals.length > 0 ? Math.min(...intervals) : 1000;
    const hurrying = policies.filter((p) => p.signalIntervalMs);
    this.signalIntervalMs = hurrying.length > 0 ? Math.min(this.intervalMs, ...hurrying.map((p) => p.signalIntervalMs!)) : undefined;
    // Long enough for the slowest tier to see fallAfter hurried probes, with room for the quorum
    // to form and the switch to start; a room that stays broken sends more signals.
    this.convictedAfter = Math.max(1, ...policies.map((p) => p.fallAfter));
    this.hurryForMs = Math.max(this.intervalMs * 3, ...hurrying.map((p) => (p.fallAfter + 4) * p.signalIntervalMs!));
    this.stallAfterMs = deps.stallAfterMs ?? Math.max(5 * this.intervalMs, 10_000);
    // With the store's confirmations (ADR 0019) an unchanged observation is not written again,
    // unless a tier's staleAfterMs is too short to absorb how coarsely readers learn a renewal's age.
    const staleAfterMs = policies.length > 0 ? Math.min(...policies.map((p) => p.staleAfterMs)) : 0;
    const probeTimeoutMs = Math.max(0, ...policies.map((p) => p.probeTimeoutMs));
    const confirmable = staleAfterMs >= deps.observationStore.confirmSlackMs + 2 * this.intervalMs + probeTimeoutMs;
    this.gate = new ObservationGate(confirmable ? Infinity : staleAfterMs / 2, this.intervalMs, Math.max(1, ...policies.map((p) => p.riseAfter)));
    this.lastTickAt = deps.clock.now();
  }

  status(): ControllerStatus {
    const health = this.health();
    return {
      observer: this.deps.observer,
      leader: this.isLeader(),
      ready: this.ready,
      notReadyReason: this.notReadyReason,
      ticks: this.ticks,
      healthy: health.healthy,
      unhealthyReason: health.reason,
      lastTickAt: this.lastTickAt,
      lastObservations: this.lastObservations,
      data: [...this.data.values()],
      jobs: this.deps.probes.flatMap((p) => p.jobReadings?.() ?? []),
    };
  }

  /** Healthy while the loop completes ticks: one that has not for `stallAfterMs` is stuck or failing. */
  health(): { readonly healthy: boolean; readonly reason: string } {
    if (this.stopped) return { healthy: false, reason: 'controller stopped' };
    const since = this.deps.clock.now() - this.lastTickAt;
    if (since <= this.stallAfterMs) return { healthy: true, reason: '' };
    const why = this.lastTickError && `; last tick failed: ${this.lastTickError}`;
    return { healthy: false, reason: `no tick completed for ${since} ms (limit ${this.stallAfterMs} ms)${why}` };
  }

  private countError(site: LoopErrorSite): void {
    try {
      this.deps.countError?.(site);
    } catch {
      // counting must never stop the loop
    }
  }

  private isLeader(): boolean {
    return this.leadership !== undefined && !this.leadership.lost.aborted;
  }

  /**
   * Runs until `signal` aborts; then resigns leadership at once. A tick that throws (it should
   * not: every failure is meant to end as a counted outcome) is logged and counted, and the loop
   * goes on.
   */
  async run(signal: AbortSignal): Promise<void> {
    const { log } = this.deps;
    log.info('controller starting', { intervalMs: this.intervalMs, stallAfterMs: this.stallAfterMs, pipelines: this.deps.topology.pipelines.size });
    // The campaign loop stops with the controller, whatever ends the loop below.
    const stop = new AbortController();
    const onStop = () => stop.abort(signal.reason);
    if (signal.aborted) onStop();
    else signal.addEventListener('abort', onStop, { once: true });
    await this.checkJobs();
    this.lastTickAt = this.deps.clock.now();
    const campaigning = this.campaignLoop(stop.signal);
    const unfollow = this.signalIntervalMs
      ? await this.deps.signals?.follow((s) => this.onSignal(s), (key, why) => this.reportOnce('client signal left out', key, why)).catch((err: unknown) => {
          log.warn('client signals not followed; probing at the usual cadence', { error: errorText(err) });
          return undefined;
        })
      : undefined;
    try {
      while (!stop.signal.aborted) {
        const started = this.deps.clock.now();
        try {
          await this.tick();
          this.lastTickAt = this.deps.clock.now();
          this.lastTickError = '';
        } catch (err) {
          this.lastTickError = errorText(err);
          this.countError('tick');
          log.error('tick failed; carrying on', { error: this.lastTickError });
        }
        const now = this.deps.clock.now();
        this.deps.metrics.tickDuration?.(now - started);
        const every = now < this.hurryUntil && this.signalIntervalMs ? this.signalIntervalMs : this.intervalMs;
        const wake = new AbortController();
        this.wake = wake;
        await this.deps.clock.sleep(Math.max(0, every - (now - started)), AbortSignal.any([stop.signal, wake.signal]));
        this.wake = undefined;
      }
    } finally {
      this.stopped = true;
      stop.abort();
      signal.removeEventListener('abort', onStop);
      await unfollow?.().catch(() => undefined);
      // Resigning aborts the leadership's `lost`, so the campaign loop is not left waiting on it.
      await this.deps.lock.resign().catch((err: Error) => log.warn('resign failed', { error: err.message }));
      this.leadership = undefined;
      this.deps.metrics.leader(false);
      await campaigning;
      await Promise.all(this.deps.probes.map((p) => p.close()));
      await this.deps.positions?.close();
      await this.deps.lag?.close();
      await this.deps.observationStore.close();
      log.info('controller stopped', { observer: this.deps.observer });
    }
  }

  /**
   * At start, every stream job a chain names should exist in its room's Flink: warn, by name, for
   * each that does not (a typo in the topology would otherwise show only as a DOWN chain).
   */
  private async checkJobs(): Promise<void> {
    for (const p of this.deps.probes) {
      if (!p.jobReadings) continue;
      try {
        await p.probe();
        for (const r of p.jobReadings()) {
          if (r.state === 'MISSING') this.deps.log.warn('stream job not found', { room: r.room, job: r.job, hint: 'check the chain\'s jobs in the topology against the job names in that room\'s Flink (/jobs/overview)' });
          if (r.state === 'UNREACHABLE') this.deps.log.warn('stream jobs not checked: Flink unreachable', { room: r.room, job: r.job });
        }
      } catch (err) {
        this.deps.log.warn('stream jobs not checked', { room: p.room, error: errorText(err) });
      }
    }
  }

  private async campaignLoop(signal: AbortSignal): Promise<void> {
    const { log, lock, clock, metrics } = this.deps;
    while (!signal.aborted) {
      try {
        const granted = await lock.campaign(signal);
        // Acting ends when the lock says leadership is lost, or when this replica steps down
        // itself (a write refused as fenced proves etcd has someone else, or no one, leading).
        const acting = new AbortController();
        const onLost = () => acting.abort(granted.lost.reason);
        if (granted.lost.aborted) onLost();
        else granted.lost.addEventListener('abort', onLost, { once: true });
        const leadership: Leadership = { fence: granted.fence, lost: acting.signal };
        this.leadership = leadership;
        this.acting = acting;
        this.deps.cluster?.leading(clock.now());
        metrics.leader(true);
        log.info('elected leader', { observer: this.deps.observer, fenceKey: leadership.fence.key });
        await new Promise<void>((resolve) => {
          const done = () => resolve();
          if (leadership.lost.aborted || signal.aborted) return resolve();
          leadership.lost.addEventListener('abort', done, { once: true });
          signal.addEventListener('abort', done, { once: true });
        });
        granted.lost.removeEventListener('abort', onLost);
        if (this.leadership === leadership) this.leadership = undefined;
        this.deps.cluster?.leading(undefined);
        metrics.leader(false);
        if (!signal.aborted) {
          log.warn('leadership lost; stopped acting, campaigning again', { reason: errorText(leadership.lost.reason) });
          await lock.resign().catch(() => undefined);
        }
      } catch (err) {
        if (signal.aborted) return;
        log.warn('campaign failed; retrying', { error: errorText(err) });
        await clock.sleep(1000, signal);
      }
    }
  }

  /** Stops acting under `leadership` (if it is still the current one); the campaign loop resigns and campaigns again. */
  private stepDown(leadership: Leadership, why: string): void {
    if (this.leadership !== leadership || leadership.lost.aborted) return;
    this.deps.log.warn('stepping down', { why });
    this.acting?.abort(new Error(why));
  }

  /**
   * A client's push signal: probe its room ahead of the usual cadence for a while. It is a hint,
   * not a vote; the observers' own probes and the quorum decide. Ignored when stale (by more than
   * 10 s either way: a client's clock may be off), for a room not in the topology, and for a room
   * this observer's own probes already see down. A room whose hurried probes keep passing for
   * three hurry windows (one client's own trouble: its firewall, its certificate) stops being
   * hurried, and its signals are ignored for 30 s.
   */
  private onSignal(s: ClientSignal): void {
    const { clock, log, metrics, topology } = this.deps;
    try {
      const now = clock.now();
      if (!topology.rooms.has(s.room)) return this.reportOnce('client signal left out', `${s.room}/${s.client}`, `room ${s.room} is not in the topology`);
      if (Math.abs(now - s.at) > 10_000) return;
      const convicted = (this.ownDownStreak.get(s.room)?.streak ?? 0) >= this.convictedAfter;
      const cooling = now < (this.signalCooldown.get(s.room) ?? 0);
      const began = this.hurryBegan.get(s.room);
      const overlong = !convicted && began !== undefined && now - began > 3 * this.hurryForMs;
      metrics.signal?.(s.room, !convicted && !cooling && !overlong);
      if (convicted || cooling) return;
      if (overlong) {
        this.hurriedRooms.delete(s.room);
        this.hurryBegan.delete(s.room);
        this.signalCooldown.set(s.room, now + 30_000);
        log.warn('client signals keep coming but this observer\'s probes of the room pass: ignoring its signals for 30 s', { room: s.room, client: s.client, reason: s.reason, hurriedForMs: now - began });
        return;
      }
      if (began === undefined) this.hurryBegan.set(s.room, now);
      const idle = now >= this.hurryUntil;
      this.hurryUntil = now + this.hurryForMs;
      this.hurriedRooms.set(s.room, this.hurryUntil);
      if (idle) {
        log.info('client signal: probing ahead of cadence', { room: s.room, client: s.client, reason: s.reason, everyMs: this.signalIntervalMs, forMs: this.hurryForMs });
        this.wake?.abort();
      }
    } catch (err) {
      // A signal is stored data: whatever it holds must not stop the loop.
      this.reportOnce('client signal left out', `${String(s?.room)}/${String(s?.client)}`, errorText(err));
    }
  }

  /** One pass. Never throws: every failure ends as a logged, counted outcome. */
  async tick(): Promise<Decision | undefined> {
    const { clock, metrics, log, topology } = this.deps;
    this.ticks++;
    const startedAt = clock.now();
    // A room's hurry ends when its window does.
    let until = 0;
    for (const [room, end] of this.hurriedRooms) {
      if (end <= startedAt) {
        this.hurriedRooms.delete(room);
        this.hurryBegan.delete(room);
      } else until = Math.max(until, end);
    }
    this.hurryUntil = until;
    const [answered] = await Promise.all([observeAll(this.deps.probes), this.deps.positions?.sample()]);
    // An answer older than this tick (a probe still reading hands back its last one) is no probe
    // of this tick: carried. It is published as news, and never confirmed (ADR 0019).
    const probed = answered.map((o) => (o.at < startedAt && !o.carried ? { ...o, carried: true } : o));
    // Only the signalled rooms' Kafka probes count as hurried: a signal speaks of nothing else.
    const observations = startedAt < this.hurryUntil ? probed.map((o) => (o.component === 'kafka' && startedAt < (this.hurriedRooms.get(o.room) ?? 0) ? { ...o, hurried: true } : o)) : probed;
    for (const o of observations) {
      if (o.component !== 'kafka') continue;
      const before = this.ownDownStreak.get(o.room) ?? { streak: 0, at: 0 };
      const spacing = (o.hurried && !o.carried ? this.signalIntervalMs ?? this.intervalMs : this.intervalMs) * 0.9;
      if (o.status === 'DOWN' && o.at - before.at < spacing) continue;
      const streak = o.status === 'DOWN' ? before.streak + 1 : 0;
      this.ownDownStreak.set(o.room, { streak, at: o.at });
      // A follower that has convicted the room with its own probes has said what it can: it
      // publishes this tick and goes back to its cadence (CPU for the clients that are moving).
      // The leader stays hurried, to hear the others' verdicts as soon as they are published.
      if (streak >= this.convictedAfter && !this.isLeader()) {
        this.hurriedRooms.delete(o.room);
        this.hurryBegan.delete(o.room);
      }
    }
    if (this.hurriedRooms.size === 0) this.hurryUntil = 0;
    this.lastObservations = observations;
    for (const o of observations) metrics.probe(o.room, o.latencyMs ?? 0, o.status !== 'DOWN');
    for (const p of this.deps.probes) for (const r of p.jobReadings?.() ?? []) metrics.streamJob?.(r);

    this.recent = [...this.recent, ...observations].slice(-RECENT_KEPT);

    const leadership = this.leadership;
    let read: Map<string, StoredRoute> | undefined;
    let journals = new Map<string, StoredJournal>();
    let intents: Intents | undefined;
    let switchovers: SwitchoverIntent[] = [];
    let everyone: Observation[] = observations;
    let confirmedAt: ReadonlyMap<string, number> | undefined;
    let confirming: Promise<void> | undefined;
    let watermarks: Map<string, Map<string, Map<number, number>>> | undefined;
    // Pipelines whose stored route or journal cannot be used: held with the reason (logged once, as a verdict).
    const invalid = new Map<string, string>();
    const prefix = this.deps.storeKeys;
    const journalHold = (p: string, what: string) => `its stored switch journal ${what}; check where its consumers read, then delete ${prefix?.journal(p) ?? 'its journal key'}`;
    try {
      // Publish first, then read: the leader judges with every observer's latest news, its own included.
      const publishAt = clock.now();
      if (this.gate.due(this.recent, observations, publishAt)) {
        await this.deps.observationStore.publish(this.deps.observer, this.recent);
        this.gate.published(this.recent, publishAt);
      }
      // After the publish: the renewal confirms what is stored now. A lost lease, or a renewal
      // that failed, means the next tick publishes again.
      const confirmed = (confirming = this.deps.observationStore.confirm().then(
        (held) => {
          if (!held) this.gate.forget();
        },
        (err: unknown) => {
          this.gate.forget();
          throw err;
        },
      ));
      const [routes, published, js, wanted, manual] = await Promise.all([
        this.deps.routes.list((p, why) => invalid.set(p, `its stored route is not valid (${why}); delete ${prefix?.route(p) ?? 'its route key'} and the leader starts it on its primary chain above the last epoch`)),
        this.deps.observationStore.readAll((key, why) => this.reportOnce('observation left out', key, why)),
        this.deps.journals.list((p, why) => invalid.set(p, journalHold(p, `is not valid (${why})`))),
        this.deps.intents.read(),
        this.deps.intents.switchovers(),
        this.deps.positions && this.deps.watermarks ? this.deps.watermarks.readAll().then((w) => (watermarks = w)) : undefined,
        confirmed,
      ]);
      switchovers = manual;
      read = routes;
      journals = js;
      // A journal that parses but cannot be carried on: a running one holds its pipeline; a
      // finished one only lends its version to the next switch, so it is kept for that.
      for (const [p, stored] of js) {
        const why = journalProblem(stored.journal);
        if (!why || stored.journal.status === 'done') continue;
        journals.delete(p);
        invalid.set(p, journalHold(p, `cannot be carried on (${why})`));
      }
      intents = wanted;
      everyone = [...published.observations.filter((o) => o.observer !== this.deps.observer), ...observations];
      confirmedAt = published.confirmedAt;
      this.setReady(true, '');
    } catch (err) {
      this.setReady(false, `etcd unreachable: ${(err as Error).message}`);
    }
    // Settled before the next tick, even when a read failed first: a renewal still in flight must
    // not land after a later publish fails (it would confirm news the observer no longer holds).
    await confirming?.catch(() => undefined);

    const acting = read !== undefined && leadership !== undefined && !leadership.lost.aborted;
    // A switch under way is carried on first: it may be one a previous leader started. Each
    // pipeline's switch on its own: one that fails (a store call, bad stored data) is logged,
    // counted and tried again next tick, and the others go on.
    if (acting) {
      let advanced = false;
      const running = [...journals.values()].filter((stored) => stored.journal.status === 'running');
      await eachBounded(
        running,
        SWITCH_CONCURRENCY,
        async (stored) => {
          if (leadership.lost.aborted) return;
          advanced = true;
          const result = await this.deps.runner.advance(leadership.fence, stored, leadership.lost).catch((err: unknown): RunResult => ({ kind: 'retry', why: errorText(err), failed: true }));
          if (result.kind === 'fenced') {
            this.stepDown(leadership, FENCED);
            return;
          }
          if (result.kind === 'retry') {
            if (result.failed) this.countError('switch');
            log.warn('switch not advanced; will retry', { id: stored.journal.id, pipeline: stored.journal.pipeline, why: result.why });
          }
          if (result.kind === 'done' || result.kind === 'pending') journals.set(stored.journal.pipeline, { ...stored, journal: result.journal });
        },
        (stored, err) => log.error('switch advance failed unexpectedly', { pipeline: stored.journal.pipeline, error: errorText(err) }),
      );
      // A switch that moved on may have flipped a route: decide from what is stored now.
      if (advanced) {
        read = await this.deps.routes.list().catch((err: unknown) => {
          this.countError('routes');
          log.warn('routes not read again after a switch step; deciding from the first read', { error: errorText(err) });
          return read;
        });
      }
    }

    const now = clock.now();
    const routes = new Map([...topology.pipelines.keys()].map((p) => [p, read?.get(p)?.route]));
    const switchesInProgress = new Map<string, 'primary' | 'standby' | 'fallback'>();
    for (const [pipeline, { journal }] of journals) {
      if (journal.status !== 'running') continue;
      // Read defensively: a journal is stored data, and a broken one must hold its own pipeline only.
      const target = (journal.to as Partial<SwitchJournal['to']> | undefined)?.chain;
      const role = topology.pipelines.get(pipeline)?.chains.find((c) => c.name === target)?.role;
      switchesInProgress.set(pipeline, role ?? 'standby');
    }
    // Re-reading an observation already folded is harmless: the core ignores any not newer than the last.
    const estimates = this.deps.positions ? this.estimates(routes, watermarks, now) : undefined;
    if (this.deps.positions) {
      // In the background: a slow group coordinator must not hold the tick up.
      void this.deps.lag?.sample(topology, routes, this.deps.positions.history(), now).catch(() => undefined);
      this.recordData(estimates, routes);
    }
    const decision = decide(topology, this.state, { now, observations: everyone, ...(confirmedAt && { confirmedAt }), routes, switchesInProgress, invalid, ...(intents && { intents }), ...(estimates && { estimates }) });
    this.state = decision.next;
    for (const policy of topology.policies.values()) {
      for (const room of topology.rooms.keys()) metrics.roomHealth(policy.tier, room, componentVerdict(this.state, policy, room, 'kafka', now).status);
    }

    if (!read) {
      metrics.tick('store-unreachable');
      return decision;
    }
    if (!acting) {
      metrics.tick('follower');
      return decision;
    }
    this.deps.backfills?.poke(
      routes,
      (pipeline, room) => {
        const tier = topology.pipelines.get(pipeline)?.tier;
        const policy = tier ? topology.policies.get(tier) : undefined;
        return policy !== undefined && componentVerdict(this.state, policy, room, 'kafka', now).status === 'OK';
      },
      now,
    );
    // In the background, at most once a second: a slow etcd must not hold the tick up.
    if (this.deps.caps) this.inBackground(leadership, 'caps', 'caps not kept this round; will retry', this.deps.caps.round(topology, routes, leadership.fence, leadership.lost, now));
    // Runbooks too: a step may wait on a webhook's retries.
    if (this.deps.runbooks) {
      const facts = this.runbookFacts(everyone, switchesInProgress, now);
      this.inBackground(leadership, 'runbooks', 'runbooks not run this round; will retry', this.deps.runbooks.round({ facts, routes, intents }, leadership.fence, leadership.lost));
    }
    if (this.deps.cluster) {
      const health = new Map([...topology.pipelines.keys()].map((p) => [p, this.roomsHealth(p, now)]));
      const estimates = new Map([...this.data.values()].flatMap((d) => (d.estimate ? [[d.pipeline, d.estimate] as const] : [])));
      void this.deps.cluster.round({ routes, verdicts: decision.verdicts, health, estimates });
    }
    if (this.announced !== leadership) {
      this.announced = leadership;
      log.info('first tick as leader', { observer: this.deps.observer });
    }
    this.logVerdicts(decision);
    for (const v of decision.verdicts) if (v.rule !== 'healthy') metrics.decision(v.rule);
    await this.carryOutSwitchovers(switchovers, decision, switchesInProgress, read, journals, leadership, now, intents);
    if (decision.actions.length === 0) {
      metrics.tick('idle');
      return decision;
    }
    metrics.tick('acted');
    log.info('decided', { reason: decision.reason, actions: decision.actions.length });
    // Each pipeline's action on its own, side by side (bounded): a room's failure moves all its
    // pipelines at once, and none waits for another's etcd round trips (bounded.ts).
    const ruleOf = new Map<string, string>();
    for (const v of decision.verdicts) if (!ruleOf.has(v.pipeline)) ruleOf.set(v.pipeline, v.rule);
    await eachBounded(
      decision.actions,
      SWITCH_CONCURRENCY,
      async (action) => {
        if (leadership.lost.aborted) return;
        const pipeline = action.route.pipeline;
        if (action.kind === 'init-route') {
          const result = await this.deps.executor.apply(leadership.fence, action, read).catch((err: unknown): ApplyResult => {
            this.countError('init-route');
            return { kind: 'retry', action, why: errorText(err) };
          });
          if (result.kind === 'fenced') this.stepDown(leadership, FENCED);
          else if (result.kind === 'retry') log.warn('action not applied; will decide again', { pipeline, why: result.why });
          return;
        }
        const rule = ruleOf.get(pipeline);
        const result = await this.deps.runner
          .start(leadership.fence, action, rule === 'failback' ? 'failback' : 'failover', journals.get(pipeline), leadership.lost)
          .catch((err: unknown): RunResult => ({ kind: 'retry', why: errorText(err), failed: true }));
        if (result.kind === 'fenced') {
          this.stepDown(leadership, FENCED);
          return;
        }
        if (result.kind === 'retry') {
          if (result.failed) this.countError('switch');
          log.warn(result.opened ? 'switch started but not finished; will carry on' : 'switch not started; will decide again', { pipeline, why: result.why });
        }
      },
      (action, err) => log.error('action failed unexpectedly', { pipeline: action.route.pipeline, error: errorText(err) }),
    );
    return decision;
  }

  /**
   * Operators' switchovers that are due, one per pipeline per tick, for pipelines with no switch
   * under way and no automatic action this tick. A refused intent is kept, marked, until cancelled.
   */
  private async carryOutSwitchovers(
    intents: readonly SwitchoverIntent[],
    decision: Decision,
    inProgress: ReadonlyMap<string, unknown>,
    read: ReadonlyMap<string, StoredRoute>,
    journals: ReadonlyMap<string, StoredJournal>,
    leadership: Leadership,
    now: number,
    wanted: Intents | undefined,
  ): Promise<void> {
    const { log } = this.deps;
    const busy = new Set([...inProgress.keys(), ...decision.actions.map((a) => a.route.pipeline)]);
    for (const intent of intents) {
      if (leadership.lost.aborted) return;
      // Refused means a reason was written; any other value there is malformed and refused below.
      if (typeof intent.refused === 'string') {
        await this.expireRefused(intent, now);
        continue;
      }
      if (busy.has(intent.pipeline)) continue;
      // One intent on its own: a store call that fails (or an intent that cannot be planned) is
      // logged, counted and tried again next tick; the other pipelines' intents go on.
      try {
        const outcome = await this.carryOut(intent, intents, read, journals, leadership, now, wanted);
        if (outcome === 'fenced') return this.stepDown(leadership, FENCED);
        if (outcome !== 'not-due') busy.add(intent.pipeline);
      } catch (err) {
        busy.add(intent.pipeline);
        this.countError('switchover');
        log.warn('switchover not carried out; will retry', { id: intent.id, pipeline: intent.pipeline, error: errorText(err) });
      }
    }
  }

  private async carryOut(
    intent: SwitchoverIntent,
    intents: readonly SwitchoverIntent[],
    read: ReadonlyMap<string, StoredRoute>,
    journals: ReadonlyMap<string, StoredJournal>,
    leadership: Leadership,
    now: number,
    wanted: Intents | undefined,
  ): Promise<'fenced' | 'handled' | 'not-due' | 'not-started'> {
    const { log } = this.deps;
    let plan: SwitchoverPlan;
    try {
      const predecessor = intent.after === undefined ? undefined : predecessorOf(intent.after, intents, journals.get(intent.pipeline)?.journal);
      plan = planSwitchover(this.deps.topology, this.state, read.get(intent.pipeline)?.route, intent, now, predecessor, wanted);
    } catch (err) {
      // A value no check foresaw: refuse this intent, with the error, rather than trip every tick.
      plan = { kind: 'refuse', reason: `could not be planned: ${errorText(err)}` };
    }
    if (plan.kind === 'wait') return 'not-due';
    if (plan.kind === 'done') {
      await this.deps.intents.removeSwitchover(intent.id);
      log.info('switchover needs nothing', { id: intent.id, reason: plan.reason });
      return 'handled';
    }
    if (plan.kind === 'refuse') {
      const refused = { ...intent, refused: plan.reason, refusedAt: now };
      await this.deps.intents.updateSwitchover(refused);
      this.deps.cluster?.refused(intent.pipeline, intent.id, plan.reason);
      log.warn('switchover refused', { id: intent.id, pipeline: intent.pipeline, reason: plan.reason, expiresAt: new Date(refusedUntil(refused)).toISOString() });
      return 'handled';
    }
    const kind = intent.drill ? 'drill' : 'switchover';
    const result = await this.deps.runner.start(leadership.fence, plan.action, kind, journals.get(intent.pipeline), leadership.lost, { by: whoAsked(intent.by, intent.identity), id: intent.id });
    if (result.kind === 'fenced') return 'fenced';
    if (result.kind === 'retry') {
      if (result.failed) this.countError('switch');
      if (!result.opened) {
        log.warn('switchover not started; will retry', { id: intent.id, why: result.why });
        return 'not-started';
      }
      log.warn('switchover started but not finished; the journal carries it on', { id: intent.id, why: result.why });
    }
    // The journal now carries the switch; the intent is spent.
    await this.deps.intents.removeSwitchover(intent.id);
    log.info('switchover started', { id: intent.id, pipeline: intent.pipeline, to: intent.to, by: intent.by });
    return 'handled';
  }

  /** A refused intent stays listed (so the operator sees why, and can cancel it) until refusedUntil, then goes. */
  private async expireRefused(intent: SwitchoverIntent, now: number): Promise<void> {
    if (now < refusedUntil(intent)) return;
    try {
      await this.deps.intents.removeSwitchover(intent.id);
      this.deps.log.info('refused switchover expired', { id: intent.id, pipeline: intent.pipeline, refused: intent.refused });
    } catch (err) {
      this.countError('switchover');
      this.deps.log.warn('refused switchover not removed; will retry', { id: intent.id, error: errorText(err) });
    }
  }

  /** A leader's round left to run in the background: fenced steps down, a failure is counted and logged. */
  private inBackground(leadership: Leadership, site: LoopErrorSite, failed: string, round: Promise<string>): void {
    void round
      .then((r) => {
        if (r === 'fenced') this.stepDown(leadership, FENCED);
      })
      .catch((err: unknown) => {
        this.countError(site);
        this.deps.log.warn(failed, { error: errorText(err) });
      });
  }

  /** Each of a pipeline's rooms with its Kafka health as this replica judges it: "room-a=OK,room-b=DOWN". */
  private roomsHealth(pipeline: string, now: number): string {
    const p = this.deps.topology.pipelines.get(pipeline);
    const policy = p && this.deps.topology.policies.get(p.tier);
    return p && policy ? p.chains.map((c) => `${c.room}=${componentVerdict(this.state, policy, c.room, 'kafka', now).status}`).join(',') : '';
  }

  /** Logs a problem once per key and reason (a bad stored value is read again every tick). */
  private reportOnce(msg: string, key: string, why: string): void {
    const k = `${msg}|${key}|${why}`;
    if (this.reported.has(k)) return;
    if (this.reported.size > 1000) this.reported.clear();
    this.reported.add(k);
    this.deps.log.warn(msg, { key, why });
  }

  /**
   * Per pipeline with a route: what switching to its failover target now would lose. Without the
   * consumers' watermarks (etcd unreachable) every estimate is unknown.
   */
  private estimates(routes: ReadonlyMap<string, Route | undefined>, watermarks: Map<string, Map<string, Map<number, number>>> | undefined, now: number) {
    const { topology } = this.deps;
    const inputs: PipelineEstimateInput[] = [];
    const unknown = new Map<string, string>();
    for (const [name, route] of routes) {
      const pipeline = topology.pipelines.get(name);
      const policy = pipeline && topology.policies.get(pipeline.tier);
      if (!route || !pipeline || !policy) continue;
      const target = failoverTargetOf(pipeline, route.chain);
      if (!target) continue;
      if (!watermarks) {
        unknown.set(name, 'the consumers\' watermarks could not be read');
        continue;
      }
      const failing = componentVerdict(this.state, policy, route.room, 'kafka', now).firstBadAt;
      inputs.push({
        pipeline: name,
        topics: pipeline.topics,
        consumerGroup: pipeline.consumerGroup,
        activeRoom: route.room,
        targetRoom: target.room,
        marginMs: policy.duplicateMarginMs,
        maxAgeMs: policy.staleAfterMs,
        ...(failing !== undefined && { activeFailingSince: failing }),
      });
    }
    const out = estimatePipelines(inputs, this.deps.positions!.history(), watermarks ?? new Map(), now);
    for (const [p, why] of unknown) out.set(p, why);
    return out;
  }

  private recordData(estimates: ReadonlyMap<string, readonly PartitionEstimate[] | string> | undefined, routes: ReadonlyMap<string, Route | undefined>): void {
    const lags = this.deps.lag?.lags();
    const data = new Map<string, PipelineData>();
    for (const [pipeline, route] of routes) {
      if (!route) continue;
      const e = estimates?.get(pipeline);
      const l = lags?.get(pipeline);
      const known = Array.isArray(e) ? e : undefined;
      const lossRecords = known?.reduce((n, p) => n + (p.unreplicatedRecords ?? 0), 0);
      const lossMs = known ? Math.max(0, ...known.map((p) => p.unreplicatedMs)) : undefined;
      const d: PipelineData = {
        pipeline,
        ...(l && { lag: { status: l.status, rule: l.rule, records: l.totalLag, ...(l.timeLagMs !== undefined && { timeLagMs: l.timeLagMs }), reason: l.reasons.join('; ') } }),
        ...(lossRecords !== undefined && { lossRecords }),
        ...(lossMs !== undefined && { lossMs }),
        ...(e !== undefined && { estimate: typeof e === 'string' ? `unknown: ${e}` : lossRecords === 0 ? 'no loss' : `${lossRecords} record(s), up to ${lossMs} ms` }),
      };
      data.set(pipeline, d);
      this.deps.metrics.pipelineData?.(pipeline, { lagRecords: l?.totalLag, lagSeconds: l?.timeLagMs === undefined ? undefined : l.timeLagMs / 1000, lossRecords, standbyGapSeconds: lossMs === undefined ? undefined : lossMs / 1000 });
    }
    this.data = data;
  }

  /** What runbook checks read: lag and standby gap per pipeline, P0 standbys, OLAP replica delay, switches under way. */
  private runbookFacts(observations: readonly Observation[], inProgress: ReadonlyMap<string, unknown>, now: number): RunbookFacts {
    const { topology } = this.deps;
    const lagRecords = new Map<string, number>();
    const standbyGapMs = new Map<string, number>();
    for (const d of this.data.values()) {
      if (d.lag) lagRecords.set(d.pipeline, d.lag.records);
      if (d.lossMs !== undefined) standbyGapMs.set(d.pipeline, d.lossMs);
    }
    const p0Standbys: { pipeline: string; chain: string; room: string; status: string; reason: string }[] = [];
    for (const p of topology.pipelines.values()) {
      const policy = topology.policies.get(p.tier);
      if (p.tier !== 'P0' || !policy) continue;
      for (const c of p.chains) {
        if (c.role !== 'standby') continue;
        const v = targetVerdict(this.state, policy, c, now);
        p0Standbys.push({ pipeline: p.name, chain: c.name, room: c.room, status: v.status, reason: v.reason });
      }
    }
    // The newest OLAP reading per room, from any observer.
    const olap = new Map<string, { at: number; sec: number }>();
    for (const o of observations) {
      // Published by any observer: a value that is not a number is no reading.
      if (o.component !== 'olap' || typeof o.replicaDelaySec !== 'number' || !Number.isFinite(o.replicaDelaySec)) continue;
      const held = olap.get(o.room);
      if (!held || o.at > held.at) olap.set(o.room, { at: o.at, sec: o.replicaDelaySec });
    }
    return { lagRecords, standbyGapMs, p0Standbys, olapDelaySec: new Map([...olap].map(([r, v]) => [r, v.sec])), switchesInProgress: [...inProgress.keys()] };
  }

  private setReady(ready: boolean, reason: string): void {
    if (ready !== this.ready) {
      if (ready) this.deps.log.info('ready: store reachable');
      else this.deps.log.warn('not ready: holding routes, no automatic changes', { reason });
    }
    this.ready = ready;
    this.notReadyReason = reason;
    this.deps.metrics.ready(ready);
  }

  /**
   * Logs a pipeline's verdict when its state, rule or the rooms' health changes (not when only its
   * numbers or a probe's wording do), so that a steady state and a long outage stay quiet while
   * every turn of events is on record.
   */
  private logVerdicts(decision: Decision): void {
    const now = this.deps.clock.now();
    for (const v of decision.verdicts) {
      const rooms = this.roomsHealth(v.pipeline, now);
      // Rule and health only: the statuses named in the reason (any component's, e.g. an OLAP that
      // turns DEGRADED) are news; a probe's wording that alternates (connection refused, circuit
      // open) is not, and an outage must not log a verdict a tick.
      const health = (v.reason.match(/\b(OK|DEGRADED|DOWN|UNKNOWN|SUSPECT)\b/g) ?? []).join(',');
      const gist = `${v.state}|${v.rule}|${rooms}|${health}`;
      if (this.lastVerdicts.get(v.pipeline) === gist) continue;
      this.lastVerdicts.set(v.pipeline, gist);
      const data = this.data.get(v.pipeline);
      this.deps.log.info('verdict', { pipeline: v.pipeline, state: v.state, rule: v.rule, rooms, reason: v.reason, ...(data?.lag && { lag: `${data.lag.rule}, ${data.lag.records} record(s)${data.lag.timeLagMs !== undefined ? `, ${data.lag.timeLagMs} ms` : ''}` }), ...(data?.estimate && { failoverLoss: data.estimate }), ...(v.advice && { operatorCommand: v.advice.command, operatorRisk: v.advice.risk }) });
    }
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
