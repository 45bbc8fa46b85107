import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { KafkaClientQuotas } from '../../src/adapters/kafka/client-quotas.js';
import { QuotaBrokerError, QuotaTimeoutError } from '../../src/ports/client-quotas.js';
import { LOCAL, randomId, waitFor } from '../../bench/support/local-stack.js';
import { measureQuotaError } from '../../bench/scenarios/quota.js';

const brokers = LOCAL.rooms['room-a'].brokers;

describe('KafkaClientQuotas on real Kafka', () => {
  const quotas = new KafkaClientQuotas({ brokers, timeoutMs: 5000 });
  afterAll(() => quotas.close());

  it('sets, reads back, changes and removes a client id\'s consumer_byte_rate', async () => {
    const clientId = `quota-rw-${randomId()}`;
    const other = `${clientId}-other`;
    expect(await quotas.consumerByteRate(clientId)).toBeUndefined();

    await quotas.setConsumerByteRate(clientId, 250_000);
    await quotas.setConsumerByteRate(other, 7_000);
    // A broker answers reads from its copy of the metadata, which follows the controller closely.
    await waitFor('the first value', 5000, async () => ((await quotas.consumerByteRate(clientId)) === 250_000 ? true : undefined));
    expect(await quotas.consumerByteRate(other)).toBe(7_000);

    await quotas.setConsumerByteRate(clientId, 1_048_576);
    await waitFor('the changed value', 5000, async () => ((await quotas.consumerByteRate(clientId)) === 1_048_576 ? true : undefined));
    // Setting the same value again is harmless.
    await quotas.setConsumerByteRate(clientId, 1_048_576);

    await quotas.setConsumerByteRate(clientId, undefined);
    await waitFor('the value to be gone', 5000, async () => ((await quotas.consumerByteRate(clientId)) === undefined ? true : undefined));
    // The other client id's quota is its own.
    expect(await quotas.consumerByteRate(other)).toBe(7_000);
    await quotas.setConsumerByteRate(other, undefined);
    await waitFor('the other value to be gone', 5000, async () => ((await quotas.consumerByteRate(other)) === undefined ? true : undefined));
  });

  it('names the broker\'s error code when the broker refuses a value', async () => {
    const clientId = `quota-bad-${randomId()}`;
    const err = await quotas.setConsumerByteRate(clientId, 1.5).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(QuotaBrokerError);
    expect((err as QuotaBrokerError).code).toBe(42);
    expect((err as QuotaBrokerError).message).toMatch(/^AlterClientQuotas failed: INVALID_REQUEST \(42\)/);
    // A broker's refusal leaves the connection usable, and nothing was set.
    expect(await quotas.consumerByteRate(clientId)).toBeUndefined();
    await expect(quotas.setConsumerByteRate(clientId, 0)).rejects.toThrow(RangeError);
  });

  it('a broker that accepts but never answers fails each call within the timeout; a refused one fails at once; both recover', async () => {
    const sockets: Socket[] = [];
    const silent: Server = createServer((s) => sockets.push(s)); // reads nothing, answers nothing
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const silentAt = `127.0.0.1:${(silent.address() as AddressInfo).port}`;
    try {
      const mute = new KafkaClientQuotas({ brokers: [silentAt], timeoutMs: 800 });
      for (const call of [() => mute.consumerByteRate('x'), () => mute.setConsumerByteRate('x', 1000)]) {
        const started = Date.now();
        await expect(call()).rejects.toThrow(QuotaTimeoutError);
        expect(Date.now() - started).toBeLessThan(1500);
      }
      await mute.close();

      const refused = new KafkaClientQuotas({ brokers: ['127.0.0.1:9'], timeoutMs: 800 });
      const started = Date.now();
      await expect(refused.consumerByteRate('x')).rejects.toThrow(/no broker usable for client quotas: broker 127\.0\.0\.1:9/);
      expect(Date.now() - started).toBeLessThan(800);
      await refused.close();

      // With a dead broker listed first, the next call goes to the live one.
      const mixed = new KafkaClientQuotas({ brokers: [silentAt, ...brokers], timeoutMs: 800 });
      await expect(mixed.consumerByteRate('x')).rejects.toThrow(QuotaTimeoutError);
      expect(await mixed.consumerByteRate(`quota-none-${randomId()}`)).toBeUndefined();
      await mixed.close();
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });
});
