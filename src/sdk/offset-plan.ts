// Where a consumer group starts in the room it is about to read from.
//
// The rule, per partition (ADR 0007):
// 1. A watermark exists (the group processed this partition before, in any room): start at the
//    first record with Kafka timestamp >= watermark - margin. The watermark wins over committed
//    offsets, which may be left from an earlier stint in this room (last week's drill) and would
//    replay far more than the margin, or, aged out of retention, skip records.
// 2. No watermark, but the group has watermarks on other partitions of the topic (it has consumed
//    before; this partition lagged, its owner crashed before a flush, or it is new): the group's
//    committed offset in this room if it has one (records before it were processed here), else the
//    earliest offset. Neither can skip a record; the earliest may replay a lot, once.
// 3. No watermark for the topic at all (the group never consumed): committed offsets, else the
//    application's `fromBeginning` choice, as any Kafka consumer would.

import type { Admin } from 'kafkajs';
import type { Route } from '../core/model.js';
import type { OffsetsByTime } from '../adapters/kafka/offsets-by-time.js';

export interface Placement {
  readonly offsets: Map<string, { partition: number; offset: string }[]>;
  /** Per topic and partition: the timestamp it restarts from (rule 1). */
  readonly seekFrom: Record<string, Record<number, number>>;
  /** Per topic and partition: where rule 2 placed it. */
  readonly fallback: Record<string, Record<number, 'committed' | 'earliest'>>;
}

/** A topic's partitions and their leaders, as a metadata read answered them. */
export interface TopicLayout {
  readonly partitions: readonly number[];
  readonly leaders: ReadonlyMap<number, number>;
}

/** Layouts by topic from a kafkajs metadata answer. */
export function layoutOf(topics: readonly { name: string; partitions: readonly { partitionId: number; leader: number }[] }[]): Map<string, TopicLayout> {
  return new Map(topics.map((t) => [t.name, { partitions: t.partitions.map((p) => p.partitionId), leaders: new Map(t.partitions.map((p) => [p.partitionId, p.leader])) }]));
}

/**
 * Plans every topic of the route at once. With `offsetsByTime` (per leader, the log ends, then
 * each partition's own timestamp), rule 1 costs two round trips per topic; without it, or when it
 * fails, kafkajs' admin is asked once per distinct timestamp, all at once.
 *
 * `known`: the topics' layouts as the caller last read them (a standby member reads them when it
 * joins). The log ends are then asked beside the etcd read of the watermarks, and no metadata is
 * read. A layout that lacks a partition the watermarks name is read again; a moved leader fails
 * the lookup, and the admin's own calls (which refresh metadata) answer instead.
 */
export async function planPlacement(
  admin: Admin,
  route: Route,
  watermarksOf: (topic: string) => Promise<ReadonlyMap<number, number>>,
  marginMs: number,
  offsetsByTime?: OffsetsByTime,
  known?: ReadonlyMap<string, TopicLayout>,
): Promise<Placement> {
  const placement: Placement = { offsets: new Map(), seekFrom: {}, fallback: {} };
  const planned = await Promise.all(route.kafka.topics.map((topic) => planTopic(admin, route.consumerGroup, topic, watermarksOf, marginMs, offsetsByTime, known?.get(topic))));
  route.kafka.topics.forEach((topic, i) => {
    const t = planned[i];
    if (!t) return;
    placement.offsets.set(topic, t.placed);
    placement.seekFrom[topic] = t.from;
    if (Object.keys(t.fallback).length > 0) placement.fallback[topic] = t.fallback;
  });
  return placement;
}

async function planTopic(
  admin: Admin,
  group: string,
  topic: string,
  watermarksOf: (topic: string) => Promise<ReadonlyMap<number, number>>,
  marginMs: number,
  offsetsByTime: OffsetsByTime | undefined,
  known: TopicLayout | undefined,
): Promise<{ placed: { partition: number; offset: string }[]; from: Record<number, number>; fallback: Record<number, 'committed' | 'earliest'> } | undefined> {
  // With a known layout, the log ends are asked now, beside the watermark read; without one, the
  // metadata is (a wasted round trip for a topic with no watermark: nothing to place then).
  let lookup = known && offsetsByTime?.(topic, known.leaders);
  const readLayout = () =>
    admin.fetchTopicMetadata({ topics: [topic] }).then(
      (m) => ({ layout: layoutOf(m.topics).get(topic) ?? { partitions: [], leaders: new Map<number, number>() } }),
      (err: Error) => ({ err }),
    );
  const [marks, read] = await Promise.all([watermarksOf(topic), known ? undefined : readLayout()]);
  if (marks.size === 0) return undefined;
  let layout = known;
  if (layout && [...marks.keys()].some((p) => !layout!.leaders.has(p))) layout = undefined;
  if (!layout) {
    const fresh = read ?? (await readLayout());
    if ('err' in fresh) throw fresh.err;
    layout = fresh.layout;
    lookup = offsetsByTime?.(topic, layout.leaders);
  }
  const { partitions } = layout;
  const placed: { partition: number; offset: string }[] = [];
  const from: Record<number, number> = {};
  const fallback: Record<number, 'committed' | 'earliest'> = {};

  const timestamps = new Map<number, number>();
  const unmarked: number[] = [];
  for (const p of partitions) {
    const wm = marks.get(p);
    if (wm === undefined) {
      unmarked.push(p);
      continue;
    }
    const ts = Math.max(0, wm - marginMs);
    from[p] = ts;
    timestamps.set(p, ts);
  }
  const byTimestamp = async (): Promise<Map<number, string>> => {
    if (lookup) {
      try {
        return await lookup.at(timestamps);
      } catch {
        // A moved leader, say: kafkajs' admin refreshes its metadata and retries.
      }
    }
    const groups = new Map<number, number[]>();
    for (const [p, ts] of timestamps) groups.set(ts, [...(groups.get(ts) ?? []), p]);
    const out = new Map<number, string>();
    await Promise.all(
      [...groups].map(async ([ts, ps]) => {
        for (const o of await admin.fetchTopicOffsetsByTimestamp(topic, ts)) if (ps.includes(o.partition)) out.set(o.partition, o.offset);
      }),
    );
    return out;
  };
  const unmarkedPlaces = async (): Promise<void> => {
    if (unmarked.length === 0) return;
    // The log starts come with the lookup's log ends (already asked); the admin's call if it failed.
    const byAdmin = async () => new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, o.low]));
    const [committedAll, starts] = await Promise.all([admin.fetchOffsets({ groupId: group, topics: [topic] }), lookup ? lookup.starts().catch(byAdmin) : byAdmin()]);
    const committed = committedAll[0]?.partitions ?? [];
    for (const p of unmarked) {
      const c = committed.find((x) => x.partition === p);
      if (c && Number(c.offset) >= 0) {
        placed.push({ partition: p, offset: c.offset });
        fallback[p] = 'committed';
      } else {
        placed.push({ partition: p, offset: starts.get(p) ?? '0' });
        fallback[p] = 'earliest';
      }
    }
  };
  const [found] = await Promise.all([timestamps.size > 0 ? byTimestamp() : Promise.resolve(new Map<number, string>()), unmarkedPlaces()]);
  const byTime = [...timestamps.keys()].flatMap((partition) => {
    const offset = found.get(partition);
    return offset === undefined ? [] : [{ partition, offset }];
  });
  return { placed: [...byTime, ...placed], from, fallback };
}
