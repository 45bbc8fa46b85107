// Source-side rate caps: the arithmetic, pure.
//
// A stress test finds the largest inbound rate a pipeline's job takes while it still passes
// (input latency, no back-pressure, CPU under the limit, results as expected): its baseline, per
// room. The cap is that rate times the tier's headroom, split over the source's tasks or
// partitions so that the parts add up to the cap exactly. When traffic exceeds the cap, the
// source reads at the cap and lag builds instead of the job falling over; once the flood ends,
// the lag drains at (cap - inbound), which gives the recovery ETA.

import { partitionsOf, type RoomSample } from './data-estimate.js';
import type { Topology } from './model.js';

/** A stress-test baseline, compiled from its file (see config/schema.ts baselineSchema). */
export interface Baseline {
  readonly file: string;
  readonly pipeline: string;
  readonly room: string;
  readonly job?: string;
  /** Records/s the job took while every criterion passed. */
  readonly ratePerSecond: number;
  readonly tasks: number;
  /** Mean size of one record in the log, bytes: a cap in records/s times this is a broker quota's byte rate. */
  readonly meanRecordBytes?: number;
  readonly measuredAt: number;
  readonly measuredBy: string;
  readonly criteria: {
    readonly inputLatencyMs: { readonly limit: number; readonly measured: number };
    readonly backpressureRatio: { readonly limit: number; readonly measured: number };
    readonly cpuRatio: { readonly limit: number; readonly measured: number };
    readonly results: { readonly expected: number; readonly measured: number };
  };
}

/**
 * Why a baseline is refused, or "": one whose criteria did not all pass proves nothing, and one
 * older than the tier allows no longer describes the job that runs now.
 */
export function baselineProblem(b: Baseline, maxAgeMs: number, now: number): string {
  const c = b.criteria;
  if (c.inputLatencyMs.measured > c.inputLatencyMs.limit) return `input latency ${c.inputLatencyMs.measured} ms is over its limit ${c.inputLatencyMs.limit} ms: the stress test did not pass`;
  if (c.backpressureRatio.measured > c.backpressureRatio.limit) return `back-pressure ${c.backpressureRatio.measured} is over its limit ${c.backpressureRatio.limit}: the stress test did not pass`;
  if (c.cpuRatio.measured > c.cpuRatio.limit) return `CPU ${c.cpuRatio.measured} is over its limit ${c.cpuRatio.limit}: the stress test did not pass`;
  if (c.results.measured !== c.results.expected) return `${c.results.measured} output records, not the ${c.results.expected} expected: the stress test did not pass`;
  const age = now - b.measuredAt;
  if (age > maxAgeMs) return `measured ${Math.floor(age / 86_400_000)} days ago, older than the tier allows (${Math.floor(maxAgeMs / 86_400_000)} days): run the stress test again`;
  if (age < -60_000) return `measured in the future (${new Date(b.measuredAt).toISOString()}): check the date`;
  return '';
}

/** A pipeline's cap as the leader stores it (one per pipeline, for the room it is served from). */
export interface CapRecord {
  readonly pipeline: string;
  /** Grows by one per write (fenced compare-and-set, like routes). */
  readonly epoch: number;
  /** The serving room this cap was computed for: after a failover, that room's own baseline applies. */
  readonly room: string;
  /** Records per second the pipeline's source may read in all (over every partition and task). */
  readonly recordsPerSecond: number;
  /** Shed: the source reads nothing until capacity returns (recordsPerSecond is then 0). */
  readonly paused: boolean;
  /**
   * Where the number comes from. 'uncapped': a pipeline that had a cap and no longer has one (its
   * baseline was removed or refused, an override expired): the source reads freely, and
   * recordsPerSecond means nothing. (Records are never deleted, so that epochs keep rising.)
   */
  readonly origin: 'baseline' | 'override' | 'shed' | 'uncapped';
  /** One sentence: the baseline and headroom, the override and who set it, or why it was shed. */
  readonly reason: string;
  /** When this value was written (epoch ms). */
  readonly since: number;
}

/** How far back a pipeline's inbound rate is measured (its room's sampled log ends). */
export const INBOUND_WINDOW_MS = 5000;

