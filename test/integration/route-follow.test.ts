import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Etcd3 } from 'etcd3';
import { createEtcdClient } from '../../src/adapters/etcd/client.js';
import { EtcdRouteStore } from '../../src/adapters/etcd/route-store.js';
import { EtcdLeaderLock } from '../../src/adapters/etcd/leader-lock.js';
import type { Route } from '../../src/core/model.js';
import type { RouteDelivery } from '../../src/ports/route-store.js';
import { silentLogger } from '../../src/ports/logger.js';
import { LOCAL, randomId, waitFor } from '../../bench/support/local-stack.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { routeTo } from '../support/sdk-stack.js';
import { createQueryRouter } from '../../src/sdk/query-router.js';
import { cancelWatcher, strayWatchResponses, watcherCancelledByEtcd } from '../../src/adapters/etcd/watch-guard.js';

/** A consumer route at `epoch`: odd epochs in room-a, even ones in room-b. */
const route = (pipeline: string, epoch: number): Route => routeTo(pipeline, epoch, epoch % 2 === 1 ? 'room-a' : 'room-b', 't', 'g');

/** Compacts etcd's history past every write so far, physically, as a retention job would. */
async function compactNow(etcd: Etcd3): Promise<string> {
  // One more write, so that the compaction revision lies beyond the last route write.
  const rev = (await etcd.put('/switchyard-compaction-probe').value(String(Date.now())).exec()).header.revision;
  await etcd.kv.compact({ revision: rev, physical: true });
  return rev;
}

