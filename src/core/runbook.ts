// Event runbooks: a live-event night as a timeline of steps (before, during, after), the model
// the scheduler works on. Files on disk are validated and compiled into these types at the edge
// (src/config/runbook.ts); the pure scheduler below says which steps are due, and why.

import type { TierName } from './model.js';
import type { SwitchoverIntent } from './switchover.js';

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
  /** The webhook a step whose onFailure is page calls (a name from the topology's notifications.webhooks). */
  readonly page?: string;
  readonly steps: readonly RunbookStep[];
}

/**
 * The switches a switch-like step asks for, named in its record before they are asked for, so
 * that a leader taking over follows them and never asks again. `requested` once they were.
 */
export interface SwitchAsk {
  readonly intents: readonly SwitchoverIntent[];
  readonly requested: boolean;
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
  /** A switch step: the switches it asks for. */
  readonly asked?: SwitchAsk;
  /** The action is carried out; only the checkpoint is left (a running step whose checks wait). */
  readonly acted?: boolean;
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
  const byId = new Map(runbook.steps.map((s) => [s.id, s]));
  const resolve = (step: RunbookStep, depth: number): number | undefined => {
    if (out.has(step.id)) return out.get(step.id);
    if (depth > runbook.steps.length) return undefined; // a cycle: validation refuses these
    let at: number | undefined;
    if (step.when.kind === 'at') at = runbook.t0 + step.when.offsetMs;
    else {
      const before = state.get(step.when.step);
      const pred = byId.get(step.when.step);
      // From the predecessor's end, and never before its plan: a step skipped (or ended) ahead of
      // its time does not pull the steps after it forward.
      const predPlanned = pred ? resolve(pred, depth + 1) : undefined;
      at = before && ENDED.has(before.status) && before.endedAt !== undefined ? Math.max(before.endedAt, predPlanned ?? before.endedAt) + step.when.delayMs : undefined;
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
export function planRunbook(runbook: Runbook, state: RunbookState, now: number, abortedBy?: string): RunbookPlan {
  const planned = plannedTimes(runbook, state);
  const failedAbort = runbook.steps.find((s) => state.get(s.id)?.status === 'failed' && s.onFailure === 'abort');
  const aborted = abortedBy ?? (failedAbort ? `step ${failedAbort.id} failed and says abort: ${state.get(failedAbort.id)?.result ?? 'no reason recorded'}` : undefined);
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

// ---- A started runbook, as stored: the compiled timeline, who started it, and its clock ----

/**
 * How a started runbook keeps time. Absent: the wall clock (the real event). A rehearsal runs the
 * event clock from `eventOrigin` at `speed` times real time from `realOrigin`, so a night passes
 * in minutes on a staging stack. Every leader and every CLI derive the same event time from it.
 */
export interface RehearsalClock {
  readonly realOrigin: number;
  readonly eventOrigin: number;
  readonly speed: number;
}

export interface StartedRunbook {
  readonly runbook: Runbook;
  readonly startedBy: string;
  /** Real time (epoch ms). */
  readonly startedAt: number;
  readonly rehearsal?: RehearsalClock;
}

/** The event time at real time `realNow`. */
export function eventTime(rehearsal: RehearsalClock | undefined, realNow: number): number {
  return rehearsal ? rehearsal.eventOrigin + (realNow - rehearsal.realOrigin) * rehearsal.speed : realNow;
}

/** The real time at which the event clock reads `eventMs`. */
export function realTime(rehearsal: RehearsalClock | undefined, eventMs: number): number {
  return rehearsal ? rehearsal.realOrigin + (eventMs - rehearsal.eventOrigin) / rehearsal.speed : eventMs;
}

/** Operators' inputs to a started runbook, written by the CLI; the leader folds them into the record. */
export interface OperatorInput {
  readonly by: string;
  /** Event time (see eventTime). */
  readonly at: number;
  readonly reason?: string;
}

export interface RunbookInputs {
  readonly acks: ReadonlyMap<string, OperatorInput>;
  readonly skips: ReadonlyMap<string, OperatorInput>;
  readonly abort?: OperatorInput;
}

export const NO_INPUTS: RunbookInputs = { acks: new Map(), skips: new Map() };

/**
 * The record with the operators' inputs folded in: an ack turns a pending step into an acked one,
 * a skip ends a step that has not started. What the leader writes, and what `status` shows before
 * the leader has written it.
 */
export function withInputs(state: RunbookState, inputs: RunbookInputs): Map<string, StepRecord> {
  const out = new Map(state);
  for (const [id, ack] of inputs.acks) {
    const r = out.get(id) ?? PENDING;
    if (r.status === 'pending') out.set(id, { ...r, status: 'acked', ackedAt: ack.at, ackedBy: ack.by });
  }
  for (const [id, skip] of inputs.skips) {
    const r = out.get(id) ?? PENDING;
    if (r.status === 'pending' || r.status === 'acked') out.set(id, { ...r, status: 'skipped', endedAt: skip.at, by: skip.by, result: `skipped by ${skip.by}: ${skip.reason ?? 'no reason given'}` });
  }
  return out;
}

/** Why the runbook is aborted by an operator, in one sentence (undefined: it is not). */
export function abortReason(inputs: RunbookInputs): string | undefined {
  return inputs.abort ? `aborted by ${inputs.abort.by}: ${inputs.abort.reason ?? 'no reason given'}` : undefined;
}

// ---- Checkpoints: read from what the observers published ----

/** What the checks read: the leader's view this tick, from every observer's published state. */
export interface RunbookFacts {
  /** Consumer lag per pipeline, records (absent: unknown). */
  readonly lagRecords: ReadonlyMap<string, number>;
  /** How far the standby is behind per pipeline, ms: the longest unreplicated span (absent: unknown). */
  readonly standbyGapMs: ReadonlyMap<string, number>;
  /** Every P0 pipeline's standby chains and their health. */
  readonly p0Standbys: readonly { readonly pipeline: string; readonly chain: string; readonly room: string; readonly status: string; readonly reason: string }[];
  /** The worst replica delay an OLAP probe reported per room, seconds, and when (absent: no reading). */
  readonly olapDelaySec: ReadonlyMap<string, number>;
  /** Pipelines with a switch under way. */
  readonly switchesInProgress: readonly string[];
}

/** "" when the check holds; otherwise why not, with the numbers. */
export function checkProblem(c: RunbookCheck, facts: RunbookFacts): string {
  switch (c.kind) {
    case 'lag-below': {
      const lag = facts.lagRecords.get(c.pipeline);
      if (lag === undefined) return `${c.pipeline}: consumer lag unknown (no lag sample yet)`;
      return lag < c.records ? '' : `${c.pipeline}: consumer lag ${lag} record(s), not below ${c.records}`;
    }
    case 'standby-gap-below': {
      const gap = facts.standbyGapMs.get(c.pipeline);
      if (gap === undefined) return `${c.pipeline}: standby gap unknown (no replication estimate yet)`;
      return gap < c.ms ? '' : `${c.pipeline}: standby ${gap} ms behind, not below ${c.ms} ms`;
    }
    case 'p0-standbys-healthy': {
      const bad = facts.p0Standbys.filter((s) => s.status !== 'OK');
      return bad.map((s) => `${s.pipeline}: standby ${s.chain}@${s.room} is ${s.status} (${s.reason})`).join('; ');
    }
    case 'olap-replica-delay-below': {
      const d = facts.olapDelaySec.get(c.room);
      if (d === undefined) return `${c.room}: no OLAP replica delay reading`;
      return d < c.seconds ? '' : `${c.room}: OLAP replica delay ${d} s, not below ${c.seconds} s`;
    }
    case 'no-switch-in-progress':
      return facts.switchesInProgress.length === 0 ? '' : `switch under way for ${facts.switchesInProgress.join(', ')}`;
  }
}

/** A step's checkpoint: passed when every check holds; the outcome names each that does not. */
export function checkpoint(checks: readonly RunbookCheck[], facts: RunbookFacts): { readonly passed: boolean; readonly outcome: string } {
  const problems = checks.map((c) => checkProblem(c, facts)).filter((p) => p !== '');
  return problems.length === 0 ? { passed: true, outcome: checks.length === 0 ? 'no checks' : `${checks.length} check(s) passed` } : { passed: false, outcome: problems.join('; ') };
}
