// The leader runs started runbooks (issue 16): each round it folds the operators' acks and skips
// into the record, asks the pure scheduler (core/runbook.ts) what is due, and carries each due
// step out through what exists (caps, switchover intents, pauses, freezes, webhooks). Every step
// is begun by writing `running` with the leader's fence and the record's version as read, before
// anything is done, so two leaders can never both begin it and a deposed one can write nothing.
// A new leader that finds a step running carries it on: a switch is asked for only after the
// record names it (so it is followed, never asked for twice), an instant action (all idempotent)
// is done again, a webhook is sent again with the same idempotency key. See ADR 0014.

import { plannedChangeGate, type SwitchoverIntent } from '../core/switchover.js';
import type { Route, Topology } from '../core/model.js';
import type { Intents } from '../core/safety.js';
import { runbookActionProblem } from '../core/stored.js';
import {
  abortReason,
  checkpoint,
  eventTime,
  planRunbook,
  realTime,
  withInputs,
  type RunbookAction,
  type RunbookFacts,
  type RunbookStep,
  type StartedRunbook,
  type StepRecord,
  type SwitchAsk,
} from '../core/runbook.js';
import type { CapStore } from '../ports/cap-store.js';
import type { Clock } from '../ports/clock.js';
import type { IntentStore, OwnedWrite } from '../ports/intent-store.js';
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

type Outcome =
  | { readonly kind: 'done' | 'pending' | 'failed'; readonly result: string }
  /** A switch step's first time: the switches to ask for, to be named in the record first. */
  | { readonly kind: 'ask'; readonly intents: readonly SwitchoverIntent[] }
  /** The switches named in the record are asked for (or were found already carried out). */
  | { readonly kind: 'requested' };

class Fenced extends Error {}
class Conflict extends Error {}

type Writer = (step: RunbookStep, record: StepRecord) => Promise<StepRecord>;

