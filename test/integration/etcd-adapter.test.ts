import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Etcd3 } from 'etcd3';
import { createEtcdClient } from '../../src/adapters/etcd/client.js';
import { EtcdLeaderLock } from '../../src/adapters/etcd/leader-lock.js';
import { EtcdRouteStore } from '../../src/adapters/etcd/route-store.js';
import { EtcdWatermarkStore } from '../../src/adapters/etcd/watermark-store.js';
import { EtcdIntentStore } from '../../src/adapters/etcd/intent-store.js';
import { EtcdJournalStore } from '../../src/adapters/etcd/journal-store.js';
import type { SwitchoverIntent } from '../../src/core/switchover.js';
import type { SwitchRecord } from '../../src/core/journal.js';
import type { Route } from '../../src/core/model.js';
import { silentLogger } from '../../src/ports/logger.js';
import { LOCAL, randomId, waitFor } from '../../bench/support/local-stack.js';

function route(pipeline: string, epoch: number, room = 'room-a'): Route {
  return {
    pipeline,
    chain: room === 'room-a' ? 'primary' : 'standby',
    room,
    epoch,
    since: 1_700_000_000_000 + epoch,
    reason: `test epoch ${epoch}`,
    kafka: { brokers: ['127.0.0.1:1'], topics: ['t'] },
    consumerGroup: 'g',
    history: [],
  };
}

