import CircuitBreaker from 'opossum';
import type { HealthStatus } from '../core/health.js';

export interface ProbeVerdict {
  readonly status: HealthStatus;
  readonly reason: string;
}

/**
 * The circuit breaker every probe runs behind: a call past `timeoutMs` fails; after half of at
 * least 3 calls in 5 s fail, the breaker opens for 1 s and probes answer at once (DOWN) instead
 * of piling up on a dead endpoint.
 */
export function probeBreaker<T = ProbeVerdict>(check: () => Promise<T>, timeoutMs: number): CircuitBreaker<[], T> {
  const breaker = new CircuitBreaker(check, {
    timeout: timeoutMs,
    resetTimeout: 1000,
    errorThresholdPercentage: 50,
    volumeThreshold: 3,
    rollingCountTimeout: 5000,
  });
  // Failures are reported through the probe's observation, not as unhandled events.
  breaker.on('failure', () => undefined);
  return breaker;
}

/** True when the breaker refused the call because it is open. */
export const isOpenBreaker = (err: unknown) => (err as { code?: string }).code === 'EOPENBREAKER';
