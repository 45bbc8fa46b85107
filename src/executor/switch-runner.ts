// Carries out a switch as journaled steps. Each step is idempotent and saved with a fenced
// compare-and-set before any step that acts after it begins, so whichever leader holds the fence
// can pick the journal up at its next unsaved step; a deposed leader's next save is refused. The
// steps between the intent and the route write are saved together, after it (CARRIED, ADR 0021).

import {
  SWITCH_STEPS,
  journalId,
  nextStep,
  toRecord,
  withStep,
  stepAt,
  type SwitchJournal,
  type SwitchKind,
  type SwitchRequest,
  type SwitchStep,
} from '../core/journal.js';
import type { Action } from '../core/decide.js';
import type { Clock } from '../ports/clock.js';
import type { ConsumerAck, JournalStore, StoredJournal } from '../ports/journal-store.js';
import type { Logger } from '../ports/logger.js';
import type { ControllerMetrics } from '../ports/metrics.js';
import type { Fence, RouteStore, StoredRoute, WriteOutcome } from '../ports/route-store.js';
import { queryRouteOf, type QueryRoute } from '../core/model.js';
import type { WatermarkStore } from '../ports/watermark-store.js';
import type { GroupInspector } from '../ports/group-inspector.js';
import type { ConsumerPresence, ConsumerRegistry } from '../ports/consumer-registry.js';

export type RunResult =
  | { readonly kind: 'done'; readonly journal: SwitchJournal }
  /** Waiting for consumers to acknowledge; advance again on a later tick. */
  | { readonly kind: 'pending'; readonly journal: SwitchJournal }
  /** Not the leader any more: stop acting. */
  | { readonly kind: 'fenced' }
  /**
   * The journal or route moved under us, or a step or a store call failed: decide again next
   * tick. `failed`: an error (a store call that rejected, bad stored data), not a lost race.
   * `opened`: the journal was saved before it stopped, so the switch is under way and resumes
   * from the journal on a later tick.
   */
  | { readonly kind: 'retry'; readonly why: string; readonly failed?: boolean; readonly opened?: boolean };

/**
 * Fault injection for tests: pause this long after saving this step, or before saving it (after
 * its work is done) — the second freezes a leader in the middle of acting, which is exactly the
 * moment fencing exists for.
 */
export interface FaultPause {
  readonly step: SwitchStep;
  readonly ms: number;
  readonly when: 'after-save' | 'before-save';
}

export interface SwitchRunnerDeps {
  readonly journals: JournalStore;
  readonly routes: RouteStore;
  readonly queryRoutes: RouteStore<QueryRoute>;
  readonly watermarks: WatermarkStore;
  /** The pipeline's live SDK consumer instances: the ones a switch must move (fence-old, verify). */
  readonly consumers: ConsumerRegistry;
  /** Who is still in the pipeline's group in a room's Kafka (fence-old, verify); optional. */
  readonly groups?: GroupInspector;
  /**
   * Points a pipeline's Kubernetes Service at a chain under a route epoch, where the pipeline
   * names one; returns a note of what it did. Conditional on the epoch (a Service already at this
   * epoch or a later one is left alone), so repeating the step is safe.
   */
  readonly pointService?: (pipeline: string, chain: string, epoch: number) => Promise<string | undefined>;
  /** Does this OLAP endpoint answer a query now? (verify step) */
  readonly olapAnswers: (url: string) => Promise<boolean>;
  /**
   * Step start-jobs: makes sure the target chain's stream jobs run before any route flips (a warm
   * standby's are started from their newest savepoint). Resolves with a note; rejects to retry.
   * Absent: nothing to start (no Flink jobs are started by this controller).
   */
  readonly startJobs?: (journal: SwitchJournal) => Promise<string>;
  /**
   * Step stop-jobs: once consumers have moved, stops the stream jobs of a warm standby chain the
   * switch left, with a savepoint its next start restores from. Resolves with a note; rejects to retry.
   */
  readonly stopJobs?: (journal: SwitchJournal) => Promise<string>;
  /**
   * Step start-jobs, beside startJobs: the target chain's Kubernetes workloads (Deployments
   * scaled up, FlinkDeployments running). Never rejects (a failure is noted; a failover must not
   * wait on the Kubernetes API). Undefined: the chain has none.
   */
  readonly prepareWorkloads?: (journal: SwitchJournal) => Promise<string | undefined>;
  /**
   * Step stop-jobs, beside stopJobs: the target's workloads again, and the left chain's scaled
   * to idle or suspended. Rejects to retry.
   */
  readonly releaseWorkloads?: (journal: SwitchJournal) => Promise<string | undefined>;
  readonly observer: string;
  readonly verifyTimeoutMs: number;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: ControllerMetrics;
  readonly faultPause?: FaultPause;
}

