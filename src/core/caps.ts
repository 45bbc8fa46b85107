// Source-side rate caps: the arithmetic, pure.
//
// A stress test finds the largest inbound rate a pipeline's job takes while it still passes
// (input latency, no back-pressure, CPU under the limit, results as expected): its baseline, per
// room. The cap is that rate times the tier's headroom, split over the source's tasks or
// partitions so that the parts add up to the cap exactly. When traffic exceeds the cap, the
// source reads at the cap and lag builds instead of the job falling over; once the flood ends,
// the lag drains at (cap - inbound), which gives the recovery ETA.

/** A pipeline's cap as the leader stores it (one per pipeline, for the room it is served from). */
export interface CapRecord {
  readonly pipeline: string;
  /** Grows by one per write (fenced compare-and-set, like routes). */
  readonly epoch: number;
  /** The serving room this cap was computed for: after a failover, that room's own baseline applies. */
  readonly room: string;
  /** Records per second the pipeline's source may read in all (over every partition and task). */
  readonly recordsPerSecond: number;
  /** Shed: the source reads nothing until capacity returns (recordsPerSecond is then 0). */
  readonly paused: boolean;
  /** Where the number comes from. */
  readonly origin: 'baseline' | 'override' | 'shed';
  /** One sentence: the baseline and headroom, the override and who set it, or why it was shed. */
  readonly reason: string;
  /** When this value was written (epoch ms). */
  readonly since: number;
}

/** The cap for a baseline rate and a tier's headroom: whole records per second, rounded down. */
export function capOf(baselineRate: number, headroom: number): number {
  return Math.max(0, Math.floor(baselineRate * headroom));
}

/**
 * Splits `total` over `parts` whole shares that add up to `total` exactly: each gets
 * floor(total / parts), and the first (total mod parts) get one more.
 * 10,000 over 4 tasks is 2,500 each; 10,001 over 4 is 2,501, 2,500, 2,500, 2,500.
 */
export function splitCap(total: number, parts: number): number[] {
  if (!Number.isSafeInteger(parts) || parts <= 0) return [];
  const whole = Math.max(0, Math.floor(total));
  const base = Math.floor(whole / parts);
  const extra = whole - base * parts;
  return Array.from({ length: parts }, (_, i) => base + (i < extra ? 1 : 0));
}

/** How long a lag takes to drain, or why it does not. */
export type RecoveryEta =
  | { readonly kind: 'caught-up' }
  | { readonly kind: 'recovering'; readonly etaMs: number }
  | { readonly kind: 'not-recovering'; readonly reason: string };

/**
 * ETA = lag / (cap - inbound rate). A source reading at its cap drains the lag by what the cap
 * leaves over the inbound rate; when inbound >= cap, the lag only grows.
 */
export function recoveryEta(lagRecords: number, capPerSecond: number, inboundPerSecond: number): RecoveryEta {
  if (lagRecords <= 0) return { kind: 'caught-up' };
  const drain = capPerSecond - inboundPerSecond;
  if (drain <= 0) {
    return { kind: 'not-recovering', reason: `inbound ${Math.round(inboundPerSecond)}/s is at or above the cap ${Math.round(capPerSecond)}/s` };
  }
  return { kind: 'recovering', etaMs: Math.ceil((lagRecords / drain) * 1000) };
}
