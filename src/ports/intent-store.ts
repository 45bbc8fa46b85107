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
 * Operators' intents. The CLI records them; the controller reads them every tick and carries them
 * out. Not fenced by leadership (they are inputs, not actions); each intent is one key, so a
 * write is atomic, and a read returns every intent in one linearizable range read.
 */
export interface IntentStore {
  pause(intent: PauseIntent): Promise<void>;
  /** Removes the pause; returns false if there was none. */
  resume(pipeline: string | undefined): Promise<boolean>;
  pauses(): Promise<PauseIntent[]>;
  /** What the core needs, in one read. */
  read(): Promise<Intents>;
  addSwitchover(intent: SwitchoverIntent): Promise<void>;
  /** Replaces an existing intent (e.g. marked refused); false if it is gone. */
  updateSwitchover(intent: SwitchoverIntent): Promise<boolean>;
  removeSwitchover(id: string): Promise<boolean>;
  switchovers(): Promise<SwitchoverIntent[]>;
}
