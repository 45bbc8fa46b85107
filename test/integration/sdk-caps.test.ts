import { describe, expect, it } from 'vitest';
import { measureCapError, measureReact, withCapRig } from '../../bench/scenarios/sdk-caps.js';
import { waitFor } from '../../bench/support/local-stack.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// The SDK consumer paced to the source cap in etcd, on real Kafka (room-a) and etcd. Each test
// has its own topic, group, pipeline and etcd prefix (bench/scenarios/sdk-caps.ts).
describe('SDK consumer paced to the source cap (real Kafka and etcd)', () => {
  it('flooded at 3x the cap for 30 s it reads at the cap (every 10 s window within 3%), and once the cap is removed it drains every record exactly once', async () => {
    const r = await measureCapError({ cap: 600, floodFactor: 3, floodMs: 30_000 });
    console.log(`cap 600/s, flood 1800/s: 10 s windows ${r.windows.map((w) => w.toFixed(2)).join(' ')} % (worst ${r.cap_error_pct.toFixed(2)} %); ${r.produced} produced, ${r.missing} missing, ${r.duplicates} twice`);
    expect(r.windows.length).toBeGreaterThanOrEqual(15);
    expect(r.cap_error_pct).toBeLessThanOrEqual(3);
    expect(r.produced).toBeGreaterThan(50_000);
    expect(r.missing).toBe(0);
    expect(r.duplicates).toBe(0);
  }, 240_000);

  it('a changed cap is applied, and the consumed rate follows, within 1 s of the put', async () => {
    const r = await measureReact({ runs: 4, low: 300, high: 900 });
    console.log(`cap 300 <-> 900/s: applied in ${r.react_ms} ms (max ${r.react_max_ms}), rate past halfway in ${r.rate_react_ms} ms (max ${r.rate_react_max_ms})`);
    expect(r.react_max_ms).toBeLessThan(1000);
    expect(r.rate_react_max_ms).toBeLessThan(1000);
  }, 120_000);

  it('a paused cap stops consumption; removing the cap resumes it, and nothing is lost or read twice', async () => {
    await withCapRig(3, async ({ stack, consumer: c, flood }) => {
      await flood.burst(6000);
      // A cap written for the other room is applied all the same (the consumer logs it).
      await stack.putCap(1000, false, 'room-b');
      await c.start();
      await waitFor('records read at the cap', 20_000, () => c.counts.size >= 1000);

      const epoch = await stack.putCap(0, true);
      await waitFor('the shed cap applied', 5000, () => c.consumer.status().pacing.cap?.epoch === epoch);
      // What kafkajs was delivering when the pause came in is processed; after that, nothing.
      await sleep(500);
      const atPause = c.at.length;
      expect(c.consumer.status().pacing.pausedPartitions).toBe(3);
      await sleep(3000);
      expect(c.at.length).toBe(atPause);
      expect(atPause).toBeLessThan(6000);

      await stack.removeCap();
      await waitFor('the cap removed', 10_000, () => c.consumer.status().pacing.cap === undefined);
      await waitFor('every record read once the cap is gone', 30_000, () => c.counts.size >= 6000);
      await sleep(500);
      expect(c.at).toHaveLength(6000);
      expect([...c.counts.values()].every((n) => n === 1)).toBe(true);
      expect(c.consumer.status().pacing).toMatchObject({ pausedPartitions: 0 });
      expect(c.consumer.status().pacing.throttledMs).toBeGreaterThanOrEqual(3 * 3000);
    });
  }, 120_000);

  it('a cap the leader stores as uncapped (its baseline gone) lets a shed consumer read freely again', async () => {
    await withCapRig(3, async ({ stack, consumer: c, flood }) => {
      await flood.burst(3000);
      const shed = await stack.putCap(0, true);
      await c.start();
      await waitFor('the shed cap applied', 10_000, () => c.consumer.status().pacing.cap?.epoch === shed);
      await sleep(1500);
      expect(c.at.length).toBeLessThan(100);
      // What CapKeeper writes when no cap applies any more: never a delete, an 'uncapped' record.
      await stack.etcd.put(`${stack.prefix}/caps/${stack.pipeline}`).value(JSON.stringify({ pipeline: stack.pipeline, epoch: shed + 1, room: 'room-a', recordsPerSecond: 0, paused: false, origin: 'uncapped', reason: 'no baseline', since: Date.now() })).exec();
      await waitFor('every record read once uncapped', 30_000, () => c.counts.size >= 3000);
      expect(c.consumer.status().pacing.cap).toBeUndefined();
    });
  }, 60_000);
});
