// What `runbook status`, `runbook report` and the JSON export show of a started runbook: each
// step planned against actual, and the switches and cap changes of its pipelines on the same
// (event) clock.

import { eventTime, planRunbook, withInputs, abortReason, type RunbookAction, type RunbookCheck, type StepView } from '../core/runbook.js';
import type { SwitchRecord } from '../core/journal.js';
import type { CapEvent } from '../ports/cap-store.js';
import type { LoadedRunbook } from '../ports/runbook-store.js';

/** An action in a few words, as the timeline shows it (an unknown kind, from stored data, by its name). */
export function describeAction(a: RunbookAction): string {
  switch (a.kind) {
    case 'cap':
      return `cap ${a.pipeline} at ${a.recordsPerSecond}/s`;
    case 'uncap':
      return `uncap ${a.pipeline}`;
    case 'switchover':
      return `switch ${a.pipeline} over to ${a.to}`;
    case 'switchback':
      return `switch ${a.pipeline} back to its primary`;
    case 'pause':
      return `pause ${a.pipeline ?? 'everything'}`;
    case 'resume':
      return `resume ${a.pipeline ?? 'everything'}`;
    case 'drill':
      return `drill ${a.pipeline} (hold ${Math.round(a.holdMs / 1000)} s)`;
    case 'freeze':
      return `freeze ${a.tiers.join(', ')}`;
    case 'unfreeze':
      return `unfreeze ${a.tiers.join(', ')}`;
    case 'override-window':
      return `override the change window of ${a.tiers.join(', ')}: ${a.reason}`;
    case 'check':
      return 'check only';
    case 'notify':
      return `notify ${a.webhook}: ${a.message}`;
    default:
      return String((a as { kind?: unknown }).kind);
  }
}

export function describeCheck(c: RunbookCheck): string {
  switch (c.kind) {
    case 'lag-below':
      return `${c.pipeline} lag < ${c.records}`;
    case 'standby-gap-below':
      return `${c.pipeline} standby gap < ${c.ms} ms`;
    case 'p0-standbys-healthy':
      return 'every P0 standby healthy';
    case 'olap-replica-delay-below':
      return `${c.room} OLAP replica delay < ${c.seconds} s`;
    case 'no-switch-in-progress':
      return 'no switch in progress';
    default:
      return String((c as { kind?: unknown }).kind);
  }
}

/** A step that started (or ended, if it never started) this long after its planned time counts as late. */
export const LATE_AFTER_MS = 5 * 60_000;

export interface StepRow {
  readonly id: string;
  readonly phase: string;
  readonly owner: string;
  readonly action: string;
  readonly needsAck: boolean;
  readonly checks: readonly string[];
  readonly onFailure: string;
  readonly timeoutMs: number;
  /** Event time (epoch ms); null: after a step that has not ended. */
  readonly plannedAt: number | null;
  readonly ackedAt: number | null;
  readonly ackedBy: string | null;
  readonly startedAt: number | null;
  readonly endedAt: number | null;
  /** Operator who acknowledged it, or "controller". */
  readonly by: string | null;
  readonly state: StepView['state'];
  /** Started (or ended) more than LATE_AFTER_MS after its plan, timed out, or overdue now. */
  readonly late: boolean;
  /** Actual start (or end) minus plan, ms; null until it happened. */
  readonly delayMs: number | null;
  readonly result: string;
  readonly checkpoint: 'passed' | 'failed' | null;
}

export interface RunbookExport {
  readonly event: string;
  readonly file: string;
  readonly t0: number;
  readonly timeZone: string;
  readonly startedBy: string;
  readonly startedAt: number;
  readonly rehearsal: { readonly speed: number; readonly realOrigin: number; readonly eventOrigin: number } | null;
  /** The event clock when this was read. */
  readonly now: number;
  readonly status: 'running' | 'finished' | 'aborted';
  readonly summary: string | null;
  readonly aborted: string | null;
  readonly steps: readonly StepRow[];
  /** Switches of the runbook's pipelines since it started, on the event clock. */
  readonly switches: readonly { readonly id: string; readonly pipeline: string; readonly kind: string; readonly from: string; readonly to: string; readonly at: number; readonly requestedBy: string; readonly request: string | null; readonly outcome: string; readonly flipMs: number }[];
  /** Cap changes of the runbook's pipelines since it started, on the event clock. */
  readonly caps: readonly { readonly pipeline: string; readonly at: number; readonly before: number | null; readonly after: number | null; readonly origin: string; readonly reason: string }[];
}