describe('etcd adapters on a real etcd', () => {
  let etcd: Etcd3;
  const prefix = `/switchyard-it-${randomId()}`;

  beforeAll(() => {
    etcd = createEtcdClient({ endpoints: [LOCAL.etcd] });
  });
  afterAll(async () => {
    await etcd.delete().prefix(prefix).exec();
    etcd.close();
  });

  it('elects one leader; a resignation hands over; the deposed leader cannot write', async () => {
    const a = new EtcdLeaderLock(etcd, prefix, 'a', 5, silentLogger);
    const b = new EtcdLeaderLock(etcd, prefix, 'b', 5, silentLogger);
    const routes = new EtcdRouteStore(etcd, prefix);
    const stop = new AbortController();
    const leaderA = await a.campaign(stop.signal);
    expect(await a.leader()).toBe('a');

    let bElected = false;
    const bCampaign = b.campaign(stop.signal).then((l) => {
      bElected = true;
      return l;
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(bElected).toBe(false);

    expect(await routes.put(leaderA.fence, route('p1', 1), undefined)).toEqual({ kind: 'written' });

    const handoverStarted = Date.now();
    await a.resign();
    const leaderB = await bCampaign;
    const handoverMs = Date.now() - handoverStarted;
    expect(handoverMs).toBeLessThan(2000);
    expect(await b.leader()).toBe('b');

    // A deposed leader holding its old fence is refused, even with the right route version.
    const stored = await routes.get('p1');
    expect(await routes.put(leaderA.fence, route('p1', 2), stored!.version)).toEqual({ kind: 'fenced' });
    expect((await routes.get('p1'))!.route.epoch).toBe(1);

    // The new leader writes; a stale version is a conflict, not an overwrite.
    expect(await routes.put(leaderB.fence, route('p1', 2, 'room-b'), stored!.version)).toEqual({ kind: 'written' });
    expect(await routes.put(leaderB.fence, route('p1', 3), stored!.version)).toEqual({ kind: 'conflict' });
    // A first write for a pipeline that already has a route is a conflict too.
    expect(await routes.put(leaderB.fence, route('p1', 1), undefined)).toEqual({ kind: 'conflict' });
    expect((await routes.get('p1'))!.route).toMatchObject({ epoch: 2, room: 'room-b' });
    await b.resign();
    stop.abort();
  });

  it('watch delivers the current route, then newer epochs only, in order', async () => {
    const lock = new EtcdLeaderLock(etcd, prefix, 'w', 5, silentLogger);
    const leadership = await lock.campaign(new AbortController().signal);
    const routes = new EtcdRouteStore(etcd, prefix);
    await routes.put(leadership.fence, route('p2', 1), undefined);
    const seen: number[] = [];
    const stopWatch = await routes.watch('p2', (r) => seen.push(r.epoch), (err) => {
      throw err;
    });
    await waitFor('the current route', 2000, () => (seen.length === 1 ? true : undefined));
    let version = (await routes.get('p2'))!.version;
    for (const epoch of [2, 3]) {
      expect(await routes.put(leadership.fence, route('p2', epoch), version)).toEqual({ kind: 'written' });
      version = (await routes.get('p2'))!.version;
    }
    // An out-of-band write of an older epoch (a bug or an operator's mistake) is not delivered.
    await etcd.put(`${prefix}/routes/p2`).value(JSON.stringify(route('p2', 2)));
    await waitFor('epochs 2 and 3', 2000, () => (seen.length >= 3 ? true : undefined));
    await new Promise((r) => setTimeout(r, 200));
    expect(seen).toEqual([1, 2, 3]);
    await stopWatch();
    await lock.resign();
  });

  it('watermarks only ever rise', async () => {
    const marks = new EtcdWatermarkStore(etcd, prefix);
    await marks.advance('g', 't', new Map([[0, 1000], [1, 2000]]));
    await marks.advance('g', 't', new Map([[0, 500], [1, 2500], [2, 10]]));
    expect(await marks.read('g', 't')).toEqual(new Map([[0, 1000], [1, 2500], [2, 10]]));
    expect(await marks.read('g', 'other')).toEqual(new Map());
  });

  it('leaderInfo: who leads, since when, and how long its lease lasts unrenewed', async () => {
    const lock = new EtcdLeaderLock(etcd, `${prefix}/info`, 'ctl-x', 4, silentLogger);
    expect(await lock.leaderInfo()).toBeUndefined();
    const before = Date.now();
    await lock.campaign(new AbortController().signal);
    const info = await lock.leaderInfo();
    expect(info).toMatchObject({ id: 'ctl-x' });
    expect(info!.since).toBeGreaterThanOrEqual(before);
    expect(info!.since).toBeLessThanOrEqual(Date.now());
    expect(info!.leaseRemainingMs).toBeGreaterThan(0);
    expect(info!.leaseRemainingMs).toBeLessThanOrEqual(4000);
    expect(await lock.leader()).toBe('ctl-x'); // the proclaimed JSON is read back as the id
    await lock.resign();
    expect(await lock.leaderInfo()).toBeUndefined();
  });

  it('switchover intents: recorded all together or not at all; cancel takes what waits too, remove does not', async () => {
    const intents = new EtcdIntentStore(etcd, `${prefix}/intents-test`);
    const base: SwitchoverIntent = { id: 'x', pipeline: 'p', to: 'standby', at: 1, reason: '', by: 'op', emergency: false, createdAt: 1 };
    const legs = [
      { ...base, id: 'dr-1-1' },
      { ...base, id: 'dr-1-2', after: 'dr-1-1' },
      { ...base, id: 'dr-1-3', after: 'dr-1-2' },
    ];
    await intents.addSwitchovers(legs);
    expect((await intents.switchovers()).map((i) => i.id)).toEqual(['dr-1-1', 'dr-1-2', 'dr-1-3']);
    // One id already taken: nothing of the batch is written.
    await expect(intents.addSwitchovers([{ ...base, id: 'fresh' }, { ...base, id: 'dr-1-2' }])).rejects.toThrow(/already taken/);
    expect((await intents.switchovers()).map((i) => i.id)).not.toContain('fresh');

    await intents.addSwitchovers([{ ...base, id: 'other' }]);
    expect(await intents.removeSwitchover('dr-1-1')).toBe(true); // the leader spends one intent
    expect((await intents.switchovers()).map((i) => i.id).sort()).toEqual(['dr-1-2', 'dr-1-3', 'other']);
    expect((await intents.cancelSwitchover('dr-1-2')).sort()).toEqual(['dr-1-2', 'dr-1-3']); // the operator cancels a chain
    expect((await intents.switchovers()).map((i) => i.id)).toEqual(['other']);
    expect(await intents.cancelSwitchover('dr-1-2')).toEqual([]);
  });

  it('history(pipeline, n) returns the newest n records, oldest first', async () => {
    const lock = new EtcdLeaderLock(etcd, `${prefix}/hist`, 'h', 5, silentLogger);
    const { fence } = await lock.campaign(new AbortController().signal);
    const journals = new EtcdJournalStore(etcd, `${prefix}/hist`);
    let version: string | undefined;
    for (const epoch of [2, 3, 4]) {
      const from = route('ph', epoch - 1);
      const to = route('ph', epoch);
      const journal = { id: `ph-e${epoch}`, pipeline: 'ph', kind: 'switchover' as const, from, to, reason: '', requestedBy: 'op', createdAt: 1000 * epoch, detectedAfterMs: 0, steps: [], status: 'running' as const };
      const put = await journals.put(fence, journal, version);
      const record = { id: journal.id, pipeline: 'ph', epoch, decidedAt: 1000 * epoch } as unknown as SwitchRecord;
      expect(await journals.finish(fence, { ...journal, status: 'done' }, record, put.version!)).toEqual({ kind: 'written' });
      version = (await journals.list()).get('ph')!.version;
    }
    expect((await journals.history('ph', 2)).map((r) => r.epoch)).toEqual([3, 4]);
    expect((await journals.history('ph')).map((r) => r.epoch)).toEqual([2, 3, 4]);
    await lock.resign();
  });
});
