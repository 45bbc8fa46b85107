/**
 * The last processed event time per partition, written by SDK consumers so that whoever moves a
 * consumer group to another room knows from when to restart it.
 *
 * Consistency: `advance` only ever raises a watermark (a lower value never overwrites a higher
 * one); reads are linearizable. Not fenced by the leader: consumers write it, and any processed
 * event time is a true statement whichever room it came from.
 */
export interface WatermarkStore {
  /** Watermarks (epoch ms) by partition, for one group and topic. */
  read(group: string, topic: string): Promise<Map<number, number>>;
  advance(group: string, topic: string, watermarks: ReadonlyMap<number, number>): Promise<void>;
  /** Every group's watermarks in one read: group -> topic -> partition -> epoch ms. */
  readAll(): Promise<Map<string, Map<string, Map<number, number>>>>;
}
