import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { KafkaClientQuotas } from '../../src/adapters/kafka/client-quotas.js';
import { QuotaBrokerError, QuotaTimeoutError } from '../../src/ports/client-quotas.js';
import { LOCAL, randomId, waitFor } from '../../bench/support/local-stack.js';
import { brokerQuotaPeriodMs, measureQuotaError } from '../../bench/scenarios/quota.js';
import { measureCorrectedQuota } from '../../bench/scenarios/quota-corrected.js';

const brokers = LOCAL.rooms['room-a'].brokers;

describe('KafkaClientQuotas on real Kafka', () => {
  const quotas = new KafkaClientQuotas({ brokers, timeoutMs: 5000 });
  afterAll(() => quotas.close());

  it('sets, reads back, changes and removes a client id\'s consumer_byte_rate', async () => {
    const clientId = `quota-rw-${randomId()}`;
    const other = `${clientId}-other`;
    // A broker answers reads from its copy of the cluster metadata, which follows the controller
    // within milliseconds: a read right after a set may still show the old value.
    const readsBack = (id: string, value: number | undefined) =>
      waitFor(`${id} to read ${value}`, 5000, async () => ((await quotas.consumerByteRate(id)) === value ? true : undefined));
    expect(await quotas.consumerByteRate(clientId)).toBeUndefined();

    await quotas.setConsumerByteRate(clientId, 250_000);
    await quotas.setConsumerByteRate(other, 7_000);
    await readsBack(clientId, 250_000);
    await readsBack(other, 7_000);

    await quotas.setConsumerByteRate(clientId, 1_048_576);
    await readsBack(clientId, 1_048_576);
    // Setting the same value again is harmless.
    await quotas.setConsumerByteRate(clientId, 1_048_576);
    expect(await quotas.consumerByteRate(clientId)).toBe(1_048_576);

    await quotas.setConsumerByteRate(clientId, undefined);
    await readsBack(clientId, undefined);
    // The other client id's quota is its own.
    expect(await quotas.consumerByteRate(other)).toBe(7_000);
    await quotas.setConsumerByteRate(other, undefined);
    await readsBack(other, undefined);
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

  it('a plain kafkajs consumer flooding a quota\'d client id reads at the quota: never more than 5% above it, and at most 10% below, over every 10 s window (ADR 0011)', async () => {
    // The local brokers measure quotas over 2 x 1 s (scripts/services.sh): the consumer is then
    // throttled fetch by fetch instead of in one burst per 11 s window (Kafka's default). Fetches of
    // ~10 kB (one producer batch): a fetch of kafkajs's default 1 MiB is 10 s of this quota at once.
    // What holds (ADR 0011): slightly under the quota, by the gap between a throttle's end and the
    // next fetch being counted; the 5% both ways the issue asks for does not.
    const periodMs = await brokerQuotaPeriodMs();
    expect(periodMs).toBe(2000);
    const r = await measureQuotaError({ bytesPerSecond: 100_000, recordBytes: 1000, fetchBytes: 10_000, windowMs: 10_000, warmupMs: 6000, durationMs: 30_000 });
    console.log(`quota ${r.quota_bytes_per_s} B/s, ${r.mean_record_bytes.toFixed(1)} B/record; every 10 s window (1 s apart): ${r.windows.map((w) => w.toFixed(1)).join(' ')} % (worst ${r.quota_error_pct.toFixed(1)} %)`);
    expect(r.windows.length).toBeGreaterThanOrEqual(20);
    expect(Math.max(...r.windows)).toBeLessThanOrEqual(5);
    expect(Math.min(...r.windows)).toBeGreaterThanOrEqual(-10);
    // It read all along, and the topic held far more than the quota let through.
    expect(r.records_written).toBeGreaterThan(2.5 * r.records_read);
  });

  it('kept and corrected by the leader, a broker quota holds a plain consumer within 5% of its cap over every 10 s window', async () => {
    const r = await measureCorrectedQuota({ cap: 100, settleMs: 60_000, durationMs: 30_000 });
    console.log(`corrected quota: cap ${r.cap}/s, corrections ${r.corrections.map((c) => c.toFixed(3)).join(' -> ') || 'none'}; every 10 s window: ${r.windows.map((w) => w.toFixed(1)).join(' ')} % (worst ${r.quota_error_pct.toFixed(1)} %); records per second: ${r.per_second.join(' ')}`);
    expect(r.windows.length).toBeGreaterThanOrEqual(20);
    expect(r.quota_error_pct).toBeLessThanOrEqual(5);
  }, 180_000);
});
