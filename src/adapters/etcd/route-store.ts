import type { Etcd3, IKeyValue } from 'etcd3';
import type { Route } from '../../core/model.js';
import type { Fence, Routed, RouteStore, StoredRoute, WriteOutcome } from '../../ports/route-store.js';

/**
 * RouteStore on etcd: one JSON value per pipeline under `<prefix>/<space>/`, written in fenced
 * transactions. Consumer routes live in space "routes", query routes in "query-routes".
 */
export class EtcdRouteStore<T extends Routed = Route> implements RouteStore<T> {
  private readonly keys;

  constructor(
    private readonly client: Etcd3,
    prefix: string,
    space: 'routes' | 'query-routes' = 'routes',
  ) {
    this.keys = { routes: `${prefix}/${space}/`, route: (pipeline: string) => `${prefix}/${space}/${pipeline}` };
  }

  private decode(kv: IKeyValue): StoredRoute<T> {
    return { route: JSON.parse(kv.value.toString()) as T, version: kv.mod_revision };
  }

  async list(): Promise<Map<string, StoredRoute<T>>> {
    const res = await this.client.getAll().prefix(this.keys.routes).exec();
    const out = new Map<string, StoredRoute<T>>();
    for (const kv of res.kvs) {
      const stored = this.decode(kv);
      out.set(stored.route.pipeline, stored);
    }
    return out;
  }

  async get(pipeline: string): Promise<StoredRoute<T> | undefined> {
    const res = await this.client.get(this.keys.route(pipeline)).exec();
    const kv = res.kvs[0];
    return kv ? this.decode(kv) : undefined;
  }

  async put(fence: Fence, route: T, expectedVersion: string | undefined): Promise<WriteOutcome> {
    const key = this.keys.route(route.pipeline);
    const routeCmp = expectedVersion === undefined ? (['Version', '==', 0] as const) : (['Mod', '==', expectedVersion] as const);
    // One transaction: the fence and the optimistic lock are checked together with the write.
    const res = await this.client
      .if(fence.key, 'Create', '==', fence.createRevision)
      .and(key, routeCmp[0], routeCmp[1], routeCmp[2])
      .then(this.client.put(key).value(JSON.stringify(route)))
      .else(this.client.get(fence.key))
      .commit();
    if (res.succeeded) return { kind: 'written' };
    const fenceKv = res.responses[0]?.response_range?.kvs?.[0];
    if (!fenceKv || fenceKv.create_revision !== fence.createRevision) return { kind: 'fenced' };
    return { kind: 'conflict' };
  }

  async watch(
    pipeline: string,
    onRoute: (route: T) => void,
    onError: (err: Error) => void,
  ): Promise<() => Promise<void>> {
    const key = this.keys.route(pipeline);
    let lastEpoch = 0;
    const deliver = (kv: IKeyValue) => {
      const { route } = this.decode(kv);
      if (route.epoch <= lastEpoch) return;
      lastEpoch = route.epoch;
      onRoute(route);
    };
    const res = await this.client.get(key).exec();
    const current = res.kvs[0];
    if (current) deliver(current);
    const next = (BigInt(res.header.revision) + 1n).toString();
    const watcher = await this.client.watch().key(key).startRevision(next).create();
    watcher.on('put', (kv) => {
      try {
        deliver(kv);
      } catch (err) {
        onError(err as Error);
      }
    });
    watcher.on('error', (err) => onError(err));
    return async () => {
      await watcher.cancel();
    };
  }
}
