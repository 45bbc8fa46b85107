/** A consumer group's committed offsets in one room: group -> topic -> partition -> offset (-1: none). */
export type CommittedOffsets = Map<string, Map<string, Map<number, number>>>;

/**
 * Reads consumer groups' committed offsets in one room's Kafka, many groups per call, with
 * bounded concurrency (one OffsetFetch per group: Kafka's batched form is newer than kafkajs).
 *
 * Consistency: each group's offsets are what its coordinator said at its request. Timeouts: the
 * whole call rejects within `timeoutMs`; groups not read by then are left out.
 */
export interface GroupOffsetReader {
  read(groups: readonly { readonly group: string; readonly topics: readonly string[] }[], timeoutMs: number): Promise<CommittedOffsets>;
  close(): Promise<void>;
}
