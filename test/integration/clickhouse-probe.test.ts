import { describe, expect, it } from 'vitest';
import { ClickHouseHealthProbe } from '../../src/adapters/clickhouse/clickhouse-health-probe.js';
import { systemClock } from '../../src/adapters/system/system-clock.js';

function probe(url: string, healthQuery = 'SELECT 1', timeoutMs = 500) {
  return new ClickHouseHealthProbe({
    room: 'room-b',
    url,
    healthQuery,
    healthQueryTimeoutMs: 1000,
    slowQueryMs: 500,
    maxReplicaDelaySec: 30,
    maxQueueSize: 100,
    observer: 'test',
    observerRoom: 'room-c',
    timeoutMs,
    clock: systemClock,
  });
}

describe('ClickHouse probe on a real server', () => {
  it('OK: ping, replicas and the health query', async () => {
    const p = probe('http://127.0.0.1:28123');
    const o = await p.probe();
    await p.close();
    expect(o).toMatchObject({ room: 'room-b', component: 'olap', status: 'OK' });
    expect(o.reason).toMatch(/^ping ok, 0 replicated table\(s\) in sync, health query \d+ ms$/);
  });

  it('slow but alive: a health query past its deadline is DEGRADED, not DOWN', async () => {
    const p = probe('http://127.0.0.1:28123', 'SELECT sleep(0.5)', 500);
    const results = [];
    for (let i = 0; i < 3; i++) results.push(await p.probe());
    await p.close();
    for (const o of results) {
      expect(o.status).toBe('DEGRADED');
      expect(o.reason).toBe('health query failed or took over 300 ms');
    }
  });

  it('DOWN within its timeout when nothing listens', async () => {
    const p = probe('http://127.0.0.1:1', 'SELECT 1', 300);
    const started = Date.now();
    const o = await p.probe();
    await p.close();
    expect(o.status).toBe('DOWN');
    expect(o.reason).toContain('unreachable');
    expect(Date.now() - started).toBeLessThan(500);
  });
});
