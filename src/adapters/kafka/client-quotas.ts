// ClientQuotas over the Kafka wire protocol, on a plain node:net socket to one of a room's
// brokers. kafkajs has neither AlterClientQuotas nor DescribeClientQuotas nor a way to send a raw
// request, and we want no JVM (kafka-configs.sh) in the controller; the two requests are small, so
// we encode them here (ADR 0011). Both are sent at version 1 (flexible: compact strings, tagged
// fields), after an ApiVersions check that turns an old broker into a clear error. Any broker will
// do: in KRaft mode a broker forwards AlterClientQuotas to the active controller, and answers
// DescribeClientQuotas from its copy of the cluster metadata.

import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { QuotaBrokerError, QuotaTimeoutError, type ClientQuotas } from '../../ports/client-quotas.js';
import type { KafkaAccess } from '../../ports/kafka-access.js';
import { ScramClient } from './scram.js';
import { Reader, Writer } from './wire.js';

const API_VERSIONS = 18;
const SASL_HANDSHAKE = 17;
const SASL_AUTHENTICATE = 36;
const DESCRIBE_CLIENT_QUOTAS = 48;
const ALTER_CLIENT_QUOTAS = 49;
const QUOTA_API_VERSION = 1;
const CONSUMER_BYTE_RATE = 'consumer_byte_rate';
/** A frame larger than this is not a quota answer: we are talking to something that is not Kafka. */
const MAX_FRAME_BYTES = 16 * 1024 * 1024;

/** One socket: length-prefixed frames, answers matched to requests by correlation id. */
class BrokerConnection {
  private buffered: Buffer = Buffer.alloc(0);
  private readonly pending = new Map<number, { resolve: (frame: Buffer) => void; reject: (err: Error) => void }>();
  private nextCorrelationId = 1;
  private failure: Error | undefined;

  private constructor(
    private readonly socket: Socket,
    readonly broker: string,
    private readonly clientId: string,
  ) {
    socket.on('data', (chunk) => this.onData(chunk));
    socket.on('error', (err) => this.destroy(new Error(`broker ${broker}: ${err.message}`)));
    socket.on('close', () => this.destroy(new Error(`broker ${broker} closed the connection`)));
  }

  /**
   * Connects within `ms` (TLS when the access says so); a broker that neither accepts nor refuses
   * is given up on.
   */
  static open(broker: string, clientId: string, ms: number, access?: KafkaAccess): Promise<BrokerConnection> {
    const sep = broker.lastIndexOf(':');
    const host = broker.slice(0, sep);
    const port = Number(broker.slice(sep + 1));
    const tls = access?.tls;
    const socket: Socket = tls
      ? tlsConnect({ host, port, ...(tls.ca && { ca: tls.ca }), ...(tls.cert && { cert: tls.cert }), ...(tls.key && { key: tls.key }), ...(!/^[\d.]+$|:/.test(host) && { servername: host }) })
      : connect({ host, port });
    socket.setNoDelay(true);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`broker ${broker}: no connection within ${ms} ms`));
      }, ms);
      socket.once(tls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new BrokerConnection(socket, broker, clientId));
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`broker ${broker}: ${err.message}`));
      });
    });
  }

  /** When the broker ends this connection's SASL session (connections.max.reauth.ms), if it does. */
  sessionEndsAt: number | undefined;

  /** Not failed, and not within a second of its SASL session's end (the broker would close it under the next request). */
  get usable(): boolean {
    return this.failure === undefined && (this.sessionEndsAt === undefined || Date.now() < this.sessionEndsAt - 1000);
  }

  /**
   * Sends one request and resolves with a reader positioned after the response header. A flexible
   * request uses request header v2 and gets response header v1 (both end with tagged fields).
   */
  request(apiKey: number, apiVersion: number, flexible: boolean, body: Buffer): Promise<Reader> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextCorrelationId;
    this.nextCorrelationId = id === 0x7fffffff ? 1 : id + 1;
    const header = new Writer().int16(apiKey).int16(apiVersion).int32(id).string16(this.clientId);
    if (flexible) header.noTags();
    const payload = Buffer.concat([header.bytes(), body]);
    const frame = Buffer.concat([new Writer().int32(payload.length).bytes(), payload]);
    return new Promise<Buffer>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.socket.write(frame);
    }).then((answer) => {
      const r = new Reader(answer);
      r.int32(); // the correlation id, already matched
      if (flexible) r.skipTags();
      return r;
    });
  }

  private onData(chunk: Buffer): void {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    // A frame may arrive in pieces, or several in one chunk: take whole frames only.
    while (this.buffered.length >= 4) {
      const size = this.buffered.readInt32BE(0);
      if (size < 4 || size > MAX_FRAME_BYTES) {
        this.destroy(new Error(`broker ${this.broker}: bad frame length ${size}`));
        return;
      }
      if (this.buffered.length < 4 + size) return;
      const answer = this.buffered.subarray(4, 4 + size);
      this.buffered = this.buffered.subarray(4 + size);
      const id = answer.readInt32BE(0);
      const waiter = this.pending.get(id);
      // No waiter: the answer to a request we already gave up on.
      if (waiter) {
        this.pending.delete(id);
        waiter.resolve(answer);
      }
    }
  }

  destroy(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.socket.destroy();
    for (const w of this.pending.values()) w.reject(err);
    this.pending.clear();
  }
}

