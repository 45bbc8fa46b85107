import { describe, expect, it } from 'vitest';
import { KafkaGroupInspector } from '../../src/adapters/kafka/group-inspector.js';
import { createKafka } from '../../src/adapters/kafka/kafka-client.js';
import { silentLogger } from '../../src/ports/logger.js';
import { LOCAL, randomId, waitFor } from '../../bench/support/local-stack.js';
import { createTopicEverywhere } from '../support/sdk-stack.js';

describe('KafkaGroupInspector on real Kafka', () => {
  it('lists the members of a group in one room, none once they left, and fails fast on a dead room', async () => {
    const id = randomId();
    const topic = `inspect-${id}`;
    const group = `inspect-group-${id}`;
    await createTopicEverywhere(topic, 1);
    const inspector = new KafkaGroupInspector();
    const consumer = createKafka({ clientId: 'inspected-client', brokers: LOCAL.rooms['room-a'].brokers, log: silentLogger }).consumer({ groupId: group });
    await consumer.connect();
    await consumer.subscribe({ topic });
    await consumer.run({ eachMessage: async () => undefined });
    try {
      const members = await waitFor('the member to join', 15_000, async () => {
        const m = await inspector.members(LOCAL.rooms['room-a'].brokers, group, 3000);
        return m.length > 0 ? m : undefined;
      });
      expect(members).toHaveLength(1);
      expect(members[0]!.clientId).toBe('inspected-client');
      // The same group name in the other room is another group: nobody there.
      expect(await inspector.members(LOCAL.rooms['room-b'].brokers, group, 3000)).toEqual([]);
    } finally {
      await consumer.disconnect();
    }
    expect(await inspector.members(LOCAL.rooms['room-a'].brokers, group, 3000)).toEqual([]);
    const started = Date.now();
    await expect(inspector.members(['127.0.0.1:9'], group, 1000)).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(2500);
  });
});
