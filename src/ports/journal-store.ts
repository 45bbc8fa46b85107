import type { SwitchJournal, SwitchRecord } from '../core/journal.js';
import type { Fence, OnMalformed, WriteOutcome } from './route-store.js';

export interface StoredJournal {
  readonly journal: SwitchJournal;
  readonly version: string;
}

/** What consumers acknowledged: the epoch they now process, and when their first record came. */
export interface ConsumerAck {
  readonly consumer: string;
  readonly epoch: number;
  readonly room: string;
  readonly firstMessageAt: number;
}

/**
 * Switch journals (one per pipeline: its current or last switch), switch history, and consumer
 * acknowledgements.
 *
 * Consistency: every journal write is one transaction guarded by the leader's fence and by the
 * journal's version as read (absent for a first switch of a pipeline, or the finished journal it
 * replaces), so two leaders can never both advance a switch. `finish` writes the history record
 * only if no record with that id exists, in the same transaction that closes the journal: a
 * switch resumed after a crash in its last step is still recorded exactly once.
 * Acks are written by consumers (not fenced) and only ever name the epoch they consume.
 * `list` and `acks` leave out values that do not parse, so one bad key cannot stop every pipeline.
 * Timeouts: calls reject after the client's call timeout; a rejected write may have applied.
 */
export interface JournalStore {
  /** Journals that parse; one that does not is left out and told to `onMalformed` with its pipeline (shape: see journalProblem). */
  list(onMalformed?: OnMalformed): Promise<Map<string, StoredJournal>>;
  put(fence: Fence, journal: SwitchJournal, expectedVersion: string | undefined): Promise<WriteOutcome & { version?: string }>;
  finish(fence: Fence, journal: SwitchJournal, record: SwitchRecord, expectedVersion: string): Promise<WriteOutcome>;
  /** Finished switches, oldest first; with `newest`, only that many of the latest (one pipeline's). */
  history(pipeline?: string, newest?: number): Promise<SwitchRecord[]>;
  acks(pipeline: string): Promise<ConsumerAck[]>;
  ack(pipeline: string, ack: ConsumerAck): Promise<void>;
}
