import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Etcd3 } from 'etcd3';
import { createEtcdClient } from '../../src/adapters/etcd/client.js';
import { EtcdObservationStore } from '../../src/adapters/etcd/observation-store.js';
import { foldObservation, UNKNOWN_HEALTH, withStaleness, type Observation } from '../../src/core/health.js';
import type { ObservationsRead } from '../../src/ports/observation-store.js';
import { LOCAL, randomId } from '../../bench/support/local-stack.js';

// ADR 0019: an observer that sees nothing change renews its lease after each tick instead of
// writing its observations again; readers derive confirmations from the lease's age.

const th = { fallAfter: 3, riseAfter: 1, staleAfterMs: 2000 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ok = (at: number): Observation => ({ room: 'room-a', component: 'kafka', observer: 'o1', observerRoom: 'room-a', at, status: 'OK', reason: 'answered' });

/** room-a's Kafka as the reader judges it from o1's publication and confirmation, at `now`. */
function judged(read: ObservationsRead, now: number) {
  const mine = read.observations.filter((o) => o.observer === 'o1' && o.room === 'room-a' && o.component === 'kafka').sort((a, b) => a.at - b.at);
  return withStaleness(mine.reduce((h, o) => foldObservation(h, o, th), UNKNOWN_HEALTH), now, th, read.confirmedAt.get('o1'));
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
        const read = await reader.readAll();
        const now = Date.now();
        // Never younger than the renewal it stands for. A renewal's age is read in whole seconds,
        // so in the first second after a publish the publication is newer than what can be
        // proved, and nothing is confirmed.
        const confirmed = read.confirmedAt.get('o1');
        if (confirmed !== undefined) expect(confirmed).toBeLessThanOrEqual(now);
        if (now - publishedAt > 1500) expect(confirmed).toBeDefined();
        // What the reader knows is less than 1 s (whole seconds) plus a tick old.
        const newest = Math.max(confirmed ?? 0, ...read.observations.filter((o) => o.observer === 'o1').map((o) => o.at));
        worstAge = Math.max(worstAge, now - newest);
        expect(now - newest).toBeLessThan(1000 + 250 + 100);
        expect(judged(read, now).status).toBe('OK');
      }
      expect(Date.now() - publishedAt).toBeGreaterThan(th.staleAfterMs * 2);
      expect(worstAge).toBeGreaterThan(0);
      // Renewals and reads only: no write.
      expect(await revision()).toBe(before);

      // A reader that never read before (the CLI's status) gets the confirmation on its first read.
      const fresh = new EtcdObservationStore(etcd, prefix, 5);
      expect((await fresh.readAll()).confirmedAt.get('o1')).toBeDefined();
    } finally {
      await observer.close();
      await reader.close();
    }
  });

  it('a publication holding anything not OK or carried is never confirmed, however recent the renewal', async () => {
    const observer = new EtcdObservationStore(etcd, prefix, 5);
    const reader = new EtcdObservationStore(etcd, prefix, 5);
    try {
      const t = Date.now();
      for (const list of [[ok(t - 3000), { ...ok(t - 2500), status: 'DOWN' as const }], [ok(t - 3000), { ...ok(t - 2500), carried: true }]]) {
        await observer.publish('o1', list);
        await new Promise((r) => setTimeout(r, 1200));
        expect(await observer.confirm()).toBe(true);
        await reader.readAll();
        const read = await reader.readAll();
        expect(read.observations.length).toBe(2);
        expect(read.confirmedAt.has('o1')).toBe(false);
      }
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
      const read = await reader.readAll();
      expect(read.observations.some((o) => o.observer === 'o1')).toBe(true); // the key is still there
      expect(judged(read, Date.now()).status).toBe('UNKNOWN');
      // Past the TTL (etcd revokes expired leases within about 500 ms): the key is gone.
      await sleep(1500);
      expect((await reader.readAll()).observations.filter((o) => o.observer === 'o1')).toEqual([]);
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
