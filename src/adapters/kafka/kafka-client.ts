// First: kafkajs' idle wait is replaced before kafkajs loads (idle-sleep.ts).
import { checkIdleWake, idleWakeInstalled, wakeIdleFetches } from './idle-sleep.js';
import kafkajs from 'kafkajs';
import type { ISocketFactory, Kafka as KafkaClient, KafkaConfig, logCreator, SASLOptions } from 'kafkajs';
import { connect as netConnect, isIP } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Logger } from '../../ports/logger.js';
import type { KafkaAccess } from '../../ports/kafka-access.js';

// kafkajs is CommonJS: only a few names are real ESM exports, so take everything from the default.
const { Kafka, logLevel } = kafkajs;
checkIdleWake();
export { kafkajs, idleWakeInstalled, wakeIdleFetches };
export type { KafkaClient };

function bridge(log: Logger): logCreator {
  return () => ({ level, log: entry }) => {
    const { message, ...fields } = entry;
    const f = { ...fields, lib: 'kafkajs' };
    if (level <= logLevel.ERROR) log.warn(message, f);
    else if (level === logLevel.WARN) log.warn(message, f);
    else log.debug(message, f);
  };
}

export interface KafkaClientOptions {
  readonly clientId: string;
  readonly brokers: readonly string[];
  readonly log: Logger;
  /** Bounds connect and each request; also used as the first retry delay base. */
  readonly timeoutMs?: number;
  /** kafkajs retries per request; 0 for probes, which must answer within their own timeout. */
  readonly retries?: number;
  /** WARN keeps kafkajs quiet about every refused connection of a dead room. */
  readonly quiet?: boolean;
  /**
   * TLS and SASL for these brokers (none: plaintext, no authentication). A function is called
   * again on each new connection, so a client that lives long uses a rotated password or
   * certificate from its next connection on.
   */
  readonly access?: KafkaAccess | (() => KafkaAccess | undefined) | undefined;
  /**
   * Called when a connection to a broker fails: refused, reset, timed out, or closed by the
   * broker. The SDK turns it into a push signal for the observers (ADR 0018).
   */
  readonly onConnectionTrouble?: (broker: string, why: string) => void;
}

const BROKER_GONE = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ECONNABORTED']);

/**
 * kafkajs's own socket factory, plus a look at how each connection ends: an error, or the
 * broker closing it (an end we did not ask for), is reported to `onTrouble`.
 */
function watchedSockets(onTrouble: (broker: string, why: string) => void): ISocketFactory {
  return ({ host, port, ssl, onConnect }) => {
    const socket = ssl ? tlsConnect({ host, port, ...(isIP(host) ? {} : { servername: host }), ...ssl }, onConnect) : netConnect({ host, port }, onConnect);
    socket.setKeepAlive(true, 60_000);
    const broker = `${host}:${port}`;
    let told = false;
    const tell = (why: string) => {
      if (told) return;
      told = true;
      try {
        onTrouble(broker, why);
      } catch {
        // a listener's failure must not break the connection's own handling
      }
    };
    // Only what says the broker or the path to it is gone; a TLS or authentication error is this
    // client's own trouble, and an error after our own end() is no news.
    socket.once('error', (e: Error & { code?: string }) => {
      if (!socket.writableEnded && e.code !== undefined && BROKER_GONE.has(e.code)) tell(e.code);
    });
    // An end after our own end() (kafkajs disconnecting) is the broker's polite answer, not trouble.
    socket.once('end', () => {
      if (!socket.writableEnded) tell('closed by the broker');
    });
    return socket;
  };
}

/**
 * kafkajs's ssl and sasl settings for an access. Whether TLS and SASL are on is decided now; the
 * values are getters (kafkajs reads them on each connection and each authentication). SASL
 * without TLS is refused: a PLAIN password would cross the network in clear.
 */
export function kafkaSecurity(access: KafkaClientOptions['access']): Pick<KafkaConfig, 'ssl' | 'sasl'> {
  const now = typeof access === 'function' ? access : () => access;
  const first = now();
  if (!first) return {};
  if (first.sasl && !first.tls) throw new Error('refusing SASL without TLS: the password (or the SCRAM exchange) would cross the network in clear');
  const out: Pick<KafkaConfig, 'ssl' | 'sasl'> = {};
  const tls = first.tls;
  if (tls) {
    if (!tls.ca && !tls.cert && !tls.key) out.ssl = true;
    else {
      const ssl = {};
      for (const key of ['ca', 'cert', 'key'] as const) {
        if (tls[key]) Object.defineProperty(ssl, key, { enumerable: true, get: () => now()?.tls?.[key] });
      }
      out.ssl = ssl;
    }
  }
  if (first.sasl) {
    const { mechanism, username } = first.sasl;
    const sasl = { mechanism, username };
    Object.defineProperty(sasl, 'password', { enumerable: true, get: () => now()?.sasl?.password ?? '' });
    out.sasl = sasl as SASLOptions;
  }
  return out;
}

/** The one place a kafkajs client is built. */
export function createKafka(opts: KafkaClientOptions): KafkaClient {
  const timeoutMs = opts.timeoutMs ?? 3000;
  const config: KafkaConfig = {
    clientId: opts.clientId,
    brokers: [...opts.brokers],
    connectionTimeout: timeoutMs,
    requestTimeout: Math.max(timeoutMs, 1000),
    enforceRequestTimeout: true,
    retry: { retries: opts.retries ?? 5, initialRetryTime: 100, maxRetryTime: 1000 },
    logLevel: opts.quiet ? logLevel.NOTHING : logLevel.WARN,
    logCreator: bridge(opts.log),
    ...kafkaSecurity(opts.access),
    ...(opts.onConnectionTrouble && { socketFactory: watchedSockets(opts.onConnectionTrouble) }),
  };
  return new Kafka(config);
}
