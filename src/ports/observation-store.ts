import type { Observation } from '../core/health.js';
import type { OnMalformed } from './route-store.js';

/**
 * Where observers publish what they see, so that the leader judges with every observer's eyes.
 *
 * Consistency: each observer owns one key, written whole (last write wins) and bound to the
 * observer's own lease, so a dead observer's news disappears within the lease TTL instead of
 * lingering as fresh-looking votes. The lease is renewed by the observer's ticks, not by a timer:
 * a stalled observer's news ages even before it disappears. Readers get every observer's latest publication in one
 * linearizable read. Each publication carries the observer's recent observations (not just the
 * last), so a reader that reads less often than the observer probes still sees every probe.
 * Timeouts: calls reject after the client's call timeout.
 */
export interface ObservationsRead {
  readonly observations: Observation[];
  readonly confirmedAt: ReadonlyMap<string, number>;
}

export interface ObservationStore {
  publish(observer: string, recent: readonly Observation[]): Promise<void>;
  /**
   * Says that what was last published still holds: called after each completed tick, once its
   * publish (if any) has succeeded. It renews the observer's lease, which is not a write: the
   * store's revision does not move (ADR 0019). False when there is no publication to confirm (none
   * yet, or the lease was lost): the caller publishes again.
   */
  confirm(): Promise<boolean>;
  /**
   * How much older than the truth a reader may take a confirmation to be (ms): readers learn a
   * renewal's age in whole seconds. A tier whose staleAfterMs cannot absorb it needs the
   * observer to publish again instead.
   */
  readonly confirmSlackMs: number;
  /**
   * Every valid observation; an observer's value that does not parse, or an observation that is
   * not one, is left out and told to `onMalformed`. With them, per observer, when its renewed
   * lease proves its publication still held (`confirmedAt` in the core; only for publications
   * that are all OK).
   */
  readAll(onMalformed?: OnMalformed): Promise<ObservationsRead>;
  close(): Promise<void>;
}
