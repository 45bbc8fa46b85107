// The controller's brain: from what it observed, the routes it read and the operators' intents,
// decide what to do now. Pure: the clock is an argument, no I/O, no globals. Every pipeline gets
// a verdict with a stable rule name and a sentence naming the rooms and the numbers.

import { arbitrate, canServe, NOTHING_OBSERVED, worse, type Arbitrated, type ObserverView } from './arbitration.js';
import { dataBudgetGate, type PartitionEstimate } from './data-budget.js';
import { gapOf, type DataGap } from './data-estimate.js';
import { outsideChangeWindow } from './change-window.js';
import { foldObservation, withStaleness, UNKNOWN_HEALTH, type Component, type ComponentHealth, type Observation } from './health.js';
import { failoverTargetOf, HOUR_MS, routeFor, type Chain, type Pipeline, type Route, type TierName, type TierPolicy, type Topology } from './model.js';
import { dwellRule, gateRule, NO_INTENTS, pausedRule, rateRule, switchesInLastHour, type Intents } from './safety.js';
import { isObservation } from './stored.js';
import { jobSlots, JobTableWriter, jobVerdict, rowsOf, slotOf, steadyUpRooms, type JobTable } from './job-table.js';
import { stateOfRole, transition, type PipelineEvent, type PipelineState } from './state-machine.js';

/** One observed thing, as each observer sees it: observer -> debounced view. */
type Views = ReadonlyMap<string, ComponentHealth>;

/**
 * Every observer's views, per tier: room-level components by room then component (nested maps
 * keyed by the observations' own strings, rather than one map keyed by concatenated strings),
 * and the tier's stream jobs in a flat table (job-table.ts): a tick folds one observation per job
 * per observer, tens of thousands of them, and must not build an object for each.
 */
export interface TierHealth {
  readonly rooms: ReadonlyMap<string, ReadonlyMap<Component, Views>>;
  readonly jobs: JobTable | undefined;
}

/** What the controller carries from tick to tick. */
export interface ControllerState {
  readonly health: ReadonlyMap<TierName, TierHealth>;
  /** Each observer's room, as it last reported. */
  readonly observerRooms: ReadonlyMap<string, string>;
  /** Since when the data-budget gate has answered "retry" for a pipeline. */
  readonly budgetWaitSince: ReadonlyMap<string, number>;
  /**
   * Per observer: the newest time its renewed lease proves it saw everything OK (ADR 0019). Only
   * staleness reads it, for that observer's OK views; it is never folded as an observation.
   */
  readonly confirmedAt: ReadonlyMap<string, number>;
}

export const INITIAL_STATE: ControllerState = { health: new Map(), observerRooms: new Map(), budgetWaitSince: new Map(), confirmedAt: new Map() };

/** A confirmation older than this is dropped from the state (an observer that went away). */
const CONFIRMATION_KEPT_MS = 600_000;

export interface TickInput {
  readonly now: number;
  /** Fresh probe results since the last tick, from every observer. */
  readonly observations: readonly Observation[];
  /** Per observer: when its renewed lease proves its last publication still held (ObservationStore.readAll). */
  readonly confirmedAt?: ReadonlyMap<string, number>;
  /** The routes as read from the store at the start of this tick; undefined = no route yet. */
  readonly routes: ReadonlyMap<string, Route | undefined>;
  readonly intents?: Intents;
  /** Pipelines with a journaled switch still running, and the role of the chain it moves to. */
  readonly switchesInProgress?: ReadonlyMap<string, 'primary' | 'standby' | 'fallback'>;
  /**
   * Per pipeline: what a switch would lose and replay (partition estimates), or why that is not
   * known (a sentence). Absent map: no estimator runs. Absent pipeline in a present map: unknown.
   */
  readonly estimates?: ReadonlyMap<string, readonly PartitionEstimate[] | string>;
  /**
   * Pipelines whose stored route or journal cannot be used, and why (see stored.ts): held, with
   * the reason, and nothing is written for them until the value is repaired.
   */
  readonly invalid?: ReadonlyMap<string, string>;
}

