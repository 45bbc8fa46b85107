// The leader runs started runbooks (issue 16): each round it folds the operators' acks and skips
// into the record, asks the pure scheduler (core/runbook.ts) what is due, and carries each due
// step out through what exists (caps, switchover intents, pauses, freezes, webhooks). Every step
// is begun by writing `running` with the leader's fence and the record's version as read, before
// anything is done, so two leaders can never both begin it and a deposed one can write nothing.
// A new leader that finds a step running carries it on: a switch it asked for is followed to its
// record, an instant action (all idempotent) is done again, a webhook is sent again with the same
// idempotency key.

import { plannedChangeGate, type SwitchoverIntent } from '../core/switchover.js';
import type { Route, Topology } from '../core/model.js';
import type { Intents } from '../core/safety.js';
import {
  abortReason,
  checkpoint,
  eventTime,
  planRunbook,
  realTime,
  withInputs,
  type Runbook,
  type RunbookAction,
  type RunbookFacts,
  type RunbookStep,
  type StartedRunbook,
  type StepRecord,
} from '../core/runbook.js';
import type { CapStore } from '../ports/cap-store.js';
import type { Clock } from '../ports/clock.js';
import type { IntentStore } from '../ports/intent-store.js';
import type { JournalStore } from '../ports/journal-store.js';
import type { Logger } from '../ports/logger.js';
import type { Notifier } from '../ports/notifier.js';
import type { Fence } from '../ports/route-store.js';
import type { LoadedRunbook, RunbookStore } from '../ports/runbook-store.js';

export interface RunbookKeeperDeps {
  readonly store: RunbookStore;
  readonly intents: IntentStore;
  readonly caps: CapStore;
  readonly journals: JournalStore;
  readonly notifier: Notifier;
  /** The topology's notifications.webhooks: name to URL. */
  readonly webhooks: ReadonlyMap<string, string>;
  readonly topology: Topology;
  /** Real time; a rehearsal's event clock is derived from it (see eventTime). */
  readonly clock: Clock;
  readonly log: Logger;
  /** Counts each step that ends, by how (done, failed, skipped). */
  readonly countStep?: (outcome: string) => void;
}

/** What the leader knows this tick that steps and checks read. */
export interface RunbookInput {
  readonly facts: RunbookFacts;
  readonly routes: ReadonlyMap<string, Route | undefined>;
  readonly intents: Intents | undefined;
}

/** How long a window override a runbook step sets lasts at most (event time); the runbook's end lifts it sooner. */
export const OVERRIDE_MAX_MS = 24 * 3_600_000;

type Outcome = { readonly kind: 'done' | 'pending' | 'failed'; readonly result: string };

class Fenced extends Error {}
class Conflict extends Error {}

export class RunbookKeeper {
  private busy = false;

  constructor(private readonly deps: RunbookKeeperDeps) {}

  /**
   * One pass over every started runbook that has not ended. Rounds do not overlap (a call while
   * one runs returns 'busy'). A runbook whose round fails (a store call, a bad stored value) is
   * logged and tried again next round; the others go on.
   */
  async round(input: RunbookInput, fence: Fence, lost: AbortSignal): Promise<'fenced' | 'ok' | 'busy'> {
    if (this.busy) return 'busy';
    this.busy = true;
    try {
      const loaded = await this.deps.store.list((event, why) => this.deps.log.warn('runbook left out: its start record is not valid', { event, why }));
      for (const rb of loaded) {
        if (rb.ended || lost.aborted) continue;
        try {
          await this.runOne(rb, input, fence, lost);
        } catch (err) {
          if (err instanceof Fenced) return 'fenced';
          if (err instanceof Conflict) continue; // someone else wrote first: read again next round
          this.deps.log.warn('runbook round failed; will retry', { event: rb.started.runbook.event, error: errorText(err) });
        }
      }
      return 'ok';
    } finally {
      this.busy = false;
    }
  }

