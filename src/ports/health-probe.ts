import type { Observation } from '../core/health.js';

/**
 * Probes one component of one room.
 *
 * Contract: `probe()` never throws and always settles within the probe timeout it was built with
 * (plus scheduling noise): a failure, a timeout or an open circuit breaker come back as an
 * observation with status DOWN and the reason. It is safe to call again before an earlier call
 * settled; implementations may then answer from the call in flight.
 */
export interface HealthProbe {
  readonly room: string;
  probe(): Promise<Observation>;
  close(): Promise<void>;
}
