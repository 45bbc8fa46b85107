import type { ArbitratedStatus } from '../core/arbitration.js';
import type { SwitchRecord, SwitchStep } from '../core/journal.js';

/** What the controller reports; an adapter maps it to Prometheus. Calls never throw or block. */
export interface ControllerMetrics {
  tick(outcome: 'acted' | 'idle' | 'follower' | 'store-unreachable'): void;
  leader(isLeader: boolean): void;
  roomHealth(tier: string, room: string, status: ArbitratedStatus): void;
  probe(room: string, latencyMs: number, ok: boolean): void;
  switched(pipeline: string, detectedAfterMs: number, writeMs: number): void;
  writeRejected(reason: 'fenced' | 'conflict' | 'error'): void;
  step(step: SwitchStep, ms: number): void;
  recorded(record: SwitchRecord): void;
  ready(isReady: boolean): void;
}

export const noMetrics: ControllerMetrics = {
  tick() {},
  leader() {},
  roomHealth() {},
  probe() {},
  switched() {},
  writeRejected() {},
  step() {},
  recorded() {},
  ready() {},
};
