import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { appendSample, describeEstimate, estimateSwitch, packSample, partitionsOf, POSITION_TIERS, samePositions, timeLagMs, type RoomSample } from '../../src/core/data-estimate.js';
import { dataBudgetGate } from '../../src/core/data-budget.js';

// A producer writing 100 records/s to partition 0 of 't' with event time = wall time; room-a is
// sampled every 250 ms. Room-b stopped receiving at `cut`.
function history(from: number, to: number, cutForB?: number): { a: RoomSample[]; b: RoomSample } {
  let a: RoomSample[] = [];
  for (let at = from; at <= to; at += 250) {
    const n = Math.floor((at - from) / 10);
    a = appendSample(a, { room: 'room-a', at, partitions: [{ topic: 't', partition: 0, logEnd: n, newestTs: from + n * 10 - 10 }] }, 300_000);
  }
  const bEnd = cutForB === undefined ? to : cutForB;
  const nb = Math.floor((bEnd - from) / 10);
  return { a, b: { room: 'room-b', at: to, partitions: [{ topic: 't', partition: 0, logEnd: nb, newestTs: from + nb * 10 - 10 }] } };
}

const base = { topics: ['t'], activeRoom: 'room-a', targetRoom: 'room-b', marginMs: 2000, maxAgeMs: 1000 };

describe('data estimate: what a switch now would lose and replay', () => {
  it('in sync: no loss; the replay window is the margin', () => {
    const { a, b } = history(0, 60_000);
    const e = estimateSwitch({ ...base, activeHistory: a, target: b, watermarks: new Map([['t', new Map([[0, 59_000]])]]), now: 60_000 });
    expect(e).toMatchObject({ kind: 'known', partitions: [{ topic: 't', partition: 0, unreplicatedMs: 0, unreplicatedRecords: 0, replayMs: 2000 }] });
  });

  it('the standby cut off 20 s before the active room died, the consumer 3 s behind: 20 s and ~2,000 records lost', () => {
    const { a, b } = history(0, 60_000, 40_000);
    const e = estimateSwitch({ ...base, activeHistory: a, target: b, watermarks: new Map([['t', new Map([[0, 37_000]])]]), now: 60_700, activeFailingSince: 60_100 });
    expect(e.kind).toBe('known');
    if (e.kind !== 'known') return;
    const [p] = e.partitions;
    // The target's newest record (39,990) is ahead of the watermark: what lies past it is lost.
    expect(p!.unreplicatedMs).toBe(20_000);
    // 100 records/s over 20 s, read off 250 ms samples: within one sample's worth (25 records).
    expect(Math.abs(p!.unreplicatedRecords! - 2000)).toBeLessThanOrEqual(25);
    expect(describeEstimate(e)).toMatch(/^switching room-a -> room-b now: \d+ record\(s\) lost \(up to 20000 ms on t\/0\)/);
  });

  it('a consumer ahead of the standby loses only what it has not processed', () => {
    const { a, b } = history(0, 60_000, 40_000);
    const e = estimateSwitch({ ...base, activeHistory: a, target: b, watermarks: new Map([['t', new Map([[0, 55_000]])]]), now: 60_000 });
    if (e.kind !== 'known') throw new Error('expected an estimate');
    expect(e.partitions[0]!.unreplicatedMs).toBe(5_000 - 10);
  });

  it('a stale sample makes the estimate unknown, never zero', () => {
    const { a, b } = history(0, 60_000);
    // The active room's last sample is 3 s older than its failure.
    expect(estimateSwitch({ ...base, activeHistory: a, target: b, watermarks: new Map(), now: 64_000, activeFailingSince: 63_000 })).toMatchObject({
      kind: 'unknown',
      reason: 'the last position sample of room-a is 3000 ms older than its failure (limit 1000 ms)',
    });
    expect(estimateSwitch({ ...base, activeHistory: a, target: { ...b, at: 58_000 }, watermarks: new Map(), now: 60_000 })).toMatchObject({ kind: 'unknown' });
    expect(estimateSwitch({ ...base, activeHistory: [], target: b, watermarks: new Map(), now: 60_000 })).toMatchObject({ kind: 'unknown', reason: 'no position sample of room-a yet' });
  });

  it('a gap older than every kept sample is a lower bound', () => {
    const { a, b } = history(0, 60_000, 10_000);
    const recent = a.filter((s) => s.at >= 50_000);
    const e = estimateSwitch({ ...base, activeHistory: recent, target: b, watermarks: new Map(), now: 60_000 });
    if (e.kind !== 'known') throw new Error('expected an estimate');
    expect(e.partitions[0]).toMatchObject({ atLeast: true, unreplicatedMs: 50_000 });
    expect(describeEstimate(e)).toContain('at least');
  });
});

