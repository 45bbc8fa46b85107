// Automatic backfill (tiers with `backfill: automatic`): every few seconds the leader looks for
// switches whose estimate left a gap in the room they left, and once that room's Kafka is healthy
// again (and the pipeline does not read it), copies the gap into the room the pipeline reads
// (src/executor/backfill.ts). One backfill at a time per pipeline, in the background, so a slow
// copy never holds a tick up. Progress is saved per batch with compare-and-set, so a new leader, or
// an operator's `switchyard backfill`, resumes it.

import type { Route, Topology } from '../core/model.js';
import type { BackfillRunner } from '../executor/backfill.js';
import type { BackfillStore } from '../ports/backfill-store.js';
import type { JournalStore } from '../ports/journal-store.js';
import type { Logger } from '../ports/logger.js';

export interface BackfillReconcilerDeps {
  readonly topology: Topology;
  readonly journals: JournalStore;
  readonly store: BackfillStore;
  readonly runner: BackfillRunner;
  readonly by: string;
  readonly log: Logger;
  /** Default 5000 ms. */
  readonly intervalMs?: number;
}

export class BackfillReconciler {
  private lastLook = 0;
  private looking = false;
  private readonly running = new Set<string>();

  constructor(private readonly deps: BackfillReconcilerDeps) {}

  /** Starts what is due; returns at once. `roomHealthy` says whether a room's Kafka is OK for a pipeline's tier. */
  poke(routes: ReadonlyMap<string, Route | undefined>, roomHealthy: (pipeline: string, room: string) => boolean, now: number): void {
    if (this.looking || now - this.lastLook < (this.deps.intervalMs ?? 5000)) return;
    this.lastLook = now;
    this.looking = true;
    void this.look(routes, roomHealthy)
      .catch((err: Error) => this.deps.log.warn('backfill check failed; will look again', { error: err.message }))
      .finally(() => (this.looking = false));
  }

  private async look(routes: ReadonlyMap<string, Route | undefined>, roomHealthy: (pipeline: string, room: string) => boolean): Promise<void> {
    for (const pipeline of this.deps.topology.pipelines.values()) {
      const policy = this.deps.topology.policies.get(pipeline.tier);
      const route = routes.get(pipeline.name);
      if (policy?.backfill !== 'automatic' || !route || this.running.has(pipeline.name)) continue;
      const history = await this.deps.journals.history(pipeline.name, 20);
      for (const record of history) {
        const gap = record.gap;
        if (!gap || gap.sourceRoom === route.room || !roomHealthy(pipeline.name, gap.sourceRoom)) continue;
        const existing = await this.deps.store.get(pipeline.name, record.id);
        if (existing?.state.status === 'done') continue;
        this.running.add(pipeline.name);
        void this.copy(record.id, pipeline.name, async () => {
          const planned = existing ?? (await this.deps.runner.plan(record, route.room, this.deps.by));
          return this.deps.runner.run(planned);
        });
        break;
      }
    }
  }

  private async copy(record: string, pipeline: string, run: () => Promise<{ partitions: readonly { copied: number }[] }>): Promise<void> {
    this.deps.log.info('backfill started', { pipeline, record });
    try {
      const done = await run();
      this.deps.log.info('backfill finished', { pipeline, record, copied: done.partitions.reduce((n, p) => n + p.copied, 0) });
    } catch (err) {
      this.deps.log.warn('backfill stopped; it resumes from its saved progress', { pipeline, record, error: (err as Error).message });
    } finally {
      this.running.delete(pipeline);
    }
  }
}
