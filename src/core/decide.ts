// The controller's brain: from what it observed, the routes it read and the operators' intents,
// decide what to do now. Pure: the clock is an argument, no I/O, no globals. Every pipeline gets
// a verdict with a stable rule name and a sentence naming the rooms and the numbers.

import { arbitrate, canServe, worstOf, type Arbitrated, type ObserverView } from './arbitration.js';
import { dataBudgetGate, type PartitionEstimate } from './data-budget.js';
import { outsideChangeWindow } from './change-window.js';
import { foldObservation, withStaleness, UNKNOWN_HEALTH, type Component, type ComponentHealth, type Observation } from './health.js';
import { HOUR_MS, routeFor, type Chain, type Pipeline, type Route, type TierName, type TierPolicy, type Topology } from './model.js';
import { dwellRule, gateRule, NO_INTENTS, pausedRule, rateRule, switchesInLastHour, type Intents } from './safety.js';
import { stateOfRole, transition, type PipelineEvent, type PipelineState } from './state-machine.js';

/** Observer views, grouped by what they observed: `${tier}|${room}|${component}|${subject}`. */
type HealthGroups = ReadonlyMap<string, ReadonlyMap<string, ComponentHealth>>;

/** What the controller carries from tick to tick. */
export interface ControllerState {
  readonly health: HealthGroups;
  /** Each observer's room, as it last reported. */
  readonly observerRooms: ReadonlyMap<string, string>;
  /** Since when the data-budget gate has answered "retry" for a pipeline. */
  readonly budgetWaitSince: ReadonlyMap<string, number>;
}

export const INITIAL_STATE: ControllerState = { health: new Map(), observerRooms: new Map(), budgetWaitSince: new Map() };

export interface TickInput {
  readonly now: number;
  /** Fresh probe results since the last tick, from every observer. */
  readonly observations: readonly Observation[];
  /** The routes as read from the store at the start of this tick; undefined = no route yet. */
  readonly routes: ReadonlyMap<string, Route | undefined>;
  readonly intents?: Intents;
  /** Per pipeline: what a switch would lose and replay, when the probes could estimate it. */
  readonly estimates?: ReadonlyMap<string, readonly PartitionEstimate[]>;
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
    };

/** The rule that settled a pipeline's verdict; stable across ticks, unlike the sentence. */
export type VerdictRule =
  | 'init'
  | 'healthy'
  | 'no-policy'
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
  | 'failback-waiting';

export interface PipelineVerdict {
  readonly pipeline: string;
  readonly state: PipelineState;
  readonly rule: VerdictRule;
  readonly reason: string;
}

export interface Decision {
  readonly next: ControllerState;
  readonly actions: readonly Action[];
  /** One sentence for the whole tick. */
  readonly reason: string;
  readonly verdicts: readonly PipelineVerdict[];
}

export function groupKey(tier: TierName, room: string, component: Component, subject = ''): string {
  return `${tier}|${room}|${component}|${subject}`;
}

/** For each stream job, the tiers of the pipelines that run it (jobs are folded for those only). */
const jobTiersCache = new WeakMap<Topology, Map<string, TierName[]>>();
function jobTiers(topology: Topology): Map<string, TierName[]> {
  let m = jobTiersCache.get(topology);
  if (!m) {
    m = new Map();
    for (const p of topology.pipelines.values()) {
      for (const c of p.chains) for (const j of c.jobs) m.set(j, [...new Set([...(m.get(j) ?? []), p.tier])]);
    }
    jobTiersCache.set(topology, m);
  }
  return m;
}

/** Folds the tick's observations into every tier's per-observer view. */
export function foldHealth(topology: Topology, prev: ControllerState, observations: readonly Observation[]): Pick<ControllerState, 'health' | 'observerRooms'> {
  const health = new Map<string, Map<string, ComponentHealth>>();
  for (const [k, v] of prev.health) health.set(k, v as Map<string, ComponentHealth>);
  const copied = new Set<string>();
  const observerRooms = new Map(prev.observerRooms);
  const sorted = [...observations].sort((a, b) => a.at - b.at);
  const allTiers = [...topology.policies.keys()];
  const jobs = jobTiers(topology);
  for (const obs of sorted) {
    observerRooms.set(obs.observer, obs.observerRoom);
    const tiers = obs.component === 'stream' && obs.subject !== undefined ? (jobs.get(obs.subject) ?? []) : allTiers;
    for (const tier of tiers) {
      const policy = topology.policies.get(tier)!;
      const key = groupKey(tier, obs.room, obs.component, obs.subject);
      let views = health.get(key);
      if (!views) health.set(key, (views = new Map()));
      else if (!copied.has(key)) health.set(key, (views = new Map(views)));
      copied.add(key);
      const before = views.get(obs.observer) ?? UNKNOWN_HEALTH;
      // A tier with a slower cadence than the controller's samples every probeInterval, so that
      // fallAfter keeps meaning "this many intervals".
      if (before.lastAt !== 0 && obs.at - before.lastAt < policy.probeIntervalMs * 0.9) continue;
      views.set(obs.observer, foldObservation(before, obs, policy));
    }
  }
  return { health, observerRooms };
}

