import type { Etcd3, Lease } from 'etcd3';
import type { Observation } from '../../core/health.js';
import type { ObservationStore } from '../../ports/observation-store.js';
import { etcdKeys } from './client.js';

export class EtcdObservationStore implements ObservationStore {
  private lease: Lease | undefined;
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
      const lease = this.client.lease(this.ttlSeconds);
      // A lost lease (etcd was away too long) is replaced on the next publish.
      lease.on('lost', () => {
        if (this.lease === lease) this.lease = undefined;
      });
      this.lease = lease;
    }
    return this.lease;
  }

  async publish(observer: string, recent: readonly Observation[]): Promise<void> {
    const lease = this.currentLease();
    try {
      await lease.put(this.keys.observation(observer)).value(JSON.stringify(recent));
    } catch (err) {
      if (this.lease === lease) this.lease = undefined;
      lease.revoke().catch(() => undefined);
      throw err;
    }
  }

  async readAll(): Promise<Observation[]> {
    const values = await this.client.getAll().prefix(this.keys.observations).strings();
    return Object.values(values).flatMap((v) => JSON.parse(v) as Observation[]);
  }

  async close(): Promise<void> {
    const lease = this.lease;
    this.lease = undefined;
    await lease?.revoke().catch(() => undefined);
  }
}
