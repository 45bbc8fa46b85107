import type { Intents } from '../core/safety.js';
import type { SwitchoverIntent } from '../core/switchover.js';

export interface PauseIntent {
  /** A pipeline's name, or undefined for everything. */
  readonly pipeline: string | undefined;
  readonly by: string;
  readonly reason: string;
  readonly at: number;
}

/** What the core needs of the pauses. */
export function intentsOf(pauses: readonly PauseIntent[]): Intents {
  return {
    paused: new Set(pauses.flatMap((p) => (p.pipeline ? [p.pipeline] : []))),
    pausedAll: pauses.some((p) => p.pipeline === undefined),
    automaticGateClosed: false,
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
