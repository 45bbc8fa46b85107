import { describe, expect, it } from 'vitest';
import { Deduplicator, eventTimeOf, recordIdOf } from '../../src/sdk/record-ids.js';

const id = (producer: string, sequence: number) => ({ producer, sequence });

describe('record ids: what the dual producer stamps and the consumer drops', () => {
  it('reads ids and event time from Kafka headers (Buffers, as kafkajs hands them over)', () => {
    const headers = { 'sy-p': Buffer.from('abc'), 'sy-s': Buffer.from('42'), 'sy-et': Buffer.from('1000') };
    expect(recordIdOf(headers)).toEqual({ producer: 'abc', sequence: 42 });
    expect(eventTimeOf(headers, 2000)).toBe(1000);
    expect(eventTimeOf({}, 2000)).toBe(2000);
    expect(recordIdOf({ 'sy-p': Buffer.from('abc') })).toBeUndefined();
    expect(recordIdOf(undefined)).toBeUndefined();
  });

  it('drops a record whose sequence is not above the last processed from its producer on its partition', () => {
    const d = new Deduplicator();
    d.processed('t', 0, id('p1', 5), 100);
    expect(d.isDuplicate('t', 0, id('p1', 5))).toBe(true);
    expect(d.isDuplicate('t', 0, id('p1', 3))).toBe(true);
    expect(d.isDuplicate('t', 0, id('p1', 6))).toBe(false);
    // Another producer, another partition, or no id at all: never a duplicate.
    expect(d.isDuplicate('t', 0, id('p2', 1))).toBe(false);
    expect(d.isDuplicate('t', 1, id('p1', 1))).toBe(false);
    expect(d.isDuplicate('t', 0, undefined)).toBe(false);
  });

  it('forgets the producer heard from longest ago past its bound', () => {
    const d = new Deduplicator(2);
    d.processed('t', 0, id('a', 1), 1);
    d.processed('t', 0, id('b', 1), 2);
    d.processed('t', 0, id('a', 2), 3);
    d.processed('t', 0, id('c', 1), 4);
    expect(d.isDuplicate('t', 0, id('b', 1))).toBe(false);
    expect(d.isDuplicate('t', 0, id('a', 2))).toBe(true);
    expect(d.isDuplicate('t', 0, id('c', 1))).toBe(true);
  });

  it('pulls the restart point back to a producer that is late, within the window only', () => {
    const d = new Deduplicator();
    d.processed('t', 0, id('fast', 10), 10_000);
    d.processed('t', 0, id('late', 3), 7_000);
    d.processed('t', 0, id('gone', 1), 1_000);
    d.processed('t', 1, id('fast', 11), 10_000);
    const wm = new Map([
      [0, 10_000],
      [1, 10_000],
    ]);
    // 'late' (3 s behind) is inside a 5 s window, 'gone' (9 s behind) is not.
    expect(d.laggards('t', wm, 5000)).toEqual(new Map([[0, 7000]]));
    expect(d.laggards('t', wm, 10_000)).toEqual(new Map([[0, 1000]]));
    expect(d.laggards('t', wm, 1000)).toEqual(new Map());
  });
});
