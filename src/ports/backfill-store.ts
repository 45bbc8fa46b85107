/** One partition's part of a backfill. */
export interface PartitionBackfill {
  readonly topic: string;
  readonly partition: number;
  readonly afterTs: number;
  readonly upToTs: number;
  /** What the estimate said before the switch. */
  readonly estimated: number;
  /** Offsets in the source room: the gap is [startOffset, endOffset). */
  readonly startOffset: number;
  readonly endOffset: number;
  readonly nextOffset: number;
  readonly copied: number;
}

export interface BackfillState {
  readonly record: string;
  readonly pipeline: string;
  readonly sourceRoom: string;
  readonly targetRoom: string;
  readonly by: string;
  readonly startedAt: number;
  readonly finishedAt?: number;
  readonly status: 'running' | 'done';
  readonly partitions: readonly PartitionBackfill[];
}

/**
 * Backfill progress, one state per switch record.
 *
 * Consistency: `save` is a compare-and-set on the version read (undefined: only if absent), so two
 * runners never both advance one backfill; reads are linearizable. Not fenced by the leader: an
 * operator's CLI runs backfills too. Timeouts: calls reject after the client's call timeout.
 */
export interface BackfillStore {
  get(pipeline: string, record: string): Promise<{ state: BackfillState; version: string } | undefined>;
  /** Returns the new version, or undefined when someone else saved first. */
  save(state: BackfillState, version: string | undefined): Promise<string | undefined>;
}
