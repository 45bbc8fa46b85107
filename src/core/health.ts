// Health of a room's components, debounced over successive observations.
//
// A single failed probe never moves a room: it takes `fallAfter` bad observations in a row to call
// it DOWN and `riseAfter` good ones to call it OK again. An observation older than `staleAfterMs`
// counts for nothing, and a room with no fresh observation is UNKNOWN, never OK: acting on stale
// news is how split brains start.

export type HealthStatus = 'OK' | 'DEGRADED' | 'DOWN' | 'UNKNOWN';

export const COMPONENTS = ['kafka', 'stream', 'olap'] as const;
export type Component = (typeof COMPONENTS)[number];

/** What one probe saw, at one moment, from one observer. */
export interface Observation {
  readonly room: string;
  readonly component: Component;
  /** What inside the room was observed, when the component has several (a stream job's name). */
  readonly subject?: string;
  readonly observer: string;
  /** The room the observer runs in (or a witness site); observers in one room vote once. */
  readonly observerRoom: string;
  /** Epoch milliseconds when the probe finished. */
  readonly at: number;
  readonly status: HealthStatus;
  readonly reason: string;
  readonly latencyMs?: number;
  /** OLAP only: the worst replica delay the probe read (seconds; 0 with no replicated tables). */
  readonly replicaDelaySec?: number;
  /**
   * Probed ahead of the observer's cadence because a client reported trouble with a room (a push
   * signal, ADR 0018). Such observations are folded at the tier's `signalIntervalMs` spacing
   * instead of its probe interval; a tier without it samples them at its own cadence.
   */
  readonly hurried?: boolean;
  /**
   * Not the answer of a probe of its own: the previous probe was still in flight, or the circuit
   * breaker was open. Such an observation never counts at the hurried spacing (a slow broker must
   * not be convicted faster because a signal came).
   */
  readonly carried?: boolean;
}

export interface Thresholds {
  readonly fallAfter: number;
  readonly riseAfter: number;
  readonly staleAfterMs: number;
}

/** The debounced view of one room component. */
export interface ComponentHealth {
  readonly status: HealthStatus;
  readonly reason: string;
  /** Consecutive observations that said DOWN. */
  readonly badStreak: number;
  /** Consecutive observations that said OK or DEGRADED. */
  readonly goodStreak: number;
  /** When `status` last changed (epoch ms). */
  readonly since: number;
  /** The `at` of the last observation folded in; a repeated observation is not counted twice. */
  readonly lastAt: number;
  /** The first bad observation of the current bad streak: the start of detection. */
  readonly firstBadAt: number | undefined;
}

export const UNKNOWN_HEALTH: ComponentHealth = {
  status: 'UNKNOWN',
  reason: 'no observation yet',
  badStreak: 0,
  goodStreak: 0,
  since: 0,
  lastAt: 0,
  firstBadAt: undefined,
};

/** Folds one observation into the debounced health. Pure; equal inputs give equal outputs. */
export function foldObservation(prev: ComponentHealth, obs: Observation, th: Thresholds): ComponentHealth {
  if (obs.at <= prev.lastAt) return prev;
  const bad = obs.status === 'DOWN' || obs.status === 'UNKNOWN';
  const badStreak = bad ? prev.badStreak + 1 : 0;
  const goodStreak = bad ? 0 : prev.goodStreak + 1;
  const firstBadAt = bad ? (prev.badStreak === 0 ? obs.at : prev.firstBadAt) : undefined;

  let status = prev.status;
  let reason = prev.reason;
  if (bad) {
    if (badStreak >= th.fallAfter) {
      status = 'DOWN';
      reason = `${obs.reason} (${badStreak} failed probes in a row, fall after ${th.fallAfter})`;
    } else if (prev.status !== 'DOWN' && prev.status !== 'UNKNOWN') {
      // Still counted as up: say that it is wobbling.
      reason = `${obs.reason} (${badStreak}/${th.fallAfter} failed probes)`;
    }
  } else if (prev.status === 'DOWN' || prev.status === 'UNKNOWN') {
    if (goodStreak >= th.riseAfter) {
      status = obs.status;
      reason = `${obs.reason} (${goodStreak} good probes in a row, rise after ${th.riseAfter})`;
    } else {
      reason = `recovering: ${goodStreak}/${th.riseAfter} good probes`;
    }
  } else {
    status = obs.status;
    reason = obs.reason;
  }
  return {
    status,
    reason,
    badStreak,
    goodStreak,
    since: status === prev.status ? prev.since : obs.at,
    lastAt: obs.at,
    firstBadAt,
  };
}

/**
 * A component whose last observation is too old is UNKNOWN, whatever it said then. An OK view is
 * as fresh as its observer's latest confirmation (`confirmedAt`, ADR 0019), if that is newer:
 * the observer saw everything OK then too, and renewed its lease instead of writing it again.
 */
export function withStaleness(h: ComponentHealth, now: number, th: Thresholds, confirmedAt?: number): ComponentHealth {
  if (h.lastAt === 0) return h;
  const last = freshAt(h.status, h.lastAt, confirmedAt);
  const age = now - last;
  if (age <= th.staleAfterMs) return h;
  return {
    ...h,
    status: 'UNKNOWN',
    reason: `last observation is ${age} ms old (stale after ${th.staleAfterMs} ms)`,
    since: h.status === 'UNKNOWN' ? h.since : last + th.staleAfterMs,
    goodStreak: 0,
  };
}

/** When a view was last known to hold: its last observation, or its observer's newer confirmation if it is OK. */
export function freshAt(status: HealthStatus, lastAt: number, confirmedAt: number | undefined): number {
  return status === 'OK' && confirmedAt !== undefined && confirmedAt > lastAt ? confirmedAt : lastAt;
}

/**
 * What an observer's renewed lease says about its last publication (ADR 0019). An observer whose
 * probes all answered OK, each a probe of its own, and the same as it last published, does not
 * write its observations again: it renews its lease after the tick instead. A reader that knows
 * the lease was renewed at or after `renewedAt` may take every OK view from that observer as
 * fresh at `renewedAt`; it is not an observation, and is never folded as one (it does not count
 * as a probe, and cannot hide a later one, whatever the two clocks say).
 *
 * Undefined, no confirmation, when the publication holds anything not OK or carried (its observer
 * then publishes every tick, so a renewal may follow a tick that was not all OK), or when the
 * renewal is not newer than the publication's newest observation.
 */
export function confirmedAt(published: readonly Observation[], renewedAt: number): number | undefined {
  let latest = -Infinity;
  for (const o of published) {
    if (o.status !== 'OK' || o.carried) return undefined;
    if (o.at > latest) latest = o.at;
  }
  return published.length > 0 && renewedAt > latest ? renewedAt : undefined;
}
