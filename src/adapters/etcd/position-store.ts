import type { Etcd3 } from 'etcd3';
import type { RoomSample } from '../../core/data-estimate.js';
import { etcdKeys } from './client.js';

/**
 * Observers' replication-position samples in etcd: `<prefix>/positions/<observer>`, one JSON value
 * per observer with a thinned history per room. Not under a lease on purpose: when every
 * controller is dead, `failover --force` still needs the last samples of the room that died (their
 * age is shown). Not fenced: each observer writes only its own key.
 */
export class EtcdPositionStore {
  private readonly root: string;

  constructor(
    private readonly client: Etcd3,
    prefix: string,
  ) {
    this.root = etcdKeys(prefix).positions;
  }

  async publish(observer: string, rooms: readonly (readonly RoomSample[])[]): Promise<void> {
    await this.client.put(`${this.root}${observer}`).value(fitted(Date.now(), rooms));
  }

  /** Per room, the history of the observer whose newest sample of it is the freshest. */
  async readAll(): Promise<Map<string, RoomSample[]>> {
    const values = await this.client.getAll().prefix(this.root).strings();
    const out = new Map<string, RoomSample[]>();
    for (const v of Object.values(values)) {
      let parsed: { rooms?: RoomSample[][] };
      try {
        parsed = JSON.parse(v) as { rooms?: RoomSample[][] };
      } catch {
        continue;
      }
      for (const history of parsed.rooms ?? []) {
        const last = history.at(-1);
        if (!last) continue;
        const mine = out.get(last.room)?.at(-1);
        if (!mine || mine.at < last.at) out.set(last.room, history);
      }
    }
    return out;
  }
}


/**
 * The value to publish, at most MAX_VALUE_BYTES: with many partitions the whole thinned history
 * is larger than etcd takes in one request (1.5 MiB by default), and a refused put also counts
 * against the etcd client's circuit breaker, which then fails every other call (the controller
 * went "not ready" every few seconds with 1,000 pipelines). Every other older sample is dropped
 * until the value fits; each room's newest sample is always kept.
 */
export function fitted(at: number, rooms: readonly (readonly RoomSample[])[]): string {
  let kept = rooms.map((h) => [...h]);
  for (;;) {
    const value = JSON.stringify({ at, rooms: kept });
    if (value.length <= MAX_VALUE_BYTES || kept.every((h) => h.length <= 1)) return value;
    kept = kept.map((h) => (h.length <= 1 ? h : [...h.slice(0, -1).filter((_, i, older) => (older.length - i) % 2 === 0), h.at(-1)!]));
  }
}

/** Well under etcd's default request limit (1.5 MiB), with room for the key and the request. */
const MAX_VALUE_BYTES = 1_000_000;
