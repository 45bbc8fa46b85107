import type { Etcd3, IKeyValue, Watcher } from 'etcd3';
import { cancelWatcher } from './watch-guard.js';
import type { Route } from '../../core/model.js';
import { etcdKeys } from './client.js';
import { capProblem, queryRouteProblem, routeProblem } from '../../core/stored.js';
import type { Fence, OnMalformed, Routed, RouteDelivery, RouteStore, StoredRoute, WatchOptions, WriteOutcome } from '../../ports/route-store.js';

/** A stored route that cannot be used: the key and why. */
export class MalformedRouteError extends Error {
  constructor(
    readonly key: string,
    readonly why: string,
  ) {
    super(`the route stored at ${key} is not valid: ${why}`);
    this.name = 'MalformedRouteError';
  }
}

/**
 * RouteStore on etcd: one JSON value per pipeline under `<prefix>/<space>/`, written in fenced
 * transactions. Consumer routes live in space "routes", query routes in "query-routes", source
 * caps (core/caps.ts) in "caps": each has an epoch, is written by the leader only, and is
 * followed by clients through the same watch.
 */
export class EtcdRouteStore<T extends Routed = Route> implements RouteStore<T> {
  private readonly keys;

  private readonly problemOf: (v: unknown) => string;
  /** What the last list decoded, by key: reused while a key's revision stays. */
  private listed = new Map<string, { readonly revision: string; readonly stored: StoredRoute<T> }>();

  constructor(
    private readonly client: Etcd3,
    prefix: string,
    space: 'routes' | 'query-routes' | 'caps' = 'routes',
  ) {
    this.problemOf = space === 'routes' ? routeProblem : space === 'caps' ? capProblem : queryRouteProblem;
    this.keys = {
      routes: `${prefix}/${space}/`,
      route: (pipeline: string) => `${prefix}/${space}/${pipeline}`,
      counter: (pipeline: string) => etcdKeys(prefix).epochs(space, pipeline),
    };
  }

  /** The stored route, or a MalformedRouteError naming the key and what is wrong with it. */
  private decode(kv: IKeyValue): StoredRoute<T> {
    const key = kv.key.toString();
    let value: unknown;
    try {
      value = JSON.parse(kv.value.toString());
    } catch (err) {
      throw new MalformedRouteError(key, `not JSON: ${(err as Error).message}`);
    }
    const why = this.problemOf(value);
    if (why) throw new MalformedRouteError(key, why);
    if ((value as Routed).pipeline !== key.slice(this.keys.routes.length)) throw new MalformedRouteError(key, `it names pipeline ${JSON.stringify((value as Routed).pipeline)}, not its key's`);
    return { route: value as T, version: kv.mod_revision };
  }

  async list(onMalformed?: OnMalformed): Promise<Map<string, StoredRoute<T>>> {
    const res = await this.client.getAll().prefix(this.keys.routes).exec();
    const out = new Map<string, StoredRoute<T>>();
    // The leader lists every route each tick: a key whose revision did not move is the value
    // decoded last time (1,000 routes parsed and checked 4 times a second were 1 % of the CPU and
    // their garbage; docs/perf/scale.md). A revision names one write of one key, never reused.
    const decoded = new Map<string, { readonly revision: string; readonly stored: StoredRoute<T> }>();
    for (const kv of res.kvs) {
      try {
        const key = kv.key.toString();
        const known = this.listed.get(key);
        const stored = known && known.revision === kv.mod_revision ? known.stored : this.decode(kv);
        decoded.set(key, { revision: kv.mod_revision, stored });
        out.set(stored.route.pipeline, stored);
      } catch (err) {
        if (!(err instanceof MalformedRouteError)) throw err;
        onMalformed?.(kv.key.toString().slice(this.keys.routes.length), err.why);
      }
    }
    this.listed = decoded;
    return out;
  }

  async get(pipeline: string): Promise<StoredRoute<T> | undefined> {
    const res = await this.client.get(this.keys.route(pipeline)).exec();
    const kv = res.kvs[0];
    return kv ? this.decode(kv) : undefined;
  }

  async put(fence: Fence, route: T, expectedVersion: string | undefined): Promise<WriteOutcome> {
    const key = this.keys.route(route.pipeline);
    const counterKey = this.keys.counter(route.pipeline);
    // Epochs never go backwards, even across the loss of the route key: a counter that is never
    // deleted remembers the highest epoch written, and a first write continues above it.
    const counter = (await this.client.get(counterKey).exec()).kvs[0];
    const floor = counter ? Number(counter.value.toString()) || 0 : 0;
    let toWrite = route;
    if (route.epoch <= floor) {
      if (expectedVersion !== undefined) return { kind: 'conflict' };
      toWrite = { ...route, epoch: floor + 1 };
    }
    const routeCmp = expectedVersion === undefined ? (['Version', '==', 0] as const) : (['Mod', '==', expectedVersion] as const);
    const counterCmp = counter ? (['Mod', '==', counter.mod_revision] as const) : (['Version', '==', 0] as const);
    // One transaction: the fence, the optimistic lock and the counter are checked with the write.
    const res = await this.client
      .if(fence.key, 'Create', '==', fence.createRevision)
      .and(key, routeCmp[0], routeCmp[1], routeCmp[2])
      .and(counterKey, counterCmp[0], counterCmp[1], counterCmp[2])
      .then(this.client.put(key).value(JSON.stringify(toWrite)), this.client.put(counterKey).value(String(toWrite.epoch)))
      .else(this.client.get(fence.key))
      .commit();
    if (res.succeeded) return { kind: 'written' };
    const fenceKv = res.responses[0]?.response_range?.kvs?.[0];
    if (!fenceKv || fenceKv.create_revision !== fence.createRevision) return { kind: 'fenced' };
    return { kind: 'conflict' };
  }