describe('data-budget gate with estimates that may be unknown', () => {
  const budget = { maxLossMs: 0, maxDuplicateMs: 10_000 };
  it('unknown: waits, then refuses, unless the tier allows it or the operator forces', () => {
    expect(dataBudgetGate({ estimates: 'sample too old', budget, forced: false, waitedMs: 0, maxWaitMs: 10_000 }).kind).toBe('retry');
    expect(dataBudgetGate({ estimates: 'sample too old', budget, forced: false, waitedMs: 10_000, maxWaitMs: 10_000 })).toMatchObject({ kind: 'stop' });
    expect(dataBudgetGate({ estimates: 'sample too old', onUnknown: 'allow', budget, forced: false, waitedMs: 0, maxWaitMs: 10_000 }).kind).toBe('ok');
    expect(dataBudgetGate({ estimates: 'sample too old', budget, forced: true, waitedMs: 0, maxWaitMs: 10_000 }).kind).toBe('ok');
  });
  it('names the records an over-budget loss would cost', () => {
    const a = dataBudgetGate({ estimates: [{ topic: 't', partition: 0, unreplicatedMs: 20_000, unreplicatedRecords: 2000, replayMs: 2000 }], budget, forced: false, waitedMs: 10_000, maxWaitMs: 10_000 });
    expect(a).toEqual({ kind: 'stop', reason: 'estimated loss 20000 ms on t/0 (2000 record(s) in all) exceeds the budget 0 ms; refusing without --force' });
  });
});

describe('consumer lag in time, from the position samples', () => {
  it('is how much older the committed position is than the newest record', () => {
    const { a } = history(0, 60_000);
    // Committed at offset 5000 (event time ~50 s), newest ~60 s: ~10 s behind, within a sample.
    const t = timeLagMs(a, 't', 0, 5000)!;
    expect(Math.abs(t - 10_000)).toBeLessThanOrEqual(250);
    expect(timeLagMs(a, 't', 0, 6000)).toBe(0);
    // Older than every kept sample: not known.
    expect(timeLagMs(a.slice(-4), 't', 0, 10)).toBeUndefined();
  });
});

describe('position history thinned as it ages (POSITION_TIERS)', () => {
  // 1,000 partitions sampled every 250 ms for 10 minutes: without thinning, 1,200 samples.
  const parts = (n: number, at: number) => Array.from({ length: n }, (_, i) => ({ topic: `t${i}`, partition: 0, logEnd: at / 10, newestTs: at - 10 }));

  it('stays bounded: every sample of the last 10 s, one per 500 ms to a minute, one per 5 s to keepMs', () => {
    let h: RoomSample[] = [];
    let max = 0;
    for (let at = 0; at <= 600_000; at += 250) {
      h = appendSample(h, { room: 'room-a', at, partitions: parts(3, at) }, 300_000, POSITION_TIERS);
      max = Math.max(max, h.length);
    }
    // 41 (10 s at 250 ms) + 100 (50 s at 500 ms) + 48 (240 s at 5 s) + the edges.
    expect(max).toBeLessThanOrEqual(195);
    expect(h.at(-1)!.at).toBe(600_000);
    expect(h[0]!.at).toBeGreaterThanOrEqual(300_000);
    expect(h[0]!.at).toBeLessThan(305_000);
    for (let i = 1; i < h.length; i++) {
      const gap = h[i]!.at - h[i - 1]!.at;
      const age = 600_000 - h[i - 1]!.at;
      expect(gap).toBeGreaterThan(0);
      if (age <= 10_000) expect(gap).toBe(250);
      else if (age <= 60_000) expect(gap).toBeLessThanOrEqual(750);
      else expect(gap).toBeLessThanOrEqual(5250);
    }
  });

  it('a 20 s gap read off the thinned history: within one kept sample (500 ms: 50 records) of the truth', () => {
    let a: RoomSample[] = [];
    for (let at = 0; at <= 60_000; at += 250) {
      const n = Math.floor(at / 10);
      a = appendSample(a, { room: 'room-a', at, partitions: [{ topic: 't', partition: 0, logEnd: n, newestTs: n * 10 - 10 }] }, 300_000, POSITION_TIERS);
    }
    expect(a.length).toBeLessThan(241);
    const b: RoomSample = { room: 'room-b', at: 60_000, partitions: [{ topic: 't', partition: 0, logEnd: 4000, newestTs: 39_990 }] };
    const e = estimateSwitch({ ...base, activeHistory: a, target: b, watermarks: new Map([['t', new Map([[0, 37_000]])]]), now: 60_700, activeFailingSince: 60_100 });
    expect(e.kind).toBe('known');
    if (e.kind !== 'known') return;
    expect(e.partitions[0]!.unreplicatedMs).toBe(20_000);
    expect(e.partitions[0]!.atLeast).toBeUndefined();
    expect(Math.abs(e.partitions[0]!.unreplicatedRecords! - 2000)).toBeLessThanOrEqual(50);
  });
});

