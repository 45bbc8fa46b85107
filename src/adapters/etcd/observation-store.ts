import { EtcdLeaseInvalidError, type Etcd3, type Lease } from 'etcd3';
import { confirmedAt, type Observation } from '../../core/health.js';
import { observationProblem } from '../../core/stored.js';
import type { OnMalformed } from '../../ports/route-store.js';
import type { ObservationStore, ObservationsRead } from '../../ports/observation-store.js';
import { etcdKeys } from './client.js';

/**
 * ObservationStore on etcd: `<prefix>/observations/<observer>`, bound to the observer's lease.
 *
 * The lease is renewed by `confirm`, once per tick, never by a timer (ADR 0019). A reader asks
 * each lease how long ago it was renewed (LeaseTimeToLive: remaining seconds, rounded down, so
 * the age it gives is never younger than the truth) before it reads the values. A renewal seen
 * that way followed the publish it confirms, and a value read after it is that one or a newer
 * one, whose observations are newer than the renewal and are then not confirmed.
 */
/** How long a renewal may take before it no longer counts (below a tick at the shortest intervals we see). */
const CONFIRM_DEADLINE_MS = 1000;

export class EtcdObservationStore implements ObservationStore {
  /** etcd gives a lease's remaining TTL in whole seconds. */
  readonly confirmSlackMs = 1000;
  private lease: Lease | undefined;
  /** Whether this store's lease holds a publication to confirm. */
  private published = false;
  /** The leases the observers' keys were bound to at the last read: asked for their age next time. */
  private leasesSeen = new Set<string>();
  private readonly keys;

  constructor(
    private readonly client: Etcd3,
    prefix: string,
    private readonly ttlSeconds: number,
  ) {
    this.keys = etcdKeys(prefix);
  }

  private currentLease(): Lease {
    if (!this.lease) {
      const lease = this.client.lease(this.ttlSeconds, { autoKeepAlive: false });
      // A lost lease (not renewed in time, or etcd was away too long) is replaced on the next publish.
      lease.on('lost', () => this.drop(lease));
      this.lease = lease;
      this.published = false;
    }
    return this.lease;
  }

  private drop(lease: Lease): void {
    if (this.lease !== lease) return;
    this.lease = undefined;
    this.published = false;
    lease.revoke().catch(() => undefined);
  }

  async publish(observer: string, recent: readonly Observation[]): Promise<void> {
    const lease = this.currentLease();
    try {
      await lease.put(this.keys.observation(observer)).value(JSON.stringify(recent));
      if (this.lease === lease) this.published = true;
    } catch (err) {
      this.drop(lease);
      throw err;
    }
  }

  async confirm(): Promise<boolean> {
    const lease = this.lease;
    if (!lease || !this.published) return false;
    try {
      // Bounded: a renewal that arrived after a later tick's failed publish would confirm news
      // that is no longer the observer's (etcd3 gives streams no deadline of its own).
      await lease.keepaliveOnce({ deadline: Date.now() + CONFIRM_DEADLINE_MS });
      return this.lease === lease;
    } catch (err) {
      // Expired (etcd says so): nothing left to confirm, a new lease next. Anything else (etcd
      // slow or away): the lease and the news bound to it stay; the next tick publishes again.
      if (err instanceof EtcdLeaseInvalidError) {
        this.drop(lease);
        return false;
      }
      throw err;
    }
  }

  /** Per lease: the time (clock ms) it was last renewed at the latest, as far as etcd's answer proves it. */
  private async renewedAt(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    await Promise.all(
      [...this.leasesSeen].map(async (id) => {
        const askedAt = Date.now();
        const res = await this.client.leaseClient.leaseTimeToLive({ ID: id }).catch(() => undefined);
        const remaining = Number(res?.TTL ?? -1);
        const granted = Number(res?.grantedTTL ?? 0);
        // -1: expired or unknown. The age is whole seconds rounded up (remaining rounded down), so a
        // renewal reads at least 1 s old. A remaining TTL at or past the granted one is a lease an
        // etcd leader change extended, not one renewed: it proves nothing (ADR 0019).
        if (remaining >= 0 && granted > 0 && remaining < granted) out.set(id, askedAt - (granted - remaining) * 1000);
      }),
    );
    return out;
  }

  async readAll(onMalformed?: OnMalformed): Promise<ObservationsRead> {
    // Ages first, then the values (see the class comment for why this order). A lease not asked
    // about yet (the first read, an observer that restarted) is asked about, and the values read again.
    let renewed = await this.renewedAt();
    let res = await this.client.getAll().prefix(this.keys.observations).exec();
    const leaseOf = (kv: (typeof res.kvs)[number]) => String(kv.lease);
    this.leasesSeen = new Set(res.kvs.map(leaseOf).filter((l) => l !== '0'));
    if ([...this.leasesSeen].some((l) => !renewed.has(l))) {
      renewed = await this.renewedAt();
      res = await this.client.getAll().prefix(this.keys.observations).exec();
      this.leasesSeen = new Set(res.kvs.map(leaseOf).filter((l) => l !== '0'));
    }
    const out: Observation[] = [];
    const confirmed = new Map<string, number>();
    for (const kv of res.kvs) {
      const key = kv.key.toString();
      let list: unknown;
      try {
        list = JSON.parse(kv.value.toString());
      } catch (err) {
        onMalformed?.(key, `not JSON: ${(err as Error).message}`);
        continue;
      }
      if (!Array.isArray(list)) {
        onMalformed?.(key, 'not a list of observations');
        continue;
      }
      const valid = list.filter((o): o is Observation => {
        const why = observationProblem(o);
        if (why) onMalformed?.(key, why);
        return !why;
      });
      out.push(...valid);
      const renewal = renewed.get(leaseOf(kv));
      // Only a publication that is one observer's, whole: a value mixing observers proves nothing.
      const observer = valid[0]?.observer;
      const at = renewal !== undefined && valid.length === list.length && valid.every((o) => o.observer === observer) ? confirmedAt(valid, renewal) : undefined;
      if (observer !== undefined && at !== undefined) confirmed.set(observer, at);
    }
    return { observations: out, confirmedAt: confirmed };
  }

  async close(): Promise<void> {
    const lease = this.lease;
    this.lease = undefined;
    this.published = false;
    await lease?.revoke().catch(() => undefined);
  }
}
