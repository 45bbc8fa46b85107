// An OLAP (ClickHouse) server's health from ping, replica state and a health query.

import type { HealthStatus } from './health.js';

export interface ReplicaSample {
  readonly table: string;
  readonly absoluteDelaySec: number;
  readonly isReadonly: boolean;
  readonly queueSize: number;
  readonly activeReplicas: number;
  readonly totalReplicas: number;
}

export interface OlapSample {
  readonly at: number;
  readonly ping: boolean;
  readonly replicas: readonly ReplicaSample[];
  /** Latency of the configured health query; undefined = it failed or timed out. */
  readonly healthQueryMs: number | undefined;
}

export interface OlapThresholds {
  readonly maxReplicaDelaySec: number;
  readonly maxQueueSize: number;
  readonly healthQueryTimeoutMs: number;
  readonly slowQueryMs: number;
}

export interface OlapVerdict {
  readonly status: HealthStatus;
  readonly reasons: readonly string[];
}

/**
 * A server that answers ping is never DOWN here, however slow: slowness is DEGRADED and the
 * tier's debounce (and failoverOn) decide whether it is worth a switch.
 */
export function evaluateOlap(s: OlapSample, th: OlapThresholds): OlapVerdict {
  if (!s.ping) return { status: 'DOWN', reasons: ['ping failed'] };
  const reasons: string[] = [];
  const readonly = s.replicas.filter((r) => r.isReadonly).map((r) => r.table);
  if (readonly.length > 0) reasons.push(`readonly replica(s): ${readonly.join(', ')}`);
  for (const r of s.replicas) {
    if (r.absoluteDelaySec > th.maxReplicaDelaySec) reasons.push(`${r.table} replica delay ${r.absoluteDelaySec} s exceeds ${th.maxReplicaDelaySec} s`);
    if (r.queueSize > th.maxQueueSize) reasons.push(`${r.table} replication queue ${r.queueSize} exceeds ${th.maxQueueSize}`);
    if (r.activeReplicas < r.totalReplicas) reasons.push(`${r.table} has ${r.activeReplicas}/${r.totalReplicas} replicas active`);
  }
  if (s.healthQueryMs === undefined) reasons.push(`health query failed or took over ${th.healthQueryTimeoutMs} ms`);
  else if (s.healthQueryMs > th.slowQueryMs) reasons.push(`health query took ${s.healthQueryMs} ms (slow above ${th.slowQueryMs} ms)`);
  if (reasons.length > 0) return { status: 'DEGRADED', reasons };
  return { status: 'OK', reasons: [`ping ok, ${s.replicas.length} replicated table(s) in sync, health query ${s.healthQueryMs} ms`] };
}

export interface ReplicasStatus {
  readonly ok: boolean;
  readonly delays: readonly { readonly table: string; readonly absoluteDelaySec: number }[];
}

/**
 * ClickHouse's /replicas_status. Before v20.3 it answers HTTP 200 even when replicas lag, so the
 * body decides: exactly "Ok." is healthy; otherwise lines "db.table:\tAbsolute delay: N. Relative delay: M."
 */
export function parseReplicasStatus(httpStatus: number, body: string): ReplicasStatus {
  const text = body.trim();
  if (text === 'Ok.') return { ok: httpStatus === 200, delays: [] };
  const delays: { table: string; absoluteDelaySec: number }[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*([^\s:]+):\s*Absolute delay:\s*(\d+)/.exec(line);
    if (m) delays.push({ table: m[1]!, absoluteDelaySec: Number(m[2]) });
  }
  return { ok: false, delays };
}