export type Action =
  | { readonly kind: 'init-route'; readonly route: Route; readonly reason: string }
  | {
      readonly kind: 'switch-route';
      readonly from: Route;
      readonly route: Route;
      readonly reason: string;
      /** Milliseconds from the first failed probe of the active chain to this decision (0 for failback). */
      readonly detectedAfterMs: number;
      /** What the data estimate said this switch leaves behind in the room it leaves (backfill). */
      readonly gap?: DataGap;
    };

/** The rule that settled a pipeline's verdict; stable across ticks, unlike the sentence. */
export type VerdictRule =
  | 'init'
  | 'healthy'
  | 'no-policy'
  | 'invalid-data'
  | 'unknown-chain'
  | 'paused'
  | 'no-quorum'
  | 'failover-not-automatic'
  | 'gate-closed'
  | 'no-healthy-standby'
  | 'min-dwell'
  | 'max-switches'
  | 'data-budget-retry'
  | 'data-budget-stop'
  | 'failover'
  | 'failback'
  | 'failback-waiting'
  | 'switch-in-progress';

export interface PipelineVerdict {
  readonly pipeline: string;
  readonly state: PipelineState;
  readonly rule: VerdictRule;
  readonly reason: string;
  /** What an operator can do about a hold the controller will not lift on its own (no-quorum). */
  readonly advice?: OperatorAdvice;
}

/** A command an operator can run, and what running it risks. */
export interface OperatorAdvice {
  /** The CLI command, without `-c <topology>` (the caller knows the file). */
  readonly command: string;
  readonly risk: string;
}

/**
 * Short of observer quorum the controller holds the route (fail static), by design: it cannot tell
 * a dead room from an observer cut off from it. A person who can (a phone call to the room, the
 * power status page) can switch by hand; this says how, and what that costs if they are wrong.
 */
export function quorumAdvice(pipeline: Pipeline, active: Chain): OperatorAdvice | undefined {
  const target = failoverTargetOf(pipeline, active.name);
  if (!target) return undefined;
  return {
    command: `switchyard switchover ${pipeline.name} --to ${target.name} --emergency --reason "${active.room} confirmed down" --yes`,
    risk:
      `if ${active.room} is in fact alive and only cut off from some observers, consumers leave a working room: ` +
      `records only ${active.room} accepted stay behind until backfilled (a manual switchover does not wait for the data budget), ` +
      `and clients that cannot reach etcd keep reading in ${active.room} on their last route`,
  };
}

export interface Decision {
  readonly next: ControllerState;
  readonly actions: readonly Action[];
  /** One sentence for the whole tick. */
  readonly reason: string;
  readonly verdicts: readonly PipelineVerdict[];
}

/** Copy-on-write for one tick: each map is copied at most once, the previous state stays intact. */
class Writer {
  private readonly fresh = new Set<object>();
  own<K, V>(m: ReadonlyMap<K, V> | undefined): Map<K, V> {
    if (m && this.fresh.has(m)) return m as Map<K, V>;
    const copy = new Map(m ?? []);
    this.fresh.add(copy);
    return copy;
  }
}

/**
 * The tick's observations, oldest first, without any that is not one: observations come from
 * other replicas through the store, and one that is not an observation is dropped, not folded.
 * One pass over them in the common case (all valid, already in order).
 */
function usable(observations: readonly Observation[]): readonly Observation[] {
  let sorted = true;
  let last = -Infinity;
  let list = observations;
  for (let i = 0; i < list.length; i++) {
    const o = list[i]!;
    if (!isObservation(o)) {
      list = list.filter((x) => isObservation(x));
      return usable(list);
    }
    if (o.at < last) sorted = false;
    last = o.at;
  }
  return sorted ? list : [...list].sort((a, b) => a.at - b.at);
}