/** Whether a stored cap already says what is wanted (the reason's wording alone does not count). */
export function sameCap(stored: CapRecord | undefined, wanted: DesiredCap | undefined): boolean {
  if (!stored || stored.origin === 'uncapped') return wanted === undefined || wanted.origin === 'uncapped';
  return wanted !== undefined && stored.room === wanted.room && stored.recordsPerSecond === wanted.recordsPerSecond && stored.paused === wanted.paused && stored.origin === wanted.origin;
}

/** The cap for a baseline rate and a tier's headroom: whole records per second, rounded down. */
export function capOf(baselineRate: number, headroom: number): number {
  return Math.max(0, Math.floor(baselineRate * headroom));
}

/**
 * Splits `total` over `parts` whole shares that add up to `total` exactly: each gets
 * floor(total / parts), and the first (total mod parts) get one more.
 * 10,000 over 4 tasks is 2,500 each; 10,001 over 4 is 2,501, 2,500, 2,500, 2,500.
 */
export function splitCap(total: number, parts: number): number[] {
  if (!Number.isSafeInteger(parts) || parts <= 0) return [];
  const whole = Math.max(0, Math.floor(total));
  const base = Math.floor(whole / parts);
  const extra = whole - base * parts;
  return Array.from({ length: parts }, (_, i) => base + (i < extra ? 1 : 0));
}

/** How long a lag takes to drain, or why it does not. */
export type RecoveryEta =
  | { readonly kind: 'caught-up' }
  | { readonly kind: 'recovering'; readonly etaMs: number }
  | { readonly kind: 'not-recovering'; readonly reason: string };

/**
 * ETA = lag / (cap - inbound rate). A source reading at its cap drains the lag by what the cap
 * leaves over the inbound rate; when inbound >= cap, the lag only grows.
 */
export function recoveryEta(lagRecords: number, capPerSecond: number, inboundPerSecond: number): RecoveryEta {
  if (lagRecords <= 0) return { kind: 'caught-up' };
  const drain = capPerSecond - inboundPerSecond;
  if (drain <= 0) {
    return { kind: 'not-recovering', reason: `inbound ${Math.round(inboundPerSecond)}/s is at or above the cap ${Math.round(capPerSecond)}/s` };
  }
  return { kind: 'recovering', etaMs: Math.ceil((lagRecords / drain) * 1000) };
}

/** An operator's temporary cap (`switchyard caps set`), in force until it expires. */
export interface CapOverride {
  readonly pipeline: string;
  readonly recordsPerSecond: number;
  readonly reason: string;
  readonly by: string;
  readonly at: number;
  /** When it stops applying (epoch ms); undefined: until removed. */
  readonly until?: number;
}

/** What the leader wants stored for a pipeline (a CapRecord without its epoch and time). */
export type DesiredCap = Omit<CapRecord, 'epoch' | 'since'>;

export type CapRule = 'uncapped' | 'capped' | 'override' | 'shed' | 'baseline-refused';

/** One pipeline's cap this tick, in words and numbers, with its recovery ETA. */
export interface CapVerdict {
  readonly pipeline: string;
  readonly room: string;
  readonly rule: CapRule;
  /** The cap in force, records/s (undefined: uncapped). */
  readonly cap: number | undefined;
  readonly inbound: number | undefined;
  readonly lag: number | undefined;
  readonly eta: RecoveryEta | undefined;
  /** The ETA is past the tier's recovery objective (or the lag is not draining at all). */
  readonly alert: boolean;
  readonly reason: string;
}

export interface CapInputs {
  readonly now: number;
  /** Each pipeline's serving room (its route); undefined: not routed yet, nothing to cap. */
  readonly routes: ReadonlyMap<string, { readonly room: string } | undefined>;
  readonly overrides?: ReadonlyMap<string, CapOverride>;
  /** Inbound rate per pipeline in its serving room, records/s, when known. */
  readonly inbound?: ReadonlyMap<string, number>;
  /** Consumer lag per pipeline, records, when known. */
  readonly lag?: ReadonlyMap<string, number>;
  /**
   * Pipelines shed now, and in which room (from the stored caps: see shedOf): they stay shed until
   * that room has room for them again. A pipeline shed in another room than it is served from now
   * counts as not shed: its new room decides afresh.
   */
  readonly shed?: ReadonlyMap<string, string>;
}