export interface KafkaClientQuotasOptions {
  /** The room's brokers as host:port; any one of them serves both requests. */
  readonly brokers: readonly string[];
  /** Every call (connect included) rejects after this long. Default 3000 ms. */
  readonly timeoutMs?: number;
  /** Our client id on the wire (the broker logs it). Default `switchyard-quotas`. */
  readonly clientId?: string;
  /** TLS and SASL for these brokers, resolved on each new connection (a rotated file is re-read). */
  readonly access?: () => KafkaAccess | undefined;
}

/** ClientQuotas for one room's brokers: connects lazily, and reconnects after any failure. */
export class KafkaClientQuotas implements ClientQuotas {
  private readonly brokers: readonly string[];
  private readonly timeoutMs: number;
  private readonly clientId: string;
  private readonly access: () => KafkaAccess | undefined;
  private conn: Promise<BrokerConnection> | undefined;
  /** Where the next connect starts: the last good broker, or the one after a broker that failed. */
  private nextBroker = 0;

  constructor(opts: KafkaClientQuotasOptions) {
    if (opts.brokers.length === 0) throw new Error('KafkaClientQuotas needs at least one broker');
    for (const b of opts.brokers) {
      if (!/^.+:\d+$/.test(b)) throw new Error(`broker '${b}' is not host:port`);
    }
    this.brokers = opts.brokers;
    this.timeoutMs = opts.timeoutMs ?? 3000;
    this.clientId = opts.clientId ?? 'switchyard-quotas';
    this.access = opts.access ?? (() => undefined);
  }

  async consumerByteRate(clientId: string): Promise<number | undefined> {
    const body = new Writer()
      // One component, exact match on the client id; strict: not its (user, client-id) quotas.
      .compactArray([clientId], (w, name) => w.compactString('client-id').int8(0).compactString(name).noTags())
      .bool(true)
      .noTags()
      .bytes();
    return this.call('DescribeClientQuotas', async (c) => {
      const r = await c.request(DESCRIBE_CLIENT_QUOTAS, QUOTA_API_VERSION, true, body);
      r.int32(); // throttle time
      const code = r.int16();
      const message = r.compactString();
      if (code !== 0) throw new QuotaBrokerError('DescribeClientQuotas', code, message ?? undefined);
      let rate: number | undefined;
      for (let entries = r.compactArrayLength(); entries > 0; entries--) {
        let exact = true;
        for (let n = r.compactArrayLength(); n > 0; n--) {
          const type = r.compactString();
          const name = r.compactString();
          r.skipTags();
          exact &&= type === 'client-id' && name === clientId;
        }
        for (let n = r.compactArrayLength(); n > 0; n--) {
          const key = r.compactString();
          const value = r.float64();
          r.skipTags();
          if (exact && key === CONSUMER_BYTE_RATE) rate = value;
        }
        r.skipTags();
      }
      return rate;
    });
  }

