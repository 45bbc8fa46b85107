// Manual switchovers: an operator's intent, carried out by the leader like any switch. Pure:
// given the intent, the route and the health, say what to do now and why.

import { canServe } from './arbitration.js';
import { outsideChangeWindow, describeWindows } from './change-window.js';
import type { Action, ControllerState } from './decide.js';
import { chainVerdict } from './decide.js';
import { routeFor, type Route, type Topology } from './model.js';
import { switchesInLastHour } from './safety.js';

export interface SwitchoverIntent {
  readonly id: string;
  readonly pipeline: string;
  /** Target chain. */
  readonly to: string;
  /** Not before this time (epoch ms). */
  readonly at: number;
  readonly reason: string;
  readonly by: string;
  /** Allowed outside the tier's change window (needs a reason). */
  readonly emergency: boolean;
  readonly createdAt: number;
  /** Set when the leader refused it; it stays listed until cancelled. */
  readonly refused?: string;
}

export type SwitchoverPlan =
  | { readonly kind: 'switch'; readonly action: Extract<Action, { kind: 'switch-route' }> }
  | { readonly kind: 'done'; readonly reason: string }
  | { readonly kind: 'wait'; readonly reason: string }
  | { readonly kind: 'refuse'; readonly reason: string };

/** The chain a switchover goes to when the operator names none: the primary, or else the first standby. */
export function defaultTarget(topology: Topology, pipeline: string, current: string | undefined): string | undefined {
  const p = topology.pipelines.get(pipeline);
  if (!p) return undefined;
  const primary = p.chains.find((c) => c.role === 'primary');
  if (primary && primary.name !== current) return primary.name;
  return p.chains.find((c) => c.role === 'standby' && c.name !== current)?.name;
}

export function planSwitchover(topology: Topology, state: ControllerState, route: Route | undefined, intent: SwitchoverIntent, now: number): SwitchoverPlan {
  const pipeline = topology.pipelines.get(intent.pipeline);
  if (!pipeline) return { kind: 'refuse', reason: `unknown pipeline ${intent.pipeline}` };
  const target = pipeline.chains.find((c) => c.name === intent.to);
  if (!target) return { kind: 'refuse', reason: `pipeline ${pipeline.name} has no chain ${intent.to} (chains: ${pipeline.chains.map((c) => c.name).join(', ')})` };
  const policy = topology.policies.get(pipeline.tier);
  if (!policy) return { kind: 'refuse', reason: `tier ${pipeline.tier} has no policy` };
  if (!route) return { kind: 'wait', reason: `${pipeline.name} has no route yet` };
  if (route.chain === intent.to) return { kind: 'done', reason: `${pipeline.name} already runs on ${intent.to}@${target.room}` };
  if (intent.at > now) return { kind: 'wait', reason: `scheduled for ${new Date(intent.at).toISOString()}` };
  const outside = outsideChangeWindow(now, policy.changeWindows);
  if (outside && !intent.emergency) {
    return { kind: 'refuse', reason: `${outside}; a switchover of tier ${policy.tier} needs --emergency and a reason` };
  }
  const health = chainVerdict(state, policy, target, now);
  if (!canServe(health)) return { kind: 'refuse', reason: `target chain ${intent.to}@${target.room} cannot serve: ${health.reason}` };
  const window = intent.emergency ? ` (emergency${outside ? `, outside the change window ${describeWindows(policy.changeWindows)}` : ''})` : '';
  const reason = `manual switchover of ${pipeline.name} from ${route.chain}@${route.room} to ${target.name}@${target.room} by ${intent.by}${window}: ${intent.reason || 'no reason given'}`;
  const next = routeFor(topology, pipeline, target, route.epoch + 1, now, reason, [...switchesInLastHour(route, now), now]);
  return { kind: 'switch', action: { kind: 'switch-route', from: route, route: next, reason, detectedAfterMs: 0 } };
}
