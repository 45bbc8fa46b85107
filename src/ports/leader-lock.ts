import type { Fence } from './route-store.js';

/** Who leads now, as seen in the store. */
export interface LeaderInfo {
  readonly id: string;
  /** When it became the leader (epoch ms), when it said so. */
  readonly since?: number;
  /**
   * Milliseconds its lease has left if nobody renews it (whole seconds, as the store counts).
   * A leader that died keeps its leadership until this runs out.
   */
  readonly leaseRemainingMs?: number;
}

export interface Leadership {
  readonly fence: Fence;
  /** Aborted the moment leadership is known to be lost (lease lost, resigned, store error); `resign()` aborts it too. */
  readonly lost: AbortSignal;
}

/**
 * Leader election on a lease.
 *
 * Contract: `campaign()` resolves once this candidate is the leader, with the fence that every
 * write must carry. Leadership can be lost at any time; `lost` aborts then and the holder must stop
 * acting at once. Being told late is possible (a paused process learns only when it runs again),
 * which is why writes are fenced in the store and never trusted to this signal alone.
 * `resign()` gives leadership up at once so that another candidate takes over without waiting
 * for the lease to expire; it aborts the current leadership's `lost` before it returns (even when
 * the store call fails), so nothing waits on a leadership that is gone.
 */
export interface LeaderLock {
  campaign(signal: AbortSignal): Promise<Leadership>;
  resign(): Promise<void>;
  /** The current leader's id, as proclaimed, or undefined if nobody leads. */
  leader(): Promise<string | undefined>;
  /** The current leader with its age and its lease's remaining time; one read plus one lease query. */
  leaderInfo(): Promise<LeaderInfo | undefined>;
}
