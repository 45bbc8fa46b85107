// Writes every record to the same topic in every room, each room on its own: a dead room costs
// its own copy only, never the other room's. A room that failed is skipped and re-tried in the
// background, so producing never waits on a dead broker.

import type { Producer } from 'kafkajs';
import { createKafka } from '../adapters/kafka/kafka-client.js';
import { silentLogger, type Logger } from '../ports/logger.js';
import { withTimeout } from './timeout.js';

export interface DualRecord {
  readonly key?: string;
  readonly value: string;
  /** Event time, epoch ms: the same in every room, which is what lets consumers move by time. */
  readonly timestamp: number;
  /** Explicit partition, so that a key lands on the same partition number in every room. */
  readonly partition: number;
}

export interface DualProducerOptions {
  readonly rooms: readonly { readonly room: string; readonly brokers: readonly string[] }[];
  readonly clientId?: string;
  /** A room whose send takes longer than this counts as failed for that batch. */
  readonly sendTimeoutMs?: number;
  /** How long a failed room is skipped before it is tried again. */
  readonly retryAfterMs?: number;
  readonly logger?: Logger;
}

interface RoomWriter {
  readonly room: string;
  readonly producer: Producer;
  connected: boolean;
  downUntil: number;
}

export type SendResult = Readonly<Record<string, boolean>>;

export class DualProducer {
  private readonly writers: RoomWriter[];
  private readonly log: Logger;

  constructor(private readonly opts: DualProducerOptions) {
    this.log = (opts.logger ?? silentLogger).child({ component: 'dual-producer' });
    this.writers = opts.rooms.map((r) => ({
      room: r.room,
      producer: createKafka({
        clientId: opts.clientId ?? 'switchyard-dual-producer',
        brokers: r.brokers,
        log: this.log.child({ room: r.room }),
        timeoutMs: opts.sendTimeoutMs ?? 1000,
        retries: 1,
        quiet: true,
      }).producer({ allowAutoTopicCreation: false, idempotent: false }),
      connected: false,
      downUntil: 0,
    }));
  }

  /** Sends the batch to every live room in parallel; says which rooms took it. */
  async send(topic: string, records: readonly DualRecord[]): Promise<SendResult> {
    const messages = records.map((r) => ({
      key: r.key ?? null,
      value: r.value,
      timestamp: String(r.timestamp),
      partition: r.partition,
    }));
    const now = Date.now();
    const results = await Promise.all(
      this.writers.map(async (w) => {
        if (w.downUntil > now) return [w.room, false] as const;
        try {
          if (!w.connected) {
            await withTimeout(w.producer.connect(), this.opts.sendTimeoutMs ?? 1000);
            w.connected = true;
          }
          await withTimeout(w.producer.send({ topic, messages, acks: 1 }), this.opts.sendTimeoutMs ?? 1000);
          return [w.room, true] as const;
        } catch (err) {
          w.downUntil = Date.now() + (this.opts.retryAfterMs ?? 1000);
          if (w.connected) {
            w.connected = false;
            void w.producer.disconnect().catch(() => undefined);
          }
          this.log.warn('room write failed; skipping it for a while', { room: w.room, error: (err as Error).message });
          return [w.room, false] as const;
        }
      }),
    );
    return Object.fromEntries(results);
  }

  async close(): Promise<void> {
    await Promise.all(this.writers.map((w) => withTimeout(w.producer.disconnect(), 2000).catch(() => undefined)));
  }
}

export function createDualProducer(opts: DualProducerOptions): DualProducer {
  return new DualProducer(opts);
}
