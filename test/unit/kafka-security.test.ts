import { describe, expect, it } from 'vitest';
import { kafkaSecurity } from '../../src/adapters/kafka/kafka-client.js';
import type { KafkaAccess } from '../../src/ports/kafka-access.js';

describe('kafkajs security settings from an access', () => {
  it('reads the password and certificates again on each use (kafkajs reads them per connection), so a rotation reaches a long-lived client', () => {
    let access: KafkaAccess = { tls: { ca: Buffer.from('CA1') }, sasl: { mechanism: 'scram-sha-512', username: 'sy', password: 'one' } };
    const s = kafkaSecurity(() => access);
    const sasl = s.sasl as { mechanism: string; username: string; password: string };
    const ssl = s.ssl as { ca: Buffer };
    expect([sasl.mechanism, sasl.username, sasl.password, String(ssl.ca)]).toEqual(['scram-sha-512', 'sy', 'one', 'CA1']);
    access = { tls: { ca: Buffer.from('CA2') }, sasl: { mechanism: 'scram-sha-512', username: 'sy', password: 'two' } };
    expect([sasl.password, String(ssl.ca)]).toEqual(['two', 'CA2']);
    // tls.connect is given Object.assign({ host, port }, ssl): the copy holds the value of that moment.
    expect(String(Object.assign({}, ssl).ca)).toBe('CA2');
  });

  it('TLS without files is the system CAs; no access is plaintext; SASL without TLS is refused', () => {
    expect(kafkaSecurity({ tls: {} })).toEqual({ ssl: true });
    expect(kafkaSecurity(undefined)).toEqual({});
    expect(() => kafkaSecurity({ sasl: { mechanism: 'plain', username: 'u', password: 'p' } })).toThrow(/refusing SASL without TLS/);
  });
});
