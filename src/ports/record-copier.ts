/** A record as copied between rooms: everything that makes it the same record. */
export interface CopiedRecord {
  readonly offset: string;
  readonly timestamp: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: Readonly<Record<string, Buffer | string>>;
}

/**
 * Reads a range of one partition in one room and appends records to the same partition in another,
 * with their timestamps, keys and headers (so SDK consumers recognise records they processed).
 *
 * Consistency: `offsetFor` is what the partition leader answers; `append` returns once every
 * in-sync replica has the records (acks = all). Timeouts: each call rejects within `timeoutMs`.
 */
export interface RecordCopier {
  /** The first offset whose timestamp is >= ts (the log end when there is none). */
  offsetFor(room: string, topic: string, partition: number, ts: number): Promise<number>;
  /** Up to about `maxBytes` of records from `offset` on (fewer near the log end). */
  read(room: string, topic: string, partition: number, offset: number, maxBytes: number): Promise<CopiedRecord[]>;
  append(room: string, topic: string, partition: number, records: readonly CopiedRecord[]): Promise<void>;
  close(): Promise<void>;
}
