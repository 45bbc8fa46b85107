import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KafkaHealthProbe } from '../../src/adapters/kafka/kafka-health-probe.js';
import { createKafka } from '../../src/adapters/kafka/kafka-client.js';
import { systemClock } from '../../src/adapters/system/system-clock.js';
import { silentLogger } from '../../src/ports/logger.js';
import { LOCAL, randomId } from '../../bench/support/local-stack.js';

const brokers = LOCAL.rooms['room-b'].brokers;
const topic = `probe-${randomId()}`;

function probe(opts: { brokers?: readonly string[]; topics?: string[]; timeoutMs?: number } = {}) {
  return new KafkaHealthProbe({
    room: 'room-b',
    brokers: opts.brokers ?? brokers,
    topics: opts.topics ?? [topic],
    observer: 'test',
    timeoutMs: opts.timeoutMs ?? 500,
    clock: systemClock,
    log: silentLogger,
  });
}

describe('Kafka room probe on a real broker', () => {
  beforeAll(async () => {
    const admin = createKafka({ clientId: 'probe-test', brokers, log: silentLogger }).admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 2, replicationFactor: 1 }], waitForLeaders: true });
    await admin.disconnect();
  });
  afterAll(async () => {
    const admin = createKafka({ clientId: 'probe-test', brokers, log: silentLogger }).admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  });

  it('says OK with the broker count, controller and partitions led', async () => {
    const p = probe();
    const o = await p.probe();
    await p.close();
    expect(o).toMatchObject({ room: 'room-b', component: 'kafka', observer: 'test', status: 'OK' });
    expect(o.reason).toContain('1 broker(s), controller 1, 2 partitions led');
    expect(o.latencyMs).toBeLessThan(500);
  });

  it('says DEGRADED, naming the topic, when a pipeline topic is missing', async () => {
    const p = probe({ topics: [topic, 'no-such-topic'] });
    const o = await p.probe();
    await p.close();
    expect(o.status).toBe('DEGRADED');
    expect(o.reason).toBe('topic(s) missing: no-such-topic');
  });

  it('says DOWN within its timeout when nothing listens, and opens its breaker after repeated failures', async () => {
    // Port 1 on loopback: connection refused at once.
    const p = probe({ brokers: ['127.0.0.1:1'], timeoutMs: 300 });
    const results = [];
    for (let i = 0; i < 5; i++) {
      const started = Date.now();
      const o = await p.probe();
      results.push({ o, ms: Date.now() - started });
    }
    await p.close();
    for (const { o, ms } of results) {
      expect(o.status).toBe('DOWN');
      expect(ms).toBeLessThan(300 + 200);
    }
    expect(results[0]!.o.reason).toMatch(/unreachable|no answer/);
    expect(results.some(({ o }) => o.reason === 'circuit open after repeated probe failures')).toBe(true);
  });
});