export interface CapPlan {
  readonly caps: ReadonlyMap<string, DesiredCap>;
  readonly verdicts: readonly CapVerdict[];
  readonly shed: ReadonlySet<string>;
  /** One sentence per shedding step taken this tick (shed or resumed), for the log and history. */
  readonly steps: readonly string[];
}

/** The pipelines the stored caps shed, with the room each is shed in (the input planCaps wants). */
export function shedOf(stored: Iterable<Pick<CapRecord, 'pipeline' | 'room' | 'origin'>>): Map<string, string> {
  const out = new Map<string, string>();
  for (const c of stored) if (c.origin === 'shed') out.set(c.pipeline, c.room);
  return out;
}

/** A shed tier comes back only when the room, with it, would be at most this full (no flapping). */
export const RESUME_AT = 0.9;


/**
 * Every routed pipeline's cap for its serving room: its baseline there times its tier's headroom,
 * unless an operator's override is in force; and, where a room's capacity falls short of what the
 * pipelines served there take in, low tiers shed (paused) in their policies' shed order, P3 first,
 * never P0/P1 (shedOrder 0). A shed tier resumes once the room has room for it with a margin.
 */
export function planCaps(topology: Topology, input: CapInputs): CapPlan {
  const { now } = input;
  const caps = new Map<string, DesiredCap>();
  const base = new Map<string, { cap: number | undefined; rule: CapRule; reason: string }>();
  for (const [name, route] of input.routes) {
    const p = topology.pipelines.get(name);
    const policy = p && topology.policies.get(p.tier);
    if (!route || !p || !policy) continue;
    const override = input.overrides?.get(name);
    if (override && (override.until === undefined || override.until > now)) {
      const until = override.until === undefined ? '' : ` until ${new Date(override.until).toISOString()}`;
      base.set(name, { cap: override.recordsPerSecond, rule: 'override', reason: `override by ${override.by}${until}: ${override.reason}` });
      continue;
    }
    const baseline = topology.baselines?.get(name)?.get(route.room);
    if (!baseline) {
      base.set(name, { cap: undefined, rule: 'uncapped', reason: `no baseline for ${name} in ${route.room}: uncapped` });
      continue;
    }
    const refused = baselineProblem(baseline, policy.baselineMaxAgeMs, now);
    if (refused) {
      base.set(name, { cap: undefined, rule: 'baseline-refused', reason: `baseline ${baseline.file} refused: ${refused}; uncapped` });
      continue;
    }
    const cap = capOf(baseline.ratePerSecond, policy.capHeadroom);
    base.set(name, { cap, rule: 'capped', reason: `${baseline.ratePerSecond}/s passed in ${route.room} (${baseline.file}) x headroom ${policy.capHeadroom} = ${cap}/s` });
  }

  const { shed, steps } = shedding(topology, input, base);
  const verdicts: CapVerdict[] = [];
  for (const [name, b] of base) {
    const p = topology.pipelines.get(name)!;
    const policy = topology.policies.get(p.tier)!;
    const room = input.routes.get(name)!.room;
    const isShed = shed.has(name);
    const cap = isShed ? 0 : b.cap;
    if (isShed) caps.set(name, { pipeline: name, room, recordsPerSecond: 0, paused: true, origin: 'shed', reason: `shed: ${room} is short of capacity; tier ${p.tier} is shed in order ${policy.shedOrder}` });
    else if (b.cap !== undefined) caps.set(name, { pipeline: name, room, recordsPerSecond: b.cap, paused: false, origin: b.rule === 'override' ? 'override' : 'baseline', reason: b.reason });
    const inbound = input.inbound?.get(name);
    const lag = input.lag?.get(name);
    const eta = cap !== undefined && !isShed && lag !== undefined && inbound !== undefined ? recoveryEta(lag, cap, inbound) : undefined;
    const alert = eta !== undefined && (eta.kind === 'not-recovering' || (eta.kind === 'recovering' && eta.etaMs > policy.recoveryObjectiveMs));
    const etaText =
      eta === undefined ? '' : eta.kind === 'caught-up' ? '; caught up' : eta.kind === 'recovering' ? `; lag ${lag} drains in ${Math.round(eta.etaMs / 1000)} s` : `; lag ${lag} is not draining: ${eta.reason}`;
    const over = alert ? ` (past the ${Math.round(policy.recoveryObjectiveMs / 1000)} s recovery objective of ${p.tier})` : '';
    verdicts.push({
      pipeline: name,
      room,
      rule: isShed ? 'shed' : b.rule,
      cap,
      inbound,
      lag,
      eta,
      alert,
      reason: `${isShed ? caps.get(name)!.reason : b.reason}${etaText}${over}`,
    });
  }
  return { caps, verdicts, shed, steps };
}

