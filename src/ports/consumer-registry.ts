/**
 * What one SDK consumer instance says about itself, so that the controller knows which consumers
 * a switch must move (verify counts them all, not just the first to answer).
 *
 * `state`:
 * - `consuming`: reading in `room` under `epoch`;
 * - `moving`: saw `epoch` and is starting in `room`;
 * - `unreachable`: `epoch` routes it to `room`, which it cannot reach; it stays on (or has
 *   stopped) the room named in `servingRoom`, as its policy says (ADR 0008).
 */
export interface ConsumerPresence {
  readonly consumer: string;
  readonly pipeline: string;
  /** The newest route epoch this instance has seen. */
  readonly epoch: number;
  /** The room that epoch routes to. */
  readonly room: string;
  readonly state: 'starting' | 'consuming' | 'moving' | 'unreachable';
  /** The room it actually reads from now (differs from `room` while moving or unreachable). */
  readonly servingRoom?: string;
  /** The epoch of the route it actually reads under now. */
  readonly servingEpoch?: number;
  /** Epoch ms of the last state change. */
  readonly since: number;
  readonly reason?: string;
  /**
   * The Kafka client id of this instance's paused standby member, joined to the group in
   * `standbyRoom` (issue 19). It reads nothing; a switch's verify step does not count it as
   * someone still reading that room.
   */
  readonly standbyClientId?: string;
  readonly standbyRoom?: string;
}

/**
 * Live SDK consumer instances per pipeline.
 *
 * Consistency: each instance writes its own key under a lease it keeps alive; a crashed or
 * partitioned instance's key vanishes when its lease expires (`ttlSeconds`), so `live()` lists
 * instances heard from within the last TTL. Reads are linearizable. Not fenced: consumers write
 * it, and what an instance says of itself is true whoever leads.
 * Timeouts: calls reject after the client's call timeout.
 */
export interface ConsumerRegistry {
  live(pipeline: string): Promise<ConsumerPresence[]>;
}

/** The consumer's side: announce and update its own presence. */
export interface ConsumerAnnouncer {
  announce(presence: ConsumerPresence): Promise<void>;
  /** Removes the key and revokes the lease (graceful close). */
  withdraw(): Promise<void>;
}
