import type { Etcd3, IKeyValue, Lease, Watcher } from 'etcd3';
import { cancelWatcher } from './watch-guard.js';
import type { OnMalformed } from '../../ports/route-store.js';
import type { ClientSignal, SignalStore } from '../../ports/signal-store.js';
import { etcdKeys } from './client.js';

/** Why a stored value is not a client signal, or "". */
export function signalProblem(v: unknown): string {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'not a signal object';
  const o = v as Record<string, unknown>;
  if (typeof o['room'] !== 'string' || o['room'] === '') return 'room: not a name';
  if (o['component'] !== 'kafka') return 'component: must be kafka';
  if (typeof o['client'] !== 'string' || o['client'] === '') return 'client: not a name';
  if (typeof o['at'] !== 'number' || !Number.isFinite(o['at'])) return 'at: not a time';
  if (typeof o['reason'] !== 'string') return 'reason: not text';
  return '';
}

export interface SignalStoreOptions {
  /** TTL of the store's own lease (default 10 s). */
  readonly ttlSeconds?: number;
  /**
   * A lease the writer holds already (an SDK consumer's presence lease), used when there is one:
   * a room's failure then costs each client one write, not a lease grant and a write, at the
   * moment every client of that room writes at once.
   */
  readonly lease?: () => Lease | undefined;
}

/**
 * Signals at `<prefix>/signals/<room>/<client>`, each under the writing client's lease (a short
 * TTL, so a client's signals go with it). Followers watch the prefix from the moment they start;
 * after a watch error they watch again from then on: a signal is a hint, and one missed during an
 * etcd outage only means the observers keep their own cadence.
 */
export class EtcdSignalStore implements SignalStore {
  private lease: Lease | undefined;
  private readonly keys;
  private readonly followers = new Set<() => Promise<void>>();

  constructor(
    private readonly client: Etcd3,
    prefix: string,
    private readonly opts: SignalStoreOptions = {},
  ) {
    this.keys = etcdKeys(prefix);
  }

  private currentLease(): Lease {
    if (!this.lease) {
      const lease = this.client.lease(this.opts.ttlSeconds ?? 10, { autoKeepAlive: true });
      lease.on('lost', () => {
        if (this.lease === lease) this.lease = undefined;
      });
      this.lease = lease;
    }
    return this.lease;
  }

  async report(signal: ClientSignal): Promise<void> {
    const shared = this.opts.lease?.();
    if (shared) {
      try {
        await shared.put(this.keys.signal(signal.room, signal.client)).value(JSON.stringify(signal));
        return;
      } catch {
        // Not ours to revoke: its holder renews or replaces it. Gone before its holder heard (it
        // expired while etcd was away, say): the signal goes under this store's own lease.
      }
    }
    const lease = this.currentLease();
    try {
      await lease.put(this.keys.signal(signal.room, signal.client)).value(JSON.stringify(signal));
    } catch (err) {
      if (this.lease === lease) this.lease = undefined;
      lease.revoke().catch(() => undefined);
      throw err;
    }
  }

  async follow(onSignal: (signal: ClientSignal) => void, onMalformed?: OnMalformed): Promise<() => Promise<void>> {
    let watcher: Watcher | undefined;
    let stopped = false;
    const deliver = (kv: IKeyValue) => {
      const key = kv.key.toString();
      let v: unknown;
      try {
        v = JSON.parse(kv.value.toString());
      } catch (err) {
        onMalformed?.(key, `not JSON: ${(err as Error).message}`);
        return;
      }
      const why = signalProblem(v);
      if (why) onMalformed?.(key, why);
      else onSignal(v as ClientSignal);
    };
    /** One try at watching; false if etcd did not take it. */
    const arm = async (): Promise<boolean> => {
      try {
        const w = await this.client.watch().prefix(this.keys.signals).create();
        if (stopped) {
          await cancelWatcher(w);
          return true;
        }
        watcher = w;
        w.on('put', deliver);
        w.on('error', () => {
          if (watcher !== w) return;
          watcher = undefined;
          void cancelWatcher(w);
          void rearm();
        });
        return true;
      } catch {
        return false;
      }
    };
    const rearm = async (): Promise<void> => {
      for (let attempt = 0; !stopped; attempt++) {
        await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** attempt)));
        if (stopped || (await arm())) return;
      }
    };
    // The first try is awaited, for at most 2 s (a caller may rely on signals from now on); an etcd
    // that is away does not hold the caller up: the watch comes once it is back.
    const first = arm().then((ok) => {
      if (!ok) void rearm();
    });
    let bound: NodeJS.Timeout | undefined;
    await Promise.race([first, new Promise<void>((r) => (bound = setTimeout(r, 2000)))]);
    clearTimeout(bound);
    const stop = async () => {
      stopped = true;
      this.followers.delete(stop);
      const w = watcher;
      watcher = undefined;
      await cancelWatcher(w);
    };
    this.followers.add(stop);
    return stop;
  }

  async close(): Promise<void> {
    await Promise.all([...this.followers].map((f) => f()));
    const lease = this.lease;
    this.lease = undefined;
    if (lease) await lease.revoke().catch(() => undefined);
  }
}
