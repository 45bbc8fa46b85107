// What switching a pipeline now would lose and replay, from the rooms' replication positions.
//
// Observers sample, per room and partition, the log end and the newest record's timestamp
// (src/ports/position-reader.ts). For a switch from the active room to a target room, per
// partition:
// - the target holds records up to `targetNewest`; the consumer processed up to its watermark.
//   Records in the active room newer than both were neither replicated nor processed: they are
//   what the switch loses. Their span is activeNewest - max(targetNewest, watermark), and their
//   count is read off the active room's recent samples (how far its log end was when its newest
//   record was that old);
// - the consumer restarts in the target at watermark - margin: the replay (duplicate) window is
//   min(watermark, targetNewest) - (watermark - margin).
// A sample too old to trust makes the estimate unknown, never zero: an active room that has died
// is judged by its last sample before it failed, the target by its sample now.

import type { PartitionEstimate } from './data-budget.js';

export interface PartitionSample {
  readonly topic: string;
  readonly partition: number;
  readonly logEnd: number;
  readonly newestTs?: number;
}

export interface RoomSample {
  readonly room: string;
  /** When it was taken, epoch ms. */
  readonly at: number;
  readonly partitions: readonly PartitionSample[];
}

export type DataEstimate =
  | {
      readonly kind: 'known';
      readonly fromRoom: string;
      readonly toRoom: string;
      readonly partitions: readonly PartitionEstimate[];
      /** Age of the samples used, at the time of the estimate (the active one up to its failure). */
      readonly activeSampleAgeMs: number;
      readonly targetSampleAgeMs: number;
    }
  | { readonly kind: 'unknown'; readonly fromRoom: string; readonly toRoom: string; readonly reason: string };

export interface EstimateInput {
  readonly topics: readonly string[];
  /** The active room's good samples, oldest first (a few minutes' worth). */
  readonly activeHistory: readonly RoomSample[];
  readonly activeRoom: string;
  /** The target room's newest good sample. */
  readonly target: RoomSample | undefined;
  readonly targetRoom: string;
  /** Per topic and partition: the consumer group's last processed timestamp. */
  readonly watermarks: ReadonlyMap<string, ReadonlyMap<number, number>>;
  readonly marginMs: number;
  readonly now: number;
  /** A sample older than this is not trusted. */
  readonly maxAgeMs: number;
  /** When the active room started failing (its first bad probe), if it is failing. */
  readonly activeFailingSince?: number;
}

/** At most one sample per `everyMs`, always keeping the newest: what an observer publishes. */
export function thin(history: readonly RoomSample[], everyMs: number): RoomSample[] {
  const out: RoomSample[] = [];
  for (const s of history) {
    const prev = out.at(-1);
    if (!prev || s.at - prev.at >= everyMs) out.push(s);
  }
  const newest = history.at(-1);
  if (newest && out.at(-1) !== newest) out.push(newest);
  return out;
}

/**
 * How a history is thinned as it ages: a sample older than `olderThanMs` (relative to the newest)
 * is kept only if it is at least `everyMs` after the previous sample kept. Sorted by age, youngest
 * first; samples younger than the first tier are all kept.
 */
export interface ThinTier {
  readonly olderThanMs: number;
  readonly everyMs: number;
}

/**
 * What the position tracker keeps: every sample of the last 10 s, one per 500 ms up to a minute
 * (what the published history keeps), one per 5 s beyond. At a 250 ms cadence and 5 minutes that
 * is at most about 40 + 100 + 48 samples per room instead of 1,200.
 */
export const POSITION_TIERS: readonly ThinTier[] = [
  { olderThanMs: 10_000, everyMs: 500 },
  { olderThanMs: 60_000, everyMs: 5000 },
];

/**
 * Keeps a room's samples of the last `keepMs`, oldest first. With `tiers`, older samples are
 * thinned as they age (see ThinTier), so that the history stays bounded whatever the cadence:
 * a count read off it is then within one kept sample's spacing of the full-resolution count.
 */
export function appendSample(history: readonly RoomSample[], sample: RoomSample, keepMs: number, tiers?: readonly ThinTier[]): RoomSample[] {
  const from = sample.at - keepMs;
  const out: RoomSample[] = [];
  for (const s of history) {
    if (s.at < from || s.at >= sample.at) continue;
    if (tiers && tiers.length > 0) {
      const age = sample.at - s.at;
      let every = 0;
      for (const t of tiers) if (age > t.olderThanMs) every = t.everyMs;
      const prev = out.at(-1);
      if (every > 0 && prev && s.at - prev.at < every) continue;
    }
    out.push(s);
  }
  out.push(sample);
  return out;
}

