// A token bucket: `ratePerSecond` tokens a second, at most `burst` held. ADR 0012 says why it is
// ours and not a package's (none had a synchronous take with debt, a rate change that keeps the
// level, and an injectable clock).
//
// Tokens are fractional: the refill is exact at any rate (333.33 a second is 1 every 3 ms), so a
// long run reads exactly `ratePerSecond` a second. `take` may leave the level below zero (debt):
// a record already delivered is processed, never dropped or re-read, and the debt is repaid by
// waiting longer before the next one, so the average still holds.

/** Milliseconds from any fixed origin; must not go backwards (performance.now by default). */
export type MonotonicMs = () => number;

export interface TokenBucketOptions {
  readonly ratePerSecond: number;
  /** Largest number of tokens held (at least 1). */
  readonly burst: number;
  /** Tokens at the start (default: `burst`), at most `burst`. */
  readonly initial?: number;
  readonly now?: MonotonicMs;
}

export class TokenBucket {
  private level: number;
  private last: number;
  private perMs: number;
  private cap: number;
  private readonly now: MonotonicMs;

  constructor(opts: TokenBucketOptions) {
    checkRate(opts.ratePerSecond, opts.burst);
    this.now = opts.now ?? performance.now.bind(performance);
    this.perMs = opts.ratePerSecond / 1000;
    this.cap = opts.burst;
    this.level = Math.min(opts.burst, opts.initial ?? opts.burst);
    this.last = this.now();
  }

  private refill(): void {
    const t = this.now();
    const elapsed = t - this.last;
    this.last = t;
    if (elapsed > 0 && this.level < this.cap) this.level = Math.min(this.cap, this.level + elapsed * this.perMs);
  }

  /** Takes `n` tokens if the bucket holds them; otherwise takes nothing. */
  tryTake(n = 1): boolean {
    this.refill();
    if (this.level < n) return false;
    this.level -= n;
    return true;
  }

  /** Takes `n` tokens even if that leaves the bucket in debt; returns the level after. */
  take(n = 1): number {
    this.refill();
    this.level -= n;
    return this.level;
  }

  /** Tokens held now (below zero while in debt). */
  available(): number {
    this.refill();
    return this.level;
  }

  /** Milliseconds until the bucket holds `n` tokens: 0 if it does, Infinity if it never will (rate 0, or n > burst). */
  msUntil(n = 1): number {
    this.refill();
    if (this.level >= n) return 0;
    if (this.perMs === 0 || n > this.cap) return Number.POSITIVE_INFINITY;
    return (n - this.level) / this.perMs;
  }

  /** A new rate and burst from now on: tokens earned so far at the old rate are kept, up to the new burst. */
  setRate(ratePerSecond: number, burst: number): void {
    checkRate(ratePerSecond, burst);
    this.refill();
    this.perMs = ratePerSecond / 1000;
    this.cap = burst;
    this.level = Math.min(this.level, burst);
  }

  get ratePerSecond(): number {
    return this.perMs * 1000;
  }

  get burst(): number {
    return this.cap;
  }
}

function checkRate(ratePerSecond: number, burst: number): void {
  if (!Number.isFinite(ratePerSecond) || ratePerSecond < 0) throw new RangeError(`ratePerSecond must be a finite number, 0 or more (was ${ratePerSecond})`);
  if (!Number.isFinite(burst) || burst < 1) throw new RangeError(`burst must be a finite number, at least 1 (was ${burst})`);
}
