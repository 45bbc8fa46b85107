import { describe, expect, it } from 'vitest';
import { KafkaGroupOffsetReader } from '../../src/adapters/kafka/group-offsets.js';
import { createKafka } from '../../src/adapters/kafka/kafka-client.js';
import { silentLogger } from '../../src/ports/logger.js';
import { LOCAL, randomId } from '../../bench/support/local-stack.js';
import { createTopicEverywhere } from '../support/sdk-stack.js';

describe('KafkaGroupOffsetReader on real Kafka', () => {
  it("reads many groups' committed offsets (-1 where none) in one request per coordinator, leaves out topics the room lacks, and picks up new commits on the next read", async () => {
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
      // Every group in one OffsetFetch per read (v8; one broker, so one coordinator), none one by one.
      expect(reader.sent).toEqual({ batched: 2, perGroup: 0 });

      // Many groups at once, each with its own commits: the batch answers each its own.
      const many = Array.from({ length: 120 }, (_, i) => ({ group: `m${i}-${id}`, topics: [topics[0]!] }));
      await Promise.all(many.filter((_, i) => i % 3 === 0).map((g, i) => admin.setOffsets({ groupId: g.group, topic: topics[0]!, partitions: [{ partition: 0, offset: String(i + 1) }, { partition: 1, offset: String(100 + i) }] })));
      const all = await reader.read(many, 10_000);
      expect(all.size).toBe(120);
      many.forEach((g, i) => {
        const k = i / 3;
        expect(all.get(g.group)?.get(topics[0]!)).toEqual(i % 3 === 0 ? new Map([[0, k + 1], [1, 100 + k]]) : new Map([[0, -1], [1, -1]]));
      });
      expect(reader.sent).toEqual({ batched: 3, perGroup: 0 });
    } finally {
      await reader.close();
      await admin.disconnect();
    }
    await expect(new KafkaGroupOffsetReader('dead', ['127.0.0.1:9'], silentLogger).read([{ group: 'g', topics: ['t'] }], 1000)).rejects.toThrow();
  });
});
