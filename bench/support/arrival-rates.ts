// Read rates over sliding windows, from when batches of records arrived. A consumer held by a
// broker quota receives a burst after each throttle (every ~2 s here): the burst's records were
// earned over the time since the one before. Counting each burst at its arrival instant makes a
// 10 s window hold 4 or 5 bursts depending on where it starts (up to a fifth off, both ways, at
// a steady rate). So the cumulative count is taken as a line through the arrivals, each batch
// spread over the gap since the previous one, and a window's count is the difference of that line
// at its two ends. A burst of batches fetched back to back after a throttle counts as one arrival
// (burstsOf). The mean over a run is the same; only the aliasing goes.

export interface Arrival {
  readonly at: number;
  readonly records: number;
}

/**
 * After a throttle a consumer fetches several batches back to back: one burst, earned over the
 * gap before its first batch. Batches less than `joinMs` after the previous one join its burst
 * (timed at its last batch), up to `maxSpanMs` per burst, so that a steady stream of close
 * batches stays a stream.
 */
export function burstsOf(arrivals: readonly Arrival[], joinMs = 50, maxSpanMs = 250): Arrival[] {
  const out: Arrival[] = [];
  let start = -Infinity;
  for (const a of arrivals) {
    const last = out.at(-1);
    if (last && a.at - last.at < joinMs && a.at - start < maxSpanMs) out[out.length - 1] = { at: a.at, records: last.records + a.records };
    else {
      out.push({ at: a.at, records: a.records });
      start = a.at;
    }
  }
  return out;
}

/** Records read by time `t` (an arrival at `t` included), interpolated between arrivals (0 before the first). */
function cumulativeAt(arrivals: readonly Arrival[], totals: readonly number[], t: number): number {
  if (arrivals.length === 0 || t < arrivals[0]!.at) return 0;
  let lo = 0;
  let hi = arrivals.length - 1;
  if (t >= arrivals[hi]!.at) return totals[hi]!;
  // The last arrival at or before t.
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (arrivals[mid]!.at <= t) lo = mid;
    else hi = mid - 1;
  }
  const a = arrivals[lo]!;
  const b = arrivals[lo + 1]!;
  return totals[lo]! + ((t - a.at) / (b.at - a.at)) * b.records;
}

/**
 * Records per second in every window of `windowMs` from `from` while it ends by `to`, sliding by
 * `stepMs`. `arrivals` in time order; the first arrival's own records count from its instant.
 */
export function windowRates(arrivals: readonly Arrival[], from: number, to: number, windowMs: number, stepMs = 1000): number[] {
  const bursts = burstsOf(arrivals);
  let sum = 0;
  const totals = bursts.map((a) => (sum += a.records));
  arrivals = bursts;
  const rates: number[] = [];
  for (let start = from; start + windowMs <= to; start += stepMs) {
    rates.push(((cumulativeAt(arrivals, totals, start + windowMs) - cumulativeAt(arrivals, totals, start)) * 1000) / windowMs);
  }
  return rates;
}