/** Folds one observer's observations (oldest first) of one room component into its views. */
function foldInto(views: Views | undefined, batch: readonly Observation[], policy: TierPolicy, w: Writer): Views | undefined {
  let out: Map<string, ComponentHealth> | undefined;
  for (const obs of batch) {
    const current = out ?? views;
    const before = current?.get(obs.observer) ?? UNKNOWN_HEALTH;
    if (obs.at <= before.lastAt) continue;
    // A tier with a slower cadence than the controller's samples every probeInterval, so that
    // fallAfter keeps meaning "this many intervals".
    // Probes hurried by a client's signal count at the tier's signal spacing, if it has one.
    // A carried answer (a probe still in flight, an open breaker) is no new probe: usual spacing.
    const spacing = obs.hurried === true && obs.carried !== true && policy.signalIntervalMs ? policy.signalIntervalMs : policy.probeIntervalMs;
    if (before.lastAt !== 0 && obs.at - before.lastAt < spacing * 0.9) continue;
    out ??= w.own(views);
    out.set(obs.observer, foldObservation(before, obs, policy));
  }
  return out;
}

/** Folds the tick's observations (usable ones, oldest first) into every tier's per-observer views. */
function foldHealth(topology: Topology, prev: ControllerState, sorted: readonly Observation[]): Pick<ControllerState, 'health' | 'observerRooms'> {
  const w = new Writer();
  const slots = jobSlots(topology);
  const { tiers, rows } = slots;
  // Stream jobs are folded straight into each tier's job table, in time order (so per job and
  // observer, oldest first). Room components are grouped first (stable): each is then looked up,
  // copied and stored once per tick, however many observers reported it.
  const jobWriters: (JobTableWriter | undefined)[] = tiers.map(() => undefined);
  const writerFor = (t: number): JobTableWriter =>
    (jobWriters[t] ??= new JobTableWriter(prev.health.get(tiers[t]!)?.jobs, rows[t]!, topology.policies.get(tiers[t]!)!));
  let observerRooms = prev.observerRooms;
  let lastObserver: string | undefined;
  let lastObserverRoom: string | undefined;
  const byRoom = new Map<string, Map<Component, Observation[]>>();
  let lastSlot = -1;
  for (let i = 0; i < sorted.length; i++) {
    const obs = sorted[i]!;
    if (obs.observer !== lastObserver || obs.observerRoom !== lastObserverRoom) {
      lastObserver = obs.observer;
      lastObserverRoom = obs.observerRoom;
      if (observerRooms.get(obs.observer) !== obs.observerRoom) {
        const owned = w.own(observerRooms);
        owned.set(obs.observer, obs.observerRoom);
        observerRooms = owned;
      }
    }
    if (obs.component === 'stream' && obs.subject !== undefined) {
      const first = slotOf(slots, obs.subject, lastSlot);
      if (first < 0) continue;
      lastSlot = first;
      for (let s = first; s >= 0; s = slots.next[s]!) {
        const t = slots.tier[s]!;
        (jobWriters[t] ?? writerFor(t)).fold(obs, slots.row[s]!);
      }
    } else {
      let components = byRoom.get(obs.room);
      if (!components) byRoom.set(obs.room, (components = new Map()));
      const list = components.get(obs.component);
      if (list) list.push(obs);
      else components.set(obs.component, [obs]);
    }
  }

  const health = w.own(prev.health);
  const emptyTier: TierHealth = { rooms: new Map(), jobs: undefined };
  for (const [tier, policy] of topology.policies) {
    const t = prev.health.get(tier) ?? emptyTier;
    let roomsMap = t.rooms;
    for (const [room, components] of byRoom) {
      for (const [component, batch] of components) {
        const views = roomsMap.get(room)?.get(component);
        const folded = foldInto(views, batch, policy, w);
        if (!folded) continue;
        const owned = w.own(roomsMap);
        const c = w.own(owned.get(room));
        c.set(component, folded);
        owned.set(room, c);
        roomsMap = owned;
      }
    }
    const jobs = jobWriters[tiers.indexOf(tier)]?.result() ?? t.jobs;
    if (roomsMap !== t.rooms || jobs !== t.jobs) health.set(tier, { rooms: roomsMap, jobs });
  }
  return { health, observerRooms };
}

function viewsFor(state: ControllerState, tier: TierName, room: string, component: Component): Views | undefined {
  return state.health.get(tier)?.rooms.get(room)?.get(component);
}

/**
 * Arbitration results within one tick: by views map (pipelines sharing a room share its
 * component verdicts) and by tier and room (chains in one room share its components' verdict).
 */
interface VerdictCache {
  readonly views: WeakMap<Views, Arbitrated>;
  /** Per tier and room: the worst of its own components (null: none judged). */
  readonly rooms: Map<TierPolicy, Map<string, Arbitrated | null>>;
}

