// Consumer lag per pipeline, Burrow-style: every `intervalMs` the committed offsets of every
// pipeline's group are read in the room its route names, paired with that room's sampled log ends
// into per-partition windows, and judged by the core's window rules (src/core/lag-rules.ts).
// Lag in time comes from the room's position history (src/core/data-estimate.ts timeLagMs).

import { appendSample, evaluateGroupLag, type GroupLag, type LagSample } from '../core/lag-rules.js';
import { partitionsOf, timeLagMs, type RoomSample } from '../core/data-estimate.js';
import type { Route, Topology } from '../core/model.js';
import type { GroupOffsetReader } from '../ports/group-offsets.js';
import type { Logger } from '../ports/logger.js';

export interface PipelineLag extends GroupLag {
  readonly pipeline: string;
  readonly room: string;
  /** Largest lag in time over the partitions, when the samples reach back far enough. */
  readonly timeLagMs: number | undefined;
}

export interface LagTrackerDeps {
  readonly readers: ReadonlyMap<string, GroupOffsetReader>;
  readonly timeoutMs: number;
  /** Default 1000 ms. */
  readonly intervalMs?: number;
  /** Samples per window (default 10). */
  readonly windowSamples?: number;
  readonly log: Logger;
}

export class LagTracker {
  private readonly windows = new Map<string, LagSample[]>();
  private lastSampled = 0;
  private running = false;
  private current = new Map<string, PipelineLag>();

  constructor(private readonly deps: LagTrackerDeps) {}

  /** The latest judgement per pipeline. */
  lags(): ReadonlyMap<string, PipelineLag> {
    return this.current;
  }

  async sample(topology: Topology, routes: ReadonlyMap<string, Route | undefined>, histories: ReadonlyMap<string, readonly RoomSample[]>, now: number): Promise<void> {
    if (this.running || now - this.lastSampled < (this.deps.intervalMs ?? 1000)) return;
    this.running = true;
    this.lastSampled = now;
    try {
      const byRoom = new Map<string, { pipeline: string; group: string; topics: readonly string[] }[]>();
      for (const [name, route] of routes) {
        const p = topology.pipelines.get(name);
        if (!route || !p) continue;
        byRoom.set(route.room, [...(byRoom.get(route.room) ?? []), { pipeline: name, group: p.consumerGroup, topics: p.topics }]);
      }
      const next = new Map<string, PipelineLag>();
      await Promise.all(
        [...byRoom].map(async ([room, pipelines]) => {
          const reader = this.deps.readers.get(room);
          const history = histories.get(room) ?? [];
          const ends = history.at(-1);
          if (!reader || !ends) return;
          let committed;
          try {
            committed = await reader.read(pipelines, this.deps.timeoutMs);
          } catch (err) {
            this.deps.log.debug('committed offsets not readable', { room, error: (err as Error).message });
            return;
          }
          for (const p of pipelines) {
            const offsets = committed.get(p.group);
            if (!offsets) continue;
            const partitions = new Map<number, LagSample[]>();
            let worstTime: number | undefined;
            for (const topic of p.topics) {
              for (const end of partitionsOf(ends, topic)) {
                const offset = offsets.get(topic)?.get(end.partition) ?? -1;
                if (offset < 0) continue;
                const key = `${room}|${p.group}|${topic}|${end.partition}`;
                const window = appendSample(this.windows.get(key) ?? [], { at: ends.at, offset, endOffset: end.logEnd }, this.deps.windowSamples ?? 10);
                this.windows.set(key, window);
                // Several topics share partition numbers: then the windows are numbered in order.
                partitions.set(p.topics.length === 1 ? end.partition : partitions.size, window);
                const t = timeLagMs(history, topic, end.partition, offset);
                if (t !== undefined) worstTime = Math.max(worstTime ?? 0, t);
              }
            }
            next.set(p.pipeline, { ...evaluateGroupLag(partitions, now), pipeline: p.pipeline, room, timeLagMs: worstTime });
          }
        }),
      );
      this.current = next;
    } finally {
      this.running = false;
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.deps.readers.values()].map((r) => r.close()));
  }
}
