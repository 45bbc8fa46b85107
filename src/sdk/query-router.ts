// Sends a pipeline's queries to the OLAP endpoint of its active chain, following the query route
// in etcd. Callers do not notice a flip: an idempotent query that fails on the old endpoint while
// the route is moving is retried once, on the new endpoint.

import type { Etcd3 } from 'etcd3';
import { createEtcdClient, type SdkEtcdOptions } from '../adapters/etcd/client.js';
import { queryRouteRefusal, type AllowedRooms } from './allow-list.js';
import { olapRequest } from '../adapters/clickhouse/clickhouse-health-probe.js';
import type { ServerAccess } from '../ports/server-access.js';
import { EtcdRouteStore } from '../adapters/etcd/route-store.js';
import type { QueryRoute } from '../core/model.js';
import { silentLogger, type Logger } from '../ports/logger.js';

export interface QueryRouterOptions {
  readonly pipeline: string;
  readonly etcd: SdkEtcdOptions;
  /** Per-query deadline (default 5000 ms). */
  readonly timeoutMs?: number;
  /** After a failure, how long to wait for a newer route before giving up (default 5000 ms). */
  readonly flipWaitMs?: number;
  readonly logger?: Logger;
  readonly onRoute?: (route: QueryRoute) => void;
  /** The rooms and OLAP URLs this router may be sent to; another is refused (logged, not followed). */
  readonly allowedRooms?: AllowedRooms;
  /**
   * By OLAP url (as the topology names it): that server's user and password, and the CA of its
   * https:// url. Keyed by url, not room: credentials go only to the server they belong to, even
   * if a forged route names another url for the room.
   */
  readonly olapAccess?: Readonly<Record<string, ServerAccess>>;
}

/** The access given for this url (trailing slashes aside), if any. */
function accessFor(access: Readonly<Record<string, ServerAccess>> | undefined, url: string): ServerAccess | undefined {
  const bare = (u: string) => u.replace(/\/+$/, '');
  return access && Object.entries(access).find(([u]) => bare(u) === bare(url))?.[1];
}

export class QueryFailedError extends Error {
  override readonly name = 'QueryFailedError';
  constructor(
    message: string,
    readonly endpoint: string,
    readonly epoch: number,
  ) {
    super(message);
  }
}

export class QueryRouter {
  private etcd: Etcd3 | undefined;
  private stopWatch: (() => Promise<void>) | undefined;
  private current: QueryRoute | undefined;
  private waiters: (() => void)[] = [];
  private readonly log: Logger;

  constructor(private readonly opts: QueryRouterOptions) {
    this.log = (opts.logger ?? silentLogger).child({ component: 'query-router', pipeline: opts.pipeline });
  }

  /** Resolves once the current route is known. */
  async start(): Promise<void> {
    this.etcd = createEtcdClient(this.opts.etcd);
    const store = new EtcdRouteStore<QueryRoute>(this.etcd, this.opts.etcd.prefix ?? '/switchyard', 'query-routes');
    this.stopWatch = await store.watch(
      this.opts.pipeline,
      (route, meta) => {
        const refusal = queryRouteRefusal(route, this.opts.allowedRooms);
        if (refusal) {
          this.log.error('query route refused: not in the allowed rooms', { epoch: route.epoch, room: route.room, url: route.url, reason: refusal });
          return;
        }
        if (meta.reset) this.log.warn('query route key was reset (re-created or restored); following it', { epoch: route.epoch, previousEpoch: meta.previousEpoch });
        this.current = route;
        this.log.info('query route', { epoch: route.epoch, room: route.room, url: route.url });
        this.opts.onRoute?.(route);
        for (const w of this.waiters.splice(0)) w();
      },
      (err) => this.log.warn('query route watch error; re-reading the route and watching again', { error: err.message }),
    );
    if (!this.current) await this.nextRoute(0, this.opts.flipWaitMs ?? 5000);
    if (!this.current) throw new Error(`no query route for pipeline ${this.opts.pipeline} in etcd`);
  }

  /** The endpoint queries go to now. */
  get route(): QueryRoute | undefined {
    return this.current;
  }

  private nextRoute(afterEpoch: number, waitMs: number): Promise<QueryRoute | undefined> {
    return new Promise((resolve) => {
      if (this.current && this.current.epoch > afterEpoch) return resolve(this.current);
      const timer = setTimeout(() => resolve(undefined), waitMs);
      this.waiters.push(() => {
        if (this.current && this.current.epoch > afterEpoch) {
          clearTimeout(timer);
          resolve(this.current);
        }
      });
    });
  }

  private async send(route: QueryRoute, sql: string): Promise<string> {
    const res = await olapRequest(`${route.url}/`, accessFor(this.opts.olapAccess, route.url), { method: 'POST', body: sql, timeoutMs: this.opts.timeoutMs ?? 5000 });
    if (res.status !== 200) throw new QueryFailedError(`HTTP ${res.status}: ${res.text.slice(0, 200)}`, route.url, route.epoch);
    return res.text;
  }

  /**
   * Runs `sql` on the active chain's OLAP and returns the response body. An idempotent query
   * (the default) that fails is retried once, on a newer route if one arrives within flipWaitMs.
   */
  async query(sql: string, opts: { idempotent?: boolean } = {}): Promise<string> {
    const route = this.current;
    if (!route) throw new Error('query router not started');
    try {
      return await this.send(route, sql);
    } catch (err) {
      if (opts.idempotent === false) throw err;
      const next = await this.nextRoute(route.epoch, this.opts.flipWaitMs ?? 5000);
      if (!next) throw err;
      this.log.info('query retried on the new route', { from: route.url, to: next.url, epoch: next.epoch });
      return this.send(next, sql);
    }
  }

  async close(): Promise<void> {
    await this.stopWatch?.().catch(() => undefined);
    this.etcd?.close();
  }
}

export function createQueryRouter(opts: QueryRouterOptions): QueryRouter {
  return new QueryRouter(opts);
}