const newCache = (): VerdictCache => ({ views: new WeakMap(), rooms: new Map() });

/** One component of one room (or one job), as all observers see it, arbitrated. */
export function componentVerdict(
  state: ControllerState,
  policy: TierPolicy,
  room: string,
  component: Component,
  now: number,
  subject?: string,
  cache?: VerdictCache,
): Arbitrated {
  if (component === 'stream' && subject !== undefined) {
    const jobs = state.health.get(policy.tier)?.jobs;
    return jobVerdict(jobs, jobs?.rows.get(subject) ?? -1, room, subject, state.observerRooms, policy, policy.observersRequired, now, state.confirmedAt);
  }
  const views = viewsFor(state, policy.tier, room, component);
  const hit = views && cache?.views.get(views);
  if (hit) return hit;
  const what = `${room} ${component}`;
  if (!views) return arbitrate([], policy.observersRequired, what);
  const list: ObserverView[] = [];
  for (const [observer, h] of views) {
    list.push({ observer, observerRoom: state.observerRooms.get(observer) ?? observer, health: withStaleness(h, now, policy, state.confirmedAt.get(observer)) });
  }
  const verdict = arbitrate(list, policy.observersRequired, what);
  cache?.views.set(views, verdict);
  return verdict;
}

/**
 * A chain's health for failover: the worst of the components the tier fails over on. Kafka is
 * judged when the tier names it; OLAP when observed; stream jobs when the chain names them. On a
 * tie the room's own components are named before its jobs.
 */
export function chainVerdict(state: ControllerState, policy: TierPolicy, chain: Chain, now: number, cache?: VerdictCache): Arbitrated {
  let worst = roomVerdict(state, policy, chain.room, now, cache);
  if (chain.jobs.length > 0 && policy.failoverOn.includes('stream')) {
    const table = state.health.get(policy.tier)?.jobs;
    const rows = table ? rowsOf(table, chain.jobs) : undefined;
    // In the steady state each job is OK by the same rooms: one that cannot be worse than the
    // parts already judged is skipped (worse() would keep them), the rest judged one by one.
    const steady = table ? steadyUpRooms(table, state.observerRooms, policy, now, state.confirmedAt) : -1;
    for (let j = 0; j < chain.jobs.length; j++) {
      if (steady >= 0 && rows![j]! >= 0 && worst && (worst.status !== 'OK' || worst.upRooms <= steady)) continue;
      const v = jobVerdict(table, rows ? rows[j]! : -1, chain.room, chain.jobs[j]!, state.observerRooms, policy, policy.observersRequired, now, state.confirmedAt);
      worst = worst ? worse(worst, v) : v;
    }
  }
  return worst ?? NOTHING_OBSERVED;
}

/** The worst of a room's own components (not its jobs) the tier fails over on; undefined: none. */
function roomVerdict(state: ControllerState, policy: TierPolicy, room: string, now: number, cache?: VerdictCache): Arbitrated | undefined {
  const cached = cache?.rooms.get(policy)?.get(room);
  if (cached !== undefined) return cached ?? undefined;
  let worst: Arbitrated | undefined;
  for (const component of policy.failoverOn) {
    if (component === 'stream') continue;
    if (component === 'kafka' || viewsFor(state, policy.tier, room, component)) {
      const v = componentVerdict(state, policy, room, component, now, undefined, cache);
      worst = worst ? worse(worst, v) : v;
    }
  }
  if (cache) {
    let byRoom = cache.rooms.get(policy);
    if (!byRoom) cache.rooms.set(policy, (byRoom = new Map()));
    byRoom.set(room, worst ?? null);
  }
  return worst;
}

/**
 * A chain's health as a switch target. A warm standby's stream jobs are stopped until the switch
 * starts them (its start-jobs step, before any route flips), so as a target it is judged by its
 * room's Kafka and OLAP; once active, its jobs count like any chain's.
 */
export function targetVerdict(state: ControllerState, policy: TierPolicy, chain: Chain, now: number, cache?: VerdictCache): Arbitrated {
  const warm = policy.standby === 'warm' && chain.role !== 'primary' && chain.jobs.length > 0;
  return chainVerdict(state, policy, warm ? { ...chain, jobs: [] } : chain, now, cache);
}