/**
 * Where each partition sits in a sample's list, by topic then partition (in the sample's order).
 * Consecutive samples of a room list the same partitions in the same order, so one layout serves
 * them all: an index per sample cost about 300 bytes per partition and sample (112 MB of the
 * 164 MB a 1,000-partition, 2-room, 5-minute history held; docs/perf/scale.md).
 */
interface Layout {
  readonly topics: readonly string[];
  readonly partitions: readonly number[];
  readonly byKey: ReadonlyMap<string, ReadonlyMap<number, number>>;
}

/**
 * A sample as the position tracker keeps it: the layout shared with the room's other samples, the
 * log ends and newest timestamps in typed arrays (16 bytes per partition instead of an object of
 * about 130). `partitions` builds the objects when asked; the estimate's own loops read the
 * arrays. Serialises as a plain sample.
 */
class PackedSample implements RoomSample {
  constructor(
    readonly room: string,
    readonly at: number,
    readonly layout: Layout,
    readonly ends: Float64Array,
    /** NaN: no newest record known. */
    readonly newest: Float64Array,
  ) {}

  get partitions(): PartitionSample[] {
    return this.layout.topics.map((_, i) => this.entryAt(i));
  }

  entryAt(i: number): PartitionSample {
    const ts = this.newest[i]!;
    return { topic: this.layout.topics[i]!, partition: this.layout.partitions[i]!, logEnd: this.ends[i]!, ...(!Number.isNaN(ts) && { newestTs: ts }) };
  }

  toJSON(): RoomSample {
    return { room: this.room, at: this.at, partitions: this.partitions };
  }
}

const layoutOfSample = new WeakMap<RoomSample, Layout>();
/** The layouts seen lately, most recent first (a few: one per room and topology). */
let recentLayouts: Layout[] = [];
const RECENT_LAYOUTS = 8;

function fits(layout: Layout, partitions: readonly PartitionSample[]): boolean {
  if (layout.topics.length !== partitions.length) return false;
  for (let i = 0; i < partitions.length; i++) {
    const p = partitions[i]!;
    if (layout.partitions[i] !== p.partition || layout.topics[i] !== p.topic) return false;
  }
  return true;
}

function buildLayout(partitions: readonly PartitionSample[]): Layout {
  const byKey = new Map<string, Map<number, number>>();
  partitions.forEach((p, i) => {
    let of = byKey.get(p.topic);
    if (!of) byKey.set(p.topic, (of = new Map()));
    of.set(p.partition, i);
  });
  return { topics: partitions.map((p) => p.topic), partitions: partitions.map((p) => p.partition), byKey };
}

function layoutOf(sample: RoomSample): Layout {
  if (sample instanceof PackedSample) return sample.layout;
  let layout = layoutOfSample.get(sample);
  if (layout) return layout;
  layout = recentLayouts.find((l) => fits(l, sample.partitions)) ?? buildLayout(sample.partitions);
  recentLayouts = [layout, ...recentLayouts.filter((l) => l !== layout)].slice(0, RECENT_LAYOUTS);
  layoutOfSample.set(sample, layout);
  return layout;
}

/** The compact form of a sample (what a history of many partitions should hold). */
export function packSample(sample: RoomSample): RoomSample {
  if (sample instanceof PackedSample) return sample;
  const n = sample.partitions.length;
  const ends = new Float64Array(n);
  const newest = new Float64Array(n);
  sample.partitions.forEach((p, i) => {
    ends[i] = p.logEnd;
    newest[i] = p.newestTs ?? Number.NaN;
  });
  return new PackedSample(sample.room, sample.at, layoutOf(sample), ends, newest);
}

/** Where a partition sits in a sample, if it is there. */
function slotOf(sample: RoomSample, topic: string, partition: number): number | undefined {
  return layoutOf(sample).byKey.get(topic)?.get(partition);
}

function logEndAt(sample: RoomSample, i: number): number {
  return sample instanceof PackedSample ? sample.ends[i]! : sample.partitions[i]!.logEnd;
}

function newestAt(sample: RoomSample, i: number): number | undefined {
  if (!(sample instanceof PackedSample)) return sample.partitions[i]!.newestTs;
  const ts = sample.newest[i]!;
  return Number.isNaN(ts) ? undefined : ts;
}

/** Whether two samples say the same: the same partitions, each at the same log end and newest record. */
export function samePositions(a: RoomSample | undefined, b: RoomSample | undefined): boolean {
  if (!a || !b) return false;
  const la = layoutOf(a);
  if (la !== layoutOf(b)) return false;
  for (let i = 0; i < la.topics.length; i++) if (logEndAt(a, i) !== logEndAt(b, i) || newestAt(a, i) !== newestAt(b, i)) return false;
  return true;
}