/** The pipelines a runbook's steps and checks name. */
export function runbookPipelines(rb: LoadedRunbook): string[] {
  const out = new Set<string>();
  for (const s of rb.started.runbook.steps) {
    const p = (s.action as { pipeline?: unknown }).pipeline;
    if (typeof p === 'string') out.add(p);
    for (const c of s.checks) if ('pipeline' in c && typeof c.pipeline === 'string') out.add(c.pipeline);
  }
  return [...out];
}

/** The record as status, report and the JSON export show it, at real time `realNow`. */
export function runbookExport(rb: LoadedRunbook, realNow: number, switches: readonly SwitchRecord[] = [], caps: readonly CapEvent[] = []): RunbookExport {
  const { started } = rb;
  const runbook = started.runbook;
  const now = eventTime(started.rehearsal, realNow);
  const state = withInputs(new Map([...rb.steps].map(([id, s]) => [id, s.record])), rb.inputs);
  const plan = planRunbook(runbook, state, now, abortReason(rb.inputs));
  const steps = plan.steps.map((v): StepRow => {
    const r = v.record;
    const actual = r.startedAt ?? (r.status === 'pending' || r.status === 'acked' ? undefined : r.endedAt);
    const delayMs = actual !== undefined && v.plannedAt !== undefined ? actual - v.plannedAt : null;
    return {
      id: v.step.id,
      phase: v.step.phase,
      owner: v.step.owner,
      action: describeAction(v.step.action),
      needsAck: v.step.needsAck,
      checks: v.step.checks.map(describeCheck),
      onFailure: v.step.onFailure,
      timeoutMs: v.step.timeoutMs,
      plannedAt: v.plannedAt ?? null,
      ackedAt: r.ackedAt ?? null,
      ackedBy: r.ackedBy ?? null,
      startedAt: r.startedAt ?? null,
      endedAt: r.endedAt ?? null,
      by: r.by ?? null,
      state: v.state,
      late: v.late || (r.result ?? '').startsWith('timed out') || (delayMs !== null && delayMs > LATE_AFTER_MS),
      delayMs,
      result: v.state === 'done' || v.state === 'failed' || v.state === 'skipped' || v.state === 'running' ? (r.result ?? v.reason) : v.reason,
      checkpoint: r.checkpoint ?? null,
    };
  });
  const since = started.startedAt;
  const toEvent = (real: number) => eventTime(started.rehearsal, real);
  return {
    event: runbook.event,
    file: runbook.file,
    t0: runbook.t0,
    timeZone: runbook.timeZone,
    startedBy: started.startedBy,
    startedAt: started.startedAt,
    rehearsal: started.rehearsal ?? null,
    now,
    status: rb.ended ? rb.ended.outcome : 'running',
    summary: rb.ended?.summary ?? null,
    aborted: plan.aborted ?? null,
    steps,
    switches: switches
      .filter((s) => s.decidedAt >= since)
      .map((s) => ({ id: s.id, pipeline: s.pipeline, kind: s.kind, from: `${s.fromChain}@${s.fromRoom}`, to: `${s.toChain}@${s.toRoom}`, at: toEvent(s.decidedAt), requestedBy: s.requestedBy, request: s.request ?? null, outcome: s.outcome, flipMs: s.flipMs })),
    caps: caps.filter((c) => c.at >= since).map((c) => ({ pipeline: c.pipeline, at: toEvent(c.at), before: c.before ?? null, after: c.after ?? null, origin: c.origin, reason: c.reason })),
  };
}
