// Samples every room's replication positions each tick (for the data estimate) and keeps a few
// minutes of good samples per room, thinned as they age (POSITION_TIERS: bounded per room); a
// room that stops answering keeps its last good samples, so that a switch away from it is judged
// by what it held before it failed.

import { appendSample, packSample, POSITION_TIERS, samePositions, thin, type RoomSample } from '../core/data-estimate.js';
import type { Logger } from '../ports/logger.js';
import type { PositionReader } from '../ports/position-reader.js';

export interface PositionTrackerDeps {
  /** Per room: its reader and the pipeline topics it holds. */
  readonly rooms: ReadonlyMap<string, { readonly reader: PositionReader; readonly topics: readonly string[] }>;
  readonly timeoutMs: number;
  /** How much history to keep per room (default 5 min). */
  readonly keepMs?: number;
  readonly log: Logger;
  /** Where the thinned histories are published for the CLI (every `publishEveryMs`, default 1 s). */
  readonly publish?: (rooms: RoomSample[][]) => Promise<void>;
  readonly publishEveryMs?: number;
}

export class PositionTracker {
  private readonly histories = new Map<string, RoomSample[]>();
  private readonly running = new Set<string>();
  private readonly failing = new Map<string, string>();
  private lastPublished = 0;
  /** Each room's newest sample as last published. */
  private publishedNewest = new Map<string, RoomSample>();

  constructor(private readonly deps: PositionTrackerDeps) {}

  /** One sample of every room, in parallel; a room still answering the previous one is skipped. */
  async sample(): Promise<void> {
    await Promise.all(
      [...this.deps.rooms].map(async ([room, { reader, topics }]) => {
        if (topics.length === 0 || this.running.has(room)) return;
        this.running.add(room);
        try {
          const s = await reader.read(topics, this.deps.timeoutMs);
          // Packed: typed arrays and a layout shared with the room's other samples (docs/perf/scale.md).
          this.histories.set(room, appendSample(this.histories.get(room) ?? [], packSample(s), this.deps.keepMs ?? 300_000, POSITION_TIERS));
          if (this.failing.delete(room)) this.deps.log.info('positions readable again', { room });
        } catch (err) {
          const msg = (err as Error).message;
          if (!this.failing.has(room)) this.deps.log.warn('positions not readable; keeping the last good sample', { room, error: msg });
          this.failing.set(room, msg);
        } finally {
          this.running.delete(room);
        }
      }),
    );
    const every = this.deps.publishEveryMs ?? 1000;
    const now = Date.now();
    // Nothing moved (an idle room): the stored histories still say where every log ends, so they
    // are not written again (issue 19: no etcd write when nothing changed). The stored newest
    // sample then says when the log ends last moved, not when they were last read.
    const moved = () => this.publishedNewest.size !== this.histories.size || [...this.histories].some(([room, h]) => !samePositions(this.publishedNewest.get(room), h.at(-1)));
    if (this.deps.publish && now - this.lastPublished >= every && moved()) {
      this.lastPublished = now;
      this.publishedNewest = new Map([...this.histories].flatMap(([room, h]) => (h.length > 0 ? [[room, h.at(-1)!] as const] : [])));
      // The last minute at 500 ms (record counts of a recent gap stay close), older at 5 s.
      const rooms = [...this.histories.values()].map((h) => {
        const recentFrom = (h.at(-1)?.at ?? 0) - 60_000;
        return [...thin(h.filter((x) => x.at < recentFrom), 5000), ...thin(h.filter((x) => x.at >= recentFrom), 500)];
      });
      await this.deps.publish(rooms).catch((err: Error) => {
        // Tried again at the next publishEveryMs: nothing counts as published.
        this.publishedNewest = new Map();
        this.deps.log.debug('could not publish positions', { error: err.message });
      });
    }
  }

  history(): ReadonlyMap<string, readonly RoomSample[]> {
    return this.histories;
  }

  /** The newest good sample of each room. */
  latest(): RoomSample[] {
    return [...this.histories.values()].flatMap((h) => (h.length > 0 ? [h.at(-1)!] : []));
  }

  async close(): Promise<void> {
    await Promise.all([...this.deps.rooms.values()].map((r) => r.reader.close()));
  }
}
