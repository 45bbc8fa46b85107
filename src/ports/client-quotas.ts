/**
 * Broker-enforced Kafka client quotas for one room: the byte rate a client id may fetch. This is
 * how Switchyard caps a consumer that does not embed our SDK (a Flink job's Kafka source, a
 * third-party tool): the brokers throttle its fetches, whatever it runs on.
 *
 * What a quota means: Kafka enforces `consumer_byte_rate` on each broker separately, over the
 * broker's own sliding window (quota.window.num x quota.window.size.seconds, 11 x 1 s by
 * default). A client id that reads partitions led by three brokers may fetch up to three times
 * the rate in all. Callers derive the byte rate from a cap in records/s times the observed mean
 * record size (ADR 0011).
 *
 * Consistency: a set is committed by the cluster's controller before it returns; a read is the
 * answering broker's view, which may lag a set that just returned by the broker's metadata
 * propagation (milliseconds). Setting the same value again is harmless (idempotent).
 * Timeouts: every call rejects within the adapter's timeout (connect included), with
 * QuotaTimeoutError, a QuotaBrokerError for a broker error code, or a connection error.
 */
export interface ClientQuotas {
  /** The client id's own consumer_byte_rate in bytes/s, or undefined if it has none (defaults are not reported). */
  consumerByteRate(clientId: string): Promise<number | undefined>;
  /** Sets the client id's consumer_byte_rate (bytes/s, a positive integer); undefined removes it. */
  setConsumerByteRate(clientId: string, bytesPerSecond: number | undefined): Promise<void>;
  close(): Promise<void>;
}

/** Names of the Kafka error codes a quota request can plausibly answer with. */
const ERROR_NAMES: Readonly<Record<number, string>> = {
  [-1]: 'UNKNOWN_SERVER_ERROR',
  7: 'REQUEST_TIMED_OUT',
  31: 'CLUSTER_AUTHORIZATION_FAILED',
  35: 'UNSUPPORTED_VERSION',
  40: 'INVALID_CONFIG',
  41: 'NOT_CONTROLLER',
  42: 'INVALID_REQUEST',
  44: 'POLICY_VIOLATION',
};

/** A broker answered a quota request with an error code, e.g. `INVALID_REQUEST (42)`. */
export class QuotaBrokerError extends Error {
  override readonly name = 'QuotaBrokerError';
  /** Kafka's name for the code, or `UNKNOWN_CODE` for one not in our table. */
  readonly codeName: string;

  constructor(
    readonly request: 'AlterClientQuotas' | 'DescribeClientQuotas',
    readonly code: number,
    readonly brokerMessage: string | undefined,
  ) {
    const codeName = ERROR_NAMES[code] ?? 'UNKNOWN_CODE';
    super(`${request} failed: ${codeName} (${code})${brokerMessage ? `: ${brokerMessage}` : ''}`);
    this.codeName = codeName;
  }
}

/** No broker of the room answered a quota call in time (connect included). */
export class QuotaTimeoutError extends Error {
  override readonly name = 'QuotaTimeoutError';
  constructor(
    readonly what: string,
    readonly ms: number,
    readonly detail: string,
  ) {
    super(`${what}: no answer within ${ms} ms (${detail})`);
  }
}
