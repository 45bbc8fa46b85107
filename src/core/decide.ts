// The controller's brain: from what it observed and the routes it read, decide what to do now.
// Pure: the clock is an argument, no I/O, no globals. Every pipeline gets a sentence saying why.

import {
  foldObservation,
  withStaleness,
  UNKNOWN_HEALTH,
  type ComponentHealth,
  type Observation,
  type Thresholds,
} from './health.js';
import { primaryChain, routeFor, type Chain, type Pipeline, type Route, type TierName, type TierPolicy, type Topology } from './model.js';

/**
 * What the controller carries from tick to tick: the debounced health of every room, per tier
 * (each tier folds observations with its own thresholds and cadence).
 */
export interface ControllerState {
  readonly health: ReadonlyMap<string, ComponentHealth>;
}

export const INITIAL_STATE: ControllerState = { health: new Map() };

export interface TickInput {
  readonly now: number;
  /** Fresh probe results since the last tick. */
  readonly observations: readonly Observation[];
  /** The routes as read from the store at the start of this tick; undefined = no route yet. */
  readonly routes: ReadonlyMap<string, Route | undefined>;
}

export type Action =
  | { readonly kind: 'init-route'; readonly route: Route; readonly reason: string }
  | {
      readonly kind: 'switch-route';
      readonly from: Route;
      readonly route: Route;
      readonly reason: string;
      /** Milliseconds from the first failed probe of the active room to this decision. */
      readonly detectedAfterMs: number;
    };

/** The rule that settled a pipeline's verdict; stable across ticks, unlike the sentence. */
export type VerdictRule =
  | 'init'
  | 'healthy'
  | 'no-policy'
  | 'unknown-chain'
  | 'failover-not-automatic'
  | 'no-healthy-standby'
  | 'min-dwell'
  | 'failover';

export interface PipelineVerdict {
  readonly pipeline: string;
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

export function healthKey(tier: TierName, room: string): string {
  return `${tier}/${room}/kafka`;
}

function thresholdsOf(p: TierPolicy): Thresholds {
  return { fallAfter: p.fallAfter, riseAfter: p.riseAfter, staleAfterMs: p.staleAfterMs };
}

/** Folds the tick's observations into every tier's view of the rooms it uses. */
export function foldHealth(
  topology: Topology,
  prev: ReadonlyMap<string, ComponentHealth>,
  observations: readonly Observation[],
): Map<string, ComponentHealth> {
  const next = new Map(prev);
  const sorted = [...observations].sort((a, b) => a.at - b.at || a.room.localeCompare(b.room));
  for (const policy of topology.policies.values()) {
    for (const obs of sorted) {
      const key = healthKey(policy.tier, obs.room);
      const before = next.get(key) ?? UNKNOWN_HEALTH;
      // A tier with a slower cadence than the controller's samples every probeInterval, so that
      // fallAfter keeps meaning "this many intervals".
      if (before.lastAt !== 0 && obs.at - before.lastAt < policy.probeIntervalMs * 0.9) continue;
      next.set(key, foldObservation(before, obs, thresholdsOf(policy)));
    }
  }
  return next;
}

export function viewOf(
  state: ControllerState,
  policy: TierPolicy,
  room: string,
  now: number,
): ComponentHealth {
  const h = state.health.get(healthKey(policy.tier, room)) ?? UNKNOWN_HEALTH;
  return withStaleness(h, now, thresholdsOf(policy));
}

function describeChain(c: Chain): string {
  return `${c.name}@${c.room}`;
}

function decidePipeline(
  topology: Topology,
  state: ControllerState,
  pipeline: Pipeline,
  route: Route | undefined,
  now: number,
): { action?: Action; rule: VerdictRule; reason: string } {
  const policy = topology.policies.get(pipeline.tier);
  if (!policy) return { rule: 'no-policy', reason: `no action for ${pipeline.name}: tier ${pipeline.tier} has no policy` };

  if (!route) {
    const chain = primaryChain(pipeline);
    const reason = `starting ${pipeline.name} on its primary chain ${describeChain(chain)}: no route stored yet`;
    return { action: { kind: 'init-route', route: routeFor(topology, pipeline, chain, 1, now, reason), reason }, rule: 'init', reason };
  }

  const active = pipeline.chains.find((c) => c.name === route.chain);
  if (!active) {
    return { rule: 'unknown-chain', reason: `no action for ${pipeline.name}: its route names chain ${route.chain}, which the topology does not have` };
  }
  const activeHealth = viewOf(state, policy, active.room, now);
  if (activeHealth.status !== 'DOWN') {
    return { rule: 'healthy', reason: `no action for ${pipeline.name}: active chain ${describeChain(active)} is ${activeHealth.status} (${activeHealth.reason})` };
  }

  const down = `${active.room} kafka is DOWN: ${activeHealth.reason}`;
  if (policy.failover !== 'automatic') {
    return { rule: 'failover-not-automatic', reason: `no action for ${pipeline.name}: ${down}, but tier ${policy.tier} fails over ${policy.failover}ly` };
  }

  const candidates = pipeline.chains
    .filter((c) => c.role === 'standby' && c.name !== active.name)
    .map((c) => ({ chain: c, health: viewOf(state, policy, c.room, now) }));
  const target = candidates.find((c) => c.health.status === 'OK') ?? candidates.find((c) => c.health.status === 'DEGRADED');
  if (!target) {
    const seen = candidates.map((c) => `${describeChain(c.chain)} ${c.health.status}`).join(', ') || 'none configured';
    return { rule: 'no-healthy-standby', reason: `no action for ${pipeline.name}: ${down}, and no standby chain is healthy (${seen})` };
  }

  // The first route (epoch 1) was not a switch: dwell counts from the last switch only.
  const dwelt = now - route.since;
  if (route.epoch > 1 && dwelt < policy.minDwellMs) {
    return {
      rule: 'min-dwell',
      reason: `no action for ${pipeline.name}: ${down}, but the last switch was ${dwelt} ms ago (min dwell ${policy.minDwellMs} ms)`,
    };
  }

  const reason =
    `failing over ${pipeline.name} from ${describeChain(active)} to ${describeChain(target.chain)}: ${down}; ` +
    `${target.chain.room} is ${target.health.status}`;
  const next = routeFor(topology, pipeline, target.chain, route.epoch + 1, now, reason);
  const detectedAfterMs = activeHealth.firstBadAt === undefined ? 0 : now - activeHealth.firstBadAt;
  return { action: { kind: 'switch-route', from: route, route: next, reason, detectedAfterMs }, rule: 'failover', reason };
}

/** One tick: fold observations, then decide every pipeline. */
export function decide(topology: Topology, state: ControllerState, input: TickInput): Decision {
  const next: ControllerState = { health: foldHealth(topology, state.health, input.observations) };
  const actions: Action[] = [];
  const verdicts: PipelineVerdict[] = [];
  for (const pipeline of topology.pipelines.values()) {
    const v = decidePipeline(topology, next, pipeline, input.routes.get(pipeline.name), input.now);
    if (v.action) actions.push(v.action);
    verdicts.push({ pipeline: pipeline.name, rule: v.rule, reason: v.reason });
  }
  const reason =
    actions.length > 0
      ? actions.map((a) => a.reason).join('; ')
      : verdicts.length === 0
        ? 'no action: no pipelines configured'
        : `no action: ${verdicts.length} pipeline(s) left as they are`;
  return { next, actions, reason, verdicts };
}
