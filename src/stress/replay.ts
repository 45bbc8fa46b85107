// The load of a stress test: the pipeline's own records, replayed into a shadow topic at a set
// rate, split over its partitions (one per task of the job) exactly as a cap is split.

import type { Admin, Producer } from 'kafkajs';
import type { KafkaClient } from '../adapters/kafka/kafka-client.js';
import { splitCap } from '../core/caps.js';

/** Kafka did not answer: the CLI maps this to exit 3. */
export class KafkaUnreachableError extends Error {
  constructor(
    readonly brokers: readonly string[],
    override readonly cause: unknown,
  ) {
    super(`Kafka unreachable at ${brokers.join(',')}: ${(cause as Error).message ?? String(cause)}`);
    this.name = 'KafkaUnreachableError';
  }
}

/** A record to replay: its key, value and headers (its timestamp is set when it is sent). */
export interface SampleRecord {
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers?: Record<string, Buffer | string | (Buffer | string)[] | undefined>;
}

/** Records in all of `topic`'s partitions now (high watermark minus low). */
export async function topicSize(admin: Admin, topic: string): Promise<number> {
  const offsets = await admin.fetchTopicOffsets(topic);
  return offsets.reduce((n, o) => n + Number(o.high) - Number(o.low), 0);
}

/** Records written to `topic` so far (the sum of its high watermarks; nothing is compacted or deleted in a test's life). */
export async function highWatermarks(admin: Admin, topic: string): Promise<number> {
  return (await admin.fetchTopicOffsets(topic)).reduce((n, o) => n + Number(o.high), 0);
}

/**
 * Up to `limit` records of `topic` from the beginning, read by a consumer that commits nothing
 * (its group leaves no offsets behind). Stops at the high watermarks seen at the start, so records
 * written meanwhile do not keep it reading. Gives up after `withinMs`.
 */
export async function readSample(kafka: KafkaClient, admin: Admin, topic: string, limit: number, groupId: string, withinMs: number): Promise<SampleRecord[]> {
  const ends = new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, { low: Number(o.low), high: Number(o.high) }]));
  const total = [...ends.values()].reduce((n, e) => n + e.high - e.low, 0);
  if (total === 0) return [];
  const want = Math.min(limit, total);
  const out: SampleRecord[] = [];
  const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false });
  let finish!: () => void;
  const done = new Promise<void>((r) => (finish = r));
  const reached = new Set<number>([...ends].filter(([, e]) => e.high <= e.low).map(([p]) => p));
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        const end = ends.get(partition);
        if (!end || reached.has(partition)) return;
        if (Number(message.offset) < end.high && out.length < want) {
          out.push({ key: message.key, value: message.value, ...(message.headers && Object.keys(message.headers).length > 0 && { headers: message.headers }) });
        }
        if (Number(message.offset) >= end.high - 1) reached.add(partition);
        if (out.length >= want || reached.size >= ends.size) finish();
      },
    });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`read only ${out.length} of ${want} records of ${topic} within ${withinMs} ms`)), withinMs);
    });
    try {
      await Promise.race([done, late]);
    } finally {
      clearTimeout(timer);
    }
  } finally {
    await consumer.disconnect().catch(() => undefined);
  }
  return out;
}

/**
 * Sends the sample, looping over it, into `topic`'s partitions at `ratePerSecond` split over them
 * with splitCap (10,000/s over 4 partitions is 2,500/s each). Paced by a timer every `tickMs`:
 * each tick sends what each partition is due by then, so the average rate holds even when a send
 * is slow (the next tick sends more); one send is in flight at a time. `stop` ends it after the
 * send in flight and returns how many records the broker acknowledged.
 */
export class PacedSender {
  private next = 0;
  private acked = 0;
  private sentByPartition: number[];
  private readonly shares: number[];
  private readonly startedAt = performance.now();
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> = Promise.resolve();
  private stopped = false;
  private error: Error | undefined;

  constructor(
    private readonly producer: Producer,
    private readonly topic: string,
    private readonly sample: readonly SampleRecord[],
    ratePerSecond: number,
    partitions: number,
    private readonly tickMs = 50,
  ) {
    if (sample.length === 0) throw new Error('nothing to replay');
    this.shares = splitCap(ratePerSecond, partitions);
    this.sentByPartition = this.shares.map(() => 0);
    this.schedule();
  }

  /** Records acknowledged so far. */
  get sent(): number {
    return this.acked;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.inFlight = this.tick().then(
        () => this.schedule(),
        (err: unknown) => {
          this.error = err as Error;
        },
      );
    }, this.tickMs);
  }

  private async tick(): Promise<void> {
    const elapsed = performance.now() - this.startedAt;
    const messages: { partition: number; key: Buffer | null; value: Buffer | null; headers?: SampleRecord['headers'] }[] = [];
    this.shares.forEach((share, partition) => {
      const due = Math.floor((share * elapsed) / 1000) - this.sentByPartition[partition]!;
      for (let i = 0; i < due; i++) {
        const r = this.sample[this.next++ % this.sample.length]!;
        messages.push({ partition, key: r.key, value: r.value, ...(r.headers && { headers: r.headers }) });
      }
      this.sentByPartition[partition]! += Math.max(0, due);
    });
    if (messages.length === 0) return;
    await this.producer.send({ topic: this.topic, acks: -1, messages });
    this.acked += messages.length;
  }

  /** Stops sending; resolves with the records acknowledged once the send in flight is done. */
  async stop(): Promise<number> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.inFlight;
    if (this.error) throw this.error;
    return this.acked;
  }

  /** The error that stopped the sender, if one did. */
  get failure(): Error | undefined {
    return this.error;
  }
}
