// Manual switchovers: an operator's intent, carried out by the leader like any switch. Pure:
// given the intent, the route and the health, say what to do now and why.

import { canServe } from './arbitration.js';
import { outsideChangeWindow, describeWindows } from './change-window.js';
import type { Action, ControllerState } from './decide.js';
import { targetVerdict } from './decide.js';
import { stepAt, type SwitchJournal } from './journal.js';
import { routeFor, type Route, type Topology } from './model.js';
import { switchesInLastHour, type Intents } from './safety.js';
import type { TierPolicy } from './model.js';
import { intentProblem } from './stored.js';

/** A refused intent stays listed (with the reason and how to cancel it) this long, then the leader removes it. */
export const REFUSED_INTENT_TTL_MS = 3_600_000;

export interface SwitchoverIntent {
  readonly id: string;
  readonly pipeline: string;
  /** Target chain. */
  readonly to: string;
  /** Not before this time (epoch ms). */
  readonly at: number;
  readonly reason: string;
  /** The name given (--operator, $SWITCHYARD_OPERATOR, else the OS user). */
  readonly by: string;
  /** Who that really was (absent in intents recorded before issue 18, and in a runbook's). */
  readonly identity?: RealIdentity;
  /** Allowed outside the tier's change window (needs a reason). */
  readonly emergency: boolean;
  readonly createdAt: number;
  /** Set when the leader refused it; it stays listed until cancelled or until it expires (REFUSED_INTENT_TTL_MS after refusedAt). */
  readonly refused?: string;
  /** When the leader refused it. */
  readonly refusedAt?: number;
  /** Set by the store for a value that is not an intent at all (not JSON): why. */
  readonly unreadable?: string;
  /** Part of a drill: the drill's id, this leg and how many legs it has. */
  readonly drill?: { readonly id: string; readonly leg: number; readonly legs: number };
  /**
   * Runs only once the switch carrying out the intent with this id has finished (a drill's way
   * back). Both legs are recorded together, so the way back survives the CLI going away.
   */
  readonly after?: string;
  /** With `after`: and no sooner than this long after that switch finished. */
  readonly holdMs?: number;
  /** Asked for by this runbook (event): it passes the freeze that runbook set. */
  readonly runbook?: string;
  /**
   * With `runbook`: how the runbook found the change window open when it asked (at event time,
   * which a rehearsal runs fast): the leader does not judge the window again.
   */
  readonly windowCleared?: string;
}

/** Where the switch an intent waits for (`after`) stands. */
export type Predecessor =
  | { readonly kind: 'pending' }
  | { readonly kind: 'refused'; readonly reason: string }
  | { readonly kind: 'finished'; readonly at: number }
  /** Neither an intent nor the pipeline's journal knows it: cancelled, or replaced by a later switch. */
  | { readonly kind: 'missing' };

/**
 * Where the intent `after` stands: still an intent (pending or refused), the pipeline's journal
 * (running or finished), or nowhere.
 */
