// What the leader shows in Kubernetes (issue 17, ADR 0016): each pipeline's SwitchyardPipeline
// status (active chain, health, last switch, data estimate), an Event for each switch, each hold
// of a failover and each refused switchover, and the leader's name in a Lease. In the background,
// at most once a second; a failure is logged and retried, and never holds the loop or a switch.

import type { PipelineVerdict, VerdictRule } from '../core/decide.js';
import type { Route, Topology } from '../core/model.js';
import type { Clock } from '../ports/clock.js';
import type { ClusterState, PipelineEvent, PipelineStatusDoc } from '../ports/cluster-state.js';
import type { Logger } from '../ports/logger.js';

/** A switch this recent, first seen by a new leader, is reported (its Event may be missing). */
const RECENT_SWITCH_MS = 10 * 60_000;
/** How often every status is written again, changed or not. */
const REFRESH_MS = 5 * 60_000;

/** A failover the controller will not make now (it would otherwise): a Warning event when a pipeline enters one. */
const HOLDS = new Set<VerdictRule>(['no-quorum', 'no-healthy-standby', 'min-dwell', 'max-switches', 'data-budget-retry', 'data-budget-stop', 'gate-closed', 'failover-not-automatic']);

export interface ClusterReporterDeps {
  readonly state: ClusterState;
  readonly topology: Topology;
  readonly observer: string;
  readonly leaseSeconds: number;
  readonly clock: Clock;
  readonly log: Logger;
  readonly intervalMs?: number;
}

export interface ClusterView {
  readonly routes: ReadonlyMap<string, Route | undefined>;
  readonly verdicts: readonly PipelineVerdict[];
  /** Per pipeline: each room's health, "room-a=OK,room-b=DOWN". */
  readonly health: ReadonlyMap<string, string>;
  /** Per pipeline: what a failover now would lose. */
  readonly estimates: ReadonlyMap<string, string>;
}

export class ClusterReporter {
  private busy = false;
  private lastAt = Number.NEGATIVE_INFINITY;
  private refreshedAt = 0;
  private leaderSince: number | undefined;
  private readonly epochs = new Map<string, number>();
  private readonly holds = new Map<string, string>();
  private readonly pending: { readonly e: PipelineEvent; attempts: number }[] = [];

  constructor(private readonly deps: ClusterReporterDeps) {}

  /**
   * Leadership began (or ended: undefined). What this replica knew from an earlier leadership is
   * dropped: another leader may have written and reported since.
   */
  leading(since: number | undefined): void {
    this.leaderSince = since;
    this.epochs.clear();
    this.holds.clear();
    this.pending.length = 0;
    this.deps.state.forget();
  }

  /** A switchover the leader refused: an Event on its pipeline, sent with the next round. */
  refused(pipeline: string, id: string, reason: string): void {
    this.queue({ pipeline, type: 'Warning', reason: 'SwitchoverRefused', action: 'Refuse', note: `switchover ${id}: ${reason}`, at: this.deps.clock.now() });
  }

  private queue(e: PipelineEvent): void {
    if (this.pending.length < 1000) this.pending.push({ e, attempts: 0 });
    else this.deps.log.warn('Kubernetes event dropped: 1000 are waiting already', { pipeline: e.pipeline, reason: e.reason });
  }

  private warn(msg: string, err: unknown): void {
    this.deps.log.warn(msg, { error: err instanceof Error ? err.message : String(err) });
  }

  async round(view: ClusterView): Promise<void> {
    const now = this.deps.clock.now();
    if (this.busy || now - this.lastAt < (this.deps.intervalMs ?? 1000)) return;
    this.busy = true;
    this.lastAt = now;
    try {
      const docs: PipelineStatusDoc[] = [];
      for (const v of view.verdicts) {
        const pipeline = this.deps.topology.pipelines.get(v.pipeline);
        const route = view.routes.get(v.pipeline);
        if (!pipeline || !route) continue;
        // A route with a higher epoch than last seen is a switch. At first sight (a new leadership),
        // a recent switch may be one a predecessor finished or began and never reported: report it,
        // keyed by its epoch, so an Event already there is not made twice.
        const seen = this.epochs.get(v.pipeline);
        const recent = seen === undefined && route.epoch > 1 && now - route.since < RECENT_SWITCH_MS;
        if ((seen !== undefined && route.epoch > seen) || recent) {
          this.queue({ pipeline: v.pipeline, type: 'Normal', reason: 'Switched', action: 'Switch', note: `to ${route.chain}@${route.room} at epoch ${route.epoch}: ${route.reason}`, at: route.since, key: `e${route.epoch}-switched` });
        }
        this.epochs.set(v.pipeline, route.epoch);
        const held = HOLDS.has(v.rule) ? v.rule : '';
        if (held && this.holds.get(v.pipeline) !== held) this.queue({ pipeline: v.pipeline, type: 'Warning', reason: 'FailoverHeld', action: 'Hold', note: `${v.rule}: ${v.reason}`, at: now });
        this.holds.set(v.pipeline, held);
        const estimate = view.estimates.get(v.pipeline);
        docs.push({
          pipeline: v.pipeline,
          tier: pipeline.tier,
          activeChain: route.chain,
          activeRoom: route.room,
          epoch: route.epoch,
          state: v.state,
          rule: v.rule,
          health: view.health.get(v.pipeline) ?? '',
          reason: v.reason.slice(0, 500),
          ...(route.epoch > 1 && { lastSwitchAt: new Date(route.since).toISOString(), lastSwitchReason: route.reason.slice(0, 500) }),
          ...(estimate !== undefined && { dataEstimate: estimate }),
          observedBy: this.deps.observer,
        });
      }
      // Every few minutes every status is written again (an object someone deleted comes back).
      if (now - this.refreshedAt >= REFRESH_MS) {
        this.refreshedAt = now;
        this.deps.state.forget();
      }
      // The Lease, the statuses and the Events each on their own: one refused does not stop the others.
      await this.deps.state.lead(this.deps.observer, this.deps.leaseSeconds, this.leaderSince ?? now).catch((err: unknown) => this.warn('Kubernetes lease not renewed this round; will retry', err));
      const published = await this.deps.state.publish(docs).then(
        () => true,
        (err: unknown) => (this.warn('Kubernetes status not written this round; will retry', err), false),
      );
      // Events after the objects exist (they regard them).
      while (published && this.pending.length > 0) {
        const next = this.pending[0]!;
        try {
          await this.deps.state.event(next.e);
          this.pending.shift();
        } catch (err) {
          // One the API server keeps refusing must not hold up the ones after it.
          if (++next.attempts < 5) throw err;
          this.pending.shift();
          this.deps.log.warn('Kubernetes event dropped after 5 attempts', { pipeline: next.e.pipeline, reason: next.e.reason, error: err instanceof Error ? err.message : String(err) });
        }
      }
    } catch (err) {
      this.warn('Kubernetes events not recorded this round; will retry', err);
    } finally {
      this.busy = false;
    }
  }
}
