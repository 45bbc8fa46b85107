/** A member of a Kafka consumer group, as the group coordinator lists it. */
export interface GroupMember {
  readonly memberId: string;
  readonly clientId: string;
  readonly clientHost: string;
}

/**
 * Who is still in a consumer group in one room's Kafka: used by the switch's fence-old and verify
 * steps to see whether the old room is still being consumed, by SDK clients or anyone else.
 *
 * Consistency: the coordinator's view at the time of the call (a member that died is listed
 * until its session times out). Timeouts: rejects within `timeoutMs` when the room does not answer
 * (a dead old room is the common case during a failover, and then nobody consumes it anyway).
 */
export interface GroupInspector {
  members(brokers: readonly string[], group: string, timeoutMs: number): Promise<GroupMember[]>;
}
