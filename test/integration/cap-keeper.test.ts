import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Etcd3 } from 'etcd3';
import { createEtcdClient } from '../../src/adapters/etcd/client.js';
import { EtcdLeaderLock } from '../../src/adapters/etcd/leader-lock.js';
import { EtcdRouteStore } from '../../src/adapters/etcd/route-store.js';
import { EtcdCapStore } from '../../src/adapters/etcd/cap-store.js';
import { CapKeeper } from '../../src/controller/cap-keeper.js';
import { KafkaClientQuotas } from '../../src/adapters/kafka/client-quotas.js';
import type { Baseline, CapRecord } from '../../src/core/caps.js';
import type { RoomSample } from '../../src/core/data-estimate.js';
import type { Route, Topology } from '../../src/core/model.js';
import type { Leadership } from '../../src/ports/leader-lock.js';
import { silentLogger } from '../../src/ports/logger.js';
import { LOCAL, randomId, waitFor } from '../../bench/support/local-stack.js';
import { routeOn, testPipeline, testPolicy, testTopology } from '../support/model.js';

// The leader's cap keeping on a real etcd: caps per serving room from the baselines, written
// fenced, recorded in history; after a failover into a room short of capacity, P3 is shed before
// P2 and both come back when the load falls; an override wins until it expires.

const DAY = 86_400_000;
const baseline = (pipeline: string, room: string, rate: number): Baseline => ({
  file: `baselines/${pipeline}.${room}.yaml`,
  pipeline,
  room,
  ratePerSecond: rate,
  tasks: 4,
  measuredAt: Date.now() - DAY,
  measuredBy: 'it',
  criteria: { inputLatencyMs: { limit: 1000, measured: 100 }, backpressureRatio: { limit: 0.1, measured: 0 }, cpuRatio: { limit: 0.6, measured: 0.3 }, results: { expected: 10, measured: 10 } },
});

const policies = [testPolicy({ tier: 'P0', shedOrder: 0, capHeadroom: 0.8 }), testPolicy({ tier: 'P2', shedOrder: 2 }), testPolicy({ tier: 'P3', shedOrder: 1 })];
const base = testTopology([testPipeline('p0', { tier: 'P0', topics: ['t0'] }), testPipeline('p2', { tier: 'P2', topics: ['t2'] }), testPipeline('p3', { tier: 'P3', topics: ['t3'] })], policies);
const topology: Topology = {
  ...base,
  rooms: new Map([...base.rooms].map(([n, r]) => [n, n === 'room-b' ? { ...r, capacity: { recordsPerSecond: 10_000 } } : r])),
};
const baselines = new Map([['p0', new Map([['room-a', baseline('p0', 'room-a', 10_000)], ['room-b', baseline('p0', 'room-b', 6000)]])]]);

/** Position histories in which each pipeline's topic grows at the given rate (records/s) over 10 s. */
function histories(room: string, rates: Record<string, number>, now: number): Map<string, RoomSample[]> {
  const at = (t: number, k: number) => ({ room, at: t, partitions: Object.entries(rates).map(([topic, r]) => ({ topic, partition: 0, logEnd: Math.round(r * k) })) });
  return new Map([[room, [at(now - 10_000, 0), at(now - 5000, 5), at(now, 10)]]]);
}