interface Verdict {
  readonly state: PipelineState;
  readonly rule: VerdictRule;
  readonly reason: string;
  readonly advice?: OperatorAdvice;
  readonly action?: Action;
  /** The budget gate said retry or stop: remember since when it first held the switch back. */
  readonly budgetWaiting?: boolean;
}

const describeChain = (c: Chain) => `${c.name}@${c.room}`;

/**
 * "no action for <pipeline>: active chain <chain>@<room>: ", built once per chain: every healthy
 * pipeline's verdict starts with it, every tick, and building it anew was most of what a tick
 * allocated for a healthy pipeline.
 */
const healthyPrefixes = new WeakMap<Chain, string>();
function healthyPrefix(pipeline: Pipeline, active: Chain): string {
  let prefix = healthyPrefixes.get(active);
  if (prefix === undefined) healthyPrefixes.set(active, (prefix = `no action for ${pipeline.name}: active chain ${describeChain(active)}: `));
  return prefix;
}

function chainNamed(pipeline: Pipeline, name: string): Chain | undefined {
  for (const c of pipeline.chains) if (c.name === name) return c;
  return undefined;
}

function primaryOf(pipeline: Pipeline): Chain {
  for (const c of pipeline.chains) if (c.role === 'primary') return c;
  throw new Error(`${pipeline.name} has no primary chain`);
}

function switchTo(
  topology: Topology,
  pipeline: Pipeline,
  route: Route,
  base: PipelineState,
  target: Chain,
  event: PipelineEvent,
  rule: 'failover' | 'failback',
  reason: string,
  detectedAfterMs: number,
  now: number,
): Verdict {
  const state = transition(base, event);
  if (!state) return { state: base, rule: 'healthy', reason: `no action for ${pipeline.name}: ${event} is not a transition from ${base}` };
  const history = [...switchesInLastHour(route, now), now];
  const next = routeFor(topology, pipeline, target, route.epoch + 1, now, reason, history);
  return { state, rule, reason, action: { kind: 'switch-route', from: route, route: next, reason, detectedAfterMs } };
}

