import type { Etcd3, Lease } from 'etcd3';
import type { Observation } from '../../core/health.js';
import { observationProblem } from '../../core/stored.js';
import type { OnMalformed } from '../../ports/route-store.js';
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

  async readAll(onMalformed?: OnMalformed): Promise<Observation[]> {
    const values = await this.client.getAll().prefix(this.keys.observations).strings();
    return Object.entries(values).flatMap(([key, v]) => {
      let list: unknown;
      try {
        list = JSON.parse(v);
      } catch (err) {
        onMalformed?.(key, `not JSON: ${(err as Error).message}`);
        return [];
      }
      if (!Array.isArray(list)) {
        onMalformed?.(key, 'not a list of observations');
        return [];
      }
      return list.filter((o): o is Observation => {
        const why = observationProblem(o);
        if (why) onMalformed?.(key, why);
        return !why;
      });
    });
  }

  async close(): Promise<void> {
    const lease = this.lease;
    this.lease = undefined;
    await lease?.revoke().catch(() => undefined);
  }
}
