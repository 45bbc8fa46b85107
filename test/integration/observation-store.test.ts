import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Etcd3 } from 'etcd3';
import { createEtcdClient } from '../../src/adapters/etcd/client.js';
import { EtcdObservationStore } from '../../src/adapters/etcd/observation-store.js';
import { foldObservation, UNKNOWN_HEALTH, withStaleness, type Observation } from '../../src/core/health.js';
import { LOCAL, randomId } from '../../bench/support/local-stack.js';

// ADR 0019: an observer that sees nothing change renews its lease after each tick instead of
// writing its observations again; readers derive confirmations from the lease's age.

const th = { fallAfter: 3, riseAfter: 1, staleAfterMs: 2000 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ok = (at: number): Observation => ({ room: 'room-a', component: 'kafka', observer: 'o1', observerRoom: 'room-a', at, status: 'OK', reason: 'answered' });

/** room-a's Kafka as the reader judges it from o1's publication and confirmations, at `now`. */
function judged(list: readonly Observation[], now: number) {
  const mine = list.filter((o) => o.observer === 'o1' && o.room === 'room-a' && o.component === 'kafka').sort((a, b) => a.at - b.at);
  return withStaleness(mine.reduce((h, o) => foldObservation(h, o, th), UNKNOWN_HEALTH), now, th);
}

describe('observation confirmations on a real etcd (ADR 0019)', () => {
  let etcd: Etcd3;
  const prefix = `/switchyard-it-${randomId()}`;
  const revision = async () => Number((await etcd.get(`${prefix}/none`).exec()).header.revision);

  beforeAll(() => {
    etcd = createEtcdClient({ endpoints: [LOCAL.etcd] });
  });
  afterAll(async () => {
    await etcd.delete().prefix(prefix).exec();
    etcd.close();
  });

  it('an unchanged observation stays fresh for readers through renewals alone: etcd\'s revision does not move', async () => {
    const observer = new EtcdObservationStore(etcd, prefix, 5);
    const reader = new EtcdObservationStore(etcd, prefix, 5);
    try {
      expect(await observer.confirm()).toBe(false); // nothing published yet
      const publishedAt = Date.now();
      await observer.publish('o1', [ok(publishedAt)]);
      expect(await observer.confirm()).toBe(true);
      const before = await revision();
      // 4 s of ticks at 250 ms: twice staleAfterMs past the publish.
      let worstAge = 0;
      for (let i = 0; i < 16; i++) {
        await sleep(250);
        expect(await observer.confirm()).toBe(true);
        const list = await reader.readAll();
        const now = Date.now();
        // At most one confirmation (one room component), never younger than the renewal it stands
        // for. A renewal's age is read in whole seconds, so in the first second after a publish
        // the publication is newer than what can be proved, and nothing is confirmed.
        const confirmed = list.filter((o) => o.confirmed);
        expect(confirmed.length).toBeLessThanOrEqual(1);
        if (confirmed[0]) expect(confirmed[0].at).toBeLessThanOrEqual(now);
        if (now - publishedAt > 1500) expect(confirmed).toHaveLength(1);
        // What the reader knows is less than 1 s (whole seconds) plus a tick old.
        const newest = Math.max(...list.filter((o) => o.observer === 'o1').map((o) => o.at));
        worstAge = Math.max(worstAge, now - newest);
        expect(now - newest).toBeLessThan(1000 + 250 + 100);
        expect(judged(list, now).status).toBe('OK');
      }
      expect(Date.now() - publishedAt).toBeGreaterThan(th.staleAfterMs * 2);
      expect(worstAge).toBeGreaterThan(0);
      // Renewals and reads only: no write.
      expect(await revision()).toBe(before);

      // A reader that never read before (the CLI's status) gets the confirmation on its first read.
      const fresh = new EtcdObservationStore(etcd, prefix, 5);
      expect((await fresh.readAll()).filter((o) => o.confirmed)).toHaveLength(1);
    } finally {
      await observer.close();
      await reader.close();
    }
  });

  it('a stalled observer goes stale before its key expires; then its lost lease makes it publish again', async () => {
    const observer = new EtcdObservationStore(etcd, prefix, 3);
    const reader = new EtcdObservationStore(etcd, prefix, 3);
    try {
      await observer.publish('o1', [ok(Date.now())]);
      expect(await observer.confirm()).toBe(true);
      expect(judged(await reader.readAll(), Date.now()).status).toBe('OK');
      // The tick loop stalls: no renewal for 2.5 s (lease TTL 3 s).
      await sleep(2500);
      const list = await reader.readAll();
      expect(list.some((o) => o.observer === 'o1')).toBe(true); // the key is still there
      expect(judged(list, Date.now()).status).toBe('UNKNOWN');
      // Past the TTL (etcd revokes expired leases within about 500 ms): the key is gone.
      await sleep(1500);
      expect((await reader.readAll()).filter((o) => o.observer === 'o1')).toEqual([]);
      // The observer's next tick finds its lease lost and publishes again, bound to a new lease.
      expect(await observer.confirm()).toBe(false);
      await observer.publish('o1', [ok(Date.now())]);
      expect(await observer.confirm()).toBe(true);
      expect(judged(await reader.readAll(), Date.now()).status).toBe('OK');
    } finally {
      await observer.close();
      await reader.close();
    }
  });
});
