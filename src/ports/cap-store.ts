import type { CapOverride, CapVerdict } from '../core/caps.js';

/** A change of a pipeline's cap, as history keeps it. */
export interface CapEvent {
  readonly pipeline: string;
  readonly at: number;
  readonly room: string;
  /** The cap before and after, records/s (undefined: uncapped; 0 with paused: shed). */
  readonly before: number | undefined;
  readonly after: number | undefined;
  readonly origin: 'baseline' | 'override' | 'shed' | 'uncapped';
  readonly reason: string;
}

/**
 * Operators' cap overrides (`switchyard caps set`) and the history of cap changes. Overrides are
 * inputs, like pauses: the CLI writes them unfenced, one key per pipeline; only the leader turns
 * them into caps (fenced). History is append-only, written by the leader.
 */
export interface CapStore {
  setOverride(o: CapOverride): Promise<void>;
  /** false when there was none. */
  clearOverride(pipeline: string): Promise<boolean>;
  /** Every readable override; one that is not is told to `onMalformed` and left out. */
  overrides(onMalformed?: (pipeline: string, why: string) => void): Promise<Map<string, CapOverride>>;
  record(event: CapEvent): Promise<void>;
  /** Oldest first; one pipeline's or all. */
  history(pipeline?: string): Promise<CapEvent[]>;
  /**
   * The leader's latest plan, for `status` and `caps show` (they cannot see its lag and rates).
   * Written when it changed, or first in a leadership `term` (any value that differs per term):
   * another leader may have written its own in between.
   */
  publishPlan(plan: PublishedCapPlan, term?: unknown): Promise<void>;
  readPlan(): Promise<PublishedCapPlan | undefined>;
}

/** What the leader publishes of its cap plan: every pipeline that is capped, shed or alerting. */
export interface PublishedCapPlan {
  readonly at: number;
  readonly by: string;
  readonly verdicts: readonly CapVerdict[];
  /** Verdicts left out (uncapped and quiet ones, or past the size bound). */
  readonly omitted: number;
}