  private async runOne(rb: LoadedRunbook, input: RunbookInput, fence: Fence, lost: AbortSignal): Promise<void> {
    const { started } = rb;
    const runbook = started.runbook;
    const now = eventTime(started.rehearsal, this.deps.clock.now());
    const versions = new Map([...rb.steps].map(([id, s]) => [id, s.version]));
    const records = new Map([...rb.steps].map(([id, s]) => [id, s.record]));
    const write = async (step: RunbookStep, record: StepRecord) => {
      if (lost.aborted) throw new Fenced();
      const res = await this.deps.store.putStep(fence, runbook.event, step.id, record, versions.get(step.id));
      if (res.kind === 'fenced') throw new Fenced();
      if (res.kind === 'conflict') throw new Conflict();
      if (res.version) versions.set(step.id, res.version);
      const before = records.get(step.id)?.status;
      records.set(step.id, record);
      if (record.status !== before) {
        this.deps.log.info('runbook step', { event: runbook.event, step: step.id, status: record.status, by: record.by, result: record.result });
        if (['done', 'failed', 'skipped'].includes(record.status)) this.deps.countStep?.(record.status);
      }
    };
    const byId = new Map(runbook.steps.map((s) => [s.id, s]));

    // 1. The operators' acks and skips, into the record.
    const folded = withInputs(records, rb.inputs);
    for (const [id, record] of folded) {
      const step = byId.get(id);
      if (!step || records.get(id)?.status === record.status) continue;
      await write(step, record);
    }

    // 2. What the scheduler says now.
    const plan = planRunbook(runbook, records, now, abortReason(rb.inputs));
    for (const v of plan.timedOut) {
      const why = v.state === 'waiting-ack' ? `no ack within ${minutes(v.step.timeoutMs)} of its planned time` : `not finished within ${minutes(v.step.timeoutMs)} of its planned time${v.record.result ? ` (${v.record.result})` : ''}`;
      await this.fail(started, v.step, v.record, `timed out: ${why}`, now, write);
    }
    for (const v of plan.steps) {
      if (v.state !== 'running' || v.late) continue;
      await this.carryOn(started, v.step, v.record, input, now, write);
    }
    for (const v of plan.due) {
      if (lost.aborted) return;
      await this.begin(started, v.step, v.record, input, now, write);
    }

    // 3. The end: every step ended (or, once aborted, none running).
    const after = planRunbook(runbook, records, now, abortReason(rb.inputs));
    if (!after.finished) return;
    const counts = new Map<string, number>();
    for (const s of after.steps) counts.set(s.state, (counts.get(s.state) ?? 0) + 1);
    const summary = [...counts].map(([k, n]) => `${n} ${k === 'blocked' ? 'not run' : k}`).join(', ');
    const res = await this.deps.store.end(fence, runbook.event, { at: now, outcome: after.aborted ? 'aborted' : 'finished', summary: after.aborted ? `${summary}; ${after.aborted}` : summary });
    if (res.kind === 'fenced') throw new Fenced();
    // The window overrides this runbook set end with it (freezes stay until unfrozen: the safe side).
    for (const o of await this.deps.intents.windowOverrides()) if (o.event === runbook.event) await this.deps.intents.clearWindowOverride(o.tier);
    this.deps.log.info('runbook ended', { event: runbook.event, outcome: after.aborted ? 'aborted' : 'finished', summary, ...(after.aborted && { why: after.aborted }) });
  }

  private async begin(started: StartedRunbook, step: RunbookStep, record: StepRecord, input: RunbookInput, now: number, write: Writer): Promise<void> {
    const by = record.ackedBy ?? 'controller';
    const running: StepRecord = { ...record, status: 'running', startedAt: now, by };
    // The record says running before anything is done: a step is begun once.
    await write(step, running);
    await this.act(started, step, running, input, now, write);
  }

  /** A running step: its action (again, or followed to its end), then its checkpoint. */
  private async carryOn(started: StartedRunbook, step: RunbookStep, record: StepRecord, input: RunbookInput, now: number, write: Writer): Promise<void> {
    if (record.acted) return this.checkpoint(started, step, record, input, now, write);
    return this.act(started, step, record, input, now, write);
  }

