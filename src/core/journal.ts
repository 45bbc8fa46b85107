// A switch is a journaled sequence of idempotent steps. The journal is data: what was decided,
// which steps are done, by whom and when. Any leader can look at it and know what comes next.

import type { Route } from './model.js';
import type { DataGap } from './data-estimate.js';

export const SWITCH_STEPS = ['intent', 'gate', 'start-jobs', 'fence-old', 'place-offsets', 'flip-consumers', 'flip-queries', 'verify', 'stop-jobs', 'record'] as const;
export type SwitchStep = (typeof SWITCH_STEPS)[number];

export interface StepRecord {
  readonly step: SwitchStep;
  /** Epoch ms when the step finished. */
  readonly at: number;
  readonly ms: number;
  /** The observer (leader) that ran it. */
  readonly by: string;
  readonly note: string;
  /** verify: when the first consumer processed its first record under the new route. */
  readonly ackAt?: number;
}

/** A drill is a switchover an operator runs to practise (and usually goes back). */
export type SwitchKind = 'failover' | 'failback' | 'switchover' | 'drill';

/** Who asked for a switch: an observer or an operator, and for manual ones the intent's id. */
export interface SwitchRequest {
  readonly by: string;
  readonly id?: string;
}

export interface SwitchJournal {
  readonly id: string;
  readonly pipeline: string;
  readonly kind: SwitchKind;
  readonly from: Route;
  readonly to: Route;
  readonly reason: string;
  /** Who asked: an observer for automatic switches, an operator for manual ones. */
  readonly requestedBy: string;
  /** The operator's intent this switch carries out (manual switches). */
  readonly request?: string;
  readonly createdAt: number;
  /** First failed probe to decision, for failovers. */
  readonly detectedAfterMs: number;
  readonly steps: readonly StepRecord[];
  readonly status: 'running' | 'done';
  /** Records the data estimate said this switch leaves behind in the room it leaves. */
  readonly gap?: DataGap;
}

/** A finished switch, as kept in history. */
export interface SwitchRecord {
  readonly id: string;
  readonly pipeline: string;
  readonly kind: SwitchKind;
  readonly fromChain: string;
  readonly fromRoom: string;
  readonly toChain: string;
  readonly toRoom: string;
  readonly epoch: number;
  readonly reason: string;
  readonly requestedBy: string;
  /** The operator's intent it carried out, for manual switches. */
  readonly request?: string;
  readonly leaders: readonly string[];
  readonly decidedAt: number;
  /** When the record was written: the switch's end. */
  readonly finishedAt: number;
  readonly detectedAfterMs: number;
  /** Decision to route written. */
  readonly flipMs: number;
  /** First failed probe to the first record processed in the new chain, when a consumer acknowledged. */
  readonly rtoMs: number | undefined;
  readonly outcome: 'verified' | 'unverified';
  readonly note: string;
  /** Records left behind in the room it left, for a backfill once that room returns. */
  readonly gap?: DataGap;
}

export function journalId(pipeline: string, epoch: number): string {
  return `${pipeline}-e${epoch}`;
}

/**
 * The next step to run (undefined when the journal is finished): the step after the last one recorded. Journals written before a step existed (start-jobs came
 * later) lack it, so this follows the last recorded step rather than counting steps.
 */
export function nextStep(j: SwitchJournal): SwitchStep | undefined {
  if (j.status === 'done') return undefined;
  const last = j.steps.at(-1)?.step;
  return last === undefined ? SWITCH_STEPS[0] : SWITCH_STEPS[SWITCH_STEPS.indexOf(last) + 1];
}

export function withStep(j: SwitchJournal, rec: StepRecord): SwitchJournal {
  const expected = nextStep(j);
  if (rec.step !== expected) throw new Error(`journal ${j.id}: step ${rec.step} recorded out of order (next is ${expected ?? 'none'})`);
  return { ...j, steps: [...j.steps, rec], status: rec.step === 'record' ? 'done' : 'running' };
}

export function stepAt(j: SwitchJournal, step: SwitchStep): StepRecord | undefined {
  return j.steps.find((s) => s.step === step);
}

/** Builds the history record from a journal whose record step is done (its time ends the switch). */
export function toRecord(j: SwitchJournal, ackAt: number | undefined, note: string): SwitchRecord {
  const flipped = stepAt(j, 'flip-consumers');
  return {
    id: j.id,
    pipeline: j.pipeline,
    kind: j.kind,
    fromChain: j.from.chain,
    fromRoom: j.from.room,
    toChain: j.to.chain,
    toRoom: j.to.room,
    epoch: j.to.epoch,
    reason: j.reason,
    requestedBy: j.requestedBy,
    ...(j.request !== undefined && { request: j.request }),
    leaders: [...new Set(j.steps.map((s) => s.by))],
    decidedAt: j.createdAt,
    finishedAt: j.steps.at(-1)?.at ?? j.createdAt,
    detectedAfterMs: j.detectedAfterMs,
    flipMs: flipped ? flipped.at - j.createdAt : 0,
    rtoMs: ackAt === undefined ? undefined : ackAt - j.createdAt + j.detectedAfterMs,
    outcome: ackAt === undefined ? 'unverified' : 'verified',
    note,
    ...(j.gap && { gap: j.gap }),
  };
}
