import { afterAll, describe, expect, it } from 'vitest';
import { FlinkJobProbe, type WatchedJob } from '../../src/adapters/flink/flink-job-probe.js';
import { systemClock } from '../../src/adapters/system/system-clock.js';
import type { Observation } from '../../src/core/health.js';
import { silentLogger } from '../../src/ports/logger.js';
import { feedJob } from '../../bench/support/traffic.js';
import { services, waitFor } from '../../bench/support/local-stack.js';

// The Flink REST probe against the local stack's real Flink clusters (scripts/services.sh
// flink-a, flink-b): each runs dashboard-agg-<room>, Kafka in -> enrich -> Kafka out.

const A = 'http://127.0.0.1:18081';
const limits = (over: Partial<WatchedJob['limits']> = {}): WatchedJob['limits'] => ({ restartWindowMs: 300_000, maxRestartsInWindow: 3, maxFailedCheckpointsInWindow: 5, maxCheckpointAgeMs: 60_000, ...over });
const probeOf = (jobs: WatchedJob[], url = A) =>
  new FlinkJobProbe({ room: 'room-a', url, jobs, observer: 'test', observerRoom: 'room-c', timeoutMs: 1000, concurrency: 8, clock: systemClock, log: silentLogger });
const byJob = (obs: readonly Observation[], job: string) => obs.find((o) => o.subject === job)!;

afterAll(async () => {
  await services('fault', 'flink-a', 'clear');
  await services('stop', 'flink-a');
  await services('start', 'flink-a');
});

describe('Flink REST probe (real Flink 2.2 per room)', () => {
  it('a healthy job: OK, with its checkpoints, every vertex\'s back-pressure, restarts and the cluster\'s slots', async () => {
    const probe = probeOf([{ name: 'dashboard-agg-a', limits: limits() }]);
    try {
      const reading = await waitFor('a completed checkpoint', 20_000, async () => {
        await probe.readNow();
        const r = probe.jobReadings()[0]!;
        return (r.completedCheckpoints ?? 0) > 0 ? r : undefined;
      }, 500);
      const o = byJob(await probe.readNow(), 'dashboard-agg-a');
      expect(o).toMatchObject({ room: 'room-a', component: 'stream', subject: 'dashboard-agg-a', status: 'OK' });
      expect(o.reason).toMatch(/^job dashboard-agg-a: RUNNING, 0 restarts in window, backpressure ok/);
      expect(reading).toMatchObject({ state: 'RUNNING', restarts: 0, taskManagers: 1 });
      // 4 slots in the room's one task manager; the job's two task chains take 2.
      expect(reading.freeSlots).toBe(2);
      expect(reading.checkpointAgeMs).toBeLessThan(10_000);
      expect(reading.backpressure!.map((b) => b.vertex).join(' | ')).toMatch(/events-in/);
      expect(reading.backpressure!.length).toBeGreaterThanOrEqual(2);
    } finally {
      await probe.close();
    }
  });

  it('a job that is not there is DOWN by name; an unreachable REST API is DOWN with the reason', async () => {
    const probe = probeOf([{ name: 'no-such-job', limits: limits() }]);
    const dead = probeOf([{ name: 'dashboard-agg-a', limits: limits() }], 'http://127.0.0.1:39999');
    try {
      expect(byJob(await probe.readNow(), 'no-such-job')).toMatchObject({ status: 'DOWN', reason: "job no-such-job is not in room-a's Flink (jobs there: dashboard-agg-a)" });
      const o = byJob(await dead.readNow(), 'dashboard-agg-a');
      expect(o.status).toBe('DOWN');
      expect(o.reason, o.reason).toMatch(/^room-a Flink REST unreachable: .*ECONNREFUSED/);
    } finally {
      await probe.close();
      await dead.close();
    }
  });

  it('back-pressure makes the job DEGRADED, never DOWN', async () => {
    const probe = probeOf([{ name: 'dashboard-agg-a', limits: limits() }]);
    const stopTraffic = await feedJob('room-a', 50);
    try {
      await services('fault', 'flink-a', 'slow', '50');
      const seen: string[] = [];
      const o = await waitFor('back-pressure high', 90_000, async () => {
        const ob = byJob(await probe.readNow(), 'dashboard-agg-a');
        seen.push(ob.status);
        return ob.reason.includes('backpressure high') ? ob : undefined;
      }, 1000);
      expect(o.status).toBe('DEGRADED');
      expect(seen).not.toContain('DOWN');
    } finally {
      await stopTraffic();
      await services('fault', 'flink-a', 'clear');
      await probe.close();
    }
  });

  it('checkpoints that stall past the tier\'s limit make the job DOWN', async () => {
    const probe = probeOf([{ name: 'dashboard-agg-a', limits: limits({ maxCheckpointAgeMs: 6000 }) }]);
    try {
      // From a healthy start: checkpoints completing well within the limit.
      await waitFor('a fresh checkpoint', 60_000, async () => (byJob(await probe.readNow(), 'dashboard-agg-a').status === 'OK' ? true : undefined), 500);
      await services('fault', 'flink-a', 'ckstall');
      const o = await waitFor('the checkpoint age past 6 s', 40_000, async () => {
        const ob = byJob(await probe.readNow(), 'dashboard-agg-a');
        return ob.status === 'DOWN' ? ob : undefined;
      }, 500);
      expect(o.reason).toMatch(/newest completed checkpoint is \d+ ms old \(the tier allows 6000 ms\)/);
    } finally {
      await services('fault', 'flink-a', 'clear');
      await probe.close();
    }
  });

  it('a job that fails for good (poison: 3 restarts, then FAILED) is DOWN, naming the state and the last exception', async () => {
    const probe = probeOf([{ name: 'dashboard-agg-a', limits: limits() }]);
    const stopTraffic = await feedJob('room-a', 5);
    try {
      await services('fault', 'flink-a', 'poison');
      const o = await waitFor('the job FAILED', 60_000, async () => {
        const ob = byJob(await probe.readNow(), 'dashboard-agg-a');
        return ob.reason.includes('job is FAILED') ? ob : undefined;
      }, 200);
      expect(o.status).toBe('DOWN');
      // The exception history is served from a cache Flink refreshes every 3 s (web.refresh-interval): it follows.
      const named = await waitFor('the last exception named', 10_000, async () => {
        const ob = byJob(await probe.readNow(), 'dashboard-agg-a');
        return ob.reason.includes('last exception') ? ob : undefined;
      }, 500);
      expect(named.status).toBe('DOWN');
      expect(named.reason).toMatch(/last exception \d+ s ago \((JobException|IllegalStateException)\)/);
      expect(probe.jobReadings()[0]).toMatchObject({ state: 'FAILED' });
      // numRestarts is a metric the JobManager refreshes every second here, and freezes once the
      // job is FAILED: it shows the restarts seen up to its last refresh.
      expect(probe.jobReadings()[0]!.restarts).toBeGreaterThanOrEqual(1);
    } finally {
      await stopTraffic();
      await services('fault', 'flink-a', 'clear');
      await probe.close();
    }
  });
});