type SwitchAction = Extract<Action, { kind: 'switch-route' }>;
type StepOutcome = { readonly note: string; readonly ackAt?: number } | 'pending';
type Done = { readonly step: SwitchStep; readonly outcome: StepOutcome; readonly at: number; readonly ms: number };

/**
 * Steps saved with the next one, not on their own, and run side by side. Each only reads, or
 * (start-jobs) makes sure of something and is safe to repeat, and the intent saved before them
 * says a switch is under way: a leader that resumes the journal runs them again. Saving each on
 * its own would put an etcd round trip between the decision and the route write for nothing.
 * Their save is the one after the route write (flip-consumers). ADR 0021.
 */
const CARRIED: ReadonlySet<SwitchStep> = new Set(['gate', 'start-jobs', 'fence-old', 'place-offsets']);

function stepAfter(step: SwitchStep): SwitchStep | undefined {
  return SWITCH_STEPS[SWITCH_STEPS.indexOf(step) + 1];
}

type Settled<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown };

/** A promise that never rejects (read ahead, awaited later or never), and back. */
function settle<T>(p: Promise<T>): Promise<Settled<T>> {
  return p.then(
    (value) => ({ ok: true, value }),
    (error: unknown) => ({ ok: false, error }),
  );
}

/** Whether a route read (settled) holds this switch's target already: its epoch and chain. */
function carriesSwitch(j: SwitchJournal): (read: Settled<StoredRoute | undefined>) => boolean {
  return (read) => read.ok && read.value !== undefined && read.value.route.epoch === j.to.epoch && read.value.route.chain === j.to.chain;
}

function unsettle<T>(s: Settled<T>): T {
  if (!s.ok) throw s.error;
  return s.value;
}

export class SwitchRunner {
  constructor(private readonly deps: SwitchRunnerDeps) {}

  /**
   * Opens the journal for a switch the core decided, then runs it as far as it goes. Never
   * rejects: a failed store call or bad data comes back as `retry` with `failed`.
   */
  async start(
    fence: Fence,
    action: SwitchAction,
    kind: SwitchKind,
    current: StoredJournal | undefined,
    lost: AbortSignal,
    request: SwitchRequest = { by: this.deps.observer },
  ): Promise<RunResult> {
    if (current && current.journal.status === 'running') return { kind: 'retry', why: `switch ${current.journal.id} is still running` };
    const now = this.deps.clock.now();
    const journal: SwitchJournal = {
      id: journalId(action.route.pipeline, action.route.epoch),
      pipeline: action.route.pipeline,
      kind,
      from: action.from,
      to: action.route,
      reason: action.reason,
      requestedBy: request.by,
      ...(request.id !== undefined && { request: request.id }),
      // The decision's own time (the new route's since), which the dwell and rate rules count from.
      createdAt: Math.min(now, action.route.since),
      detectedAfterMs: action.detectedAfterMs,
      ...(action.gap && { gap: action.gap }),
      steps: [],
      status: 'running',
    };
    let opened: SwitchJournal;
    let saved: WriteOutcome & { version?: string };
    try {
      opened = withStep(journal, { step: 'intent', at: now, ms: 0, by: this.deps.observer, note: action.reason });
      saved = await this.save(`journal ${journal.id}`, () => this.deps.journals.put(fence, opened, current?.version));
    } catch (err) {
      return { kind: 'retry', why: errorText(err), failed: true };
    }
    if (saved.kind === 'fenced') return this.fenced('intent', opened);
    if (saved.kind === 'conflict' || !saved.version) return { kind: 'retry', why: 'journal changed since it was read' };
    this.deps.log.info('switch started', { id: opened.id, pipeline: opened.pipeline, from: action.from.room, to: action.route.room, epoch: action.route.epoch });
    await this.faultPoint('intent', 'after-save');
    const result = await this.advance(fence, { journal: opened, version: saved.version }, lost, true);
    return result.kind === 'retry' ? { ...result, opened: true } : result;
  }