function shedding(topology: Topology, input: CapInputs, base: ReadonlyMap<string, { cap: number | undefined }>): { shed: Set<string>; steps: string[] } {
  const shed = new Set<string>();
  const steps: string[] = [];
  const served = new Map<string, string[]>();
  for (const name of base.keys()) {
    const room = input.routes.get(name)!.room;
    served.set(room, [...(served.get(room) ?? []), name]);
  }
  for (const [room, names] of served) {
    const capacity = topology.rooms.get(room)?.capacity?.recordsPerSecond;
    if (capacity === undefined) continue;
    // What a pipeline's job takes in: its inbound rate, but no more than its cap (a capped source
    // reads at the cap, the rest waits as lag); not yet measured: its cap.
    const demand = (n: string) => {
      const cap = base.get(n)?.cap;
      const inbound = input.inbound?.get(n);
      return inbound === undefined ? (cap ?? 0) : cap === undefined ? inbound : Math.min(inbound, cap);
    };
    const orderOf = (n: string) => topology.policies.get(topology.pipelines.get(n)!.tier)!.shedOrder;
    const orders = [...new Set(names.map(orderOf).filter((o) => o > 0))].sort((a, b) => a - b);
    const group = (o: number) => names.filter((n) => orderOf(n) === o);
    const groupDemand = (o: number) => group(o).reduce((s, n) => s + demand(n), 0);
    const wasShed = new Set(orders.filter((o) => group(o).some((n) => input.shed?.get(n) === room)));
    let load = names.filter((n) => !wasShed.has(orderOf(n))).reduce((s, n) => s + demand(n), 0);
    const shedNow = new Set(wasShed);
    for (const o of orders) {
      if (load <= capacity) break;
      if (shedNow.has(o)) continue;
      shedNow.add(o);
      load -= groupDemand(o);
      steps.push(`shed ${group(o).join(', ')} (shed order ${o}) in ${room}: the pipelines served there take in more than its capacity ${capacity}/s`);
    }
    // Resume the last shed first, each only with room to spare.
    for (const o of [...shedNow].sort((a, b) => b - a)) {
      if (!wasShed.has(o)) continue;
      const need = groupDemand(o);
      if (load + need > capacity * RESUME_AT) break;
      shedNow.delete(o);
      load += need;
      steps.push(`resumed ${group(o).join(', ')} (shed order ${o}) in ${room}: ${Math.round(load)}/s of its capacity ${capacity}/s is taken with them`);
    }
    for (const o of shedNow) for (const n of group(o)) shed.add(n);
  }
  return { shed, steps };
}

/**
 * Records per second arriving in a room's topics, from its position history (log ends over time):
 * the newest sample against the newest one at least `windowMs` older. Undefined until the history
 * reaches that far back, or when a partition's log end went backwards (the topic was re-created).
 */
export function inboundRate(history: readonly RoomSample[], topics: readonly string[], windowMs: number): number | undefined {
  const last = history.at(-1);
  if (!last) return undefined;
  let first: RoomSample | undefined;
  for (let i = history.length - 2; i >= 0; i--) {
    if (last.at - history[i]!.at >= windowMs) {
      first = history[i];
      break;
    }
  }
  if (!first) return undefined;
  const ends = (s: RoomSample) => {
    const m = new Map<string, number>();
    for (const topic of topics) for (const p of partitionsOf(s, topic)) m.set(`${p.topic}/${p.partition}`, p.logEnd);
    return m;
  };
  const before = ends(first);
  let records = 0;
  for (const [key, end] of ends(last)) {
    const start = before.get(key);
    if (start === undefined) continue;
    if (end < start) return undefined;
    records += end - start;
  }
  return (records * 1000) / (last.at - first.at);
}

