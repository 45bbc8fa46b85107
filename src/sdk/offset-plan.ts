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

export interface Placement {
  readonly offsets: Map<string, { partition: number; offset: string }[]>;
  /** Per topic and partition: the timestamp it restarts from (rule 1). */
  readonly seekFrom: Record<string, Record<number, number>>;
  /** Per topic and partition: where rule 2 placed it. */
  readonly fallback: Record<string, Record<number, 'committed' | 'earliest'>>;
}

export async function planPlacement(
  admin: Admin,
  route: Route,
  watermarksOf: (topic: string) => Promise<ReadonlyMap<number, number>>,
  marginMs: number,
): Promise<Placement> {
  const placement: Placement = { offsets: new Map(), seekFrom: {}, fallback: {} };
  for (const topic of route.kafka.topics) {
    const marks = await watermarksOf(topic);
    if (marks.size === 0) continue;
    const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
    const partitions = metadata.topics[0]?.partitions.map((p) => p.partitionId) ?? [];
    const placed: { partition: number; offset: string }[] = [];
    const from: Record<number, number> = {};
    const fallback: Record<number, 'committed' | 'earliest'> = {};

    const byTimestamp = new Map<number, number[]>();
    const unmarked: number[] = [];
    for (const p of partitions) {
      const wm = marks.get(p);
      if (wm === undefined) {
        unmarked.push(p);
        continue;
      }
      const ts = Math.max(0, wm - marginMs);
      from[p] = ts;
      byTimestamp.set(ts, [...(byTimestamp.get(ts) ?? []), p]);
    }
    for (const [ts, ps] of byTimestamp) {
      const offsets = await admin.fetchTopicOffsetsByTimestamp(topic, ts);
      for (const o of offsets) if (ps.includes(o.partition)) placed.push({ partition: o.partition, offset: o.offset });
    }
    if (unmarked.length > 0) {
      const committed = (await admin.fetchOffsets({ groupId: route.consumerGroup, topics: [topic] }))[0]?.partitions ?? [];
      const earliest = await admin.fetchTopicOffsets(topic);
      for (const p of unmarked) {
        const c = committed.find((x) => x.partition === p);
        if (c && Number(c.offset) >= 0) {
          placed.push({ partition: p, offset: c.offset });
          fallback[p] = 'committed';
        } else {
          const low = earliest.find((x) => x.partition === p)?.low ?? '0';
          placed.push({ partition: p, offset: low });
          fallback[p] = 'earliest';
        }
      }
    }
    placement.offsets.set(topic, placed);
    placement.seekFrom[topic] = from;
    if (unmarked.length > 0) placement.fallback[topic] = fallback;
  }
  return placement;
}