  /**
   * Runs the journal's remaining steps until done, pending (verify) or stopped. Never rejects:
   * a store call that fails (a step's work or the save after it) or a journal that cannot be run
   * comes back as `retry` with `failed`, and the next call starts again from the last saved step.
   */
  async advance(fence: Fence, stored: StoredJournal, lost: AbortSignal, opened = false): Promise<RunResult> {
    try {
      return await this.advanceSteps(fence, stored, lost, opened);
    } catch (err) {
      return { kind: 'retry', why: `switch ${stored.journal.id} not advanced: ${errorText(err)}`, failed: true };
    }
  }

  /** `opened`: the intent was saved by this call's caller just now, so no route can carry this switch yet. */
  private async advanceSteps(fence: Fence, stored: StoredJournal, lost: AbortSignal, opened: boolean): Promise<RunResult> {
    let { journal, version } = stored;
    for (;;) {
      const first = nextStep(journal);
      if (!first) return { kind: 'done', journal };
      if (lost.aborted) return { kind: 'fenced' };
      // The steps carried by the next save (none, or gate..place-offsets), then the one that acts.
      const carried: SwitchStep[] = [];
      let step: SwitchStep | undefined = first;
      while (step && CARRIED.has(step)) {
        carried.push(step);
        step = stepAfter(step);
      }
      // The route read ahead, beside the carried steps: its version guards the write as before.
      const routeAhead = step === 'flip-consumers' && carried.length > 0 ? settle(this.deps.routes.get(journal.pipeline)) : undefined;
      let done: Done[];
      if (routeAhead && !opened && (await routeAhead.then(carriesSwitch(journal)))) {
        // Resumed with the carried steps unsaved, and the route already written by this switch (the
        // save after the write did not land). Those steps were done before that write: run again
        // now, they would describe the state after the move, and a start-jobs failing now would
        // hold the rest of the switch (the query route, verify, the record) for good.
        const at = this.deps.clock.now();
        done = carried.map((s) => ({ step: s, outcome: { note: `not run again: the route is at epoch ${journal.to.epoch} already, written by this switch after this step ran` }, at, ms: 0 }));
      } else {
        const settled = await Promise.allSettled(carried.map((s) => this.timed(s, fence, journal)));
        done = [];
        for (const [i, r] of settled.entries()) {
          const s = carried[i]!;
          if (r.status === 'rejected') {
            if (r.reason instanceof FencedError) return this.fenced(s, journal);
            return { kind: 'retry', why: `step ${s} failed: ${errorText(r.reason)}`, failed: true };
          }
          done.push(r.value);
        }
      }
      let outcome: StepOutcome | undefined;
      if (step) {
        if (lost.aborted) return { kind: 'fenced' };
        try {
          const last = await this.timed(step, fence, journal, routeAhead);
          if (last.outcome !== 'pending') done.push(last);
          else outcome = 'pending';
        } catch (err) {
          if (err instanceof FencedError) return this.fenced(step, journal);
          return { kind: 'retry', why: `step ${step} failed: ${errorText(err)}`, failed: true };
        }
      }
      if (done.length === 0) return { kind: 'pending', journal };
      let next = journal;
      for (const d of done) {
        const o = d.outcome as Exclude<StepOutcome, 'pending'>;
        // Steps that ran side by side finish in any order: each is recorded as done by the later of
        // its own end and the step before's, so that the journal's times never go back.
        const at = Math.max(d.at, next.steps.at(-1)?.at ?? d.at);
        next = withStep(next, { step: d.step, at, ms: d.ms, by: this.deps.observer, note: o.note, ...(o.ackAt !== undefined && { ackAt: o.ackAt }) });
      }
      const what = `step ${done.map((d) => d.step).join(', ')}`;
      const closing = done.at(-1)!;
      if (closing.step === 'record') {
        const verified = stepAt(next, 'verify');
        const record = toRecord(next, verified?.ackAt, verified?.note ?? '');
        const finished = await this.save(what, () => this.deps.journals.finish(fence, next, record, version));
        if (finished.kind === 'fenced') return this.fenced(closing.step, journal);
        if (finished.kind === 'conflict') return { kind: 'retry', why: 'journal changed while recording' };
        for (const d of done) this.deps.metrics.step(d.step, d.ms);
        this.deps.metrics.recorded(record);
        this.deps.log.info('switch recorded', { ...record });
        return { kind: 'done', journal: next };
      }
      const saved = await this.save(what, () => this.deps.journals.put(fence, next, version));
      if (saved.kind === 'fenced') return this.fenced(closing.step, journal);
      if (saved.kind === 'conflict' || !saved.version) return { kind: 'retry', why: `journal changed while saving ${what}` };
      for (const d of done) {
        this.deps.metrics.step(d.step, d.ms);
        this.deps.log.info('switch step done', { id: journal.id, step: d.step, ms: d.ms, note: (d.outcome as Exclude<StepOutcome, 'pending'>).note });
      }
      journal = next;
      version = saved.version;
      for (const d of done) await this.faultPoint(d.step, 'after-save');
      if (outcome === 'pending') return { kind: 'pending', journal };
    }
  }