  private async act(started: StartedRunbook, step: RunbookStep, record: StepRecord, input: RunbookInput, now: number, write: Writer): Promise<void> {
    let outcome: Outcome;
    try {
      outcome = await this.perform(started, step, record, input, now);
    } catch (err) {
      if (err instanceof Fenced || err instanceof Conflict) throw err;
      // A store call that failed: the step stays running and is carried on next round.
      this.deps.log.warn('runbook step not carried out this round; will retry', { event: started.runbook.event, step: step.id, error: errorText(err) });
      return;
    }
    if (outcome.kind === 'failed') return this.fail(started, step, record, outcome.result, now, write);
    if (outcome.kind === 'pending') {
      if (outcome.result !== record.result) await write(step, { ...record, result: outcome.result });
      return;
    }
    const acted: StepRecord = { ...record, acted: true, result: outcome.result };
    return this.checkpoint(started, step, acted, input, now, write);
  }

  private async checkpoint(started: StartedRunbook, step: RunbookStep, record: StepRecord, input: RunbookInput, now: number, write: Writer): Promise<void> {
    const done = (record.result ?? '').split('; checkpoint waits: ')[0]!;
    if (step.checks.length === 0) return write(step, { ...record, status: 'done', endedAt: now, result: done });
    const cp = checkpoint(step.checks, input.facts);
    if (cp.passed) return write(step, { ...record, status: 'done', endedAt: now, checkpoint: 'passed', result: `${done}; checkpoint: ${cp.outcome}` });
    // Checks wait for the state to come right, until the step's timeout.
    const waiting = `${done}; checkpoint waits: ${cp.outcome}`;
    if (waiting !== record.result || !record.acted) await write(step, { ...record, acted: true, result: waiting });
    void started;
  }

  private async fail(started: StartedRunbook, step: RunbookStep, record: StepRecord, why: string, now: number, write: Writer): Promise<void> {
    const runbook = started.runbook;
    let paged = '';
    if (step.onFailure === 'page') {
      // Paged before the failure is written, with an idempotency key: a page is never lost to a crash between the two.
      const url = runbook.page ? this.deps.webhooks.get(runbook.page) : undefined;
      if (!url) paged = `; page not sent: webhook '${runbook.page ?? ''}' is not in the topology`;
      else {
        try {
          const r = await this.deps.notifier.send(url, { event: runbook.event, step: step.id, kind: 'page', message: `step ${step.id} failed: ${why}`, owner: step.owner, at: now }, `${runbook.event}/${step.id}/page`);
          paged = `; paged ${runbook.page} (${r.attempts} attempt(s))`;
        } catch (err) {
          paged = `; page to ${runbook.page} failed: ${errorText(err)}`;
        }
      }
    }
    // A switch this step asked for and that has not started must not run after the step failed.
    let cancelled = '';
    const a = step.action as RunbookAction;
    if (a.kind === 'switchover' || a.kind === 'switchback' || a.kind === 'drill') {
      try {
        const ids = new Set(switchIds(runbook.event, step.id, a.kind === 'drill'));
        // One at a time: cancelling a drill's way out takes its way back with it.
        const removed = new Set<string>();
        for (const i of await this.deps.intents.switchovers()) {
          if (ids.has(i.id) && !removed.has(i.id)) for (const id of await this.deps.intents.cancelSwitchover(i.id)) removed.add(id);
        }
        if (removed.size > 0) cancelled = `; cancelled ${[...removed].join(', ')}`;
      } catch (err) {
        cancelled = `; could not cancel its switch intents: ${errorText(err)}`;
      }
    }
    const checkpointFailed = step.checks.length > 0 && record.acted ? { checkpoint: 'failed' as const } : {};
    await write(step, { ...record, status: 'failed', endedAt: now, by: record.by ?? 'controller', result: `${why}${cancelled}${paged}`, ...checkpointFailed });
    if (step.onFailure === 'abort') this.deps.log.error('runbook aborted: a step failed and says abort', { event: runbook.event, step: step.id, why });
  }

