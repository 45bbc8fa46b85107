import { describe, expect, it } from 'vitest';
import { runQueryFailover } from '../../bench/scenarios/query-failover.js';
import { FaultStack } from '../../bench/support/fault-stack.js';
import { waitFor } from '../../bench/support/local-stack.js';

describe('query routing follows a failover, on real ClickHouse', () => {
  it('room-a ClickHouse killed: queries move to room-b, at most one failed query per caller', async () => {
    const r = await runQueryFailover({ callers: 4 });
    console.log(`query failover: RTO ${r.queryRtoMs} ms, ${r.queries} queries, failed per caller ${r.failedPerCaller.join('/')}`);
    expect(r.routeRoom).toBe('room-b');
    expect(r.queries).toBeGreaterThan(50);
    for (const f of r.failedPerCaller) expect(f).toBeLessThanOrEqual(1);
    expect(r.history).toHaveLength(1);
    expect(r.history[0]).toMatchObject({ fromRoom: 'room-a', toRoom: 'room-b' });
    expect(r.history[0]!.reason).toContain('room-a olap is DOWN');
    expect(r.queryRtoMs).toBeLessThan(10_000);
  });

  it('a slow but alive ClickHouse is DEGRADED, not a reason to fail over', async () => {
    // Room-a's health query takes 0.5 s against a 200 ms probe: every probe of room-a OLAP is slow.
    const stack = new FaultStack({ olap: true, olapHealthQuery: { 'room-a': 'SELECT sleep(0.5)' } });
    try {
      await stack.createTopic();
      stack.start('ctl-a', 'room-a');
      stack.start('ctl-b', 'room-b');
      const leader = await stack.leader();
      const verdict = await waitFor('the leader to see room-a OLAP DEGRADED', 20_000, () =>
        leader.logs.find((l) => l['msg'] === 'verdict' && String(l['reason']).includes('room-a olap is DEGRADED')),
      );
      expect(verdict['rule']).toBe('healthy');
      expect(String(verdict['reason'])).toContain('health query failed or took over 120 ms');
      await new Promise((r) => setTimeout(r, 3000)); // a dozen slow probes later ...
      expect(await stack.journals.history('live-dashboard')).toEqual([]);
      expect((await stack.routes.get('live-dashboard'))!.route).toMatchObject({ epoch: 1, room: 'room-a' });
    } finally {
      await stack.stop();
    }
  });
});