describe('packed samples (what the position tracker keeps) read exactly as plain ones', () => {
  // Random histories of a few topics and partitions, some partitions missing from some samples
  // (a topic created later), some with no newest record; watermarks anywhere.
  const arbHistory = fc
    .record({
      topics: fc.uniqueArray(fc.constantFrom('t1', 't2', 't3'), { minLength: 1, maxLength: 3 }),
      partitions: fc.integer({ min: 1, max: 3 }),
      steps: fc.array(fc.record({ dt: fc.integer({ min: 50, max: 3000 }), grow: fc.nat(30), hole: fc.boolean(), noTs: fc.boolean() }), { minLength: 1, maxLength: 40 }),
      watermark: fc.nat(200_000),
      margin: fc.nat(5000),
    })
    .map(({ topics, partitions, steps, watermark, margin }) => {
      let at = 1_000_000;
      let end = 0;
      const samples = (room: string): RoomSample[] =>
        steps.map((s) => {
          at += s.dt;
          end += s.grow;
          return {
            room,
            at,
            partitions: topics.flatMap((topic, ti) =>
              Array.from({ length: s.hole && ti === topics.length - 1 ? 0 : partitions }, (_, partition) => ({ topic, partition, logEnd: end + partition, ...(!s.noTs && { newestTs: at - 100 * partition }) })),
            ),
          };
        });
      return { topics, a: samples('room-a'), b: samples('room-b'), watermark: 1_000_000 + watermark, margin, partitions };
    });

  it('the same estimate, lag, positions and JSON', () => {
    fc.assert(
      fc.property(arbHistory, ({ topics, a, b, watermark, margin, partitions }) => {
        const packedA = a.map(packSample);
        const targetB = b.at(-1)!;
        const watermarks = new Map(topics.map((t) => [t, new Map(Array.from({ length: partitions }, (_, p) => [p, watermark] as const))]));
        const input = { topics, activeRoom: 'room-a', targetRoom: 'room-b', marginMs: margin, maxAgeMs: 10_000_000, watermarks, now: targetB.at };
        expect(estimateSwitch({ ...input, activeHistory: packedA, target: packSample(targetB) })).toEqual(estimateSwitch({ ...input, activeHistory: a, target: targetB }));
        for (const t of topics) {
          for (let p = 0; p < partitions; p++) {
            const committed = a.at(-1)!.partitions.find((x) => x.topic === t && x.partition === p)?.logEnd ?? 0;
            for (const c of [0, Math.floor(committed / 2), committed]) expect(timeLagMs(packedA, t, p, c)).toBe(timeLagMs(a, t, p, c));
            expect(partitionsOf(packedA.at(-1)!, t)).toEqual(partitionsOf(a.at(-1)!, t));
          }
        }
        expect(JSON.parse(JSON.stringify(packedA))).toEqual(JSON.parse(JSON.stringify(a)));
        expect(samePositions(packSample(a.at(-1)!), packedA.at(-1))).toBe(true);
        if (a.length > 1) expect(samePositions(packedA.at(-2), packedA.at(-1))).toBe(samePositions(a.at(-2), a.at(-1)));
      }),
      { numRuns: 300 },
    );
  });
});
