// Samples every room's replication positions each tick (for the data estimate) and keeps a few
// minutes of good samples per room; a room that stops answering keeps its last good samples, so
// that a switch away from it is judged by what it held before it failed.

import { appendSample, type RoomSample } from '../core/data-estimate.js';
import type { Logger } from '../ports/logger.js';
import type { PositionReader } from '../ports/position-reader.js';

export interface PositionTrackerDeps {
  /** Per room: its reader and the pipeline topics it holds. */
  readonly rooms: ReadonlyMap<string, { readonly reader: PositionReader; readonly topics: readonly string[] }>;
  readonly timeoutMs: number;
  /** How much history to keep per room (default 5 min). */
  readonly keepMs?: number;
  readonly log: Logger;
}

export class PositionTracker {
  private readonly histories = new Map<string, RoomSample[]>();
  private readonly running = new Set<string>();
  private readonly failing = new Map<string, string>();

  constructor(private readonly deps: PositionTrackerDeps) {}

  /** One sample of every room, in parallel; a room still answering the previous one is skipped. */
  async sample(): Promise<void> {
    await Promise.all(
      [...this.deps.rooms].map(async ([room, { reader, topics }]) => {
        if (topics.length === 0 || this.running.has(room)) return;
        this.running.add(room);
        try {
          const s = await reader.read(topics, this.deps.timeoutMs);
          this.histories.set(room, appendSample(this.histories.get(room) ?? [], s, this.deps.keepMs ?? 300_000));
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
