import type { Watcher } from 'etcd3';
import watchModule from 'etcd3/lib/watch.js';

/**
 * Two pitfalls of etcd3 1.1.2's watch manager, contained here for every caller (controller and SDK):
 *
 * - When etcd cancels a watch itself (a compacted start revision, a revoked permission), the
 *   manager drops the watcher and emits 'error'. Cancelling that watcher afterwards sends a cancel
 *   for an id etcd already forgot; etcd's answer names a watch the manager no longer holds, and the
 *   manager *throws* from the stream's 'data' handler: an uncaught error in the application that
 *   embeds the SDK. The same answer can arrive when our cancel crosses etcd's.
 *   -> A response for a watch id the manager does not hold is dropped (it had nobody to reach).
 * - `cancel()` on a watcher etcd already cancelled waits for an 'end' that never comes.
 *   -> `cancelWatcher` returns at once for those, and never waits longer than `boundMs` for others.
 */

interface ManagerInternals {
  watchers: Array<{ id: unknown }>;
  handleResponse(res: { watch_id?: unknown }): void;
  handleCancelResponse(watcher: Watcher, res: unknown): void;
}

const cancelledByEtcd = new WeakSet<Watcher>();
let strayResponses = 0;

const proto = (watchModule as unknown as { WatchManager: { prototype: ManagerInternals } }).WatchManager.prototype;
if (typeof proto.handleResponse !== 'function' || typeof proto.handleCancelResponse !== 'function') {
  throw new Error('etcd3 watch internals changed: re-check src/adapters/etcd/watch-guard.ts against the new version');
}
const handleResponse = proto.handleResponse;
const handleCancelResponse = proto.handleCancelResponse;
proto.handleResponse = function guardedHandleResponse(this: ManagerInternals, res) {
  if (!this.watchers.some((w) => w.id === res.watch_id)) {
    strayResponses++;
    return;
  }
  handleResponse.call(this, res);
};
proto.handleCancelResponse = function markedHandleCancelResponse(this: ManagerInternals, watcher, res) {
  cancelledByEtcd.add(watcher);
  handleCancelResponse.call(this, watcher, res);
};

/** How many watch responses named a watch nobody held (dropped instead of thrown). */
export function strayWatchResponses(): number {
  return strayResponses;
}

/** Whether etcd itself cancelled this watcher (it is gone; there is nothing to cancel). */
export function watcherCancelledByEtcd(w: Watcher): boolean {
  return cancelledByEtcd.has(w);
}

/** Cancels a watcher if etcd has not already; never throws and never waits more than `boundMs`. */
export async function cancelWatcher(w: Watcher | undefined, boundMs = 2000): Promise<void> {
  if (!w || cancelledByEtcd.has(w)) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    w.cancel().catch(() => undefined),
    new Promise<void>((r) => {
      timer = setTimeout(r, boundMs);
      timer.unref();
    }),
  ]);
  clearTimeout(timer);
}