/** One runbook's round: what every step of it needs. */
interface Round {
  readonly started: StartedRunbook;
  readonly now: number;
  readonly input: RunbookInput;
  readonly lost: AbortSignal;
  readonly write: Writer;
}

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
    const write: Writer = async (step, record) => {
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
      return record;
    };
    const r: Round = { started, now, input, lost, write };
    const aborted = abortReason(rb.inputs);
    const plan = () => planRunbook(runbook, records, now, aborted);

    // 1. The operators' acks and skips, into the record.
    const folded = withInputs(records, rb.inputs);
    for (const step of runbook.steps) {
      const record = folded.get(step.id);
      if (record && records.get(step.id)?.status !== record.status) await write(step, record);
    }
    // 2. Running steps are carried on first (a switch recorded in time is done, not timed out),
    // 3. then whatever is past its timeout fails, its onFailure applying,
    for (const v of plan().steps) if (v.state === 'running') await this.carryOn(r, v.step, v.record);
    for (const v of plan().timedOut) {
      const why = v.state === 'waiting-ack' ? `no ack within ${minutes(v.step.timeoutMs)} of its planned time` : `not finished within ${minutes(v.step.timeoutMs)} of its planned time${v.record.result ? ` (${v.record.result})` : ''}`;
      await this.fail(r, v.step, v.record, `timed out: ${why}`);
    }
    // 4. and the steps due now begin one at a time, planned again before each (one may have failed
    // and aborted the rest). A step that came due during this round waits for the next: it is
    // judged on that tick's facts and intents (an override a step before it just set, say).
    const dueNow = new Set(plan().due.map((v) => v.step.id));
    const begun = new Set<string>();
    for (;;) {
      const next = plan().due.find((v) => dueNow.has(v.step.id) && !begun.has(v.step.id));
      if (!next || lost.aborted) break;
      begun.add(next.step.id);
      await this.begin(r, next.step, next.record);
    }

    // 5. The end: every step ended (or, once aborted, none running).
    const after = plan();
    if (!after.finished) return;
    // The window overrides this runbook set end with it, before it is marked ended (freezes stay until unfrozen: the safe side).
    for (const o of await this.deps.intents.windowOverrides()) if (o.event === runbook.event) await this.deps.intents.clearWindowOverride(o.tier, runbook.event);
    const counts = new Map<string, number>();
    for (const s of after.steps) counts.set(s.state, (counts.get(s.state) ?? 0) + 1);
    const summary = [...counts].map(([k, n]) => `${n} ${k === 'blocked' ? 'not run' : k}`).join(', ');
    const res = await this.deps.store.end(fence, runbook.event, { at: now, outcome: after.aborted ? 'aborted' : 'finished', summary: after.aborted ? `${summary}; ${after.aborted}` : summary });
    if (res.kind === 'fenced') throw new Fenced();
    this.deps.log.info('runbook ended', { event: runbook.event, outcome: after.aborted ? 'aborted' : 'finished', summary, ...(after.aborted && { why: after.aborted }) });
  }

  private async begin(r: Round, step: RunbookStep, record: StepRecord): Promise<void> {
    const by = record.ackedBy ?? 'controller';
    // The record says running before anything is done: a step is begun once.
    const running = await r.write(step, { ...record, status: 'running', startedAt: r.now, by });
    await this.act(r, step, running);
  }

  /** A running step: its action (again, or followed to its end), then its checkpoint. */
  private async carryOn(r: Round, step: RunbookStep, record: StepRecord): Promise<void> {
    if (record.acted) return this.checkpoint(r, step, record);
    return this.act(r, step, record);
  }

  private async act(r: Round, step: RunbookStep, record: StepRecord): Promise<void> {
    if (r.lost.aborted) throw new Fenced();
    let outcome: Outcome;
    try {
      outcome = await this.perform(r, step, record);
    } catch (err) {
      if (err instanceof Fenced || err instanceof Conflict) throw err;
      // A store call that failed: the step stays running and is carried on next round.
      this.deps.log.warn('runbook step not carried out this round; will retry', { event: r.started.runbook.event, step: step.id, error: errorText(err) });
      return;
    }
    switch (outcome.kind) {
      case 'failed':
        return this.fail(r, step, record, outcome.result);
      case 'ask': {
        // Named in the record before they are asked for: a leader that takes over follows these.
        const asked: SwitchAsk = { intents: outcome.intents, requested: false };
        const named = await r.write(step, { ...record, asked, result: askedText(asked) });
        return this.act(r, step, named);
      }
      case 'requested': {
        const asked: SwitchAsk = { ...record.asked!, requested: true };
        await r.write(step, { ...record, asked, result: askedText(asked) });
        return;
      }
      case 'pending':
        if (outcome.result !== record.result) await r.write(step, { ...record, result: outcome.result });
        return;
      case 'done':
        return this.checkpoint(r, step, { ...record, acted: true, result: outcome.result });
    }
  }

  private async checkpoint(r: Round, step: RunbookStep, record: StepRecord): Promise<void> {
    const done = (record.result ?? '').split('; checkpoint waits: ')[0]!;
    if (step.checks.length === 0) {
      await r.write(step, { ...record, status: 'done', endedAt: r.now, result: done });
      return;
    }
    const cp = checkpoint(step.checks, r.input.facts);
    if (cp.passed) {
      await r.write(step, { ...record, status: 'done', endedAt: r.now, checkpoint: 'passed', result: `${done}; checkpoint: ${cp.outcome}` });
      return;
    }
    // Checks wait for the state to come right, until the step's timeout.
    const waiting = `${done}; checkpoint waits: ${cp.outcome}`;
    if (waiting !== record.result || !record.acted) await r.write(step, { ...record, acted: true, result: waiting });
  }

  private async fail(r: Round, step: RunbookStep, record: StepRecord, why: string): Promise<void> {
    if (r.lost.aborted) throw new Fenced();
    const runbook = r.started.runbook;
    let paged = '';
    if (step.onFailure === 'page') {
      // Paged before the failure is written, with an idempotency key: a page is never lost to a crash between the two.
      const url = runbook.page ? this.deps.webhooks.get(runbook.page) : undefined;
      if (!url) paged = `; page not sent: webhook '${runbook.page ?? ''}' is not in the topology`;
      else {
        try {
          const sent = await this.deps.notifier.send(url, { event: runbook.event, step: step.id, kind: 'page', message: `step ${step.id} failed: ${why}`, owner: step.owner, at: r.now }, `${runbook.event}/${step.id}/page`);
          paged = `; paged ${runbook.page} (${sent.attempts} attempt(s))`;
        } catch (err) {
          paged = `; page to ${runbook.page} failed: ${errorText(err)}`;
        }
      }
    }
    // A switch this step asked for and that has not started must not run after the step failed;
    // one already under way cannot be taken back, and is said to be.
    let cancelled = '';
    if (record.asked) {
      try {
        const ids = new Set(record.asked.intents.map((i) => i.id));
        const removed = new Set<string>();
        // One at a time: cancelling a drill's way out takes its way back with it.
        for (const i of await this.deps.intents.switchovers()) {
          if (ids.has(i.id) && !removed.has(i.id)) for (const id of await this.deps.intents.cancelSwitchover(i.id)) removed.add(id);
        }
        if (removed.size > 0) cancelled = `; cancelled ${[...removed].join(', ')}`;
        const pipeline = record.asked.intents[0]?.pipeline;
        const j = pipeline ? (await this.deps.journals.list()).get(pipeline)?.journal : undefined;
        if (j && j.status === 'running' && ids.has(j.request ?? '')) cancelled += `; switch ${j.id} was under way and carries on`;
      } catch (err) {
        cancelled = `; could not withdraw its switch intents: ${errorText(err)}`;
      }
    }
    const checkpointFailed = step.checks.length > 0 && record.acted ? { checkpoint: 'failed' as const } : {};
    await r.write(step, { ...record, status: 'failed', endedAt: r.now, by: record.by ?? 'controller', result: `${why}${cancelled}${paged}`, ...checkpointFailed });
    if (step.onFailure === 'abort') this.deps.log.error('runbook aborted: a step failed and says abort', { event: runbook.event, step: step.id, why });
  }

  /** Carries out (or follows) a step's action. Instant actions are idempotent: doing one again is harmless. */
  private async perform(r: Round, step: RunbookStep, record: StepRecord): Promise<Outcome> {
    const { intents, caps } = this.deps;
    const { started, now } = r;
    const runbook = started.runbook;
    // Stored data, from any version: an action that cannot be carried out fails its step, saying why.
    const problem = runbookActionProblem(step.action);
    if (problem) return { kind: 'failed', result: `the step's action cannot be carried out: ${problem}` };
    const a = step.action as RunbookAction;
    const realNow = this.deps.clock.now();
    const who = record.by ?? 'controller';
    const why = `runbook ${runbook.event} step ${step.id} (owner ${step.owner})`;
    const tiers = (list: readonly string[], verb: string, done: (t: string, w: OwnedWrite) => string) => async (op: (t: string) => Promise<OwnedWrite>) => {
      const out: string[] = [];
      for (const t of list) out.push(done(t, await op(t)));
      return { kind: 'done' as const, result: `${verb}: ${out.join('; ')}` };
    };
    switch (a.kind) {
      case 'check':
        return { kind: 'done', result: 'checked' };
      case 'cap': {
        if (a.untilMs !== undefined && a.untilMs <= now) return { kind: 'done', result: `nothing capped: the cap's window ended at ${new Date(a.untilMs).toISOString()}, before the step ran` };
        const until = a.untilMs !== undefined ? realTime(started.rehearsal, a.untilMs) : undefined;
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
        return tiers(a.tiers, 'froze', (t, w) => (w.kind === 'held' ? `${t} was frozen already by ${w.by} (left as it is)` : t))((t) => intents.freeze({ tier: t, by: who, reason: why, at: realNow, event: runbook.event }));
      case 'unfreeze':
        return tiers(a.tiers, 'unfroze', (t, w) => (w.kind === 'held' ? `${t} is frozen by ${w.by}, not by this runbook (left as it is)` : w.kind === 'absent' ? `${t} was not frozen` : t))((t) => intents.unfreeze(t, runbook.event));
      case 'override-window': {
        const until = realTime(started.rehearsal, now + OVERRIDE_MAX_MS);
        return tiers(a.tiers, `change window overridden by ${who} until the runbook ends (${a.reason})`, (t, w) => (w.kind === 'held' ? `${t} overridden already by ${w.by} (left as it is)` : t))((t) =>
          intents.overrideWindow({ tier: t, by: who, reason: `${a.reason} (${why})`, at: realNow, until, event: runbook.event }),
        );
      }
      case 'notify': {
        const url = this.deps.webhooks.get(a.webhook);
        if (!url) return { kind: 'failed', result: `webhook '${a.webhook}' is not in the topology's notifications.webhooks` };
        try {
          const sent = await this.deps.notifier.send(url, { event: runbook.event, step: step.id, kind: 'notify', message: a.message, owner: step.owner, at: now }, `${runbook.event}/${step.id}/notify`);
          return { kind: 'done', result: `notified ${a.webhook} (${sent.attempts} attempt(s))` };
        } catch (err) {
          return { kind: 'failed', result: `webhook ${a.webhook}: ${errorText(err)}` };
        }
      }
      case 'switchover':
      case 'switchback':
      case 'drill':
        if (!record.asked) return this.ask(r, step, a, who, why);
        if (!record.asked.requested) return this.request(record.asked);
        return this.followSwitch(record.asked, r.input.routes);
    }
  }

  /** A switch step's first time: the gate (window, freezes) at event time, and the switches to ask for. */
  private ask(r: Round, step: RunbookStep, a: Extract<RunbookAction, { kind: 'switchover' | 'switchback' | 'drill' }>, who: string, why: string): Outcome {
    const { topology } = this.deps;
    const { started, now } = r;
    const runbook = started.runbook;
    const pipeline = topology.pipelines.get(a.pipeline);
    if (!pipeline) return { kind: 'failed', result: `unknown pipeline ${a.pipeline}` };
    const route = r.input.routes.get(pipeline.name);
    if (!route) return { kind: 'pending', result: `${pipeline.name} has no route yet` };
    const policy = topology.policies.get(pipeline.tier);
    if (!policy) return { kind: 'failed', result: `tier ${pipeline.tier} has no policy` };
    // Judged at event time (the night's hours, also in a rehearsal); overrides end in real time.
    const wanted = r.input.intents;
    const overrides = wanted?.windowOverrides && new Map([...wanted.windowOverrides].map(([t, o]) => [t, { ...o, until: eventTime(started.rehearsal, o.until) }]));
    const gate = plannedChangeGate(policy, wanted && { ...wanted, ...(overrides && { windowOverrides: overrides }) }, now, false, runbook.event);
    if (gate.refusal) return { kind: 'failed', result: `${gate.refusal}; add an overrideWindow step for ${pipeline.tier} before this one` };
    const target =
      a.kind === 'switchover' ? pipeline.chains.find((c) => c.name === a.to) : a.kind === 'switchback' ? pipeline.chains.find((c) => c.role === 'primary') : pipeline.chains.find((c) => c.name !== route.chain && c.role !== 'fallback');
    if (!target) return { kind: 'failed', result: `${pipeline.name} has no chain to switch to` };
    if (target.name === route.chain && a.kind !== 'drill') return { kind: 'done', result: `${pipeline.name} already runs on ${target.name}@${target.room}` };
    const realNow = this.deps.clock.now();
    const base = `rb-${runbook.event}-${step.id}`;
    const cleared = gate.note ? gate.note.trim().replace(/^\((.*)\)$/, '$1') : `inside the change window of ${pipeline.tier} at ${new Date(now).toISOString()}`;
    // Not as an emergency: the runbook judged the window (at event time) and says how it passed.
    const common = { pipeline: pipeline.name, at: realNow, reason: why, by: who, emergency: false, createdAt: realNow, runbook: runbook.event, windowCleared: cleared };
    const legs: SwitchoverIntent[] =
      a.kind === 'drill'
        ? [
            { ...common, id: `${base}-1`, to: target.name, drill: { id: base, leg: 1, legs: 2 } },
            { ...common, id: `${base}-2`, to: route.chain, drill: { id: base, leg: 2, legs: 2 }, after: `${base}-1`, ...(a.holdMs > 0 && { holdMs: Math.max(1, Math.round(a.holdMs / (started.rehearsal?.speed ?? 1))) }) },
          ]
        : [{ ...common, id: base, to: target.name }];
    return { kind: 'ask', intents: legs };
  }

  /**
   * Asks for the switches the record names, unless one of them has already been carried out (a
   * leader that asked and died before saying so): then they are followed, not asked for again.
   */
  private async request(asked: SwitchAsk): Promise<Outcome> {
    const ids = new Set(asked.intents.map((i) => i.id));
    const pipeline = asked.intents[0]!.pipeline;
    const [pending, journals, history] = await Promise.all([this.deps.intents.switchovers(), this.deps.journals.list(), this.deps.journals.history(pipeline, 50)]);
    const seen = pending.some((i) => ids.has(i.id)) || ids.has(journals.get(pipeline)?.journal.request ?? '') || history.some((h) => ids.has(h.request ?? ''));
    if (!seen) await this.deps.intents.addSwitchovers(asked.intents);
    return { kind: 'requested' };
  }

  /** Where the switches a step asked for stand: pending, refused, recorded or gone. */
  private async followSwitch(asked: SwitchAsk, routes: ReadonlyMap<string, Route | undefined>): Promise<Outcome> {
    const ids = asked.intents.map((i) => i.id);
    const pipeline = asked.intents[0]!.pipeline;
    const text = askedText(asked);
    const pending = await this.deps.intents.switchovers();
    for (const id of ids) {
      const i = pending.find((x) => x.id === id);
      if (i?.refused) return { kind: 'failed', result: `switch ${id} refused: ${i.refused}` };
    }
    if (ids.some((id) => pending.some((x) => x.id === id))) return { kind: 'pending', result: text };
    const j = (await this.deps.journals.list()).get(pipeline)?.journal;
    if (j && j.status === 'running' && ids.includes(j.request ?? '')) return { kind: 'pending', result: `${text}; switch ${j.id} under way` };
    const history = await this.deps.journals.history(pipeline, 50);
    const records = ids.map((id) => history.find((h) => h.request === id));
    if (records.every((h) => h !== undefined)) {
      return { kind: 'done', result: records.map((h) => `switched ${h!.fromChain}@${h!.fromRoom} -> ${h!.toChain}@${h!.toRoom} (${h!.id}, ${h!.outcome}, flip ${h!.flipMs} ms)`).join('; ') };
    }
    // Gone with no record: the leader found nothing to do (already there), or it was cancelled.
    const last = asked.intents[asked.intents.length - 1]!;
    if (asked.intents.length === 1 && routes.get(pipeline)?.chain === last.to) return { kind: 'done', result: `${pipeline} already ran on ${last.to}` };
    return { kind: 'failed', result: `switch ${last.id} did not run (cancelled, or another switch came in between)` };
  }
}

/** "asked for rb-x-drill-1 (to standby), then rb-x-drill-2 (to primary)". */
function askedText(asked: SwitchAsk): string {
  return `${asked.requested ? 'asked for' : 'asking for'} ${asked.intents.map((i) => `${i.id} (to ${i.to})`).join(', then ')}`;
}

function minutes(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000}m` : `${Math.round(ms / 1000)}s`;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