  /** Carries out (or follows) a step's action. Instant actions are idempotent: doing one again is harmless. */
  private async perform(started: StartedRunbook, step: RunbookStep, record: StepRecord, input: RunbookInput, now: number): Promise<Outcome> {
    const { intents, caps, topology } = this.deps;
    const runbook = started.runbook;
    const a = step.action as RunbookAction;
    const realNow = this.deps.clock.now();
    const who = record.by ?? 'controller';
    const why = `runbook ${runbook.event} step ${step.id} (owner ${step.owner})`;
    switch (a.kind) {
      case 'check':
        return { kind: 'done', result: 'checked' };
      case 'cap': {
        const until = a.untilMs !== undefined && a.untilMs > now ? realTime(started.rehearsal, a.untilMs) : undefined;
        await caps.setOverride({ pipeline: a.pipeline, recordsPerSecond: a.recordsPerSecond, reason: why, by: who, at: realNow, ...(until !== undefined && { until }) });
        return { kind: 'done', result: `capped ${a.pipeline} at ${a.recordsPerSecond} records/s${a.untilMs !== undefined ? ` until ${new Date(a.untilMs).toISOString()}` : ''}` };
      }
      case 'uncap': {
        const had = await caps.clearOverride(a.pipeline);
        return { kind: 'done', result: had ? `removed the cap override of ${a.pipeline}` : `${a.pipeline} had no cap override` };
      }
      case 'pause':
        await intents.pause({ pipeline: a.pipeline, by: who, reason: why, at: realNow });
        return { kind: 'done', result: `paused ${a.pipeline ?? 'every pipeline'}` };
      case 'resume': {
        const had = await intents.resume(a.pipeline);
        return { kind: 'done', result: had ? `resumed ${a.pipeline ?? 'every pipeline'}` : `${a.pipeline ?? 'nothing'} was not paused` };
      }
      case 'freeze':
        for (const tier of a.tiers) await intents.freeze({ tier, by: who, reason: why, at: realNow, event: runbook.event });
        return { kind: 'done', result: `froze ${a.tiers.join(', ')}` };
      case 'unfreeze':
        for (const tier of a.tiers) await intents.unfreeze(tier);
        return { kind: 'done', result: `unfroze ${a.tiers.join(', ')}` };
      case 'override-window': {
        const until = realTime(started.rehearsal, now + OVERRIDE_MAX_MS);
        for (const tier of a.tiers) await intents.overrideWindow({ tier, by: who, reason: `${a.reason} (${why})`, at: realNow, until, event: runbook.event });
        return { kind: 'done', result: `change window of ${a.tiers.join(', ')} overridden by ${who} until the runbook ends: ${a.reason}` };
      }
      case 'notify': {
        const url = this.deps.webhooks.get(a.webhook);
        if (!url) return { kind: 'failed', result: `webhook '${a.webhook}' is not in the topology's notifications.webhooks` };
        try {
          const r = await this.deps.notifier.send(url, { event: runbook.event, step: step.id, kind: 'notify', message: a.message, owner: step.owner, at: now }, `${runbook.event}/${step.id}/notify`);
          return { kind: 'done', result: `notified ${a.webhook} (${r.attempts} attempt(s))` };
        } catch (err) {
          return { kind: 'failed', result: `webhook ${a.webhook}: ${errorText(err)}` };
        }
      }
      case 'switchover':
      case 'switchback':
      case 'drill': {
        const pipeline = topology.pipelines.get(a.pipeline);
        if (!pipeline) return { kind: 'failed', result: `unknown pipeline ${a.pipeline}` };
        const route = input.routes.get(pipeline.name);
        const ids = switchIds(runbook.event, step.id, a.kind === 'drill');
        if (!record.result?.startsWith('asked')) {
          // First time here: check the gate and ask for the switch (or switches, for a drill). Not as
          // an emergency: the leader judges the window again, and finds the same override if one let it through.
          if (!route) return { kind: 'pending', result: `${pipeline.name} has no route yet` };
          const policy = topology.policies.get(pipeline.tier);
          if (!policy) return { kind: 'failed', result: `tier ${pipeline.tier} has no policy` };
          const gate = plannedChangeGate(policy, input.intents, now, false, runbook.event);
          if (gate.refusal) return { kind: 'failed', result: `${gate.refusal}; add an overrideWindow step for ${pipeline.tier} before this one` };
          const target =
            a.kind === 'switchover'
              ? pipeline.chains.find((c) => c.name === a.to)
              : a.kind === 'switchback'
                ? pipeline.chains.find((c) => c.role === 'primary')
                : pipeline.chains.find((c) => c.name !== route.chain && c.role !== 'fallback');
          if (!target) return { kind: 'failed', result: `${pipeline.name} has no chain to switch to` };
          if (target.name === route.chain && a.kind !== 'drill') return { kind: 'done', result: `${pipeline.name} already runs on ${target.name}@${target.room}` };
          const common = { pipeline: pipeline.name, at: realNow, reason: `${why}${gate.note}`, by: who, emergency: false, createdAt: realNow, runbook: runbook.event };
          const legs: SwitchoverIntent[] =
            a.kind === 'drill'
              ? [
                  { ...common, id: ids[0]!, to: target.name, drill: { id: `rb-${runbook.event}-${step.id}`, leg: 1, legs: 2 } },
                  { ...common, id: ids[1]!, to: route.chain, drill: { id: `rb-${runbook.event}-${step.id}`, leg: 2, legs: 2 }, after: ids[0]!, ...(a.holdMs > 0 && { holdMs: Math.max(1, Math.round(a.holdMs / (started.rehearsal?.speed ?? 1))) }) },
                ]
              : [{ ...common, id: ids[0]!, to: target.name }];
          try {
            await intents.addSwitchovers(legs);
          } catch (err) {
            // Already asked (a leader that stopped after asking): follow what it asked for.
            const existing = await intents.switchovers();
            if (!legs.every((l) => existing.some((e) => e.id === l.id))) throw err;
          }
          return { kind: 'pending', result: `asked for ${legs.map((l) => `${l.id} (to ${l.to})`).join(', then ')}` };
        }
        return this.followSwitch(pipeline.name, ids, record.result, route);
      }
      default:
        // Stored data from another version: a kind this one does not know fails its step, saying so.
        return { kind: 'failed', result: `unknown action '${String((a as { kind?: unknown }).kind)}'` };
    }
  }

