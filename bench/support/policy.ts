// A tier policy for benchmarks and scenarios that build their topology in code: the defaults of
// policies/p0.yaml in the core's compiled form, with what a scenario changes.

import type { TierName, TierPolicy } from '../../src/core/model.js';

export function benchPolicy(tier: TierName, over: Partial<TierPolicy> = {}): TierPolicy {
  return {
    tier, failover: 'none', failback: 'none', standby: 'none', failoverOn: ['kafka'], probeIntervalMs: 250, probeTimeoutMs: 200, fallAfter: 3, riseAfter: 3, staleAfterMs: 2000,
    observersRequired: 1, minDwellMs: 0, maxSwitchesPerHour: 3, rtoObjectiveMs: 60_000, duplicateMarginMs: 0, dataBudget: { maxLossMs: 0, maxDuplicateMs: 0, maxWaitMs: 0 },
    changeWindows: { timeZone: 'UTC', windows: [{ fromMinute: 0, toMinute: 1440 }] }, shedOrder: 0, capHeadroom: 1, baselineMaxAgeMs: 90 * 86_400_000, recoveryObjectiveMs: 600_000,
    streamJobs: { maxCheckpointAgeMs: 60_000, maxRestarts: 3, restartWindowMs: 300_000, maxFailedCheckpoints: 5 }, source: 'bench',
    ...over,
  };
}
