// A stream job's health from Flink REST shapes (job state, restarts, checkpoints, backpressure).

import type { HealthStatus } from './health.js';

export type FlinkJobState =
  | 'CREATED' | 'RUNNING' | 'FAILING' | 'FAILED' | 'CANCELLING' | 'CANCELED' | 'FINISHED' | 'RESTARTING' | 'SUSPENDED' | 'RECONCILING' | 'INITIALIZING';

export interface StreamJobSample {
  readonly at: number;
  readonly state: FlinkJobState;
  readonly numRestarts: number;
  readonly checkpoint: {
    readonly lastCompletedAt: number | undefined;
    readonly intervalMs: number;
    readonly timeoutMs: number;
    readonly tolerableFailures: number;
    /** Cumulative count of failed checkpoints. */
    readonly failedCount: number;
  };
  /** Highest backpressure ratio over the job's vertices, 0..1. */
  readonly backpressureRatio: number;
  /** The vertex with that ratio, when known. */
  readonly backpressuredVertex?: string;
  /** When the newest entry of the job's exception history happened, and what it was. */
  readonly lastException?: { readonly at: number; readonly name: string };
  /** The cluster's task managers and free slots, when read. */
  readonly taskManagers?: number;
  readonly freeSlots?: number;
}

export interface StreamJobThresholds {
  readonly restartWindowMs: number;
  readonly maxRestartsInWindow: number;
  readonly maxFailedCheckpointsInWindow: number;
  /**
   * The tier's limit on the age of the newest completed checkpoint: older is DOWN. Without it the
   * limit comes from the job's own checkpoint settings (see evaluateStreamJob).
   */
  readonly maxCheckpointAgeMs?: number;
}

export type BackpressureLevel = 'ok' | 'low' | 'high';

/** Flink's own levels: ok <= 0.10 < low <= 0.5 < high. */
export function backpressureLevel(ratio: number): BackpressureLevel {
  return ratio <= 0.1 ? 'ok' : ratio <= 0.5 ? 'low' : 'high';
}

const DOWN_STATES = new Set<FlinkJobState>(['FAILED', 'CANCELED', 'FINISHED', 'SUSPENDED']);
const RANK: Record<HealthStatus, number> = { OK: 0, DEGRADED: 1, UNKNOWN: 2, DOWN: 3 };

export interface StreamJobVerdict {
  readonly status: HealthStatus;
  readonly reasons: readonly string[];
}

export function evaluateStreamJob(history: readonly StreamJobSample[], th: StreamJobThresholds, now: number): StreamJobVerdict {
  const current = history[history.length - 1];
  if (!current) return { status: 'UNKNOWN', reasons: ['no sample of the job'] };
  let status: HealthStatus = 'OK';
  const reasons: string[] = [];
  const flag = (s: HealthStatus, reason: string) => {
    reasons.push(reason);
    if (RANK[s] > RANK[status]) status = s;
  };

  if (DOWN_STATES.has(current.state)) flag('DOWN', `job is ${current.state}`);
  else if (current.state !== 'RUNNING') flag('DEGRADED', `job is ${current.state}, not RUNNING`);

  const inWindow = history.filter((s) => now - s.at <= th.restartWindowMs);
  const oldest = inWindow[0] ?? current;
  const restarts = current.numRestarts - oldest.numRestarts;
  if (restarts > th.maxRestartsInWindow) {
    flag('DOWN', `${restarts} restarts in the last ${th.restartWindowMs} ms (max ${th.maxRestartsInWindow}): a crash loop`);
  }
  const failed = current.checkpoint.failedCount - oldest.checkpoint.failedCount;
  if (failed > th.maxFailedCheckpointsInWindow) {
    flag('DEGRADED', `${failed} failed checkpoints in the last ${th.restartWindowMs} ms (max ${th.maxFailedCheckpointsInWindow})`);
  }

  const cp = current.checkpoint;
  // A job younger than the limit may simply not have checkpointed yet: counted from its first RUNNING sample.
  const running = history.find((s) => s.state === 'RUNNING');
  if (th.maxCheckpointAgeMs !== undefined) {
    // The tier's own limit: a job whose newest checkpoint is older cannot be recovered to anything recent.
    const limit = th.maxCheckpointAgeMs;
    if (cp.lastCompletedAt === undefined) {
      if (running && now - running.at > limit) flag('DOWN', `no completed checkpoint after ${now - running.at} ms of running (the tier allows ${limit} ms)`);
    } else {
      const age = now - cp.lastCompletedAt;
      if (age > limit) flag('DOWN', `newest completed checkpoint is ${age} ms old (the tier allows ${limit} ms)`);
      else if (age > limit / 2) flag('DEGRADED', `newest completed checkpoint is ${age} ms old (over half the tier's ${limit} ms)`);
    }
  } else {
    const limit = Math.max(cp.intervalMs, cp.timeoutMs) * (cp.tolerableFailures + 2);
    const formula = `max(interval ${cp.intervalMs}, timeout ${cp.timeoutMs}) x (tolerable failures ${cp.tolerableFailures} + 2)`;
    if (cp.lastCompletedAt === undefined) {
      if (running && now - running.at > limit) flag('DEGRADED', `no completed checkpoint after ${now - running.at} ms of running; limit ${limit} ms = ${formula}`);
    } else {
      const age = now - cp.lastCompletedAt;
      if (age > 2 * limit) flag('DOWN', `checkpoint age ${age} ms exceeds twice the limit ${limit} ms = ${formula}`);
      else if (age > limit) flag('DEGRADED', `checkpoint age ${age} ms exceeds the limit ${limit} ms = ${formula}`);
    }
  }

  // Back-pressure degrades a chain and never fails it: a flood slows a job, it does not kill it.
  const level = backpressureLevel(current.backpressureRatio);
  const where = current.backpressuredVertex ? ` at ${current.backpressuredVertex}` : '';
  if (level === 'high') flag('DEGRADED', `backpressure high${where} (${current.backpressureRatio.toFixed(2)} > 0.50)`);
  if (current.taskManagers === 0) flag('DOWN', 'the cluster has no task manager');

  if (reasons.length === 0) reasons.push(`RUNNING, ${restarts} restarts in window, backpressure ${level}`);
  return { status, reasons };
}