describe('CapKeeper on a real etcd', () => {
  let etcd: Etcd3;
  const prefix = `/switchyard-it-${randomId()}`;
  let leadership: Leadership;
  let lock: EtcdLeaderLock;

  beforeAll(async () => {
    etcd = createEtcdClient({ endpoints: [LOCAL.etcd] });
    lock = new EtcdLeaderLock(etcd, prefix, 'it-leader', 5, silentLogger);
    leadership = await lock.campaign(new AbortController().signal);
  });
  afterAll(async () => {
    await lock.resign().catch(() => undefined);
    await etcd.delete().prefix(prefix).exec();
    etcd.close();
  });

  it('keeps caps per serving room, sheds P3 before P2 after a failover into a short room, resumes both, and lets an override win until it expires', async () => {
    const caps = new EtcdRouteStore<CapRecord>(etcd, prefix, 'caps');
    const store = new EtcdCapStore(etcd, prefix);
    let positions = new Map<string, RoomSample[]>();
    const keeper = new CapKeeper({ caps, store, baselines: () => baselines, positions: { history: () => positions }, log: silentLogger, by: 'it-leader', intervalMs: 0 });
    const on = (room: string) => new Map<string, Route | undefined>(['p0', 'p2', 'p3'].map((p) => [p, routeOn(topology, p, room === 'room-a' ? 'primary' : 'standby')]));
    const stored = async () => new Map([...(await caps.list())].map(([k, v]) => [k, v.route]));
    let now = Date.now();
    const round = async (room: string, rates: Record<string, number>) => {
      now += 1000;
      positions = histories(room, rates, now);
      expect(await keeper.round(topology, on(room), leadership.fence, leadership.lost, now)).toBe('done');
      return stored();
    };

    // Serving in room-a: p0 capped at 10,000 x 0.8; p2 and p3 have no baseline and no record.
    let s = await round('room-a', { t0: 6000, t2: 3000, t3: 3000 });
    expect(s.get('p0')).toMatchObject({ room: 'room-a', recordsPerSecond: 8000, paused: false, origin: 'baseline', epoch: 1 });
    expect(s.has('p2') || s.has('p3')).toBe(false);

    // Failed over to room-b (capacity 10,000): its own baseline for p0 (6000 x 0.8), and 12,000/s
    // inbound is too much: P3 (shed order 1) goes first, and that is enough.
    s = await round('room-b', { t0: 6000, t2: 3000, t3: 3000 });
    expect(s.get('p0')).toMatchObject({ room: 'room-b', recordsPerSecond: 4800, origin: 'baseline', epoch: 2 });
    expect(s.get('p3')).toMatchObject({ paused: true, recordsPerSecond: 0, origin: 'shed' });
    expect(s.has('p2')).toBe(false);

    // P2 grows to 6000 (P0 is flooded too, but its job reads at its cap, 4800): P2 goes as well; P0 is never shed.
    s = await round('room-b', { t0: 9000, t2: 6000, t3: 3000 });
    expect(s.get('p2')).toMatchObject({ paused: true, origin: 'shed' });
    expect(s.get('p0')).toMatchObject({ paused: false });

    // Load falls to 3000: both come back (the last shed first), uncapped as before.
    s = await round('room-b', { t0: 3000, t2: 3000, t3: 3000 });
    expect(s.get('p2')).toMatchObject({ paused: false, origin: 'uncapped' });
    expect(s.get('p3')).toMatchObject({ paused: false, origin: 'uncapped' });

    // An override wins until it expires, then the baseline applies again and the override is gone.
    await store.setOverride({ pipeline: 'p0', recordsPerSecond: 500, reason: 'event day', by: 'erin', at: now, until: now + 1500 });
    s = await round('room-b', { t0: 3000, t2: 0, t3: 0 });
    expect(s.get('p0')).toMatchObject({ recordsPerSecond: 500, origin: 'override', reason: expect.stringContaining('override by erin') });
    s = await round('room-b', { t0: 3000, t2: 0, t3: 0 });
    s = await round('room-b', { t0: 3000, t2: 0, t3: 0 });
    expect(s.get('p0')).toMatchObject({ recordsPerSecond: 4800, origin: 'baseline' });
    expect((await store.overrides()).size).toBe(0);

    // Every change is in the history, with its reason, oldest first.
    const p3 = await store.history('p3');
    expect(p3.map((e) => e.origin)).toEqual(['shed', 'uncapped']);
    expect(p3[0]!.reason).toMatch(/room-b is short of capacity; tier P3 is shed in order 1/);
    expect((await store.history('p0')).map((e) => [e.before, e.after])).toEqual([[undefined, 8000], [8000, 4800], [4800, 500], [500, 4800]]);
    // The leader's plan is published for status: p0 with its inbound rate.
    expect((await store.readPlan())?.verdicts.find((v) => v.pipeline === 'p0')).toMatchObject({ rule: 'capped', cap: 4800, inbound: 3000 });
  });

  it('writes nothing once its leadership is gone (fenced)', async () => {
    const caps = new EtcdRouteStore<CapRecord>(etcd, `${prefix}/fenced`, 'caps');
    const keeper = new CapKeeper({ caps, store: new EtcdCapStore(etcd, `${prefix}/fenced`), baselines: () => baselines, log: silentLogger, by: 'old-leader', intervalMs: 0 });
    const stale = { key: leadership.fence.key, createRevision: '1' };
    const routes = new Map<string, Route | undefined>([['p0', routeOn(topology, 'p0', 'primary')]]);
    expect(await keeper.round(topology, routes, stale, new AbortController().signal, Date.now())).toBe('fenced');
    expect((await caps.list()).size).toBe(0);
  });

  it('sets the serving chain\'s cap as a broker quota on its own consumer (cap x mean record size), and removes it when the chain stops serving', async () => {
    const clientId = `flink-src-${randomId()}`;
    const t = testTopology(
      [testPipeline('q0', { tier: 'P0' }, [
        { name: 'primary', room: 'room-a', role: 'primary', jobs: [], quotaClientId: clientId },
        { name: 'standby', room: 'room-b', role: 'standby', jobs: [] },
      ])],
      policies,
    );
    const quotas = new KafkaClientQuotas({ brokers: [...LOCAL.rooms['room-a'].brokers] });
    const sized = new Map([['q0', new Map([['room-a', { ...baseline('q0', 'room-a', 1000), meanRecordBytes: 120 }]])]]);
    const keeper = new CapKeeper({ caps: new EtcdRouteStore<CapRecord>(etcd, `${prefix}/quota`, 'caps'), store: new EtcdCapStore(etcd, `${prefix}/quota`), baselines: () => sized, log: silentLogger, by: 'it', intervalMs: 0, quotas: new Map([['room-a', quotas]]) });
    try {
      let now = Date.now();
      const onPrimary = new Map<string, Route | undefined>([['q0', routeOn(t, 'q0', 'primary')]]);
      // 1,000/s x headroom 0.8 = 800 records/s x 120 bytes, on room-a's one broker. Rounds go on
      // while waiting: a read right after a set may still see the broker's older metadata, and a
      // set that failed (a first connection refused) is made again by the next round.
      const settled = async (routes: Map<string, Route | undefined>, want: number | undefined) => {
        expect(await keeper.round(t, routes, leadership.fence, leadership.lost, (now += 1000))).toBe('done');
        return (await quotas.consumerByteRate(clientId)) === want ? true : undefined;
      };
      expect(await waitFor('the quota set', 10_000, () => settled(onPrimary, 96_000), 200)).toBe(true);
      // The pipeline fails over: room-a's consumer no longer serves, and its quota goes.
      const onStandby = new Map<string, Route | undefined>([['q0', routeOn(t, 'q0', 'standby', 2, now)]]);
      expect(await waitFor('the quota removed', 10_000, () => settled(onStandby, undefined), 200)).toBe(true);
    } finally {
      await quotas.setConsumerByteRate(clientId, undefined).catch(() => undefined);
      await quotas.close();
    }
  });
});