/** A sample's partitions of one topic (indexed: no scan of every partition per call). */
export function partitionsOf(sample: RoomSample, topic: string): readonly PartitionSample[] {
  const slots = layoutOf(sample).byKey.get(topic);
  if (!slots) return [];
  const at = [...slots.values()];
  return sample instanceof PackedSample ? at.map((i) => sample.entryAt(i)) : at.map((i) => sample.partitions[i]!);
}

/** A sample's entry for one partition (indexed). */
export function entry(sample: RoomSample, topic: string, partition: number): PartitionSample | undefined {
  const i = slotOf(sample, topic, partition);
  if (i === undefined) return undefined;
  return sample instanceof PackedSample ? sample.entryAt(i) : sample.partitions[i];
}

/**
 * How many records of this partition the active room held with a timestamp above `ts`: its last
 * log end minus its log end at the last sample whose newest record was not above `ts`. When even
 * the oldest sample is newer, the count is a lower bound (`atLeast`).
 */
function recordsAbove(history: readonly RoomSample[], topic: string, partition: number, ts: number): { count: number; atLeast: boolean } {
  let last: number | undefined;
  let base: number | undefined;
  let oldest: number | undefined;
  for (const s of history) {
    const i = slotOf(s, topic, partition);
    if (i === undefined) continue;
    const end = logEndAt(s, i);
    oldest ??= end;
    last = end;
    if ((newestAt(s, i) ?? -Infinity) <= ts) base = end;
  }
  if (last === undefined) return { count: 0, atLeast: false };
  if (base !== undefined) return { count: Math.max(0, last - base), atLeast: false };
  return { count: Math.max(0, last - oldest!), atLeast: true };
}

/** The oldest newest-record timestamp the history holds for a partition. */
function oldestNewest(history: readonly RoomSample[], topic: string, partition: number): number | undefined {
  for (const s of history) {
    const i = slotOf(s, topic, partition);
    const ts = i === undefined ? undefined : newestAt(s, i);
    if (ts !== undefined) return ts;
  }
  return undefined;
}

export function estimateSwitch(input: EstimateInput): DataEstimate {
  const { activeRoom: fromRoom, targetRoom: toRoom } = input;
  const unknown = (reason: string): DataEstimate => ({ kind: 'unknown', fromRoom, toRoom, reason });
  const active = input.activeHistory.at(-1);
  if (!active) return unknown(`no position sample of ${fromRoom} yet`);
  if (!input.target) return unknown(`no position sample of ${toRoom} yet`);
  // A failing room is judged by its last sample before it failed; a healthy one by a fresh one.
  const activeRef = input.activeFailingSince ?? input.now;
  const activeAge = activeRef - active.at;
  if (activeAge > input.maxAgeMs) return unknown(`the last position sample of ${fromRoom} is ${activeAge} ms older than ${input.activeFailingSince !== undefined ? 'its failure' : 'now'} (limit ${input.maxAgeMs} ms)`);
  const targetAge = input.now - input.target.at;
  if (targetAge > input.maxAgeMs) return unknown(`the last position sample of ${toRoom} is ${targetAge} ms old (limit ${input.maxAgeMs} ms)`);

  const partitions: PartitionEstimate[] = [];
  for (const topic of input.topics) {
    for (const a of partitionsOf(active, topic)) {
      const t = entry(input.target, topic, a.partition);
      if (!t) return unknown(`${toRoom} has no partition ${topic}/${a.partition}`);
      const wm = input.watermarks.get(topic)?.get(a.partition);
      const activeNewest = a.newestTs;
      const targetNewest = t.newestTs ?? -Infinity;
      const covered = Math.max(targetNewest, wm ?? -Infinity);
      let unreplicatedMs = 0;
      let unreplicatedRecords = 0;
      let atLeast = false;
      if (activeNewest !== undefined && activeNewest > covered) {
        const above = recordsAbove(input.activeHistory, topic, a.partition, covered);
        unreplicatedRecords = above.count;
        atLeast = above.atLeast;
        // With nothing in the target and no watermark, the span reaches back past every sample.
        const oldestSeen = oldestNewest(input.activeHistory, topic, a.partition);
        unreplicatedMs = Number.isFinite(covered) ? activeNewest - covered : activeNewest - (oldestSeen ?? activeNewest);
        if (!Number.isFinite(covered)) atLeast = true;
      }
      const replayMs = wm === undefined ? 0 : Math.max(0, Math.min(wm, Number.isFinite(targetNewest) ? targetNewest : wm) - (wm - input.marginMs));
      const range = unreplicatedRecords > 0 || unreplicatedMs > 0 ? { lossAfterTs: Number.isFinite(covered) ? covered : 0, lossUpToTs: activeNewest! } : {};
      partitions.push({ topic, partition: a.partition, unreplicatedMs, unreplicatedRecords, ...(atLeast && { atLeast }), replayMs, ...range });
    }
  }
  return { kind: 'known', fromRoom, toRoom, partitions, activeSampleAgeMs: activeAge, targetSampleAgeMs: targetAge };
}