  /** One step's work, timed; its before-save fault point comes after the work, as its name says. */
  private async timed(step: SwitchStep, fence: Fence, j: SwitchJournal, routeAhead?: Promise<Settled<StoredRoute | undefined>>): Promise<Done> {
    const started = this.deps.clock.now();
    const outcome = await this.run(step, fence, j, routeAhead);
    if (outcome === 'pending' && CARRIED.has(step)) throw new Error(`step ${step} cannot wait: it is saved with the next`);
    if (outcome !== 'pending') await this.faultPoint(step, 'before-save');
    const at = this.deps.clock.now();
    return { step, outcome, at, ms: at - started };
  }

  /** A journal write; one that rejects (timeout, etcd away) is counted and said so. It may have applied. */
  private async save<T>(what: string, write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (err) {
      this.deps.metrics.writeRejected('error');
      throw new Error(`saving ${what} failed (it may have applied; the journal is read again next tick): ${errorText(err)}`);
    }
  }

  private fenced(step: SwitchStep, journal: SwitchJournal): RunResult {
    this.deps.metrics.writeRejected('fenced');
    this.deps.log.warn('switch step fenced off: not the leader any more', { id: journal.id, step });
    return { kind: 'fenced' };
  }

  private async faultPoint(step: SwitchStep, when: FaultPause['when']): Promise<void> {
    const f = this.deps.faultPause;
    if (f && f.step === step && f.when === when) {
      this.deps.log.warn('fault injection: pausing', { step, when, ms: f.ms });
      await this.deps.clock.sleep(f.ms);
    }
  }

  /**
   * Members of the pipeline's group in the old room's Kafka, with a sentence for the journal.
   * SDK consumers' paused standby members there (`standbyIds`, from their presence) read nothing
   * and are not counted.
   */
  private async oldRoomMembers(j: SwitchJournal, standbyIds: ReadonlySet<string>): Promise<{ members: number; note: string }> {
    const groups = this.deps.groups;
    if (!groups || j.from.room === j.to.room) return { members: 0, note: '' };
    const where = `group ${j.from.consumerGroup} in ${j.from.room}`;
    try {
      const all = await groups.members(j.from.kafka.brokers, j.from.consumerGroup, 1500);
      const members = all.filter((m) => !standbyIds.has(m.clientId));
      const paused = all.length - members.length;
      const pausedNote = paused > 0 ? ` (and ${paused} paused standby member(s) of SDK consumers, not counted)` : '';
      if (members.length === 0) return { members: 0, note: `${where}: no member${pausedNote}` };
      return { members: members.length, note: `${where}: ${members.length} member(s) still reading (${members.map((m) => `${m.clientId}@${m.clientHost}`).join(', ')})${pausedNote}` };
    } catch (err) {
      return { members: 0, note: `${where}: the room does not answer (${(err as Error).message}), so nobody reads it there` };
    }
  }

