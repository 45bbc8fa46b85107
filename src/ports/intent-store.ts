import type { Intents } from '../core/safety.js';
import type { SwitchoverIntent } from '../core/switchover.js';

export interface PauseIntent {
  /** A pipeline's name, or undefined for everything. */
  readonly pipeline: string | undefined;
  readonly by: string;
  readonly reason: string;
  readonly at: number;
}

/**
 * A change freeze for a tier (a runbook's freeze step): planned switches of its pipelines are
 * refused unless they are emergencies or a window override is in effect. Automatic failover is
 * not affected: a freeze stops changes, not protection.
 */
export interface FreezeIntent {
  readonly tier: string;
  readonly by: string;
  readonly reason: string;
  readonly at: number;
  /** The runbook (event) that set it. */
  readonly event?: string;
}

/** How a freeze or override write went: done, nothing there (to lift), or held by someone else's. */
export type OwnedWrite = { readonly kind: 'done' } | { readonly kind: 'absent' } | { readonly kind: 'held'; readonly by: string };

/**
 * An explicit override of a tier's change window and freezes, recorded with who and why, until
 * `until` (real time). It lets through the switches of the runbook that set it (`event`) only.
 */
export interface WindowOverride extends FreezeIntent {
  readonly until: number;
}

/** What the core needs of the pauses, freezes and window overrides. */
export function intentsOf(pauses: readonly PauseIntent[], freezes: readonly FreezeIntent[] = [], overrides: readonly WindowOverride[] = []): Intents {
  return {
    paused: new Set(pauses.flatMap((p) => (p.pipeline ? [p.pipeline] : []))),
    pausedAll: pauses.some((p) => p.pipeline === undefined),
    automaticGateClosed: false,
    frozen: new Map(freezes.map((f) => [f.tier, { why: `tier ${f.tier} is frozen by ${f.by} since ${new Date(f.at).toISOString()}: ${f.reason}`, ...(f.event !== undefined && { event: f.event }) }])),
    windowOverrides: new Map(overrides.map((o) => [o.tier, { until: o.until, why: `change window of ${o.tier} overridden by ${o.by} until ${new Date(o.until).toISOString()}: ${o.reason}`, ...(o.event !== undefined && { event: o.event }) }])),
  };
}

/**
 * Operators' intents. The CLI records them; the controller reads them every tick and carries them
 * out. Not fenced by leadership (they are inputs, not actions); each intent is one key, so a
 * write is atomic, and a read returns every intent in one linearizable range read.
 */
export interface IntentStore {
  pause(intent: PauseIntent): Promise<void>;
  /** Removes the pause; returns false if there was none. */
  resume(pipeline: string | undefined): Promise<boolean>;
  /** A pause whose value cannot be read still holds the pipeline its key names, with a reason saying so. */
  pauses(): Promise<PauseIntent[]>;
  /** What the core needs, in one read. */
  read(): Promise<Intents>;
  /** Freezes the tier, unless someone else (an operator, another runbook) froze it: theirs stays. */
  freeze(f: FreezeIntent): Promise<OwnedWrite>;
  /** Lifts the freeze; with `event`, only the one that runbook set. */
  unfreeze(tier: string, event?: string): Promise<OwnedWrite>;
  /** Readable freezes; one that is not still freezes the tier its key names, with a reason saying so. */
  freezes(): Promise<FreezeIntent[]>;
  /** Like freeze: someone else's override of the tier stays. */
  overrideWindow(o: WindowOverride): Promise<OwnedWrite>;
  clearWindowOverride(tier: string, event?: string): Promise<OwnedWrite>;
  /** Readable overrides (an unreadable one overrides nothing). */
  windowOverrides(): Promise<WindowOverride[]>;
  /** Records these intents together, in one transaction: all of them or none (a drill's legs). */
  addSwitchovers(intents: readonly SwitchoverIntent[]): Promise<void>;
  /** Replaces an existing intent (e.g. marked refused); false if it is gone. */
  updateSwitchover(intent: SwitchoverIntent): Promise<boolean>;
  /** Removes one intent (the leader, once a switch carries it); false if it was gone. */
  removeSwitchover(id: string): Promise<boolean>;
  /**
   * An operator's cancel: removes the intent and, in the same transaction, every intent that
   * waits for it (`after`, transitively). Returns the ids removed; empty if `id` was not there.
   */
  cancelSwitchover(id: string): Promise<string[]>;
  /**
   * Every switchover intent, its id taken from its key. A value that is not JSON comes back with
   * `unreadable` set (and empty fields), so the leader refuses it like any malformed intent.
   */
  switchovers(): Promise<SwitchoverIntent[]>;
}
