import { describe, expect, it } from 'vitest';
import { burstsOf, windowRates } from '../../bench/support/arrival-rates.js';

describe('read rates over sliding windows from batch arrivals', () => {
  it('a steady rate read in bursts (one every 2.2 s) reads as that rate in every 10 s window, wherever it starts', () => {
    // 10 records/s, delivered as 22 records every 2.2 s: counting bursts at their instants, a 10 s
    // window holds 4 or 5 of them (8.8 or 11 records/s).
    const arrivals = Array.from({ length: 40 }, (_, i) => ({ at: 1000 + i * 2200, records: 22 }));
    const rates = windowRates(arrivals, 5000, 80_000, 10_000);
    expect(rates).toHaveLength(66);
    for (const r of rates) expect(r).toBeCloseTo(10, 6);
  });

  it('a rate that changes shows in the windows that cover the change, and only there', () => {
    // 10/s in bursts of 20 every 2 s until 41 s, then 20/s (40 every 2 s).
    const arrivals = Array.from({ length: 40 }, (_, i) => ({ at: 1000 + i * 2000, records: i <= 20 ? 20 : 40 }));
    const rates = windowRates(arrivals, 1000, 80_000, 10_000, 2000);
    expect(rates[0]).toBeCloseTo(10, 6);
    expect(rates.at(-1)).toBeCloseTo(20, 6);
    // Monotone through the change: no window reads above the new rate or below the old one.
    for (const r of rates) expect(r).toBeGreaterThanOrEqual(10 - 1e-9);
    for (const r of rates) expect(r).toBeLessThanOrEqual(20 + 1e-9);
  });

  it('a burst of batches fetched back to back after each throttle counts as one arrival: no aliasing either', () => {
    // 10/s as bursts of 4 batches of 5 records, 10 ms apart, every 2.2 s.
    const arrivals = Array.from({ length: 40 }, (_, i) => [0, 10, 20, 30].map((d) => ({ at: 1000 + i * 2200 + d, records: 5.5 }))).flat();
    for (const r of windowRates(arrivals, 5000, 80_000, 10_000)) expect(r).toBeCloseTo(10, 6);
  });

  it('a steady stream of close batches stays a stream (bursts span at most 250 ms)', () => {
    const stream = Array.from({ length: 1000 }, (_, i) => ({ at: i * 20, records: 1 }));
    expect(burstsOf(stream).length).toBeGreaterThanOrEqual(1000 / 13);
    for (const r of windowRates(stream, 1000, 19_000, 5000)) expect(r).toBeCloseTo(50, 0);
  });

  it('nothing read is a rate of 0; a window past the last arrival counts nothing more', () => {
    expect(windowRates([], 0, 20_000, 10_000)).toEqual(Array(11).fill(0));
    expect(windowRates([{ at: 100, records: 5 }, { at: 1100, records: 5 }], 2000, 30_000, 10_000)[0]).toBe(0);
  });
});
