import { afterEach, describe, expect, it, vi } from 'vitest';
import { PositionTracker } from '../../src/controller/position-tracker.js';
import { samePositions, type RoomSample } from '../../src/core/data-estimate.js';
import { silentLogger } from '../../src/ports/logger.js';
import type { PositionReader } from '../../src/ports/position-reader.js';

// One room of 1,000 single-partition topics, sampled every 250 ms on a fake clock.
function tracker(logEnd: () => number) {
  const topics = Array.from({ length: 1000 }, (_, i) => `t${i}`);
  const reader: PositionReader = {
    read: async (ts) => ({ room: 'room-a', at: Date.now(), partitions: ts.map((topic) => ({ topic, partition: 0, logEnd: logEnd(), newestTs: logEnd() })) }),
    close: async () => undefined,
  };
  const published: RoomSample[][][] = [];
  const t = new PositionTracker({ rooms: new Map([['room-a', { reader, topics }]]), timeoutMs: 200, log: silentLogger, publish: async (rooms) => void published.push(rooms) });
  return { t, published };
}

afterEach(() => vi.useRealTimers());

describe('PositionTracker', () => {
  it('keeps a bounded history per room: 10 minutes at 250 ms leave at most ~190 samples, the newest last', async () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const { t } = tracker(() => Math.floor(Date.now() / 100));
    for (let i = 0; i < 2400; i++) {
      await t.sample();
      vi.advanceTimersByTime(250);
    }
    const h = t.history().get('room-a')!;
    expect(h.length).toBeLessThanOrEqual(195);
    expect(h.at(-1)!.at).toBe(1_000_000 + 2399 * 250);
    expect(h.at(-1)!.at - h[0]!.at).toBeLessThanOrEqual(300_000);
    expect(h.at(-1)!.at - h[0]!.at).toBeGreaterThan(290_000);
  });

  it('publishes every second while log ends move, and never while nothing moves', async () => {
    vi.useFakeTimers({ now: 1_000_000 });
    let end = 0;
    const { t, published } = tracker(() => end);
    // 60 s idle: the first publish only.
    for (let i = 0; i < 240; i++) {
      await t.sample();
      vi.advanceTimersByTime(250);
    }
    expect(published.length).toBe(1);
    // 5 s of moving log ends: once a second.
    const before = published.length;
    for (let i = 0; i < 20; i++) {
      end++;
      await t.sample();
      vi.advanceTimersByTime(250);
    }
    expect(published.length - before).toBeGreaterThanOrEqual(4);
    expect(published.length - before).toBeLessThanOrEqual(5);
    // Idle again: the last move is published within a second, then nothing more.
    for (let i = 0; i < 4; i++) {
      await t.sample();
      vi.advanceTimersByTime(250);
    }
    const moved = published.length;
    expect(samePositions(published.at(-1)!.flat().at(-1), t.history().get('room-a')!.at(-1))).toBe(true);
    for (let i = 0; i < 80; i++) {
      await t.sample();
      vi.advanceTimersByTime(250);
    }
    expect(published.length).toBe(moved);
  });
});