describe('route following survives what etcd does to watches (real etcd)', () => {
  let etcd: Etcd3;
  let proxy: TcpProxy;
  const prefix = `/switchyard-follow-${randomId()}`;

  beforeAll(async () => {
    etcd = createEtcdClient({ endpoints: [LOCAL.etcd] });
    proxy = new TcpProxy('127.0.0.1', Number(new URL(LOCAL.etcd).port));
    await proxy.start();
  });
  /**
   * The reproduction: the client's connection is cut, epoch 2 is written, etcd compacts
   * past it, the connection comes back, epochs 3 and 4 are written.
   */
  async function breakAndCompact(put: (epoch: number) => Promise<unknown>): Promise<void> {
    proxy.cutAll();
    await put(2);
    await compactNow(etcd);
    await new Promise((r) => setTimeout(r, 300));
    proxy.restore();
    await put(3);
    await put(4);
  }

  afterAll(async () => {
    await proxy.stop();
    await etcd.delete().prefix(prefix).exec();
    etcd.close();
  });

  it('a watch cut while etcd compacts past it comes back by re-reading: the client reaches epoch 4, not stuck at 1', async () => {
    const pipeline = `p-${randomId()}`;
    const key = `${prefix}/routes/${pipeline}`;
    const put = (e: number) => etcd.put(key).value(JSON.stringify(route(pipeline, e))).exec();
    await put(1);

    const viaProxy = createEtcdClient({ endpoints: [proxy.url] });
    const seen: number[] = [];
    const errors: string[] = [];
    // The backstop re-read is pushed out of the test's reach: the watch-error path alone must recover.
    const stop = await new EtcdRouteStore(viaProxy, prefix).watch(pipeline, (r) => seen.push(r.epoch), (e) => errors.push(e.message), { resyncMs: 600_000 });
    try {
      expect(seen).toEqual([1]);
      await breakAndCompact(put);
      await waitFor('the client to follow the route to epoch 4', 15_000, () => seen.at(-1) === 4);
      console.log(`route follow after compaction: delivered ${seen.join(',')}; watch errors: ${errors.length} (${errors[0] ?? ''})`);
      expect(seen.at(-1)).toBe(4);
      // Epochs were delivered in order, none twice.
      expect([...seen].sort((a, b) => a - b)).toEqual(seen);
      expect(new Set(seen).size).toBe(seen.length);
    } finally {
      await stop();
      viaProxy.close();
    }
  });

  it('a watch etcd cancels for compaction, then cancelled by its owner: the stray answer is dropped, not thrown into the application, and nobody waits', async () => {
    const key = `${prefix}/compacted-${randomId()}`;
    const first = (await etcd.put(key).value('1').exec()).header.revision;
    await compactNow(etcd);
    // Another watch on the same client keeps the stream open (an SDK consumer watches routes, caps and signals).
    const other = await etcd.watch().prefix(`${prefix}/other-`).create();
    const w = await etcd.watch().key(key).startRevision(first).create();
    const cancelled = new Promise<string>((resolve) => w.on('error', (e) => resolve(e.message)));
    expect(await cancelled).toMatch(/canceled/i);
    expect(watcherCancelledByEtcd(w)).toBe(true);
    const before = strayWatchResponses();
    // What our handlers did before: cancel the watcher etcd had cancelled. etcd answers for an id
    // etcd3 no longer holds; unguarded, etcd3 throws that from a stream handler (an uncaught error).
    void w.cancel();
    await waitFor('etcd to answer the late cancel', 5_000, () => strayWatchResponses() > before);
    const t0 = Date.now();
    await cancelWatcher(w);
    expect(Date.now() - t0).toBeLessThan(100);
    await cancelWatcher(other);
  });

  it('the SDK query router follows its query route through the same break and compaction', async () => {
    const pipeline = `q-${randomId()}`;
    const key = `${prefix}/query-routes/${pipeline}`;
    const put = (e: number) => {
      const room = e % 2 === 1 ? 'room-a' : 'room-b';
      return etcd.put(key).value(JSON.stringify({ pipeline, chain: room === 'room-a' ? 'primary' : 'standby', room, epoch: e, since: Date.now(), url: LOCAL.rooms[room].olap })).exec();
    };
    await put(1);
    const router = createQueryRouter({ pipeline, etcd: { endpoints: [proxy.url], prefix } });
    await router.start();
    try {
      expect(router.route?.epoch).toBe(1);
      await breakAndCompact(put);
      await waitFor('the router to follow the query route to epoch 4', 15_000, () => router.route?.epoch === 4);
      expect(router.route?.url).toBe(LOCAL.rooms['room-b'].olap);
      expect(await router.query('SELECT 1')).toBe('1\n');
    } finally {
      await router.close();
    }
  });

  it('a route key re-created at a lower epoch is followed only after a read proves the reset', async () => {
    const pipeline = `p-${randomId()}`;
    const key = `${prefix}/routes/${pipeline}`;
    await etcd.put(key).value(JSON.stringify(route(pipeline, 5))).exec();
    const seen: { epoch: number; meta: RouteDelivery }[] = [];
    const stop = await new EtcdRouteStore(etcd, prefix).watch(pipeline, (r, meta) => seen.push({ epoch: r.epoch, meta }), () => undefined, { resyncMs: 600_000 });
    try {
      // Same key, lower epoch, not re-created: a stale write, never followed.
      await etcd.put(key).value(JSON.stringify(route(pipeline, 3))).exec();
      await new Promise((r) => setTimeout(r, 500));
      expect(seen.map((s) => s.epoch)).toEqual([5]);
      // Deleted and created anew (a restore of one key, a mistaken delete): a verifiable reset.
      await etcd.delete().key(key).exec();
      await etcd.put(key).value(JSON.stringify(route(pipeline, 1))).exec();
      await waitFor('the reset route', 5000, () => seen.at(-1)?.epoch === 1);
      expect(seen.at(-1)!.meta).toEqual({ reset: true, previousEpoch: 5 });
    } finally {
      await stop();
    }
  });

  it('epochs never go backwards across the loss of the route key: a first write continues above the counter', async () => {
    const pipeline = `p-${randomId()}`;
    const lock = new EtcdLeaderLock(etcd, prefix, 'leader', 5, silentLogger);
    const stopCampaign = new AbortController();
    const leadership = await lock.campaign(stopCampaign.signal);
    const routes = new EtcdRouteStore(etcd, prefix);
    try {
      expect(await routes.put(leadership.fence, route(pipeline, 1), undefined)).toEqual({ kind: 'written' });
      const v1 = (await routes.get(pipeline))!;
      expect(await routes.put(leadership.fence, route(pipeline, 2), v1.version)).toEqual({ kind: 'written' });
      await etcd.delete().key(`${prefix}/routes/${pipeline}`).exec();
      // The controller sees no route and initialises it at epoch 1, as it would for a new pipeline.
      expect(await routes.put(leadership.fence, route(pipeline, 1), undefined)).toEqual({ kind: 'written' });
      expect((await routes.get(pipeline))!.route.epoch).toBe(3);
      // An update that would not rise above the counter is refused.
      const v3 = (await routes.get(pipeline))!;
      expect(await routes.put(leadership.fence, route(pipeline, 3), v3.version)).toEqual({ kind: 'conflict' });
    } finally {
      await lock.resign();
    }
  });
});