/** One line for logs, plans and records: the sums and the worst partition. */
export function describeEstimate(e: DataEstimate): string {
  if (e.kind === 'unknown') return `data estimate for ${e.fromRoom} -> ${e.toRoom} unknown: ${e.reason}`;
  const records = e.partitions.reduce((n, p) => n + (p.unreplicatedRecords ?? 0), 0);
  const atLeast = e.partitions.some((p) => p.atLeast);
  const worst = e.partitions.reduce<PartitionEstimate | undefined>((w, p) => (!w || p.unreplicatedMs > w.unreplicatedMs ? p : w), undefined);
  const replay = Math.max(0, ...e.partitions.map((p) => p.replayMs));
  const loss = records === 0 ? 'no loss' : `${atLeast ? 'at least ' : ''}${records} record(s) lost (up to ${worst!.unreplicatedMs} ms on ${worst!.topic}/${worst!.partition})`;
  return `switching ${e.fromRoom} -> ${e.toRoom} now: ${loss}, replay up to ${replay} ms (samples ${e.activeSampleAgeMs} / ${e.targetSampleAgeMs} ms old)`;
}

/** What the estimator needs to know about one pipeline's switch now. */
export interface PipelineEstimateInput {
  readonly pipeline: string;
  readonly topics: readonly string[];
  readonly consumerGroup: string;
  readonly activeRoom: string;
  readonly targetRoom: string;
  readonly marginMs: number;
  readonly maxAgeMs: number;
  readonly activeFailingSince?: number;
}

/**
 * Estimates for many pipelines at once: per pipeline, its partition estimates, or the sentence
 * saying why it is unknown (the shape decide() takes).
 */
export function estimatePipelines(
  pipelines: readonly PipelineEstimateInput[],
  histories: ReadonlyMap<string, readonly RoomSample[]>,
  watermarks: ReadonlyMap<string, ReadonlyMap<string, ReadonlyMap<number, number>>>,
  now: number,
): Map<string, readonly PartitionEstimate[] | string> {
  const out = new Map<string, readonly PartitionEstimate[] | string>();
  for (const p of pipelines) {
    const e = estimateSwitch({
      topics: p.topics,
      activeHistory: histories.get(p.activeRoom) ?? [],
      activeRoom: p.activeRoom,
      target: histories.get(p.targetRoom)?.at(-1),
      targetRoom: p.targetRoom,
      watermarks: watermarks.get(p.consumerGroup) ?? new Map(),
      marginMs: p.marginMs,
      now,
      maxAgeMs: p.maxAgeMs,
      ...(p.activeFailingSince !== undefined && { activeFailingSince: p.activeFailingSince }),
    });
    out.set(p.pipeline, e.kind === 'known' ? e.partitions : e.reason);
  }
  return out;
}

/** Records a switch left behind in the room it left: what a backfill copies once that room returns. */
export interface DataGap {
  readonly sourceRoom: string;
  readonly partitions: readonly { readonly topic: string; readonly partition: number; readonly afterTs: number; readonly upToTs: number; readonly records: number }[];
}

/** The gap of a known estimate, if it says anything would be lost. */
export function gapOf(fromRoom: string, partitions: readonly PartitionEstimate[]): DataGap | undefined {
  const lost = partitions.filter((p) => p.lossAfterTs !== undefined && p.lossUpToTs !== undefined && p.lossUpToTs > p.lossAfterTs);
  if (lost.length === 0) return undefined;
  return { sourceRoom: fromRoom, partitions: lost.map((p) => ({ topic: p.topic, partition: p.partition, afterTs: p.lossAfterTs!, upToTs: p.lossUpToTs!, records: p.unreplicatedRecords ?? 0 })) };
}

/**
 * How far behind in time a consumer committed at `committed` is: the newest timestamp of the room
 * now minus the newest timestamp it had when its log end was at `committed` (from the samples).
 * 0 when caught up; undefined when the samples do not reach back that far.
 */
export function timeLagMs(history: readonly RoomSample[], topic: string, partition: number, committed: number): number | undefined {
  const newest = history.at(-1);
  const lastAt = newest && slotOf(newest, topic, partition);
  if (newest === undefined || lastAt === undefined) return undefined;
  if (committed >= logEndAt(newest, lastAt)) return 0;
  let atTs: number | undefined;
  let found = false;
  for (const s of history) {
    const i = slotOf(s, topic, partition);
    if (i !== undefined && logEndAt(s, i) <= committed) {
      found = true;
      atTs = newestAt(s, i);
    }
  }
  const lastTs = newestAt(newest, lastAt);
  if (!found || atTs === undefined || lastTs === undefined) return undefined;
  return Math.max(0, lastTs - atTs);
}