  /** One step's work. Returns its note, or 'pending' to come back later. Safe to repeat. */
  private async run(step: SwitchStep, fence: Fence, j: SwitchJournal, routeAhead?: Promise<Settled<StoredRoute | undefined>>): Promise<StepOutcome> {
    const done = (note: string) => ({ note });
    switch (step) {
      case 'intent':
        return done(j.reason);
      case 'gate':
        // The core applied every gate (quorum, pause, dwell, rate, data budget) before deciding.
        return done(`passed at decision time: ${j.reason}`);
      case 'start-jobs':
        return done(await both(this.deps.startJobs ? this.deps.startJobs(j) : 'no stream jobs to start', this.deps.prepareWorkloads?.(j)));
      case 'stop-jobs':
        return done(await both(this.deps.stopJobs ? this.deps.stopJobs(j) : 'no stream jobs to stop', this.deps.releaseWorkloads?.(j)));
      case 'fence-old': {
        // Nothing here stops a consumer: each SDK consumer fences itself, letting go of a route
        // once it sees a higher epoch. This step says who there is to move.
        const live = await this.deps.consumers.live(j.pipeline);
        const onOld = live.filter((c) => (servingEpochOf(c) ?? Infinity) < j.to.epoch);
        const who = onOld.length > 0 ? ` (${onOld.map((c) => `${c.consumer} in ${c.servingRoom ?? c.room}`).join(', ')})` : '';
        // The old room's Kafka group is looked at in verify, after the flip: a dead or silent room
        // must not add its timeout to the RTO here.
        return done(
          `${live.length} live consumer(s), ${onOld.length} serving an epoch below ${j.to.epoch}${who}; ` +
            `not stopped by the controller: an SDK consumer stops using its route when it sees a newer epoch, and epoch ${j.to.epoch} is written at flip-consumers`,
        );
      }
      case 'place-offsets': {
        const parts = await Promise.all(
          j.to.kafka.topics.map(async (topic) => {
            const marks = await this.deps.watermarks.read(j.to.consumerGroup, topic);
            return marks.size === 0 ? `${topic}: no watermark yet` : `${topic}: watermarks ${[...marks].map(([p, t]) => `p${p}=${t}`).join(' ')}`;
          }),
        );
        return done(`consumers seek by event time (watermark - margin) in ${j.to.room}; ${parts.join('; ')}`);
      }
      case 'flip-consumers': {
        const stored = routeAhead ? unsettle(await routeAhead) : await this.deps.routes.get(j.pipeline);
        if (stored && stored.route.epoch === j.to.epoch && stored.route.chain === j.to.chain) return done(`route already at epoch ${j.to.epoch}`);
        if (!stored || stored.route.epoch !== j.from.epoch) throw new Error(`route is at epoch ${stored?.route.epoch ?? 'none'}, expected ${j.from.epoch}`);
        const written = await this.deps.routes.put(fence, j.to, stored.version);
        if (written.kind === 'fenced') throw new FencedError();
        if (written.kind === 'conflict') throw new Error('route changed since it was read');
        this.deps.metrics.switched(j.pipeline, j.detectedAfterMs, this.deps.clock.now() - j.createdAt);
        return done(`route ${j.to.chain}@${j.to.room} written at epoch ${j.to.epoch}`);
      }
      case 'flip-queries': {
        // Idempotent: the Service is patched only if it carries an older route epoch than ours.
        const service = (await this.deps.pointService?.(j.pipeline, j.to.chain, j.to.epoch)) ?? '';
        const target = queryRouteOf(j.to, this.deps.clock.now());
        if (!target) return done(`no query route: the target room has no OLAP endpoint${service && `; ${service}`}`);
        const stored = await this.deps.queryRoutes.get(j.pipeline);
        if (stored && stored.route.epoch >= target.epoch) return done(`query route already at epoch ${stored.route.epoch}${service && `; ${service}`}`);
        const written = await this.deps.queryRoutes.put(fence, target, stored?.version);
        if (written.kind === 'fenced') throw new FencedError();
        if (written.kind === 'conflict') throw new Error('query route changed since it was read');
        return done(`query route ${target.url} (${target.room}) written at epoch ${target.epoch}${service && `; ${service}`}`);
      }
      case 'verify': {
        const olapOk = j.to.olap ? await this.deps.olapAnswers(j.to.olap.url) : true;
        const [live, allAcks] = await Promise.all([this.deps.consumers.live(j.pipeline), this.deps.journals.acks(j.pipeline)]);
        const acks = allAcks.filter((a) => a.epoch >= j.to.epoch);
        const check = checkConsumers(live, acks, j.to.epoch);
        const olapNote = j.to.olap ? `; ${j.to.olap.url} ${olapOk ? 'answers' : 'does not answer'}` : '';
        // Only once the consumers have moved: is anyone still reading the old room? (A dead room
        // answers nothing, and nobody can read it either.)
        // Only ids the SDK gives standby members: a presence cannot hide a reader by naming its id.
        const standbyIds = new Set(live.flatMap((p) => (typeof p.standbyClientId === 'string' && p.standbyClientId.includes('-standby-') && p.standbyRoom === j.from.room ? [p.standbyClientId] : [])));
        const oldRoom = acks.length > 0 && check.behind.length === 0 && olapOk && j.from.room !== j.to.room ? await this.oldRoomMembers(j, standbyIds) : { members: 0, note: '' };
        const oldNote = oldRoom.note ? `; ${oldRoom.note}` : '';
        if (acks.length > 0 && check.behind.length === 0 && olapOk && oldRoom.members === 0) {
          const first = Math.min(...acks.map((a) => a.firstMessageAt));
          return { note: `verified: ${check.summary}${oldNote}${olapNote}`, ackAt: first };
        }
        const flippedAt = stepAt(j, 'flip-consumers')?.at ?? j.createdAt;
        const waited = this.deps.clock.now() - flippedAt;
        if (waited < this.deps.verifyTimeoutMs) return 'pending';
        const missing = [
          ...(acks.length === 0 ? [`no consumer acknowledged epoch ${j.to.epoch}`] : []),
          ...(check.behind.length > 0 ? [`not moved: ${check.behind.map(describeConsumer).join('; ')}`] : []),
        ];
        return done(`unverified within ${this.deps.verifyTimeoutMs} ms: ${check.summary}${missing.length > 0 ? `; ${missing.join('; ')}` : ''}${oldNote}${olapNote}`);
      }
      case 'record':
        return done('recorded');
    }
  }
}

