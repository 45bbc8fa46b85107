// Event runbooks: a live-event night as a timeline of steps (before, during, after), the model
// the scheduler works on. Files on disk are validated and compiled into these types at the edge
// (src/config/runbook.ts); the pure scheduler below says which steps are due, and why.

import type { TierName } from './model.js';

export const RUNBOOK_PHASES = ['before', 'during', 'after'] as const;
export type RunbookPhase = (typeof RUNBOOK_PHASES)[number];

/** What a step does. Each reuses what exists (caps, switchover, pause, drill, freeze, checks, notify). */
export type RunbookAction =
  | { readonly kind: 'cap'; readonly pipeline: string; readonly recordsPerSecond: number; readonly untilMs?: number }
  | { readonly kind: 'uncap'; readonly pipeline: string }
  | { readonly kind: 'switchover'; readonly pipeline: string; readonly to: string }
  | { readonly kind: 'switchback'; readonly pipeline: string }
  | { readonly kind: 'pause'; readonly pipeline: string | undefined }
  | { readonly kind: 'resume'; readonly pipeline: string | undefined }
  | { readonly kind: 'drill'; readonly pipeline: string; readonly holdMs: number }
  | { readonly kind: 'freeze'; readonly tiers: readonly TierName[] }
  | { readonly kind: 'unfreeze'; readonly tiers: readonly TierName[] }
  | { readonly kind: 'override-window'; readonly tiers: readonly TierName[]; readonly reason: string }
  | { readonly kind: 'check' }
  | { readonly kind: 'notify'; readonly webhook: string; readonly message: string };

/** A condition read from the observers' published state; a step's checkpoint passes when all hold. */
export type RunbookCheck =
  | { readonly kind: 'lag-below'; readonly pipeline: string; readonly records: number }
  | { readonly kind: 'standby-gap-below'; readonly pipeline: string; readonly ms: number }
  | { readonly kind: 'p0-standbys-healthy' }
  | { readonly kind: 'olap-replica-delay-below'; readonly room: string; readonly seconds: number }
  | { readonly kind: 'no-switch-in-progress' };

/** When a step is due: at an offset from the event's T0, or after another step has finished. */
export type RunbookWhen = { readonly kind: 'at'; readonly offsetMs: number } | { readonly kind: 'after'; readonly step: string; readonly delayMs: number };

export interface RunbookStep {
  readonly id: string;
  readonly phase: RunbookPhase;
  readonly when: RunbookWhen;
  /** Who is responsible: a person or team, or "controller" for steps it runs alone. */
  readonly owner: string;
  readonly action: RunbookAction;
  /** A person must acknowledge (`switchyard runbook ack`) before the step runs. */
  readonly needsAck: boolean;
  readonly checks: readonly RunbookCheck[];
  /** How long the step (its ack, action and checks) may take once due. */
  readonly timeoutMs: number;
  readonly onFailure: 'abort' | 'continue' | 'page';
}

export interface Runbook {
  readonly file: string;
  readonly event: string;
  /** The event's start, epoch ms. */
  readonly t0: number;
  readonly timeZone: string;
  readonly steps: readonly RunbookStep[];
}

/** What has happened to a step so far (the record the leader keeps, fenced, in etcd). */
export interface StepRecord {
  readonly status: 'pending' | 'acked' | 'running' | 'done' | 'failed' | 'skipped';
  /** When it was acknowledged, started, finished, failed or skipped (epoch ms), and by whom. */
  readonly ackedAt?: number;
  readonly ackedBy?: string;
  readonly startedAt?: number;
  readonly endedAt?: number;
  readonly by?: string;
  /** What was done and how it went; why it failed or was skipped. */
  readonly result?: string;
  /** The checkpoint's outcome, when the step has checks. */
  readonly checkpoint?: 'passed' | 'failed';
}

export type RunbookState = ReadonlyMap<string, StepRecord>;

/** One step as the scheduler sees it now. */
export interface StepView {
  readonly step: RunbookStep;
  /** When it is planned to run (undefined: after a step that has not finished yet). */
  readonly plannedAt: number | undefined;
  readonly record: StepRecord;
  readonly state: 'done' | 'failed' | 'skipped' | 'running' | 'due' | 'waiting-ack' | 'scheduled' | 'blocked';
  /** Due, waiting or running past plannedAt + timeout. */
  readonly late: boolean;
  readonly reason: string;
}

