/** Where one partition's log stands in one room. */
export interface PartitionPosition {
  readonly topic: string;
  readonly partition: number;
  /** Log-end offset (high watermark): the offset the next record will get. */
  readonly logEnd: number;
  /**
   * The largest record timestamp in the partition's last batch, epoch ms (for records from the dual
   * producer, whose timestamps never go back, the newest record's); absent for an empty partition.
   */
  readonly newestTs?: number;
}

/** One sample of a room's positions for the pipeline topics. */
export interface RoomPositions {
  readonly room: string;
  /** When the sample was taken (epoch ms). */
  readonly at: number;
  readonly partitions: readonly PartitionPosition[];
}

/**
 * Reads a room's replication positions: per topic and partition, the log end and the newest
 * record's timestamp. Batched: a bounded number of requests per broker whatever the partition
 * count (one ListOffsets and one small Fetch per leader).
 *
 * Consistency: each value is what the partition leader said at the time of its request.
 * Timeouts: rejects within `timeoutMs`; a room that does not answer yields no sample (the caller
 * keeps the last good one and its age).
 */
export interface PositionReader {
  read(topics: readonly string[], timeoutMs: number): Promise<RoomPositions>;
  close(): Promise<void>;
}
