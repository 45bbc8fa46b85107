// Turns a client's failed Kafka connections into push signals for the observers (ADR 0018): at
// most one per room per `everyMs`, best effort (a signal that cannot be written is only a lost
// hint; the observers keep their own cadence).

import type { Logger } from '../ports/logger.js';
import type { SignalStore } from '../ports/signal-store.js';

export class SignalReporter {
  private readonly last = new Map<string, number>();

  constructor(
    private readonly store: SignalStore,
    private readonly client: string,
    private readonly log: Logger,
    private readonly everyMs = 1000,
    private readonly now: () => number = Date.now,
  ) {}

  /** A connection to `room`'s broker failed for `why`. */
  trouble(room: string, broker: string, why: string): void {
    const at = this.now();
    const last = this.last.get(room);
    if (last !== undefined && at - last < this.everyMs) return;
    this.last.set(room, at);
    this.store
      .report({ room, component: 'kafka', client: this.client, at, reason: `${broker}: ${why}` })
      .catch((err: Error) => this.log.debug('could not leave a signal for the observers', { room, error: err.message }));
  }
}
