import type { Observation } from '../core/health.js';
import type { FlinkJobState } from '../core/stream-job-rules.js';

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
  /** One observation, or several for a probe that covers several subjects (a room's stream jobs). */
  probe(): Promise<Observation | readonly Observation[]>;
  /** A stream-job probe's newest reading of each job it watches (status, metrics). */
  jobReadings?(): readonly StreamJobReading[];
  close(): Promise<void>;
}

/** What the probe read of one job, for `status`, metrics and the verdicts. */
export interface StreamJobReading {
  readonly job: string;
  readonly room: string;
  readonly jid?: string;
  readonly state: FlinkJobState | 'MISSING' | 'UNREACHABLE';
  readonly restarts?: number;
  readonly completedCheckpoints?: number;
  readonly failedCheckpoints?: number;
  readonly checkpointAgeMs?: number;
  readonly backpressure?: readonly { readonly vertex: string; readonly level: string; readonly ratio: number }[];
  readonly lastExceptionAt?: number;
  readonly taskManagers?: number;
  readonly freeSlots?: number;
  readonly at: number;
}


/** Every probe's observations, in one flat list. */
export async function observeAll(probes: readonly HealthProbe[]): Promise<Observation[]> {
  const results = await Promise.all(probes.map((p) => p.probe()));
  return results.flatMap((r) => (Array.isArray(r) ? (r as readonly Observation[]) : [r as Observation]));
}

/** The most back-pressured of a job's vertices, if any was read. */
export function worstVertex<T extends { readonly ratio: number }>(vertices: readonly T[] | undefined): T | undefined {
  let worst: T | undefined;
  for (const v of vertices ?? []) if (worst === undefined || v.ratio > worst.ratio) worst = v;
  return worst;
}
