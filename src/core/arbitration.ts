// Two rooms cannot safely judge each other: a room that sees its peer "down" may itself be cut
// off. So every observer's view is kept apart, and a component counts as DOWN only when observers
// in enough different rooms (a witness counts as a room of its own) agree. Short of that quorum,
// a component some observers see DOWN is SUSPECT: the controller changes nothing about it.

import type { ComponentHealth, HealthStatus } from './health.js';

/** One observer's debounced view of one component, already aged for staleness. */
export interface ObserverView {
  readonly observer: string;
  /** The room the observer runs in, or a witness site: observers in the same room vote once. */
  readonly observerRoom: string;
  readonly health: ComponentHealth;
}

export type ArbitratedStatus = HealthStatus | 'SUSPECT';

export interface Arbitrated {
  readonly status: ArbitratedStatus;
  readonly reason: string;
  /** Earliest first-bad time among the observers voting DOWN (start of detection). */
  readonly firstBadAt: number | undefined;
  /** Distinct observer rooms seeing it up (OK/DEGRADED) and DOWN. */
  readonly upRooms: number;
  readonly downRooms: number;
}

function summary(views: readonly ObserverView[]): string {
  return views.map((v) => `${v.observer}@${v.observerRoom}: ${v.health.status}`).join(', ');
}

/**
 * Combines observers' views of one component.
 * - DOWN: observers in at least `required` distinct rooms see it DOWN.
 * - SUSPECT: some see it DOWN, but short of that quorum.
 * - OK / DEGRADED: nobody sees it DOWN and at least one fresh observer sees it up (the best view
 *   wins: DEGRADED only if no one sees OK).
 * - UNKNOWN: no fresh view at all.
 */
export function arbitrate(views: readonly ObserverView[], required: number, what: string): Arbitrated {
  if (views.length === 0) return { status: 'UNKNOWN', reason: `${what}: no observer has reported`, firstBadAt: undefined, upRooms: 0, downRooms: 0 };
  const up = views.filter((v) => v.health.status === 'OK' || v.health.status === 'DEGRADED');
  const votes = { upRooms: new Set(up.map((v) => v.observerRoom)).size, downRooms: 0 };
  const down = views.filter((v) => v.health.status === 'DOWN');
  const downRooms = new Set(down.map((v) => v.observerRoom));
  votes.downRooms = downRooms.size;
  if (down.length > 0) {
    const firstBadAt = Math.min(...down.map((v) => v.health.firstBadAt ?? v.health.since));
    const first = down[0]!;
    if (downRooms.size >= required) {
      return {
        status: 'DOWN',
        reason: `${what} is DOWN per ${downRooms.size}/${required} observer room(s) (${summary(views)}): ${first.health.reason}`,
        firstBadAt,
        ...votes,
      };
    }
    return {
      status: 'SUSPECT',
      reason: `${what} is DOWN per ${downRooms.size} observer room(s), short of the ${required} required (${summary(views)}): ${first.health.reason}`,
      firstBadAt,
      ...votes,
    };
  }
  const ok = views.find((v) => v.health.status === 'OK');
  if (ok) return { status: 'OK', reason: `${what} is OK (${ok.health.reason})`, firstBadAt: undefined, ...votes };
  const degraded = views.find((v) => v.health.status === 'DEGRADED');
  if (degraded) return { status: 'DEGRADED', reason: `${what} is DEGRADED (${degraded.health.reason})`, firstBadAt: undefined, ...votes };
  return { status: 'UNKNOWN', reason: `${what} is UNKNOWN (${summary(views)}): ${views[0]!.health.reason}`, firstBadAt: undefined, ...votes };
}

const RANK: Record<ArbitratedStatus, number> = { OK: 0, DEGRADED: 1, UNKNOWN: 2, SUSPECT: 3, DOWN: 4 };

/** The worse of two components' verdicts (on a tie, the one fewer observer rooms see up). */
export function worse(a: Arbitrated, b: Arbitrated): Arbitrated {
  return RANK[b.status] > RANK[a.status] || (b.status === a.status && b.upRooms < a.upRooms) ? b : a;
}

/** The worst of several components' verdicts: a chain is as healthy as its weakest part. */
export function worstOf(parts: readonly Arbitrated[]): Arbitrated {
  let worst = parts[0];
  if (!worst) return NOTHING_OBSERVED;
  for (let i = 1; i < parts.length; i++) worst = worse(worst, parts[i]!);
  return worst;
}

export const NOTHING_OBSERVED: Arbitrated = { status: 'UNKNOWN', reason: 'no component observed', firstBadAt: undefined, upRooms: 0, downRooms: 0 };

/**
 * A target may take over when it is not DOWN and more observer rooms see it up than down. A
 * strict majority, not unanimity: an observer cut off from the network sees every other room
 * down, and must not veto a failover that the others (with a witness) agree on.
 */
export function canServe(a: Arbitrated): boolean {
  if (a.status === 'DOWN' || a.status === 'UNKNOWN') return false;
  return a.upRooms > a.downRooms;
}
