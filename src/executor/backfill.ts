// Backfill: once the room a switch left returns, copy the records only it held (the switch's
// recorded gap) into the room the pipeline reads now, so that its consumers process them after
// all. Resumable: per partition the next offset to copy is saved after every batch, so a rerun
// (or another operator) continues where the last one stopped. A batch copied but not yet saved is
// copied again on resume; the copies carry the producer's ids, so SDK consumers drop what they
// processed already (ADR 0009).

import type { SwitchRecord } from '../core/journal.js';
import type { Logger } from '../ports/logger.js';
import type { RecordCopier } from '../ports/record-copier.js';
import { recordIdOf } from '../sdk/record-ids.js';
import type { BackfillState, BackfillStore, PartitionBackfill } from '../ports/backfill-store.js';

export class BackfillConflictError extends Error {
  override readonly name = 'BackfillConflictError';
}

export interface BackfillDeps {
  readonly copier: RecordCopier;
  readonly store: BackfillStore;
  readonly log: Logger;
  /** Bytes per read (default 1 MiB). */
  readonly batchBytes?: number;
  /**
   * How far past the gap's last sampled record to copy (default 5 s): records the old room took
   * between its last position sample and its failure. Copies the target already holds (same
   * producer id and sequence) are skipped.
   */
  readonly slackMs?: number;
  /** Most records of the target partition scanned for ids already there (default 200,000). */
  readonly scanLimit?: number;
}

export class BackfillRunner {
  constructor(private readonly deps: BackfillDeps) {}

  /** Finds (or resumes) the plan: the gap's offsets in the source room. */
  async plan(record: SwitchRecord, targetRoom: string, by: string): Promise<{ state: BackfillState; version: string | undefined }> {
    const existing = await this.deps.store.get(record.pipeline, record.id);
    if (existing) return existing;
    const gap = record.gap;
    if (!gap) throw new Error(`switch ${record.id} left no recorded gap`);
    const partitions: PartitionBackfill[] = [];
    for (const p of gap.partitions) {
      const upToTs = p.upToTs + (this.deps.slackMs ?? 5000);
      const startOffset = await this.deps.copier.offsetFor(gap.sourceRoom, p.topic, p.partition, p.afterTs + 1);
      const endOffset = await this.deps.copier.offsetFor(gap.sourceRoom, p.topic, p.partition, upToTs + 1);
      partitions.push({ topic: p.topic, partition: p.partition, afterTs: p.afterTs, upToTs, estimated: p.records, startOffset, endOffset, nextOffset: startOffset, copied: 0 });
    }
    const state: BackfillState = { record: record.id, pipeline: record.pipeline, sourceRoom: gap.sourceRoom, targetRoom, by, startedAt: Date.now(), status: 'running', partitions };
    return { state, version: undefined };
  }

  /**
   * Ids (producer:sequence) of the records the target partition holds from the gap's start on: the
   * producer's queue may have healed the target with some of them since. Bounded by `scanLimit`.
   */
  private async idsInTarget(state: BackfillState, p: PartitionBackfill): Promise<Set<string>> {
    const ids = new Set<string>();
    let offset = await this.deps.copier.offsetFor(state.targetRoom, p.topic, p.partition, p.afterTs + 1);
    const limit = this.deps.scanLimit ?? 200_000;
    for (let scanned = 0; scanned < limit; ) {
      const batch = await this.deps.copier.read(state.targetRoom, p.topic, p.partition, offset, this.deps.batchBytes ?? 1_048_576);
      if (batch.length === 0) break;
      for (const r of batch) {
        const id = recordIdOf(r.headers);
        if (id) ids.add(`${id.producer}:${id.sequence}`);
      }
      scanned += batch.length;
      offset = Number(batch.at(-1)!.offset) + 1;
    }
    return ids;
  }

  /** Copies every partition's remaining range, saving progress after each batch. */
  async run(start: { state: BackfillState; version: string | undefined }, onProgress: (s: BackfillState) => void = () => undefined): Promise<BackfillState> {
    let { state, version } = start;
    const save = async (next: BackfillState) => {
      const v = await this.deps.store.save(next, version);
      if (v === undefined) throw new BackfillConflictError(`backfill of ${next.record} was changed by someone else; run it again to resume from what they saved`);
      state = next;
      version = v;
      onProgress(state);
    };
    if (version === undefined) await save(state);
    for (let i = 0; i < state.partitions.length; i++) {
      const present = await this.idsInTarget(state, state.partitions[i]!);
      for (;;) {
        const p = state.partitions[i]!;
        if (p.nextOffset >= p.endOffset) break;
        const batch = await this.deps.copier.read(state.sourceRoom, p.topic, p.partition, p.nextOffset, this.deps.batchBytes ?? 1_048_576);
        const inRange = batch.filter((r) => Number(r.offset) < p.endOffset);
        if (inRange.length === 0) throw new Error(`${state.sourceRoom} returned nothing at ${p.topic}/${p.partition} offset ${p.nextOffset} (end ${p.endOffset})`);
        const wanted = inRange.filter((r) => {
          if (r.timestamp <= p.afterTs || r.timestamp > p.upToTs) return false;
          const id = recordIdOf(r.headers);
          return !id || !present.has(`${id.producer}:${id.sequence}`);
        });
        await this.deps.copier.append(state.targetRoom, p.topic, p.partition, wanted);
        const nextOffset = Number(inRange.at(-1)!.offset) + 1;
        const partitions = state.partitions.map((x, j) => (j === i ? { ...x, nextOffset, copied: x.copied + wanted.length } : x));
        await save({ ...state, partitions });
      }
    }
    await save({ ...state, status: 'done', finishedAt: Date.now() });
    this.deps.log.info('backfill done', { record: state.record, copied: state.partitions.reduce((n, p) => n + p.copied, 0) });
    return state;
  }
}