  async setConsumerByteRate(clientId: string, bytesPerSecond: number | undefined): Promise<void> {
    if (bytesPerSecond !== undefined && !(Number.isFinite(bytesPerSecond) && bytesPerSecond > 0)) {
      throw new RangeError(`consumer_byte_rate must be a positive number of bytes/s, got ${bytesPerSecond}`);
    }
    const body = new Writer()
      .compactArray([clientId], (w, name) => {
        w.compactArray([name], (e, n) => e.compactString('client-id').compactString(n).noTags());
        w.compactArray([bytesPerSecond], (o, v) => o.compactString(CONSUMER_BYTE_RATE).float64(v ?? 0).bool(v === undefined).noTags());
        w.noTags();
      })
      .bool(false) // validate only
      .noTags()
      .bytes();
    await this.call('AlterClientQuotas', async (c) => {
      const r = await c.request(ALTER_CLIENT_QUOTAS, QUOTA_API_VERSION, true, body);
      r.int32(); // throttle time
      for (let entries = r.compactArrayLength(); entries > 0; entries--) {
        const code = r.int16();
        const message = r.compactString();
        if (code !== 0) throw new QuotaBrokerError('AlterClientQuotas', code, message ?? undefined);
        for (let n = r.compactArrayLength(); n > 0; n--) {
          r.compactString();
          r.compactString();
          r.skipTags();
        }
        r.skipTags();
      }
    });
  }

  async close(): Promise<void> {
    this.drop(new Error('closed'));
  }

