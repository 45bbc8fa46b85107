import { describe, expect, it } from 'vitest';
import { adminWithOffsetsByTime } from '../../src/adapters/kafka/offsets-by-time.js';
import { createKafka } from '../../src/adapters/kafka/kafka-client.js';
import { silentLogger } from '../../src/ports/logger.js';
import { LOCAL, randomId } from '../../bench/support/local-stack.js';
import { createTopicEverywhere } from '../support/sdk-stack.js';

describe('offsets by a timestamp per partition, in one ListOffsets per leader (real Kafka)', () => {
  it("answers as kafkajs' admin does for every partition's own timestamp: the first record at or after it, else the log end", async () => {
    const topic = `by-time-${randomId()}`;
    await createTopicEverywhere(topic, 4);
    const kafka = createKafka({ clientId: 'by-time-test', brokers: LOCAL.rooms['room-a'].brokers, log: silentLogger });
    const producer = kafka.producer();
    const { admin, offsetsByTime } = adminWithOffsetsByTime(kafka);
    expect(offsetsByTime, 'kafkajs internals found').toBeDefined();
    await Promise.all([producer.connect(), admin.connect()]);
    try {
      // Partition p holds 10 records stamped t0 + p * 1000 + 100 * i; partition 3 holds none.
      const t0 = Date.now() - 60_000;
      for (let p = 0; p < 3; p++) {
        await producer.send({ topic, messages: Array.from({ length: 10 }, (_, i) => ({ partition: p, value: `${p}-${i}`, timestamp: String(t0 + p * 1000 + 100 * i) })) });
      }
      // Each partition its own timestamp: mid-log, before the first record, past the last, and an empty partition.
      const asked = new Map([
        [0, t0 + 450],
        [1, t0 - 5000],
        [2, t0 + 2000 + 5000],
        [3, t0],
      ]);
      const found = await offsetsByTime!(topic).at(asked);
      // With the leaders given (as a placement passes the layout it read), the same answer.
      const leaders = new Map((await admin.fetchTopicMetadata({ topics: [topic] })).topics[0]!.partitions.map((p) => [p.partitionId, p.leader]));
      expect(await offsetsByTime!(topic, leaders).at(asked)).toEqual(found);
      expect(found).toEqual(
        new Map([
          [0, '5'],
          [1, '0'],
          [2, '10'],
          [3, '0'],
        ]),
      );
      // The same as the admin's one-timestamp-per-call answers.
      for (const [p, ts] of asked) {
        const byAdmin = (await admin.fetchTopicOffsetsByTimestamp(topic, ts)).find((o) => o.partition === p)?.offset;
        expect(found.get(p), `partition ${p}`).toBe(byAdmin);
      }
      // The log starts, asked with the log ends: partition 1's first 3 records deleted.
      await admin.deleteTopicRecords({ topic, partitions: [{ partition: 1, offset: '3' }] });
      const starts = await offsetsByTime!(topic).starts();
      expect(starts).toEqual(new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, o.low])));
      expect(starts.get(1)).toBe('3');
      // A partition the topic does not have is an error, not a silent gap.
      await expect(offsetsByTime!(topic).at(new Map([[7, t0]]))).rejects.toThrow(/no leader known for .*\/7/);
    } finally {
      await Promise.all([producer.disconnect(), admin.disconnect()]);
    }
  });
});