/**
 * A step's stream-job work and its Kubernetes work, side by side: both settle before the step
 * ends or fails (a fast failure of one must not let a retry start the other, e.g. a second
 * stop-with-savepoint, while it still runs). One note of both, or the first failure.
 */
async function both(jobs: Promise<string> | string, workloads: Promise<string | undefined> | undefined): Promise<string> {
  const [a, b] = await Promise.allSettled([jobs, workloads]);
  if (a.status === 'rejected') throw a.reason;
  if (b.status === 'rejected') throw b.reason;
  return b.value ? `${a.value}; ${b.value}` : a.value;
}

/** The epoch a consumer reads under now, if it reads at all. */
function servingEpochOf(c: ConsumerPresence): number | undefined {
  return c.servingEpoch ?? (c.state === 'consuming' ? c.epoch : undefined);
}

/**
 * Which live consumers have moved to `epoch`: acknowledged it (or a later one), or report
 * consuming under it. Consumers whose presence expired are not expected; their acks still count
 * towards "someone processed a record under the new route".
 */
function checkConsumers(live: readonly ConsumerPresence[], acks: readonly ConsumerAck[], epoch: number): { readonly behind: ConsumerPresence[]; readonly summary: string } {
  const acked = new Set(acks.map((a) => a.consumer));
  const liveNames = new Set(live.map((c) => c.consumer));
  const ackedLive = live.filter((c) => acked.has(c.consumer));
  const servingOnly = live.filter((c) => !acked.has(c.consumer) && c.state === 'consuming' && (c.servingEpoch ?? -Infinity) >= epoch);
  const behind = live.filter((c) => !acked.has(c.consumer) && !servingOnly.includes(c));
  const gone = acks.filter((a) => !liveNames.has(a.consumer)).length;
  const summary =
    `${ackedLive.length} of ${live.length} live consumer(s) acknowledged epoch ${epoch}` +
    (servingOnly.length > 0 ? `, ${servingOnly.length} more report consuming under it (${servingOnly.map((c) => c.consumer).join(', ')})` : '') +
    (gone > 0 ? `; ${gone} acknowledgement(s) from consumers not live now` : '');
  return { behind, summary };
}

function describeConsumer(c: ConsumerPresence): string {
  const serving = c.servingRoom !== undefined || c.servingEpoch !== undefined ? `, serving ${c.servingRoom ?? '?'} under epoch ${c.servingEpoch ?? '?'}` : '';
  return `${c.consumer} (${c.state}${c.reason ? `: ${c.reason}` : ''}; sees epoch ${c.epoch} in ${c.room}${serving})`;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

class FencedError extends Error {
  override readonly name = 'FencedError';
  constructor() {
    super('fenced: not the leader any more');
  }
}
