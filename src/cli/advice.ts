import type { OperatorAdvice } from '../core/decide.js';
import type { Observation } from '../core/health.js';
import type { Topology } from '../core/model.js';

/** The no-quorum hold, and the way out a person who knows more than the observers can take. */
export function adviceText(held: readonly { pipeline: string; advice?: OperatorAdvice | null }[], config: string): string {
  const lines = held.flatMap((r) => (r.advice ? [`  ${r.pipeline}: ${r.advice.command} -c ${config}`, `    risk: ${r.advice.risk}`] : []));
  return `held for lack of observer quorum (fail static; it lifts by itself when observers agree). If you know the room is down, switch by hand:\n${lines.join('\n')}\n`;
}

export interface ObserverSeen {
  readonly observer: string;
  /** Its room or witness site. */
  readonly site: string;
  /** Age of its newest published observation, or of its newer confirmation (ADR 0019). */
  readonly ageMs: number;
}

/** Who publishes observations, from where, and which rooms and witness sites have nobody reporting. */
export function observerSummary(published: readonly Observation[], topology: Topology, now: number, confirmedAt: ReadonlyMap<string, number> = new Map()): { observers: ObserverSeen[]; silentSites: string[] } {
  const newest = new Map<string, Observation>();
  for (const o of published) {
    const seen = newest.get(o.observer);
    if (!seen || o.at > seen.at) newest.set(o.observer, o);
  }
  const observers = [...newest.values()]
    .map((o) => ({ observer: o.observer, site: o.observerRoom, ageMs: Math.max(0, now - Math.max(o.at, confirmedAt.get(o.observer) ?? 0)) }))
    .sort((a, b) => a.site.localeCompare(b.site) || a.observer.localeCompare(b.observer));
  const sites = new Set(observers.map((o) => o.site));
  const silentSites = [...topology.rooms.keys(), ...(topology.witnesses ?? [])].filter((s) => !sites.has(s));
  return { observers, silentSites };
}
