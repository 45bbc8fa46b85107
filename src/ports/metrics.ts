import type { ArbitratedStatus } from '../core/arbitration.js';
import type { SwitchRecord, SwitchStep } from '../core/journal.js';
import type { StreamJobReading } from './health-probe.js';

/** What the controller reports; an adapter maps it to Prometheus. Calls never throw or block. */
export interface ControllerMetrics {
  tick(outcome: 'acted' | 'idle' | 'follower' | 'store-unreachable'): void;
  /** A leader's verdict for one pipeline, by the rule that settled it (not called for 'healthy'). */
  decision(rule: string): void;
  leader(isLeader: boolean): void;
  roomHealth(tier: string, room: string, status: ArbitratedStatus): void;
  probe(room: string, latencyMs: number, ok: boolean): void;
  switched(pipeline: string, detectedAfterMs: number, writeMs: number): void;
  writeRejected(reason: 'fenced' | 'conflict' | 'error'): void;
  step(step: SwitchStep, ms: number): void;
  recorded(record: SwitchRecord): void;
  ready(isReady: boolean): void;
  /** A pipeline's consumer lag and what a failover now would lose (undefined: not known). */
  pipelineData?(pipeline: string, d: { lagRecords: number | undefined; lagSeconds: number | undefined; lossRecords: number | undefined; standbyGapSeconds: number | undefined }): void;
  /** What a stream-job probe last read of one job. */
  streamJob?(reading: StreamJobReading): void;
  /** How long one tick took, start to end (ms). */
  tickDuration?(ms: number): void;
  /** A client's push signal about a room, and whether it made this observer probe ahead of its cadence. */
  signal?(room: string, hurried: boolean): void;
}

export const noMetrics: ControllerMetrics = {
  tick() {},
  decision() {},
  leader() {},
  roomHealth() {},
  probe() {},
  switched() {},
  writeRejected() {},
  step() {},
  recorded() {},
  ready() {},
};
