import type { Etcd3 } from 'etcd3';
import { etcdKeys } from './client.js';

/** Where a stream job was last stopped with a savepoint: the path a warm start restores from. */
export interface SavepointRecord {
  readonly path: string;
  readonly at: number;
  readonly by: string;
}

/**
 * One key per job under `<prefix>/savepoints/`, written when the job is stopped with a savepoint
 * (last write wins) and read when it is started again. A value that does not parse reads as none:
 * the job then starts without state, which the start step's note says.
 */
export class EtcdSavepointStore {
  private readonly keys;

  constructor(
    private readonly client: Etcd3,
    prefix: string,
  ) {
    this.keys = etcdKeys(prefix);
  }

  async get(job: string): Promise<SavepointRecord | undefined> {
    const text = await this.client.get(this.keys.savepoint(job)).string();
    if (text === null) return undefined;
    try {
      const v = JSON.parse(text) as Partial<SavepointRecord>;
      return typeof v.path === 'string' && typeof v.at === 'number' ? { path: v.path, at: v.at, by: String(v.by ?? '') } : undefined;
    } catch {
      return undefined;
    }
  }

  async put(job: string, record: SavepointRecord): Promise<void> {
    await this.client.put(this.keys.savepoint(job)).value(JSON.stringify(record));
  }
}
