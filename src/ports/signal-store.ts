import type { OnMalformed } from './route-store.js';

/**
 * A client's push signal: an SDK consumer or producer saw its connection to a room's Kafka fail
 * (refused, reset, closed by the broker). It is a hint, never a vote: observers answer it by
 * probing that room ahead of their cadence for a while, and the usual quorum of their own probes
 * decides (ADR 0018). A forged or mistaken signal costs probes, never a switch.
 */
export interface ClientSignal {
  readonly room: string;
  readonly component: 'kafka';
  /** The client instance that saw it (one key per client and room). */
  readonly client: string;
  /** Epoch ms, by the client's clock. */
  readonly at: number;
  readonly reason: string;
}

/** Where clients leave signals and observers hear them. */
export interface SignalStore {
  /** Leaves a signal (overwriting this client's last one for the room). Rejects after the client's call timeout. */
  report(signal: ClientSignal): Promise<void>;
  /**
   * Calls `onSignal` for each signal written from now on; a value that is not a signal goes to
   * `onMalformed`. Follows through etcd outages and compactions. Returns a function that stops it.
   */
  follow(onSignal: (signal: ClientSignal) => void, onMalformed?: OnMalformed): Promise<() => Promise<void>>;
  close(): Promise<void>;
}
