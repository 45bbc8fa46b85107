import kafkajs from 'kafkajs';
import type { Kafka as KafkaClient, KafkaConfig, logCreator } from 'kafkajs';
import type { Logger } from '../../ports/logger.js';
import type { KafkaAccess } from '../../ports/kafka-access.js';

// kafkajs is CommonJS: only a few names are real ESM exports, so take everything from the default.
const { Kafka, logLevel } = kafkajs;
export { kafkajs };
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
  /** TLS and SASL for these brokers (none: plaintext, no authentication). */
  readonly access?: KafkaAccess | undefined;
}

/** kafkajs's ssl and sasl settings for an access. */
export function kafkaSecurity(access: KafkaAccess | undefined): Pick<KafkaConfig, 'ssl' | 'sasl'> {
  if (!access) return {};
  const tls = access.tls;
  return {
    ...(tls && { ssl: tls.ca || tls.cert || tls.key ? { ...(tls.ca && { ca: tls.ca }), ...(tls.cert && { cert: tls.cert }), ...(tls.key && { key: tls.key }) } : true }),
    ...(access.sasl && {
      sasl:
        access.sasl.mechanism === 'plain'
          ? { mechanism: 'plain' as const, username: access.sasl.username, password: access.sasl.password }
          : { mechanism: 'scram-sha-512' as const, username: access.sasl.username, password: access.sasl.password },
    }),
  };
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
  };
  return new Kafka(config);
}