export interface RunbookPlan {
  readonly steps: readonly StepView[];
  /** Steps to run now, in timeline order. */
  readonly due: readonly StepView[];
  /** Steps whose timeout ran out (unfinished): each fails, and its onFailure applies. */
  readonly timedOut: readonly StepView[];
  /** Set when a step that failed says abort: nothing more runs. */
  readonly aborted: string | undefined;
  readonly finished: boolean;
}

const PENDING: StepRecord = { status: 'pending' };
const ENDED = new Set<StepRecord['status']>(['done', 'failed', 'skipped']);

/** When each step is planned: T0 + offset, or its predecessor's end + delay (once it ended). */
export function plannedTimes(runbook: Runbook, state: RunbookState): Map<string, number | undefined> {
  const out = new Map<string, number | undefined>();
  const resolve = (step: RunbookStep, depth: number): number | undefined => {
    if (out.has(step.id)) return out.get(step.id);
    if (depth > runbook.steps.length) return undefined; // a cycle: validation refuses these
    let at: number | undefined;
    if (step.when.kind === 'at') at = runbook.t0 + step.when.offsetMs;
    else {
      const before = state.get(step.when.step);
      at = before && ENDED.has(before.status) && before.endedAt !== undefined ? before.endedAt + step.when.delayMs : undefined;
    }
    out.set(step.id, at);
    return at;
  };
  for (const s of runbook.steps) resolve(s, 0);
  return out;
}

/**
 * The runbook now: each step's state, which steps to run, which timed out, and whether it is
 * aborted or finished. Pure: the clock is an argument. A step runs once its time has come, its
 * predecessor (for `after`) has ended, and a person has acknowledged it when it needs that; it
 * times out `timeoutMs` after its planned time. A failed step whose onFailure is abort stops
 * everything after it.
 */
export function planRunbook(runbook: Runbook, state: RunbookState, now: number): RunbookPlan {
  const planned = plannedTimes(runbook, state);
  const failedAbort = runbook.steps.find((s) => state.get(s.id)?.status === 'failed' && s.onFailure === 'abort');
  const aborted = failedAbort ? `step ${failedAbort.id} failed and says abort: ${state.get(failedAbort.id)?.result ?? 'no reason recorded'}` : undefined;
  const views: StepView[] = runbook.steps.map((step) => {
    const record = state.get(step.id) ?? PENDING;
    const plannedAt = planned.get(step.id);
    const late = plannedAt !== undefined && !ENDED.has(record.status) && now > plannedAt + step.timeoutMs;
    const view = (s: StepView['state'], reason: string): StepView => ({ step, plannedAt, record, state: s, late, reason });
    if (record.status === 'done' || record.status === 'failed' || record.status === 'skipped') return view(record.status, record.result ?? record.status);
    if (record.status === 'running') return view('running', `running since ${record.startedAt ?? '?'}`);
    if (aborted) return view('blocked', `not run: the runbook was aborted (${aborted})`);
    if (plannedAt === undefined) return view('blocked', step.when.kind === 'after' ? `waits for step ${step.when.step} to end` : 'no planned time');
    if (now < plannedAt) return view('scheduled', `planned in ${Math.ceil((plannedAt - now) / 1000)} s`);
    if (step.needsAck && record.status !== 'acked') return view('waiting-ack', `due since ${Math.floor((now - plannedAt) / 1000)} s; waits for \`switchyard runbook ack ${runbook.event} ${step.id}\``);
    return view('due', `due since ${Math.floor((now - plannedAt) / 1000)} s`);
  });
  const due = views.filter((v) => v.state === 'due' && !v.late).sort((a, b) => a.plannedAt! - b.plannedAt!);
  const timedOut = views.filter((v) => v.late && (v.state === 'due' || v.state === 'waiting-ack' || v.state === 'running'));
  const finished = aborted !== undefined ? views.every((v) => v.state !== 'running') : views.every((v) => ENDED.has(v.record.status));
  return { steps: views, due, timedOut, aborted, finished };
}
