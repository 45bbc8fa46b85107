import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../../src/sdk/token-bucket.js';

function fakeClock(start = 1000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('TokenBucket (fake clock)', () => {
  it('starts with its burst and gives out no more than that at once', () => {
    const clock = fakeClock();
    const b = new TokenBucket({ ratePerSecond: 100, burst: 5, now: clock.now });
    const taken = Array.from({ length: 8 }, () => b.tryTake()).filter(Boolean).length;
    expect(taken).toBe(5);
    expect(b.tryTake()).toBe(false);
  });

  it('refills at its rate, fractions included, and never above the burst', () => {
    const clock = fakeClock();
    const b = new TokenBucket({ ratePerSecond: 300, burst: 10, initial: 0, now: clock.now });
    clock.advance(10); // 3 tokens
    expect(b.available()).toBeCloseTo(3, 9);
    expect(b.tryTake(3)).toBe(true);
    expect(b.tryTake()).toBe(false);
    // 1 token every 3.33 ms: after 1 ms a third of one.
    clock.advance(1);
    expect(b.available()).toBeCloseTo(0.3, 9);
    clock.advance(60_000);
    expect(b.available()).toBe(10);
  });

  it('over a long run gives out exactly rate x time (+ the burst it started with)', () => {
    const clock = fakeClock();
    const b = new TokenBucket({ ratePerSecond: 333, burst: 20, initial: 0, now: clock.now });
    let taken = 0;
    for (let ms = 0; ms < 30_000; ms += 7) {
      clock.advance(7);
      while (b.tryTake()) taken++;
    }
    // 30,002 ms at 333/s = 9,990.67 tokens: 9,990 whole ones taken.
    expect(taken).toBe(Math.floor((30_002 * 333) / 1000));
  });

  it('take() goes into debt, and the debt is waited off before the next token', () => {
    const clock = fakeClock();
    const b = new TokenBucket({ ratePerSecond: 100, burst: 4, initial: 1, now: clock.now });
    expect(b.take()).toBe(0);
    expect(b.take()).toBe(-1);
    expect(b.tryTake()).toBe(false);
    // From -1 to +1 at 100/s: 20 ms.
    expect(b.msUntil(1)).toBeCloseTo(20, 9);
    clock.advance(19);
    expect(b.tryTake()).toBe(false);
    clock.advance(1);
    expect(b.tryTake()).toBe(true);
  });

  it('msUntil says 0 when it holds enough and Infinity when it never will', () => {
    const clock = fakeClock();
    const b = new TokenBucket({ ratePerSecond: 0, burst: 3, initial: 2, now: clock.now });
    expect(b.msUntil(2)).toBe(0);
    expect(b.msUntil(3)).toBe(Number.POSITIVE_INFINITY);
    b.setRate(10, 3);
    expect(b.msUntil(3)).toBeCloseTo(100, 9);
    expect(b.msUntil(4)).toBe(Number.POSITIVE_INFINITY);
  });

  it('a changed rate applies from the change on: what was earned before is kept (up to the new burst)', () => {
    const clock = fakeClock();
    const b = new TokenBucket({ ratePerSecond: 100, burst: 50, initial: 0, now: clock.now });
    clock.advance(100); // 10 tokens at the old rate
    b.setRate(1000, 50);
    expect(b.available()).toBeCloseTo(10, 9);
    clock.advance(10); // 10 more at the new rate
    expect(b.available()).toBeCloseTo(20, 9);
    // A lower burst trims what is held; a rate of 0 stops the refill.
    b.setRate(0, 5);
    expect(b.available()).toBe(5);
    clock.advance(10_000);
    expect(b.available()).toBe(5);
    expect(b.ratePerSecond).toBe(0);
    expect(b.burst).toBe(5);
  });

  it('refuses a rate or burst it cannot work with', () => {
    expect(() => new TokenBucket({ ratePerSecond: -1, burst: 1 })).toThrow(RangeError);
    expect(() => new TokenBucket({ ratePerSecond: Number.NaN, burst: 1 })).toThrow(RangeError);
    expect(() => new TokenBucket({ ratePerSecond: 1, burst: 0.5 })).toThrow(RangeError);
  });

  it('does not refill when the clock goes backwards', () => {
    let t = 5000;
    const b = new TokenBucket({ ratePerSecond: 1000, burst: 100, initial: 0, now: () => t });
    t = 4000;
    expect(b.available()).toBe(0);
    t = 4010;
    expect(b.available()).toBeCloseTo(10, 9);
  });
});
