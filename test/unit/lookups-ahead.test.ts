import { describe, expect, it } from 'vitest';
import { lookupsOf, READ_AHEAD_FRESH_MS, type ReadAhead } from '../../src/sdk/routed-consumer.js';
import type { OffsetLookup, OffsetsByTime } from '../../src/adapters/kafka/offsets-by-time.js';

// ADR 0022: a standby member's lookup started when the served room's connection failed is used by
// the move that follows, once, only on the same layout and only while fresh; else a new one.
const lookup = (name: string): OffsetLookup & { name: string } => ({ name, at: async () => new Map(), starts: async () => new Map() });

function member(now: () => number) {
  const started: string[] = [];
  const offsetsByTime: OffsetsByTime = (topic) => {
    started.push(topic);
    return lookup(`new ${topic}`);
  };
  const leaders = new Map([[0, 1]]);
  const lookupsAhead = new Map([['t', { at: now(), leaders, lookup: lookup('ahead t') }]]);
  return { m: { offsetsByTime, lookupsAhead }, started, leaders };
}

describe('lookups read ahead (ADR 0022)', () => {
  it('a fresh lookup on the same leaders is taken, once; the next asks anew', () => {
    const t = 1_000_000;
    const { m, started, leaders } = member(() => t);
    const used: ReadAhead = { used: 0, fresh: 0, lookups: 0 };
    const lookups = lookupsOf(m, used, () => t + READ_AHEAD_FRESH_MS)!;
    expect((lookups('t', leaders) as ReturnType<typeof lookup>).name).toBe('ahead t');
    expect(used.lookups).toBe(1);
    expect((lookups('t', leaders) as ReturnType<typeof lookup>).name).toBe('new t');
    expect(started).toEqual(['t']);
    expect(used.lookups).toBe(1);
  });

  it('one older than the freshness bound, or started on other leaders (the layout was read again), is not used', () => {
    const t = 1_000_000;
    const stale = member(() => t);
    const old: ReadAhead = { used: 0, fresh: 0, lookups: 0 };
    expect((lookupsOf(stale.m, old, () => t + READ_AHEAD_FRESH_MS + 1)!('t', stale.leaders) as ReturnType<typeof lookup>).name).toBe('new t');
    expect(old.lookups).toBe(0);
    const moved = member(() => t);
    const other: ReadAhead = { used: 0, fresh: 0, lookups: 0 };
    expect((lookupsOf(moved.m, other, () => t)!('t', new Map([[0, 1]])) as ReturnType<typeof lookup>).name).toBe('new t');
    expect(other.lookups).toBe(0);
    // Either way it is dropped: a later move does not take it either.
    expect(moved.m.lookupsAhead.size).toBe(0);
  });

  it('a member with no lookup of its own has none to offer', () => {
    expect(lookupsOf({ offsetsByTime: undefined, lookupsAhead: new Map() }, { used: 0, fresh: 0, lookups: 0 })).toBeUndefined();
  });
});
