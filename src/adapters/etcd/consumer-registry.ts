import type { Etcd3, Lease } from 'etcd3';
import type { ConsumerAnnouncer, ConsumerPresence, ConsumerRegistry } from '../../ports/consumer-registry.js';
import { etcdKeys } from './client.js';

/** Reads live consumers: `<prefix>/consumers/<pipeline>/<consumer>`, each under its own lease. */
export class EtcdConsumerRegistry implements ConsumerRegistry {
  private readonly keys;

  constructor(
    private readonly client: Etcd3,
    prefix: string,
  ) {
    this.keys = etcdKeys(prefix);
  }

  async live(pipeline: string): Promise<ConsumerPresence[]> {
    const values = await this.client.getAll().prefix(this.keys.consumers(pipeline)).strings();
    const out: ConsumerPresence[] = [];
    for (const v of Object.values(values)) {
      try {
        out.push(JSON.parse(v) as ConsumerPresence);
      } catch {
        // not a presence we wrote: ignore rather than stop whoever reads it
      }
    }
    return out;
  }
}

/**
 * One consumer instance's presence key. The lease is created on the first announce and kept alive
 * by etcd3; if it is lost (etcd was away longer than the TTL), the next announce grants a new one.
 */
export class EtcdConsumerAnnouncer implements ConsumerAnnouncer {
  private lease: Lease | undefined;
  private last: ConsumerPresence | undefined;

  constructor(
    private readonly client: Etcd3,
    private readonly prefix: string,
    private readonly ttlSeconds = 10,
  ) {}

  private leaseFor(): Lease {
    if (this.lease) return this.lease;
    const lease = this.client.lease(this.ttlSeconds, { autoKeepAlive: true });
    lease.on('lost', () => {
      if (this.lease === lease) this.lease = undefined;
      // Re-announce under a new lease so that the key comes back once etcd does.
      const last = this.last;
      if (last) void this.announce(last).catch(() => undefined);
    });
    this.lease = lease;
    return lease;
  }

  /** The presence lease once granted (others may put keys under it that should go with this consumer). */
  currentLease(): Lease | undefined {
    return this.lease;
  }

  async announce(presence: ConsumerPresence): Promise<void> {
    this.last = presence;
    const key = `${etcdKeys(this.prefix).consumers(presence.pipeline)}${presence.consumer}`;
    await this.leaseFor().put(key).value(JSON.stringify(presence));
  }

  async withdraw(): Promise<void> {
    const lease = this.lease;
    this.lease = undefined;
    this.last = undefined;
    if (lease) await lease.revoke().catch(() => undefined);
  }
}