  /** Where the switches a step asked for stand: pending, refused, recorded or gone. */
  private async followSwitch(pipeline: string, ids: readonly string[], asked: string, route: Route | undefined): Promise<Outcome> {
    const pending = await this.deps.intents.switchovers();
    for (const id of ids) {
      const i = pending.find((x) => x.id === id);
      if (i?.refused) return { kind: 'failed', result: `switch ${id} refused: ${i.refused}` };
    }
    if (ids.some((id) => pending.some((x) => x.id === id))) return { kind: 'pending', result: asked };
    const journals = await this.deps.journals.list();
    const j = journals.get(pipeline)?.journal;
    if (j && j.status === 'running' && ids.includes(j.request ?? '')) return { kind: 'pending', result: `${asked}; switch ${j.id} under way` };
    const history = await this.deps.journals.history(pipeline, 50);
    const records = ids.map((id) => history.find((r) => r.request === id));
    if (records.every((r) => r !== undefined)) {
      return { kind: 'done', result: records.map((r) => `switched ${r!.fromChain}@${r!.fromRoom} -> ${r!.toChain}@${r!.toRoom} (${r!.id}, ${r!.outcome}, flip ${r!.flipMs} ms)`).join('; ') };
    }
    // Gone with no record: the leader found nothing to do (already there), or it was cancelled.
    const last = ids[ids.length - 1]!;
    const target = /\(to ([^)]+)\)$/.exec(asked)?.[1];
    if (route && target && route.chain === target && records[records.length - 1] === undefined && ids.length === 1) return { kind: 'done', result: `${pipeline} already ran on ${target}` };
    return { kind: 'failed', result: `switch ${last} did not run (cancelled, or another switch came in between)` };
  }
}

type Writer = (step: RunbookStep, record: StepRecord) => Promise<void>;

/** The ids of the switchover intents a step asks for: one, or a drill's two legs. */
function switchIds(event: string, step: string, drill: boolean): string[] {
  return drill ? [`rb-${event}-${step}-1`, `rb-${event}-${step}-2`] : [`rb-${event}-${step}`];
}

function minutes(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000}m` : `${Math.round(ms / 1000)}s`;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export type { Runbook };
