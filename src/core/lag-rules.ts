// Consumer-group lag over a sliding window, judged with Burrow's evaluation rules (as the Burrow
// project documents them). A point reading of lag says little: what matters is whether the group
// keeps committing and whether lag keeps growing. Note: Flink's Kafka source commits only on
// checkpoints, so a Flink job's group lag is a sawtooth; give such groups a window spanning at
// least two checkpoint intervals.

import type { HealthStatus } from './health.js';

export interface LagSample {
  readonly at: number;
  /** The group's committed offset. */
  readonly offset: number;
  /** The partition's log-end offset (high watermark). */
  readonly endOffset: number;
}

export type LagRule = 'OK' | 'WARN' | 'STOP' | 'STALL' | 'REWIND' | 'UNKNOWN';

export interface PartitionLag {
  readonly rule: LagRule;
  readonly lag: number;
  readonly reason: string;
}

const lagOf = (s: LagSample) => Math.max(0, s.endOffset - s.offset);

/** Adds a sample to a bounded window (oldest first); a sample not newer than the last is ignored. */
export function appendSample(window: readonly LagSample[], sample: LagSample, maxSamples: number): LagSample[] {
  const last = window[window.length - 1];
  if (last && sample.at <= last.at) return [...window];
  return [...window, sample].slice(-maxSamples);
}

/** Burrow's rules, in order. */
export function evaluatePartitionLag(window: readonly LagSample[], now: number): PartitionLag {
  const first = window[0];
  const last = window[window.length - 1];
  if (!first || !last || window.length < 2) return { rule: 'UNKNOWN', lag: last ? lagOf(last) : 0, reason: `only ${window.length} sample(s) in the window; need 2` };
  const lag = lagOf(last);
  for (let i = 1; i < window.length; i++) {
    if (window[i]!.offset < window[i - 1]!.offset) {
      return { rule: 'REWIND', lag, reason: `committed offset went back from ${window[i - 1]!.offset} to ${window[i]!.offset}` };
    }
  }
  if (window.some((s) => lagOf(s) === 0)) return { rule: 'OK', lag, reason: 'lag was zero within the window' };
  if (now - last.at > last.at - first.at) {
    return { rule: 'STOP', lag, reason: `no commit for ${now - last.at} ms, longer than the window's span ${last.at - first.at} ms` };
  }
  const lags = window.map(lagOf);
  if (first.offset === last.offset && lags.every((l, i) => i === 0 || l >= lags[i - 1]!)) {
    return { rule: 'STALL', lag, reason: `committed offset stuck at ${last.offset} while lag is ${lags[0]} -> ${lag}` };
  }
  if (lags.every((l, i) => i === 0 || l > lags[i - 1]!)) {
    return { rule: 'WARN', lag, reason: `lag grew in every interval: ${lags[0]} -> ${lag} over ${window.length} samples` };
  }
  return { rule: 'OK', lag, reason: `consuming; lag ${lag}` };
}

const STATUS: Record<LagRule, HealthStatus> = { OK: 'OK', WARN: 'DEGRADED', REWIND: 'DEGRADED', UNKNOWN: 'UNKNOWN', STALL: 'DOWN', STOP: 'DOWN' };
// UNKNOWN ranks below DOWN: a partition we cannot judge must not outvote one we know is stuck.
const RANK: Record<HealthStatus, number> = { OK: 0, DEGRADED: 1, UNKNOWN: 2, DOWN: 3 };

export interface GroupLag {
  readonly status: HealthStatus;
  readonly rule: LagRule;
  readonly totalLag: number;
  readonly reasons: readonly string[];
  readonly partitions: ReadonlyMap<number, PartitionLag>;
}

export function evaluateGroupLag(partitions: ReadonlyMap<number, readonly LagSample[]>, now: number): GroupLag {
  const results = new Map<number, PartitionLag>();
  let worst: { status: HealthStatus; rule: LagRule } = { status: 'OK', rule: 'OK' };
  let totalLag = 0;
  const reasons: string[] = [];
  for (const [p, window] of [...partitions].sort((a, b) => a[0] - b[0])) {
    const r = evaluatePartitionLag(window, now);
    results.set(p, r);
    totalLag += r.lag;
    const status = STATUS[r.rule];
    if (status !== 'OK') reasons.push(`partition ${p} ${r.rule}: ${r.reason}`);
    if (RANK[status] > RANK[worst.status]) worst = { status, rule: r.rule };
  }
  if (partitions.size === 0) return { status: 'UNKNOWN', rule: 'UNKNOWN', totalLag: 0, reasons: ['no partitions observed'], partitions: results };
  return { ...worst, totalLag, reasons: reasons.length > 0 ? reasons : [`all ${partitions.size} partitions consuming; total lag ${totalLag}`], partitions: results };
}