function viewsOf(state: ControllerState, key: string, policy: TierPolicy, now: number): ObserverView[] {
  const views = state.health.get(key);
  if (!views) return [];
  const out: ObserverView[] = [];
  for (const [observer, h] of views) {
    out.push({ observer, observerRoom: state.observerRooms.get(observer) ?? observer, health: withStaleness(h, now, policy) });
  }
  return out;
}

/** One component of one room (or one job), as all observers see it, arbitrated. */
export function componentVerdict(state: ControllerState, policy: TierPolicy, room: string, component: Component, now: number, subject?: string): Arbitrated {
  const what = subject ? `${room} ${component} ${subject}` : `${room} ${component}`;
  return arbitrate(viewsOf(state, groupKey(policy.tier, room, component, subject), policy, now), policy.observersRequired, what);
}

/**
 * A chain's health for failover: the worst of the components the tier fails over on. Kafka is
 * always judged; OLAP when observed; stream jobs when the chain names them.
 */
export function chainVerdict(state: ControllerState, policy: TierPolicy, chain: Chain, now: number): Arbitrated {
  const parts: Arbitrated[] = [];
  for (const component of policy.failoverOn) {
    if (component === 'stream') {
      for (const job of chain.jobs) parts.push(componentVerdict(state, policy, chain.room, 'stream', now, job));
    } else if (component === 'kafka' || state.health.has(groupKey(policy.tier, chain.room, component))) {
      parts.push(componentVerdict(state, policy, chain.room, component, now));
    }
  }
  return worstOf(parts);
}

interface Verdict {
  readonly state: PipelineState;
  readonly rule: VerdictRule;
  readonly reason: string;
  readonly action?: Action;
  /** The budget gate said retry: remember since when. */
  readonly budgetWaiting?: boolean;
}

const describeChain = (c: Chain) => `${c.name}@${c.room}`;

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

