import { describe, expect, it } from 'vitest';
import { runQueryFailover } from '../../bench/scenarios/query-failover.js';

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
});