  /** Runs one request on a (possibly new) connection, all of it within the timeout. */
  private async call<T>(what: string, run: (c: BrokerConnection) => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.timeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new QuotaTimeoutError(what, this.timeoutMs, `brokers ${this.brokers.join(',')}`)), this.timeoutMs);
    });
    try {
      return await Promise.race([this.connection(deadline).then(run), timeout]);
    } catch (err) {
      // A broker's error code says nothing about the connection; anything else does: start over,
      // on the next broker.
      if (err instanceof QuotaBrokerError) throw err;
      this.drop(err as Error);
      this.nextBroker = (this.nextBroker + 1) % this.brokers.length;
      // Out of time is a timeout, whichever timer noticed first.
      if (!(err instanceof QuotaTimeoutError) && Date.now() >= deadline) throw new QuotaTimeoutError(what, this.timeoutMs, (err as Error).message);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  private connection(deadline: number): Promise<BrokerConnection> {
    if (!this.conn) {
      const attempt = this.connectAny(deadline);
      this.conn = attempt;
      attempt.then(
        (c) => {
          if (this.conn !== attempt) c.destroy(new Error('superseded'));
        },
        () => {
          if (this.conn === attempt) this.conn = undefined;
        },
      );
      return attempt;
    }
    return this.conn.then((c) => {
      if (c.usable) return c;
      c.destroy(new Error(`broker ${c.broker}: SASL session ending; reconnecting`));
      this.conn = undefined;
      return this.connection(deadline);
    });
  }

  /** Tries each broker in turn, from the last good one, until one is usable or time is up. */
  private async connectAny(deadline: number): Promise<BrokerConnection> {
    const errors: string[] = [];
    for (let i = 0; i < this.brokers.length && Date.now() < deadline; i++) {
      const at = (this.nextBroker + i) % this.brokers.length;
      const broker = this.brokers[at]!;
      try {
        const access = this.access();
        const c = await BrokerConnection.open(broker, this.clientId, Math.max(1, deadline - Date.now()), access);
        // A broker that accepts and never answers must not keep this socket open past the call.
        const timer = setTimeout(() => c.destroy(new Error(`broker ${broker}: no ApiVersions answer in time`)), Math.max(1, deadline - Date.now()));
        try {
          await checkVersions(c);
          if (access?.sasl) await authenticate(c, access.sasl);
        } catch (err) {
          c.destroy(err as Error);
          throw err;
        } finally {
          clearTimeout(timer);
        }
        this.nextBroker = at;
        return c;
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
    throw new Error(`no broker usable for client quotas: ${errors.join('; ') || 'out of time'}`);
  }

  private drop(err: Error): void {
    const c = this.conn;
    this.conn = undefined;
    c?.then((x) => x.destroy(err), () => undefined);
  }
}

/** ApiVersions v0 (answered by every broker): fails clearly if the broker lacks our quota versions. */
async function checkVersions(c: BrokerConnection): Promise<void> {
  const r = await c.request(API_VERSIONS, 0, false, Buffer.alloc(0));
  const code = r.int16();
  const max = new Map<number, number>();
  for (let n = r.int32(); n > 0; n--) {
    const key = r.int16();
    r.int16(); // min version
    max.set(key, r.int16());
  }
  if (code !== 0) throw new Error(`broker ${c.broker}: ApiVersions failed with code ${code}`);
  for (const [key, name] of [[DESCRIBE_CLIENT_QUOTAS, 'DescribeClientQuotas'], [ALTER_CLIENT_QUOTAS, 'AlterClientQuotas']] as const) {
    const has = max.get(key);
    if (has === undefined || has < QUOTA_API_VERSION) {
      throw new Error(`broker ${c.broker} does not support ${name} v${QUOTA_API_VERSION} (its newest: ${has === undefined ? 'none' : `v${has}`})); client quotas need a newer Kafka`);
    }
  }
}

/**
 * SASL on a fresh connection (KIP-152): SaslHandshake v1 names the mechanism, then SaslAuthenticate
 * v1 frames carry PLAIN's one message or SCRAM's two rounds. An error never carries the password.
 */
async function authenticate(c: BrokerConnection, sasl: NonNullable<KafkaAccess['sasl']>): Promise<void> {
  const mechanism = sasl.mechanism.toUpperCase();
  const h = await c.request(SASL_HANDSHAKE, 1, false, new Writer().string16(mechanism).bytes());
  const code = h.int16();
  const offered: string[] = [];
  for (let n = h.int32(); n > 0; n--) offered.push(h.string16() ?? '');
  if (code !== 0) throw new Error(`broker ${c.broker}: SASL mechanism ${mechanism} not enabled (the broker offers ${offered.join(', ') || 'none'})`);
  const round = async (message: string): Promise<string> => {
    const r = await c.request(SASL_AUTHENTICATE, 1, false, new Writer().bytes32(Buffer.from(message, 'utf8')).bytes());
    const err = r.int16();
    const text = r.string16();
    const answer = r.bytes32().toString('utf8');
    if (err !== 0) throw new Error(`broker ${c.broker}: SASL ${mechanism} authentication of ${sasl.username} failed${text ? `: ${text}` : ''}`);
    // v1 says how long the session lasts (0: for as long as the connection): reconnect before then.
    const lifetimeMs = r.int64();
    if (lifetimeMs > 0) c.sessionEndsAt = Date.now() + lifetimeMs;
    return answer;
  };
  if (sasl.mechanism === 'plain') {
    await round(`\u0000${sasl.username}\u0000${sasl.password}`);
    return;
  }
  const scram = new ScramClient('sha512', sasl.username, sasl.password);
  const serverFirst = await round(scram.first());
  const serverFinal = await round(scram.final(serverFirst));
  scram.verify(serverFinal);
}
