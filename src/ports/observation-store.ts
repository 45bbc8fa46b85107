import type { Observation } from '../core/health.js';
import type { OnMalformed } from './route-store.js';

/**
 * Where observers publish what they see, so that the leader judges with every observer's eyes.
 *
 * Consistency: each observer owns one key, written whole (last write wins) and bound to the
 * observer's own lease, so a dead observer's news disappears within the lease TTL instead of
 * lingering as fresh-looking votes. Readers get every observer's latest publication in one
 * linearizable read. Each publication carries the observer's recent observations (not just the
 * last), so a reader that reads less often than the observer probes still sees every probe.
 * Timeouts: calls reject after the client's call timeout.
 */
export interface ObservationStore {
  publish(observer: string, recent: readonly Observation[]): Promise<void>;
  /** Every valid observation; an observer's value that does not parse, or an observation that is not one, is left out and told to `onMalformed`. */
  readAll(onMalformed?: OnMalformed): Promise<Observation[]>;
  close(): Promise<void>;
}