  async watch(pipeline: string, onRoute: (route: T, meta: RouteDelivery) => void, onError: (err: Error) => void, opts: WatchOptions = {}): Promise<() => Promise<void>> {
    const follower = new RouteFollower<T>(this.client, this.keys.route(pipeline), (kv) => this.decode(kv), onRoute, onError, opts.resyncMs ?? 5000);
    await follower.start();
    return () => follower.stop();
  }
}

/** What the follower knows of the route it last delivered, to order the next one. */
interface Held {
  readonly epoch: number;
  readonly createRevision: string;
  readonly modRevision: string;
}

/**
 * Follows one route key. The watch is the fast path; every error (including etcd cancelling the
 * watch because it compacted past the revision the client last saw) leads to a linearizable
 * re-read and a new watch from that read's revision, and a periodic re-read backs both up. So a
 * client can miss events, never routes: at worst it learns the newest one `resyncMs` late.
 *
 * Epochs only rise, with one verified exception: a route with a lower epoch is taken as a reset
 * only when a linearizable read says it is the current value and the key is not the one the held
 * route was read from (it was deleted and created anew) or its revision is older than the held
 * one's (etcd was restored from a backup). A stale watch event can satisfy neither.
 */
class RouteFollower<T extends Routed> {
  private held: Held | undefined;
  private watcher: Watcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private rearming = false;
  private healthy = false;

  constructor(
    private readonly client: Etcd3,
    private readonly key: string,
    private readonly decode: (kv: IKeyValue) => StoredRoute<T>,
    private readonly onRoute: (route: T, meta: RouteDelivery) => void,
    private readonly onError: (err: Error) => void,
    private readonly resyncMs: number,
  ) {}

  async start(): Promise<void> {
    const revision = await this.read();
    await this.arm(revision);
    this.timer = setInterval(() => void this.backstop(), this.resyncMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    const w = this.watcher;
    this.watcher = undefined;
    await cancelWatcher(w);
  }

  /** Offers a key-value to the client; returns whether it was delivered. */
  private offer(kv: IKeyValue, verified: boolean): void {
    const { route } = this.decode(kv);
    const held = this.held;
    let reset = false;
    if (held && route.epoch <= held.epoch) {
      const recreated = kv.create_revision !== held.createRevision;
      const rewound = BigInt(kv.mod_revision) < BigInt(held.modRevision);
      if (!verified || route.epoch === held.epoch || !(recreated || rewound)) return;
      reset = true;
    }
    this.held = { epoch: route.epoch, createRevision: kv.create_revision, modRevision: kv.mod_revision };
    this.onRoute(route, { reset, ...(reset && held && { previousEpoch: held.epoch }) });
  }

  /** A linearizable read of the key; returns the revision to watch from. */
  private async read(): Promise<string> {
    const res = await this.client.get(this.key).exec();
    const kv = res.kvs[0];
    if (kv) {
      try {
        this.offer(kv, true);
      } catch (err) {
        this.onError(err as Error);
      }
    }
    return (BigInt(res.header.revision) + 1n).toString();
  }

  private async arm(fromRevision: string): Promise<void> {
    const watcher = await this.client.watch().key(this.key).startRevision(fromRevision).create();
    if (this.stopped) {
      await cancelWatcher(watcher);
      return;
    }
    this.watcher = watcher;
    this.healthy = true;
    watcher.on('put', (kv) => {
      try {
        const epoch = this.decode(kv).route.epoch;
        // A lower epoch from the watch is only a hint: confirm it with a read before believing it.
        if (this.held && epoch < this.held.epoch) void this.resync('lower epoch seen on the watch');
        else this.offer(kv, false);
      } catch (err) {
        this.onError(err as Error);
      }
    });
    watcher.on('error', (err) => {
      if (this.watcher !== watcher) return;
      this.healthy = false;
      this.watcher = undefined;
      this.onError(err);
      void cancelWatcher(watcher);
      void this.resync(`watch error: ${err.message}`);
    });
  }

  /** Re-reads the key and, if the watch is gone, watches again from the read's revision. */
  private async resync(why: string): Promise<void> {
    if (this.stopped || this.rearming) return;
    this.rearming = true;
    try {
      for (let attempt = 0; !this.stopped; attempt++) {
        try {
          const revision = await this.read();
          if (!this.healthy) await this.arm(revision);
          return;
        } catch (err) {
          this.onError(new Error(`re-reading the route after ${why} failed: ${(err as Error).message}`));
          await new Promise((r) => setTimeout(r, Math.min(1000, 100 * 2 ** attempt)));
        }
      }
    } finally {
      this.rearming = false;
    }
  }

  private async backstop(): Promise<void> {
    if (this.stopped || this.rearming) return;
    try {
      const revision = await this.read();
      if (!this.healthy) await this.arm(revision);
    } catch {
      // etcd unreachable: keep the last route; the next pass tries again
    }
  }
}
