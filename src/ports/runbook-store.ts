import type { OperatorInput, RunbookInputs, StartedRunbook, StepRecord } from '../core/runbook.js';
import type { Fence, WriteOutcome } from './route-store.js';

export interface StoredStep {
  readonly record: StepRecord;
  readonly version: string;
}

/** What the leader publishes when a runbook has ended: when, and how. */
export interface RunbookEnd {
  /** Event time. */
  readonly at: number;
  readonly outcome: 'finished' | 'aborted';
  readonly summary: string;
}

/** A started runbook with its record and the operators' inputs, as read in one pass. */
export interface LoadedRunbook {
  readonly started: StartedRunbook;
  readonly steps: ReadonlyMap<string, StoredStep>;
  readonly inputs: RunbookInputs;
  readonly ended?: RunbookEnd;
}

/**
 * Started runbooks and their record. `start` and the inputs (ack, skip, abort) are the CLI's,
 * create-only and unfenced, like other intents; step records and the end are the leader's, each
 * written in a transaction guarded by its fence and by the record's version as read, so a step
 * is begun by one leader only and a deposed leader can write nothing.
 */
export interface RunbookStore {
  /** false when a runbook for this event is already started. */
  start(started: StartedRunbook): Promise<boolean>;
  /** Every started runbook; one whose start record is unreadable is told to `onMalformed` and left out. */
  list(onMalformed?: (event: string, why: string) => void): Promise<LoadedRunbook[]>;
  get(event: string): Promise<LoadedRunbook | undefined>;
  /** The new version comes back with a write, for the next write of the same step. */
  putStep(fence: Fence, event: string, step: string, record: StepRecord, expectedVersion: string | undefined): Promise<WriteOutcome & { version?: string }>;
  end(fence: Fence, event: string, end: RunbookEnd): Promise<WriteOutcome>;
  /** Create-only: false when there was one already. */
  ack(event: string, step: string, input: OperatorInput): Promise<boolean>;
  /** Create-only, and only while the step's record is at `recordVersion` (absent: no record yet). */
  skip(event: string, step: string, input: OperatorInput, recordVersion?: string): Promise<boolean>;
  abort(event: string, input: OperatorInput): Promise<boolean>;
  /** Forgets a runbook and its record (after its report was taken); false when there was none. */
  remove(event: string): Promise<boolean>;
}
