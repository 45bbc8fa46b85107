import { EtcdLeaseInvalidError, type Etcd3, type Lease } from 'etcd3';
import { confirmations, type Observation } from '../../core/health.js';
import { observationProblem } from '../../core/stored.js';
import type { OnMalformed } from '../../ports/route-store.js';
import type { ObservationStore } from '../../ports/observation-store.js';
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
      await lease.keepaliveOnce();
      return this.lease === lease;
    } catch (err) {
      // Expired (etcd says so): nothing left to confirm. Anything else: etcd is not answering.
      this.drop(lease);
      if (err instanceof EtcdLeaseInvalidError) return false;
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
        // -1: expired or unknown. The age is whole seconds rounded up (remaining rounded down); an
        // etcd leader change extends leases past their granted TTL (ADR 0019), read as just renewed.
        if (remaining >= 0 && granted > 0) out.set(id, askedAt - Math.max(0, granted - remaining) * 1000);
      }),
    );
    return out;
  }

  async readAll(onMalformed?: OnMalformed): Promise<Observation[]> {
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
      const at = renewed.get(leaseOf(kv));
      if (at !== undefined) out.push(...confirmations(valid, at));
    }
    return out;
  }

  async close(): Promise<void> {
    const lease = this.lease;
    this.lease = undefined;
    this.published = false;
    await lease?.revoke().catch(() => undefined);
  }
}
