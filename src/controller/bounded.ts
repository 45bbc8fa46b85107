// At most `limit` of a tick's per-pipeline jobs (a switch's steps, a journal advanced) at once.
//
// A room that fails moves every pipeline whose primary it held. One after the other, each switch
// costs its own etcd round trips (journal, steps, route), about 30 ms on loopback: the tenth
// pipeline's route was written 300 ms after the first, the thousandth would be 30 s late
// (docs/perf/scale.md). Each pipeline's switch is its own journal and route, fenced on its own,
// so they can run side by side; the limit keeps a thousand from flooding etcd at once.

import { bulkhead } from 'cockatiel';

/** How many pipelines' switches run at once. */
export const SWITCH_CONCURRENCY = 32;

/**
 * Calls `fn` for every item, at most `limit` at a time, and resolves when all have settled. `fn`
 * must not reject (each job contains its own failure); a rejection is passed to `onError`.
 */
export async function eachBounded<T>(items: Iterable<T>, limit: number, fn: (item: T) => Promise<void>, onError: (item: T, err: unknown) => void): Promise<void> {
  const policy = bulkhead(limit, Number.MAX_SAFE_INTEGER);
  await Promise.all([...items].map((item) => policy.execute(() => fn(item)).catch((err: unknown) => onError(item, err))));
}