function decidePipeline(topology: Topology, state: ControllerState, input: TickInput, pipeline: Pipeline): Verdict {
  const { now } = input;
  const route = input.routes.get(pipeline.name);
  const intents = input.intents ?? NO_INTENTS;
  const policy = topology.policies.get(pipeline.tier);
  const base = stateOfRole(route ? pipeline.chains.find((c) => c.name === route.chain)?.role : undefined);
  if (!policy) return { state: base, rule: 'no-policy', reason: `no action for ${pipeline.name}: tier ${pipeline.tier} has no policy` };

  const paused = pausedRule(pipeline.name, intents);
  if (paused) return { state: 'PAUSED', rule: 'paused', reason: `no action: ${paused}` };

  if (!route) {
    const primary = pipeline.chains.find((c) => c.role === 'primary')!;
    const reason = `starting ${pipeline.name} on its primary chain ${describeChain(primary)}: no route stored yet`;
    return { state: transition('UNROUTED', 'route-missing')!, rule: 'init', reason, action: { kind: 'init-route', route: routeFor(topology, pipeline, primary, 1, now, reason), reason } };
  }

  const active = pipeline.chains.find((c) => c.name === route.chain);
  if (!active) return { state: base, rule: 'unknown-chain', reason: `no action for ${pipeline.name}: its route names chain ${route.chain}, which the topology does not have` };

  const health = chainVerdict(state, policy, active, now);
  if (health.status === 'SUSPECT') {
    return { state: 'FAIL_STATIC', rule: 'no-quorum', reason: `no action for ${pipeline.name} (fail static): ${health.reason}` };
  }

  if (health.status !== 'DOWN') {
    // Serving from a non-primary chain: come back on our own only if the tier says so, when the
    // primary is fit again, inside the change window, and the usual brakes allow.
    const primary = pipeline.chains.find((c) => c.role === 'primary')!;
    if (active.role !== 'primary' && policy.failback === 'automatic') {
      const p = chainVerdict(state, policy, primary, now);
      if (canServe(p)) {
        const brake = gateRule(intents) || dwellRule(route, policy, now) || rateRule(route, policy, now) || outsideChangeWindow(now, policy.changeWindows);
        if (brake) return { state: base, rule: 'failback-waiting', reason: `no failback of ${pipeline.name} yet: primary ${describeChain(primary)} is ${p.status}, but ${brake}` };
        const reason = `failing ${pipeline.name} back from ${describeChain(active)} to ${describeChain(primary)}: ${p.reason}; failback is automatic for ${policy.tier}`;
        return switchTo(topology, pipeline, route, base, primary, 'primary-recovered', 'failback', reason, 0, now);
      }
    }
    return { state: base, rule: 'healthy', reason: `no action for ${pipeline.name}: active chain ${describeChain(active)}: ${health.reason}` };
  }

  const down = health.reason;
  if (policy.failover !== 'automatic') {
    return { state: base, rule: 'failover-not-automatic', reason: `no action for ${pipeline.name}: ${down}, but tier ${policy.tier} fails over ${policy.failover === 'none' ? 'never' : 'manually'}` };
  }
  const gate = gateRule(intents);
  if (gate) return { state: base, rule: 'gate-closed', reason: `no action for ${pipeline.name}: ${down}, but ${gate}` };

  const candidates = (role: 'primary' | 'standby' | 'fallback') =>
    pipeline.chains.filter((c) => c.role === role && c.name !== active.name).map((chain) => ({ chain, v: chainVerdict(state, policy, chain, now) }));
  // Serving chains first (the primary, when we are not on it), then the fallback.
  const serving = [...candidates('primary'), ...candidates('standby')];
  const fallbacks = candidates('fallback');
  const target = serving.find((c) => canServe(c.v)) ?? fallbacks.find((c) => canServe(c.v));
  if (!target) {
    const seen = [...serving, ...fallbacks].map((c) => `${describeChain(c.chain)} ${c.v.status}`).join(', ') || 'none configured';
    // Never zero serving chains: the route stays on the down chain rather than point at nothing.
    return { state: base, rule: 'no-healthy-standby', reason: `no action for ${pipeline.name}: ${down}, and no other chain can serve (${seen}); keeping the route` };
  }

  const brake = dwellRule(route, policy, now) || rateRule(route, policy, now);
  if (brake) return { state: base, rule: brake.startsWith('the last switch') ? 'min-dwell' : 'max-switches', reason: `no action for ${pipeline.name}: ${down}, but ${brake}` };

  const waitedSince = state.budgetWaitSince.get(pipeline.name);
  const gateAnswer = dataBudgetGate({
    estimates: input.estimates?.get(pipeline.name),
    budget: policy.dataBudget,
    forced: false,
    waitedMs: waitedSince === undefined ? 0 : now - waitedSince,
    maxWaitMs: policy.dataBudget.maxWaitMs,
  });
  if (gateAnswer.kind === 'retry') return { state: base, rule: 'data-budget-retry', reason: `no action for ${pipeline.name} yet: ${down}, but ${gateAnswer.reason}`, budgetWaiting: true };
  if (gateAnswer.kind === 'stop') return { state: base, rule: 'data-budget-stop', reason: `no action for ${pipeline.name}: ${down}, but ${gateAnswer.reason}` };

  const event: PipelineEvent = target.chain.role === 'primary' ? 'fail-to-primary' : target.chain.role === 'fallback' ? 'fail-to-fallback' : 'fail-to-standby';
  const reason = `failing over ${pipeline.name} from ${describeChain(active)} to ${describeChain(target.chain)}: ${down}; ${target.v.reason}`;
  const detectedAfterMs = health.firstBadAt === undefined ? 0 : now - health.firstBadAt;
  return switchTo(topology, pipeline, route, base, target.chain, event, 'failover', reason, detectedAfterMs, now);
}

/** One tick: fold observations, then decide every pipeline. */
export function decide(topology: Topology, state: ControllerState, input: TickInput): Decision {
  const folded = foldHealth(topology, state, input.observations);
  const budgetWaitSince = new Map<string, number>();
  const next: ControllerState = { ...folded, budgetWaitSince };
  const actions: Action[] = [];
  const verdicts: PipelineVerdict[] = [];
  for (const pipeline of topology.pipelines.values()) {
    const v = decidePipeline(topology, next, input, pipeline);
    if (v.action) actions.push(v.action);
    if (v.budgetWaiting) budgetWaitSince.set(pipeline.name, state.budgetWaitSince.get(pipeline.name) ?? input.now);
    verdicts.push({ pipeline: pipeline.name, state: v.state, rule: v.rule, reason: v.reason });
  }
  const reason =
    actions.length > 0
      ? actions.map((a) => a.reason).join('; ')
      : verdicts.length === 0
        ? 'no action: no pipelines configured'
        : `no action: ${verdicts.length} pipeline(s) left as they are`;
  return { next, actions, reason, verdicts };
}

export { HOUR_MS };
