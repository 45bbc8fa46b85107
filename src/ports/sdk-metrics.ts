/** What an SDK client reports; an adapter maps it to Prometheus. Calls never throw or block. */
export interface SdkMetrics {
  /** The newest route epoch seen, and whether this client can reach the room it names. */
  route(pipeline: string, epoch: number, reachable: boolean): void;
  /** Records dropped because their id says they were processed already. */
  duplicateDropped(pipeline: string): void;
  /** Route watch errors (the client re-reads and watches again after each). */
  watchError(pipeline: string): void;
  /**
   * The source cap this client paces to (src/sdk/rate-pacer.ts): records a second over the whole
   * pipeline, or null when it has none; `paused` while the cap sheds the pipeline (reads nothing).
   * Optional, like the two below, so that metrics written before caps still fit.
   */
  cap?(pipeline: string, recordsPerSecond: number | null, paused: boolean): void;
  /** Partitions this client holds paused for pacing right now. */
  pacedPartitionsPaused?(pipeline: string, partitions: number): void;
  /** Time one partition spent paused for pacing, told when that pause ends. */
  throttled?(pipeline: string, ms: number): void;
}

export const noSdkMetrics: SdkMetrics = { route() {}, duplicateDropped() {}, watchError() {}, cap() {}, pacedPartitionsPaused() {}, throttled() {} };