function decidePipeline(topology: Topology, state: ControllerState, input: TickInput, pipeline: Pipeline, cache: VerdictCache): Verdict {
  const { now } = input;
  const route = input.routes.get(pipeline.name);
  const intents = input.intents ?? NO_INTENTS;
  const policy = topology.policies.get(pipeline.tier);
  const active = route ? chainNamed(pipeline, route.chain) : undefined;
  const base = stateOfRole(active?.role);
  if (!policy) return { state: base, rule: 'no-policy', reason: `no action for ${pipeline.name}: tier ${pipeline.tier} has no policy` };
  const invalid = input.invalid?.get(pipeline.name);
  if (invalid !== undefined) return { state: base, rule: 'invalid-data', reason: `holding ${pipeline.name}: ${invalid}` };

  // A switch under way is finished by the switch runner (even when paused: a half-done switch is
  // the worst place to stop); nothing new is decided for the pipeline meanwhile.
  const inProgress = input.switchesInProgress?.get(pipeline.name);
  if (inProgress) {
    return {
      state: inProgress === 'primary' ? 'FAILING_BACK' : 'FAILING_OVER',
      rule: 'switch-in-progress',
      reason: `no new action for ${pipeline.name}: a switch to its ${inProgress} chain is still running`,
    };
  }

  const paused = pausedRule(pipeline.name, intents);
  if (paused) return { state: 'PAUSED', rule: 'paused', reason: `no action: ${paused}` };

  if (!route) {
    const primary = primaryOf(pipeline);
    const reason = `starting ${pipeline.name} on its primary chain ${describeChain(primary)}: no route stored yet`;
    return { state: transition('UNROUTED', 'route-missing')!, rule: 'init', reason, action: { kind: 'init-route', route: routeFor(topology, pipeline, primary, 1, now, reason), reason } };
  }

  if (!active) return { state: base, rule: 'unknown-chain', reason: `no action for ${pipeline.name}: its route names chain ${route.chain}, which the topology does not have` };

  const health = chainVerdict(state, policy, active, now, cache);
  if (health.status === 'SUSPECT') {
    const advice = quorumAdvice(pipeline, active);
    return { state: 'FAIL_STATIC', rule: 'no-quorum', reason: `no action for ${pipeline.name} (fail static): ${health.reason}`, ...(advice && { advice }) };
  }

  if (health.status !== 'DOWN') {
    // Serving from a non-primary chain: come back on our own only if the tier says so, when the
    // primary is fit again, inside the change window, and the usual brakes allow.
    const primary = primaryOf(pipeline);
    if (active.role !== 'primary' && policy.failback === 'automatic') {
      const p = chainVerdict(state, policy, primary, now, cache);
      if (canServe(p)) {
        const brake = gateRule(intents) || dwellRule(route, policy, now) || rateRule(route, policy, now) || outsideChangeWindow(now, policy.changeWindows);
        if (brake) return { state: base, rule: 'failback-waiting', reason: `no failback of ${pipeline.name} yet: primary ${describeChain(primary)} is ${p.status}, but ${brake}` };
        const reason = `failing ${pipeline.name} back from ${describeChain(active)} to ${describeChain(primary)}: ${p.reason}; failback is automatic for ${policy.tier}`;
        return switchTo(topology, pipeline, route, base, primary, 'primary-recovered', 'failback', reason, 0, now);
      }
    }
    return { state: base, rule: 'healthy', reason: healthyPrefix(pipeline, active) + health.reason };
  }

  const down = health.reason;
  if (policy.failover !== 'automatic') {
    return { state: base, rule: 'failover-not-automatic', reason: `no action for ${pipeline.name}: ${down}, but tier ${policy.tier} fails over ${policy.failover === 'none' ? 'never' : 'manually'}` };
  }
  const gate = gateRule(intents);
  if (gate) return { state: base, rule: 'gate-closed', reason: `no action for ${pipeline.name}: ${down}, but ${gate}` };

  const candidates = (role: 'primary' | 'standby' | 'fallback') =>
    pipeline.chains.filter((c) => c.role === role && c.name !== active.name).map((chain) => ({ chain, v: targetVerdict(state, policy, chain, now, cache) }));
  // Serving chains first (the primary, when we are not on it), then the fallback.
  const serving = [...candidates('primary'), ...candidates('standby')];
  const fallbacks = candidates('fallback');
  const target = serving.find((c) => canServe(c.v)) ?? fallbacks.find((c) => canServe(c.v));
  if (!target) {
    // Each candidate with why it cannot serve (its weakest component's reason: a failed job, a dead broker).
    const seen = [...serving, ...fallbacks].map((c) => `${describeChain(c.chain)} ${c.v.status}: ${c.v.reason}`).join('; ') || 'none configured';
    // Never zero serving chains: the route stays on the down chain rather than point at nothing.
    return { state: base, rule: 'no-healthy-standby', reason: `no action for ${pipeline.name}: ${down}, and no other chain can serve (${seen}); keeping the route` };
  }

  const brake = dwellRule(route, policy, now) || rateRule(route, policy, now);
  if (brake) return { state: base, rule: brake.startsWith('the last switch') ? 'min-dwell' : 'max-switches', reason: `no action for ${pipeline.name}: ${down}, but ${brake}` };

  const waitedSince = state.budgetWaitSince.get(pipeline.name);
  const gateAnswer = dataBudgetGate({
    estimates: input.estimates ? (input.estimates.get(pipeline.name) ?? `no estimate for ${pipeline.name}`) : undefined,
    onUnknown: policy.dataBudget.onUnknown ?? 'refuse',
    budget: policy.dataBudget,
    forced: false,
    waitedMs: waitedSince === undefined ? 0 : now - waitedSince,
    maxWaitMs: policy.dataBudget.maxWaitMs,
  });
  if (gateAnswer.kind === 'retry') return { state: base, rule: 'data-budget-retry', reason: `no action for ${pipeline.name} yet: ${down}, but ${gateAnswer.reason}`, budgetWaiting: true };
  // Keep the wait's start on stop too: a refusal stays a refusal for this outage instead of
  // starting a fresh wait on the next tick.
  if (gateAnswer.kind === 'stop') return { state: base, rule: 'data-budget-stop', reason: `no action for ${pipeline.name}: ${down}, but ${gateAnswer.reason}`, budgetWaiting: true };

  const event: PipelineEvent = target.chain.role === 'primary' ? 'fail-to-primary' : target.chain.role === 'fallback' ? 'fail-to-fallback' : 'fail-to-standby';
  const data = input.estimates ? `; data: ${gateAnswer.reason}` : '';
  const reason = `failing over ${pipeline.name} from ${describeChain(active)} to ${describeChain(target.chain)}: ${down}; ${target.v.reason}${data}`;
  const detectedAfterMs = health.firstBadAt === undefined ? 0 : now - health.firstBadAt;
  const estimate = input.estimates?.get(pipeline.name);
  const gap = Array.isArray(estimate) ? gapOf(route.room, estimate) : undefined;
  const verdict = switchTo(topology, pipeline, route, base, target.chain, event, 'failover', reason, detectedAfterMs, now);
  return gap && verdict.action?.kind === 'switch-route' ? { ...verdict, action: { ...verdict.action, gap } } : verdict;
}

