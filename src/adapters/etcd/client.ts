import { Etcd3 } from 'etcd3';
import { ExponentialBackoff } from 'cockatiel';
// Installs the guard over etcd3's watch manager before any client exists.
import './watch-guard.js';

export interface EtcdClientOptions {
  readonly endpoints: readonly string[];
  /** TLS: the CA that signed etcd's certificate (default: the system's) and a client certificate. */
  readonly tls?: { readonly ca?: Buffer | string; readonly cert?: Buffer | string; readonly key?: Buffer | string };
  /** etcd auth: a user and password (the client fetches a token, and again when it expires). */
  readonly auth?: { readonly username: string; readonly password: string };
  /** Deadline for every unary call. Streams (watches, keep-alives) have none. */
  readonly callTimeoutMs?: number;
  readonly dialTimeoutMs?: number;
}

/**
 * How an SDK client reaches etcd: the endpoints and prefix, and where etcd asks for them TLS
 * (PEM strings or Buffers) and a user (give SDK clients a user that may read routes and write only
 * their own watermarks, acks and presence: docs/security.md).
 */
export interface SdkEtcdOptions {
  readonly endpoints: readonly string[];
  readonly prefix?: string;
  readonly tls?: EtcdClientOptions['tls'];
  readonly auth?: EtcdClientOptions['auth'];
}

/** The one place an etcd3 client is built, so that every caller gets the same deadlines. */
export function createEtcdClient(opts: EtcdClientOptions): Etcd3 {
  const callTimeoutMs = opts.callTimeoutMs ?? 2000;
  const plain = opts.endpoints.filter((e) => !e.startsWith('https://'));
  if (opts.auth && plain.length > 0) throw new Error(`refusing to send etcd credentials over plain connections (${plain.join(', ')}): use https:// endpoints`);
  const buf = (v: Buffer | string | undefined) => (v === undefined ? undefined : Buffer.isBuffer(v) ? v : Buffer.from(v));
  const tls = opts.tls;
  return new Etcd3({
    hosts: [...opts.endpoints],
    // No CA given: grpc's createSsl falls back to the system's roots (etcd3's type says Buffer).
    ...(tls && { credentials: { rootCertificate: buf(tls.ca) as Buffer, ...(tls.key && { privateKey: buf(tls.key) }), ...(tls.cert && { certChain: buf(tls.cert) }) } }),
    // The password is read whenever etcd3 fetches a token: a getter there (a rotated file) keeps working.
    ...(opts.auth && { auth: { username: opts.auth.username, get password() { return opts.auth!.password; } } }),
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
    signals: `${prefix}/signals/`,
    signal: (room: string, client: string) => `${prefix}/signals/${room}/${client}`,
  };
}
