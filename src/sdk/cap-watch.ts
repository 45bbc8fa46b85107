// Follows a pipeline's source cap in etcd (`<prefix>/caps/<pipeline>`, core/caps.ts).
//
// Values come through the route store's follower (ordered by epoch, through watch errors and
// compactions). That follower reports values only, and no record means uncapped, so a removed
// cap is seen here: by a delete event on the key, confirmed by a linearizable read (the delete and
// a later write reach us on two watches, in either order), and by a periodic re-read in case the
// event was missed.

import type { Etcd3, Watcher } from 'etcd3';
import type { CapRecord } from '../core/caps.js';
import { EtcdRouteStore } from '../adapters/etcd/route-store.js';
import { cancelWatcher } from '../adapters/etcd/watch-guard.js';

export async function followCap(
  etcd: Etcd3,
  prefix: string,
  pipeline: string,
  onCap: (cap: CapRecord | undefined) => void,
  onError: (err: Error) => void,
  resyncMs: number,
): Promise<() => Promise<void>> {
  const store = new EtcdRouteStore<CapRecord>(etcd, prefix, 'caps');
  let current: CapRecord | undefined;
  let stopped = false;
  const deliver = (cap: CapRecord | undefined) => {
    if (stopped) return;
    current = cap;
    // The leader never deletes a cap: one that no longer applies is stored as origin 'uncapped'.
    onCap(cap?.origin === 'uncapped' ? undefined : cap);
  };
  /** Reads the key: gone means uncapped; a newer record than the one held is taken too. */
  const confirm = async () => {
    try {
      const stored = await store.get(pipeline);
      if (!stored) {
        if (current) deliver(undefined);
      } else if (!current || stored.route.epoch > current.epoch) {
        deliver(stored.route);
      }
    } catch (err) {
      onError(err as Error);
    }
  };
  const stopValues = await store.watch(pipeline, (cap) => deliver(cap), onError, { resyncMs });
  let deletes: Watcher | undefined;
  try {
    deletes = await etcd.watch().key(`${prefix}/caps/${pipeline}`).create();
    deletes.on('delete', () => void confirm());
    deletes.on('error', (err: Error) => onError(err));
  } catch (err) {
    // The periodic re-read still sees a removed cap, only later.
    onError(err as Error);
  }
  const timer = setInterval(() => void confirm(), resyncMs);
  timer.unref();
  return async () => {
    stopped = true;
    clearInterval(timer);
    await stopValues();
    await cancelWatcher(deletes);
  };
}
