import { describe, expect, it } from 'vitest';
import { KafkaGroupOffsetReader } from '../../src/adapters/kafka/group-offsets.js';
import { createKafka } from '../../src/adapters/kafka/kafka-client.js';
import { silentLogger } from '../../src/ports/logger.js';
import { LOCAL, randomId } from '../../bench/support/local-stack.js';
import { createTopicEverywhere } from '../support/sdk-stack.js';

describe('KafkaGroupOffsetReader on real Kafka', () => {
  it("reads many groups' committed offsets (-1 where none), leaves out topics the room lacks, and picks up new commits on the next read", async () => {
    const id = randomId();
    const topics = [`offsets-${id}-a`, `offsets-${id}-b`];
    await createTopicEverywhere(topics[0]!, 2);
    await createTopicEverywhere(topics[1]!, 1);
    const brokers = LOCAL.rooms['room-a'].brokers;
    const admin = createKafka({ clientId: 'offsets-test', brokers, log: silentLogger }).admin();
    await admin.connect();
    const reader = new KafkaGroupOffsetReader('room-a', brokers, silentLogger);
    try {
      await admin.setOffsets({ groupId: `g1-${id}`, topic: topics[0]!, partitions: [{ partition: 0, offset: '5' }, { partition: 1, offset: '7' }] });
      await admin.setOffsets({ groupId: `g2-${id}`, topic: topics[1]!, partitions: [{ partition: 0, offset: '3' }] });
      const groups = [
        { group: `g1-${id}`, topics: [topics[0]!] },
        { group: `g2-${id}`, topics: [topics[1]!, `offsets-${id}-missing`] },
        { group: `g3-${id}`, topics: [topics[0]!] },
      ];
      const first = await reader.read(groups, 5000);
      expect(first.get(`g1-${id}`)?.get(topics[0]!)).toEqual(new Map([[0, 5], [1, 7]]));
      expect(first.get(`g2-${id}`)?.get(topics[1]!)).toEqual(new Map([[0, 3]]));
      expect(first.get(`g2-${id}`)?.has(`offsets-${id}-missing`)).toBe(false);
      expect(first.get(`g3-${id}`)?.get(topics[0]!)).toEqual(new Map([[0, -1], [1, -1]]));
      await admin.setOffsets({ groupId: `g1-${id}`, topic: topics[0]!, partitions: [{ partition: 0, offset: '9' }, { partition: 1, offset: '7' }] });
      const second = await reader.read(groups, 5000);
      expect(second.get(`g1-${id}`)?.get(topics[0]!)?.get(0)).toBe(9);
    } finally {
      await reader.close();
      await admin.disconnect();
    }
    await expect(new KafkaGroupOffsetReader('dead', ['127.0.0.1:9'], silentLogger).read([{ group: 'g', topics: ['t'] }], 1000)).rejects.toThrow();
  });
});
