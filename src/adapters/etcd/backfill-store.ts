import type { Etcd3 } from 'etcd3';
import type { BackfillState, BackfillStore } from '../../ports/backfill-store.js';
import { etcdKeys } from './client.js';

/** Backfill states in etcd, one per switch record: `<prefix>/backfills/<pipeline>/<record id>`. */
export class EtcdBackfillStore implements BackfillStore {
  constructor(
    private readonly client: Etcd3,
    private readonly prefix: string,
  ) {}

  private key(pipeline: string, record: string): string {
    return `${etcdKeys(this.prefix).backfills}${pipeline}/${record}`;
  }

  async get(pipeline: string, record: string): Promise<{ state: BackfillState; version: string } | undefined> {
    const kv = (await this.client.get(this.key(pipeline, record)).exec()).kvs[0];
    return kv ? { state: JSON.parse(kv.value.toString()) as BackfillState, version: kv.mod_revision } : undefined;
  }

  /** Saves if nobody else saved since `version` (undefined: only if absent). */
  async save(state: BackfillState, version: string | undefined): Promise<string | undefined> {
    const key = this.key(state.pipeline, state.record);
    const cmp = version === undefined ? this.client.if(key, 'Version', '==', 0) : this.client.if(key, 'Mod', '==', version);
    const res = await cmp.then(this.client.put(key).value(JSON.stringify(state))).commit();
    return res.succeeded ? res.header.revision : undefined;
  }
}

