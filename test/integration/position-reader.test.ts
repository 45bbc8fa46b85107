import { describe, expect, it } from 'vitest';
import { KafkaPositionReader } from '../../src/adapters/kafka/position-reader.js';
import { silentLogger } from '../../src/ports/logger.js';
import { LOCAL, randomId } from '../../bench/support/local-stack.js';
import { createTopicEverywhere, writeRecords } from '../support/sdk-stack.js';

describe('KafkaPositionReader on real Kafka', () => {
  it('reads each partition\'s log end and newest record timestamp; an empty partition has no timestamp', async () => {
    const topic = `positions-${randomId()}`;
    await createTopicEverywhere(topic, 3);
    const t0 = Date.now() - 60_000;
    // Partition 0: 5 records; partition 1: 2 records, the newer one first (event time goes back);
    // partition 2: nothing. Room-b gets partition 0's first 3 records only.
    await writeRecords(topic, [0, 1, 2, 3, 4].map((i) => ({ value: `a${i}`, partition: 0, timestamp: t0 + i * 1000 })), ['room-a']);
    await writeRecords(topic, [
      { value: 'b0', partition: 1, timestamp: t0 + 9000 },
      { value: 'b1', partition: 1, timestamp: t0 + 7000 },
    ], ['room-a']);
    await writeRecords(topic, [0, 1, 2].map((i) => ({ value: `a${i}`, partition: 0, timestamp: t0 + i * 1000 })), ['room-b']);

    const a = new KafkaPositionReader('room-a', LOCAL.rooms['room-a'].brokers, silentLogger);
    const b = new KafkaPositionReader('room-b', LOCAL.rooms['room-b'].brokers, silentLogger);
    try {
      const pa = await a.read([topic], 3000);
      expect(pa.room).toBe('room-a');
      expect([...pa.partitions].sort((x, y) => x.partition - y.partition)).toEqual([
        { topic, partition: 0, logEnd: 5, newestTs: t0 + 4000 },
        // The largest timestamp of the partition's last batch (the dual producer keeps them rising).
        { topic, partition: 1, logEnd: 2, newestTs: t0 + 9000 },
        { topic, partition: 2, logEnd: 0 },
      ]);
      // A topic this room does not have: no partitions for it, the others still sampled.
      const withMissing = await a.read([topic, `missing-${topic}`], 3000);
      expect(withMissing.partitions.filter((p) => p.topic === topic)).toHaveLength(3);
      expect(withMissing.partitions.filter((p) => p.topic !== topic)).toHaveLength(0);
      // Read again with no new record: the newest record known for that log end stands (kept by the reader).
      expect((await a.read([topic], 3000)).partitions.find((p) => p.partition === 1)).toEqual({ topic, partition: 1, logEnd: 2, newestTs: t0 + 9000 });
      const pb = await b.read([topic], 3000);
      expect(pb.partitions.find((p) => p.partition === 0)).toEqual({ topic, partition: 0, logEnd: 3, newestTs: t0 + 2000 });
      // A second sample reuses the connection and sees new records.
      await writeRecords(topic, [{ value: 'a5', partition: 0, timestamp: t0 + 5000 }], ['room-a']);
      expect((await a.read([topic], 3000)).partitions.find((p) => p.partition === 0)).toMatchObject({ logEnd: 6, newestTs: t0 + 5000 });
    } finally {
      await a.close();
      await b.close();
    }
    const dead = new KafkaPositionReader('room-x', ['127.0.0.1:9'], silentLogger);
    const started = Date.now();
    await expect(dead.read([topic], 1000)).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(2000);
    await dead.close();
  });
});
