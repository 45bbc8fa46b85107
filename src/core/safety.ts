// Safety rules for automatic switches, each a small predicate that answers "" (go ahead) or the
// sentence saying why not, naming the rule and the numbers. Modeled on AWS ARC's safety rules
// and on pepr's "return the reason you refused" style.

import { HOUR_MS, type Route, type TierPolicy } from './model.js';

/** Operator intents that constrain automatic action. */
export interface Intents {
  /** Pipelines in maintenance: nothing automatic happens to them. */
  readonly paused: ReadonlySet<string>;
  /** Everything in maintenance. */
  readonly pausedAll: boolean;
  /** The gating switch: when closed, no automatic switch anywhere (manual ones still run). */
  readonly automaticGateClosed: boolean;
  /**
   * Tiers under a change freeze, with the sentence saying who froze them and why, and the runbook
   * (event) that did: that runbook's own steps are what the freeze protects, so they pass it.
   */
  readonly frozen?: ReadonlyMap<string, { readonly why: string; readonly event?: string }>;
  /** Tiers whose change window (and freeze) an operator overrode, until when, and why. */
  readonly windowOverrides?: ReadonlyMap<string, { readonly until: number; readonly why: string; readonly event?: string }>;
}

export const NO_INTENTS: Intents = { paused: new Set(), pausedAll: false, automaticGateClosed: false };

export function pausedRule(pipeline: string, intents: Intents): string {
  if (intents.pausedAll) return `every pipeline is paused (global maintenance); nothing automatic happens`;
  if (intents.paused.has(pipeline)) return `${pipeline} is paused (maintenance); nothing automatic happens to it`;
  return '';
}

export function gateRule(intents: Intents): string {
  return intents.automaticGateClosed ? 'the automatic-switch gate is closed; only manual switches run' : '';
}

/** The initial route (epoch 1) was not a switch: dwell counts from the last switch only. */
export function dwellRule(route: Route, policy: TierPolicy, now: number): string {
  if (route.epoch <= 1) return '';
  const dwelt = now - route.since;
  if (dwelt >= policy.minDwellMs) return '';
  return `the last switch was ${dwelt} ms ago (min dwell ${policy.minDwellMs} ms)`;
}

export function switchesInLastHour(route: Route, now: number): number[] {
  return route.history.filter((t) => now - t < HOUR_MS);
}

export function rateRule(route: Route, policy: TierPolicy, now: number): string {
  const recent = switchesInLastHour(route, now);
  if (recent.length < policy.maxSwitchesPerHour) return '';
  return `${recent.length} switches in the last hour already (max ${policy.maxSwitchesPerHour} per hour)`;
}
