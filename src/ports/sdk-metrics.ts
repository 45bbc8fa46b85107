/** What an SDK client reports; an adapter maps it to Prometheus. Calls never throw or block. */
export interface SdkMetrics {
  /** The newest route epoch seen, and whether this client can reach the room it names. */
  route(pipeline: string, epoch: number, reachable: boolean): void;
  /** Records dropped because their id says they were processed already. */
  duplicateDropped(pipeline: string): void;
  /** Route watch errors (the client re-reads and watches again after each). */
  watchError(pipeline: string): void;
}

export const noSdkMetrics: SdkMetrics = { route() {}, duplicateDropped() {}, watchError() {} };
