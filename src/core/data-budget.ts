// The data-budget gate: before a switch, estimate what it would cost in lost and duplicated data
// and refuse what the tier cannot afford. Answers like a promotion token: go, wait and ask again,
// or stop for good (unless the operator forces it).

/** Per-partition estimate of a switch from the active chain to a target chain. */
export interface PartitionEstimate {
  readonly topic: string;
  readonly partition: number;
  /**
   * Event-time span present in the active room but (as far as we know) not in the target: the
   * unreplicated tail. 0 when the target is at least as far as the active room.
   */
  readonly unreplicatedMs: number;
  /** Records in that span, read off the active room's recent log-end samples. */
  readonly unreplicatedRecords?: number;
  /** The span reaches past the oldest sample kept: the numbers are lower bounds. */
  readonly atLeast?: boolean;
  /** The lost span itself: timestamps above `lossAfterTs`, up to `lossUpToTs`, in the active room. */
  readonly lossAfterTs?: number;
  readonly lossUpToTs?: number;
  /**
   * Event-time span the consumer will replay in the target: last processed event time minus
   * where the target's offsets for (watermark - margin) actually land.
   */
  readonly replayMs: number;
}

export interface DataBudget {
  /** Largest unreplicated tail a switch may lose, in ms of event time. */
  readonly maxLossMs: number;
  /** Largest replay (duplicate window) a switch may cause, in ms of event time. */
  readonly maxDuplicateMs: number;
}

export type GateAnswer =
  | { readonly kind: 'ok'; readonly reason: string }
  /** Not now: ask again on a later tick (the standby may still be catching up). */
  | { readonly kind: 'retry'; readonly reason: string }
  /** Never, unless forced. */
  | { readonly kind: 'stop'; readonly reason: string };

export interface BudgetInput {
  /**
   * undefined: no estimator runs at all (the gate cannot be checked, and says so). A reason string:
   * an estimator runs but could not estimate (a stale or missing sample): unknown, never zero.
   */
  readonly estimates: readonly PartitionEstimate[] | string | undefined;
  /** What an unknown estimate means for this tier (default refuse). */
  readonly onUnknown?: 'refuse' | 'allow';
  readonly budget: DataBudget;
  readonly forced: boolean;
  /** How long the gate has been answering retry for this switch (0 on the first ask). */
  readonly waitedMs: number;
  /** After this long of retry, the answer becomes stop. */
  readonly maxWaitMs: number;
}

function worst(estimates: readonly PartitionEstimate[], pick: (e: PartitionEstimate) => number): PartitionEstimate | undefined {
  let w: PartitionEstimate | undefined;
  for (const e of estimates) if (!w || pick(e) > pick(w)) w = e;
  return w;
}

export function dataBudgetGate(input: BudgetInput): GateAnswer {
  const { estimates, budget, forced } = input;
  if (estimates === undefined) {
    return { kind: 'ok', reason: 'no data estimate available; the budget cannot be checked' };
  }
  if (typeof estimates === 'string') {
    if (forced) return { kind: 'ok', reason: `forced with the data estimate unknown: ${estimates}` };
    if (input.onUnknown === 'allow') return { kind: 'ok', reason: `data estimate unknown (${estimates}); the tier allows switching without one` };
    if (input.waitedMs < input.maxWaitMs) return { kind: 'retry', reason: `the data estimate is unknown (${estimates}); waiting for one (${input.waitedMs}/${input.maxWaitMs} ms)` };
    return { kind: 'stop', reason: `the data estimate is unknown (${estimates}); refusing without --force` };
  }
  if (estimates.length === 0) return { kind: 'ok', reason: 'no partition to estimate: nothing to lose' };
  const loss = worst(estimates, (e) => e.unreplicatedMs)!;
  const dup = worst(estimates, (e) => e.replayMs)!;
  const over: string[] = [];
  const records = estimates.reduce((n, e) => n + (e.unreplicatedRecords ?? 0), 0);
  const lossRecords = records > 0 ? ` (${estimates.some((e) => e.atLeast) ? 'at least ' : ''}${records} record(s) in all)` : '';
  if (loss.unreplicatedMs > budget.maxLossMs) {
    over.push(`estimated loss ${loss.unreplicatedMs} ms on ${loss.topic}/${loss.partition}${lossRecords} exceeds the budget ${budget.maxLossMs} ms`);
  }
  if (dup.replayMs > budget.maxDuplicateMs) {
    over.push(`estimated duplicate window ${dup.replayMs} ms on ${dup.topic}/${dup.partition} exceeds the budget ${budget.maxDuplicateMs} ms`);
  }
  const within = `estimated loss ${loss.unreplicatedMs} ms${lossRecords} (budget ${budget.maxLossMs}), duplicates ${dup.replayMs} ms (budget ${budget.maxDuplicateMs})`;
  if (over.length === 0) return { kind: 'ok', reason: `within the data budget: ${within}` };
  if (forced) return { kind: 'ok', reason: `forced past the data budget: ${over.join('; ')}` };
  // A lossy switch may become lossless once the standby catches up; duplicates will not shrink.
  if (loss.unreplicatedMs > budget.maxLossMs && input.waitedMs < input.maxWaitMs) {
    return { kind: 'retry', reason: `${over.join('; ')}; waiting for the standby to catch up (${input.waitedMs}/${input.maxWaitMs} ms)` };
  }
  return { kind: 'stop', reason: `${over.join('; ')}; refusing without --force` };
}
