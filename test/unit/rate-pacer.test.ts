import { describe, expect, it } from 'vitest';
import type { CapRecord } from '../../src/core/caps.js';
import { RatePacer, type PacerTimers, type TopicPartition } from '../../src/sdk/rate-pacer.js';

// A consumer simulated on a fake clock: each partition has an endless backlog; every ms, each
// unpaused partition is handed records the way kafkajs hands them (one at a time, stopping the
// batch after the record during which a pause was asked for).
function harness(partitions: number, opts: { burstMs?: number; quantumMs?: number } = {}) {
  let t = 0;
  const due: { at: number; fn: () => void; id: number }[] = [];
  let ids = 0;
  const timers: PacerTimers = {
    set: (fn, ms) => {
      const id = ++ids;
      due.push({ at: t + ms, fn, id });
      return id;
    },
    clear: (h) => {
      const i = due.findIndex((d) => d.id === h);
      if (i >= 0) due.splice(i, 1);
    },
  };
  const paused = new Set<number>();
  const tps: TopicPartition[] = Array.from({ length: partitions }, (_, p) => ({ topic: 'events', partition: p }));
  const consumed = Array.from({ length: partitions }, () => 0);
  let pauses = 0;
  const pacer = new RatePacer({ pipeline: 'p', now: () => t, timers, ...opts });
  pacer.attach(tps, { pause: (tp) => paused.add(tp.partition), resume: (tp) => paused.delete(tp.partition) });
  /** Runs `ms` of fake time; each ms every unpaused partition gets a batch of up to `batch` records. */
  const run = (ms: number, batch = 50) => {
    for (let i = 0; i < ms; i++) {
      t++;
      for (const d of due.filter((x) => x.at <= t).sort((a, b) => a.at - b.at)) {
        timers.clear(d.id);
        d.fn();
      }
      for (let p = 0; p < partitions; p++) {
        if (paused.has(p)) continue;
        for (let r = 0; r < batch; r++) {
          let pausedHere = false;
          pacer.pace('events', p, () => {
            pausedHere = true;
            pauses++;
            paused.add(p);
            return () => paused.delete(p);
          });
          consumed[p]!++;
          if (pausedHere) break;
        }
      }
    }
  };
  return { pacer, run, consumed, paused, pendingTimers: () => due.length, pauses: () => pauses };
}

const cap = (recordsPerSecond: number, epoch = 1, paused = false): CapRecord => ({
  pipeline: 'p',
  epoch,
  room: 'room-a',
  recordsPerSecond,
  paused,
  origin: 'override',
  reason: 'test',
  since: 0,
});

describe('RatePacer (fake clock, simulated consumer)', () => {
  it('uncapped: nothing is paused', () => {
    const h = harness(2);
    h.run(100);
    expect(h.consumed).toEqual([5000, 5000]);
    expect(h.pauses()).toBe(0);
  });

  it('each partition reads its share of the cap (splitCap, first shares get the remainder), within a quantum', () => {
    const h = harness(3);
    h.pacer.setCap(cap(1000));
    h.run(10_000);
    // 334, 333, 333 a second for 10 s, plus the quantum each started with (50 ms of its share),
    // less what its bucket holds at the end (at most a quantum).
    [334, 333, 333].forEach((share, p) => {
      const quantum = (share * 50) / 1000;
      expect(h.consumed[p]).toBeGreaterThanOrEqual(share * 10 - 1);
      expect(h.consumed[p]).toBeLessThanOrEqual(share * 10 + quantum);
    });
    // Paused and resumed in quanta (about 20 a second), not per record.
    expect(h.pauses()).toBeGreaterThan(3 * 150);
    expect(h.pauses()).toBeLessThan(3 * 250);
  });

  it('a changed cap applies at once, and a paused cap stops reading until the cap changes', () => {
    const h = harness(2);
    h.pacer.setCap(cap(200));
    h.run(5000);
    const before = h.consumed.reduce((a, b) => a + b, 0);
    h.pacer.setCap(cap(2000, 2));
    h.run(5000);
    const raised = h.consumed.reduce((a, b) => a + b, 0) - before;
    expect(raised).toBeGreaterThan(2000 * 5 * 0.98);
    expect(raised).toBeLessThan(2000 * 5 * 1.02);

    h.pacer.setCap(cap(0, 3, true));
    expect([...h.paused].sort()).toEqual([0, 1]);
    expect(h.pendingTimers()).toBe(0);
    const atPause = h.consumed.reduce((a, b) => a + b, 0);
    h.run(3000);
    expect(h.consumed.reduce((a, b) => a + b, 0)).toBe(atPause);
    expect(h.pacer.status()).toMatchObject({ pausedPartitions: 2, cap: { paused: true, epoch: 3 } });

    h.pacer.setCap(undefined);
    expect(h.paused.size).toBe(0);
    h.run(10);
    expect(h.consumed.reduce((a, b) => a + b, 0)).toBe(atPause + 2 * 10 * 50);
    expect(h.pacer.status().throttledMs).toBeGreaterThanOrEqual(2 * 3000);
  });

  it('a record delivered while its partition is held is taken as debt: the rate over time still holds', () => {
    const h = harness(1);
    h.pacer.setCap(cap(100));
    h.run(1000);
    // kafkajs delivers 20 records it had fetched before the pause.
    for (let i = 0; i < 20; i++) h.pacer.pace('events', 0, () => () => h.paused.delete(0));
    h.consumed[0]! += 20;
    h.run(9000);
    // 1,000 earned in 10 s plus the 5 it started with, less at most a quantum (5) still held.
    expect(h.consumed[0]).toBeGreaterThanOrEqual(1000 - 1);
    expect(h.consumed[0]).toBeLessThanOrEqual(1005);
  });

  it('a cap smaller than the partition count: every partition reads an equal fraction, none starves', () => {
    const h = harness(8);
    h.pacer.setCap(cap(5));
    h.run(600_000);
    // 5/s over 8 partitions for 10 minutes: 375 each (one record at a time, every 1.6 s), 3,000 in all.
    for (const n of h.consumed) {
      expect(n).toBeGreaterThanOrEqual(370);
      expect(n).toBeLessThanOrEqual(377);
    }
    expect(h.consumed.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(3000 + 8);
  });

  it('detach forgets the partitions and their timers', () => {
    const h = harness(2);
    h.pacer.setCap(cap(100));
    h.run(500);
    h.pacer.detach();
    expect(h.pendingTimers()).toBe(0);
    expect(h.pacer.status()).toMatchObject({ partitions: 0, pausedPartitions: 0 });
  });
});