/**
 * One pipeline's verdict, with whatever stored data says: a rule that throws on a value no check
 * foresaw holds this pipeline, with the error as its reason, and the others are decided as usual.
 */
function decideContained(topology: Topology, state: ControllerState, input: TickInput, pipeline: Pipeline, cache: VerdictCache): Verdict {
  try {
    return decidePipeline(topology, state, input, pipeline, cache);
  } catch (err) {
    const route = input.routes.get(pipeline.name);
    const role = route && typeof route === 'object' ? pipeline.chains.find((c) => c.name === route.chain)?.role : undefined;
    return { state: stateOfRole(role), rule: 'invalid-data', reason: `holding ${pipeline.name}: a rule failed on its stored data: ${err instanceof Error ? err.message : String(err)}` };
  }
}

/** The newest confirmation per observer, old ones dropped; the same map when nothing changed. */
function mergeConfirmations(prev: ReadonlyMap<string, number>, fresh: ReadonlyMap<string, number> | undefined, now: number): ReadonlyMap<string, number> {
  let out: Map<string, number> | undefined;
  for (const [observer, at] of fresh ?? []) {
    if (at > (prev.get(observer) ?? -Infinity)) (out ??= new Map(prev)).set(observer, at);
  }
  for (const [observer, at] of out ?? prev) {
    if (now - at > CONFIRMATION_KEPT_MS) (out ??= new Map(prev)).delete(observer);
  }
  return out ?? prev;
}

/** One tick: fold observations, then decide every pipeline. */
export function decide(topology: Topology, state: ControllerState, input: TickInput): Decision {
  const folded = foldHealth(topology, state, usable(input.observations));
  // Verdicts read the previous tick's budget waits; the next state carries only those still waiting.
  const current: ControllerState = { ...folded, budgetWaitSince: state.budgetWaitSince, confirmedAt: mergeConfirmations(state.confirmedAt, input.confirmedAt, input.now) };
  const budgetWaitSince = new Map<string, number>();
  const actions: Action[] = [];
  const verdicts: PipelineVerdict[] = [];
  const cache = newCache();
  for (const pipeline of topology.pipelines.values()) {
    const v = decideContained(topology, current, input, pipeline, cache);
    if (v.action) actions.push(v.action);
    if (v.budgetWaiting) budgetWaitSince.set(pipeline.name, state.budgetWaitSince.get(pipeline.name) ?? input.now);
    verdicts.push(v.advice ? { pipeline: pipeline.name, state: v.state, rule: v.rule, reason: v.reason, advice: v.advice } : { pipeline: pipeline.name, state: v.state, rule: v.rule, reason: v.reason });
  }
  const reason =
    actions.length > 0
      ? actions.map((a) => a.reason).join('; ')
      : verdicts.length === 0
        ? 'no action: no pipelines configured'
        : `no action: ${verdicts.length} pipeline(s) left as they are`;
  return { next: { ...folded, budgetWaitSince, confirmedAt: current.confirmedAt }, actions, reason, verdicts };
}

export { HOUR_MS };
