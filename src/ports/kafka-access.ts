/**
 * How to reach a room's Kafka securely: TLS (a CA, and a client certificate for brokers that ask
 * for one) and SASL (SCRAM-SHA-512 or PLAIN). Read from where the topology names it (files, a
 * variable), held in memory, never printed. Looked up by broker address, so a route that names
 * other brokers gets no credentials.
 */
export interface KafkaAccess {
  /** Present: connect with TLS. Each field is PEM; none set means the system's CAs. */
  readonly tls?: { readonly ca?: Buffer; readonly cert?: Buffer; readonly key?: Buffer };
  readonly sasl?: { readonly mechanism: KafkaSaslMechanism; readonly username: string; readonly password: string };
}

export const KAFKA_SASL_MECHANISMS = ['scram-sha-512', 'plain'] as const;
export type KafkaSaslMechanism = (typeof KAFKA_SASL_MECHANISMS)[number];

/** A room's access as it is now: a function re-reads rotated files on each new connection. */
export type KafkaAccessSource = KafkaAccess | (() => KafkaAccess);

/** Access by broker address (host:port). */
export type KafkaAccessBook = ReadonlyMap<string, KafkaAccessSource> | Readonly<Record<string, KafkaAccessSource>>;

/**
 * The access for a set of brokers, resolved now: that of the first broker, if every broker of the
 * set has the same source. Brokers the book does not name, or a mix, get none (no credentials
 * are sent to an address the configuration did not give them for).
 */
export function kafkaAccessFor(book: KafkaAccessBook | undefined, brokers: readonly string[]): KafkaAccess | undefined {
  if (!book || brokers.length === 0) return undefined;
  const get = (b: string): KafkaAccessSource | undefined => (book instanceof Map ? book.get(b) : (Object.hasOwn(book, b) ? (book as Readonly<Record<string, KafkaAccessSource>>)[b] : undefined));
  const first = get(brokers[0]!);
  if (first === undefined || brokers.some((b) => get(b) !== first)) return undefined;
  return typeof first === 'function' ? first() : first;
}
