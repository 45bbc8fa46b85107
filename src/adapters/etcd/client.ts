import { Etcd3 } from 'etcd3';
import { ExponentialBackoff } from 'cockatiel';

export interface EtcdClientOptions {
  readonly endpoints: readonly string[];
  /** Deadline for every unary call. Streams (watches, keep-alives) have none. */
  readonly callTimeoutMs?: number;
  readonly dialTimeoutMs?: number;
}

/** The one place an etcd3 client is built, so that every caller gets the same deadlines. */
export function createEtcdClient(opts: EtcdClientOptions): Etcd3 {
  const callTimeoutMs = opts.callTimeoutMs ?? 2000;
  return new Etcd3({
    hosts: [...opts.endpoints],
    dialTimeout: opts.dialTimeoutMs ?? 1500,
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
    // Watches (routes, for SDK clients) must come back within a second of etcd returning; the
    // default backoff grows to 30 s during a long outage.
    faultHandling: { watchBackoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 1000 }).next() },
  });
}

/** Keys under a prefix; the single place that spells out Switchyard's etcd layout. */
export function etcdKeys(prefix: string) {
  return {
    electionNamespace: `${prefix}/`,
    electionName: 'leader',
    routes: `${prefix}/routes/`,
    route: (pipeline: string) => `${prefix}/routes/${pipeline}`,
    watermarks: (group: string, topic: string) => `${prefix}/watermarks/${group}/${topic}/`,
    journals: `${prefix}/journal/`,
    journal: (pipeline: string) => `${prefix}/journal/${pipeline}`,
    history: (pipeline?: string) => (pipeline ? `${prefix}/history/${pipeline}/` : `${prefix}/history/`),
    acks: (pipeline: string) => `${prefix}/acks/${pipeline}/`,
    consumers: (pipeline: string) => `${prefix}/consumers/${pipeline}/`,
    epochs: (space: string, pipeline: string) => `${prefix}/epochs/${space}/${pipeline}`,
    observations: `${prefix}/observations/`,
    positions: `${prefix}/positions/`,
    savepoint: (job: string) => `${prefix}/savepoints/${job}`,
    backfills: `${prefix}/backfills/`,
    observation: (observer: string) => `${prefix}/observations/${observer}`,
  };
}