/** A quota'd consumer's position, summed over its partitions, at one moment. */
export interface QuotaSample {
  readonly at: number;
  /** What its group has committed. */
  readonly committed: number;
  /** The log ends of the same partitions. */
  readonly logEnd: number;
}

/** How far one correction step may move the factor, and the factor's bounds. */
const CORRECTION_STEP = 0.1;
const CORRECTION_MIN = 0.5;
const CORRECTION_MAX = 2;
/** Rates this close to the cap are left alone: committed offsets move in steps (commits, throttles). */
export const CORRECTION_DEADBAND = 0.02;
/**
 * Once a rate was seen within the deadband, only a larger error moves the factor again: the rate
 * measured over a window swings by a few percent with the throttle cycles, and chasing that swing
 * made the factor oscillate (each change a transient of its own). Still inside the 5 % promised.
 */
export const SETTLED_DEADBAND = 0.04;

/** The least-squares slope of committed offsets over time, per second: steadier than two end points. */
function slopePerSecond(samples: readonly QuotaSample[]): number {
  const n = samples.length;
  const mt = samples.reduce((s, x) => s + x.at, 0) / n;
  const mc = samples.reduce((s, x) => s + x.committed, 0) / n;
  let num = 0;
  let den = 0;
  for (const x of samples) {
    num += (x.at - mt) * (x.committed - mc);
    den += (x.at - mt) ** 2;
  }
  return den === 0 ? 0 : (num / den) * 1000;
}

/**
 * The factor a broker quota's byte rate (cap x mean record size) is multiplied by so that the
 * consumer reads at its cap. Brokers throttle fetch by fetch and count bytes, not records: a
 * consumer held by a quota reads a few percent under it (ADR 0011), and record sizes drift. While
 * the consumer has a backlog over the whole window (it is held by the quota, not starved of
 * input), its read rate should be the cap. The rate is the least-squares slope of its committed
 * offsets over the window (a group commits in steps, and not while it is throttled, so two end
 * points can be off by a commit's worth); within `deadband` (2 %, or SETTLED_DEADBAND once it was
 * within) of the cap the factor stays; otherwise it moves
 * half-way toward prev x cap / rate, at most 10 % a step, within [0.5, 2]. Without a whole window of
 * backlog it stays as it is.
 */
export function quotaCorrection(prev: number, cap: number, samples: readonly QuotaSample[], windowMs: number, deadband = CORRECTION_DEADBAND): { readonly factor: number; readonly rate?: number; readonly why: string } {
  const last = samples.at(-1);
  if (!last || cap <= 0) return { factor: prev, why: 'no samples' };
  let first: QuotaSample | undefined;
  for (let i = samples.length - 2; i >= 0; i--) {
    if (last.at - samples[i]!.at >= windowMs) {
      first = samples[i];
      break;
    }
  }
  if (!first) return { factor: prev, why: `less than ${windowMs} ms of samples` };
  const inWindow = samples.filter((s) => s.at >= first!.at);
  if (inWindow.some((s) => s.logEnd - s.committed < cap)) return { factor: prev, why: 'no backlog of a second at the cap all through the window: the consumer is not held by its quota' };
  const rate = slopePerSecond(inWindow);
  if (rate <= 0) return { factor: prev, rate, why: 'no progress in the window' };
  if (Math.abs(rate - cap) <= cap * deadband) return { factor: prev, rate, why: `read ${rate.toFixed(1)}/s, within ${Math.round(deadband * 100)} % of the cap ${cap}/s` };
  const wanted = prev * (1 + (cap / rate - 1) / 2);
  const factor = Math.min(CORRECTION_MAX, Math.max(CORRECTION_MIN, Math.min(prev * (1 + CORRECTION_STEP), Math.max(prev * (1 - CORRECTION_STEP), wanted))));
  return { factor, rate, why: `read ${rate.toFixed(1)}/s against a cap of ${cap}/s` };
}