export function predecessorOf(after: string, intents: readonly SwitchoverIntent[], journal: SwitchJournal | undefined): Predecessor {
  const waiting = intents.find((i) => i.id === after);
  if (waiting) return waiting.refused ? { kind: 'refused', reason: waiting.refused } : { kind: 'pending' };
  if (journal?.request === after) {
    if (journal.status === 'running') return { kind: 'pending' };
    return { kind: 'finished', at: stepAt(journal, 'record')?.at ?? journal.createdAt };
  }
  return { kind: 'missing' };
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

/**
 * Whether a planned change of a tier may run at `now`: outside its change window, or while it is
 * frozen, only as an emergency or under an explicit window override. `refusal` is "" when it may;
 * `note` says what let it (an emergency, an override), for the switch's reason.
 */
export function plannedChangeGate(policy: TierPolicy, intents: Intents | undefined, now: number, emergency: boolean, runbook?: string): { readonly refusal: string; readonly note: string } {
  const outside = outsideChangeWindow(now, policy.changeWindows);
  const freeze = intents?.frozen?.get(policy.tier);
  // A runbook's own steps pass the freeze it set (the freeze is there to keep other changes out of its night).
  const frozen = freeze && (runbook === undefined || freeze.event !== runbook) ? freeze.why : '';
  // An override lets through the switches of the runbook that set it (one set by no runbook: any).
  const override = intents?.windowOverrides?.get(policy.tier);
  const mine = override !== undefined && (override.event === undefined || override.event === runbook);
  const overridden = mine && override.until > now ? override.why : '';
  if (!outside && !frozen) return { refusal: '', note: emergency ? ' (emergency)' : '' };
  const what = [outside, frozen].filter((x) => x !== '').join('; ');
  if (emergency) return { refusal: '', note: ` (emergency, ${outside ? `outside the change window ${describeWindows(policy.changeWindows)}` : frozen})` };
  if (overridden) return { refusal: '', note: ` (${overridden})` };
  return { refusal: what, note: '' };
}

export function planSwitchover(
  topology: Topology,
  state: ControllerState,
  route: Route | undefined,
  intent: SwitchoverIntent,
  now: number,
  predecessor: Predecessor = { kind: 'missing' },
  intents?: Intents,
): SwitchoverPlan {
  // Stored data, written by any CLI version or by hand: refuse what no rule can reason about,
  // rather than let it throw in every tick (a date past the end of time, a hold of centuries).
  const malformed = intentProblem(intent);
  if (malformed) return { kind: 'refuse', reason: `malformed intent: ${malformed}` };
  const pipeline = topology.pipelines.get(intent.pipeline);
  if (!pipeline) return { kind: 'refuse', reason: `unknown pipeline ${intent.pipeline}` };
  const target = pipeline.chains.find((c) => c.name === intent.to);
  if (!target) return { kind: 'refuse', reason: `pipeline ${pipeline.name} has no chain ${intent.to} (chains: ${pipeline.chains.map((c) => c.name).join(', ')})` };
  const policy = topology.policies.get(pipeline.tier);
  if (!policy) return { kind: 'refuse', reason: `tier ${pipeline.tier} has no policy` };
  if (!route) return { kind: 'wait', reason: `${pipeline.name} has no route yet` };
  // Before "already there": a way back waits while the way out has not even happened.
  if (intent.after !== undefined) {
    switch (predecessor.kind) {
      case 'pending':
        return { kind: 'wait', reason: `waits for ${intent.after} to finish` };
      case 'refused':
        return { kind: 'refuse', reason: `follows ${intent.after}, which was refused: ${predecessor.reason}` };
      case 'missing':
        return { kind: 'refuse', reason: `follows ${intent.after}, which did not run (cancelled, or another switch came in between)` };
      case 'finished':
        if (now < predecessor.at + (intent.holdMs ?? 0)) return { kind: 'wait', reason: `holds until ${new Date(predecessor.at + (intent.holdMs ?? 0)).toISOString()}` };
    }
  }
  if (route.chain === intent.to) return { kind: 'done', reason: `${pipeline.name} already runs on ${intent.to}@${target.room}` };
  if (intent.at > now) return { kind: 'wait', reason: `scheduled for ${new Date(intent.at).toISOString()}` };
  const byRunbook = typeof intent.runbook === 'string' ? intent.runbook : undefined;
  const cleared = byRunbook !== undefined && typeof intent.windowCleared === 'string' ? intent.windowCleared : undefined;
  const gate = cleared !== undefined ? { refusal: '', note: ` (${cleared})` } : plannedChangeGate(policy, intents, now, intent.emergency, byRunbook);
  if (gate.refusal) {
    return { kind: 'refuse', reason: `${gate.refusal}; a switchover of tier ${policy.tier} needs --emergency and a reason, or a runbook's overrideWindow step` };
  }
  const health = targetVerdict(state, policy, target, now);
  if (!canServe(health)) return { kind: 'refuse', reason: `target chain ${intent.to}@${target.room} cannot serve: ${health.reason}` };
  const window = gate.note;
  const what = intent.drill ? `drill ${intent.drill.id} (leg ${intent.drill.leg}/${intent.drill.legs})` : 'manual switchover';
  const reason = `${what} of ${pipeline.name} from ${route.chain}@${route.room} to ${target.name}@${target.room} by ${whoAsked(intent.by, intent.identity)}${window}: ${intent.reason || 'no reason given'}`;
  const next = routeFor(topology, pipeline, target, route.epoch + 1, now, reason, [...switchesInLastHour(route, now), now]);
  return { kind: 'switch', action: { kind: 'switch-route', from: route, route: next, reason, detectedAfterMs: 0 } };
}

/**
 * When the leader removes a refused intent: REFUSED_INTENT_TTL_MS after its refusal. One refused
 * before refusals carried a time counts from its creation; one with no usable time at all, at once.
 */
export function refusedUntil(i: SwitchoverIntent): number {
  const time = (t: unknown) => (typeof t === 'number' && Number.isFinite(t) ? t : undefined);
  return (time(i.refusedAt) ?? time(i.createdAt) ?? -REFUSED_INTENT_TTL_MS) + REFUSED_INTENT_TTL_MS;
}

/**
 * What an operator needs about a refused intent: how to cancel it, and when it goes by itself.
 * `now` and the times are epoch ms; the result is one sentence.
 */
export function refusedHint(i: SwitchoverIntent, now: number): string {
  const left = Math.max(0, refusedUntil(i) - now);
  return `cancel it with \`switchyard switchover --cancel ${i.id}\`, or it is removed in ${Math.ceil(left / 60_000)} min (${new Date(now + left).toISOString()})`;
}

/** Who asked for an intent, as the system knows them (not the name they typed). */
export interface RealIdentity {
  /** The OS user the CLI ran as. */
  readonly os: string;
  /** The Kubernetes user the operator's kubeconfig authenticates as, where they have one. */
  readonly kube?: string;
}

/**
 * The name given (--operator, $SWITCHYARD_OPERATOR) with the real identity beside it wherever they
 * differ: "erin (os user root, kubernetes user erin@corp)". A name cannot be borrowed silently.
 */
export function whoAsked(by: string, identity: RealIdentity | undefined): string {
  if (!identity) return by;
  const beside = [...(identity.os !== by ? [`os user ${identity.os}`] : []), ...(identity.kube && identity.kube !== by ? [`kubernetes user ${identity.kube}`] : [])];
  return beside.length > 0 ? `${by} (${beside.join(', ')})` : by;
}
