// Writes every record to the same topic in every room, each room on its own queue (ADR 0007).
//
// The guarantee: a `send` that resolves was written to at least one room, and every other room
// has it in its queue, which delivers it in order (healing a room after a hiccup) for as long as
// this process lives and the queue stays within `maxQueuedRecords`. A `send` that reached no
// room within `sendTimeoutMs` rejects. Each room receives this producer's records in the order
// they were sent: one batch in flight per room, never abandoned and re-sent around a slow one,
// and an idempotent Kafka producer (acks from all in-sync replicas) within the room.
//
// Every record carries this producer's id and a sequence number (record-ids.ts): SDK consumers
// drop a record they processed already, so a room healed late or a batch written twice costs no
// duplicate processing. The Kafka timestamp never goes back on a partition (the event time goes in
// a header when it would), so seeking by time finds this producer's records in order in any room.
//
// Bounded: when a room's queue would pass `maxQueuedRecords`, the room is declared diverged: its
// queue is dropped and this producer writes nothing more to it (so what the room holds stays an
// in-order prefix of what was sent). `stats()` and the logs say so; the room needs a backfill
// before it can serve without loss (`resync(room)` starts writing to it again, from then on).

import type { KafkaAccessSource } from '../ports/kafka-access.js';
import { randomUUID } from 'node:crypto';
import type { Producer } from 'kafkajs';
import { createKafka } from '../adapters/kafka/kafka-client.js';
import { silentLogger, type Logger } from '../ports/logger.js';
import { HEADER_EVENT_TIME, HEADER_PRODUCER, HEADER_SEQUENCE } from './record-ids.js';
import { withTimeout } from './timeout.js';
import type { Etcd3 } from 'etcd3';
import { createEtcdClient, type SdkEtcdOptions } from '../adapters/etcd/client.js';
import { EtcdSignalStore } from '../adapters/etcd/signal-store.js';
import { SignalReporter } from './signal-reporter.js';

export interface DualRecord {
  readonly key?: string;
  readonly value: string;
  /** Event time, epoch ms: the same in every room, which is what lets consumers move by time. */
  readonly timestamp: number;
  /** Explicit partition, so that a key lands on the same partition number in every room. */
  readonly partition: number;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface DualProducerOptions {
  /** Each room's brokers, and their TLS and SASL where the listener asks for them (a function is called on each new connection: a rotated password is picked up). */
  readonly rooms: readonly { readonly room: string; readonly brokers: readonly string[]; readonly access?: KafkaAccessSource }[];
  readonly clientId?: string;
  /**
   * How long `send` waits for a room that is not known to be failing (default 1000 ms). Past it,
   * the send resolves if some room took the batch (the others keep it queued) and rejects if none did.
   */
  readonly sendTimeoutMs?: number;
  /** First pause before a failing room's head batch is tried again (doubles up to 5 s; default 200 ms). */
  readonly retryAfterMs?: number;
  /** Per room: records waiting to be written there before the room is declared diverged (default 100,000). */
  readonly maxQueuedRecords?: number;
  readonly logger?: Logger;
  /**
   * The pipeline's etcd: when a connection to a room's broker fails, tell the observers, so that
   * they probe that room at once (ADR 0018). Absent: no signals.
   */
  readonly signals?: SdkEtcdOptions;
}

/** Per room: true if the batch is written there now (else it is queued, or the room diverged). */
export type SendResult = Readonly<Record<string, boolean>>;

export interface RoomStats {
  readonly room: string;
  readonly queuedRecords: number;
  /** Since when writes to this room fail (epoch ms), while they do. */
  readonly failingSince?: number;
  readonly lastError?: string;
  /** Since when this producer no longer writes to the room (its queue overflowed). */
  readonly divergedSince?: number;
  readonly written: number;
}

/** No room took the batch within the timeout. */
export class DualSendError extends Error {
  override readonly name = 'DualSendError';
  constructor(readonly errors: Readonly<Record<string, string>>) {
    super(`no room took the batch: ${Object.entries(errors).map(([r, e]) => `${r}: ${e}`).join('; ')}`);
  }
}

interface Batch {
  readonly topic: string;
  readonly messages: { key: string | null; value: string; timestamp: string; partition: number; headers: Record<string, string> }[];
  /** Rooms that wrote it. */
  readonly written: Set<string>;
  /** Set when the send rejected: rooms that have not started it drop it. */
  withdrawn: boolean;
  notify: () => void;
}

interface RoomWriter {
  readonly room: string;
  readonly producer: Producer;
  connected: boolean;
  readonly queue: Batch[];
  queuedRecords: number;
  pumping: boolean;
  failingSince: number | undefined;
  lastError: string | undefined;
  divergedSince: number | undefined;
  written: number;
  /** When the batch now being written was started (a room slower than the send timeout counts as failing). */
  inFlightSince: number | undefined;
}

export class DualProducer {
  readonly producerId = randomUUID().replace(/-/g, '').slice(0, 12);
  private sequence = 0;
  private readonly stamps = new Map<string, number>();
  private readonly writers: RoomWriter[];
  private readonly log: Logger;
  private closed = false;
  private readonly etcd: Etcd3 | undefined;
  private readonly signalStore: EtcdSignalStore | undefined;
  private readonly signals: SignalReporter | undefined;

  constructor(private readonly opts: DualProducerOptions) {
    this.log = (opts.logger ?? silentLogger).child({ component: 'dual-producer', producer: this.producerId });
    if (opts.signals) {
      this.etcd = createEtcdClient(opts.signals);
      this.signalStore = new EtcdSignalStore(this.etcd, opts.signals.prefix ?? '/switchyard');
      this.signals = new SignalReporter(this.signalStore, `producer-${this.producerId}`, this.log);
    }
    this.writers = opts.rooms.map((r) => ({
      room: r.room,
      producer: createKafka({
        clientId: opts.clientId ?? 'switchyard-dual-producer',
        brokers: r.brokers,
        log: this.log.child({ room: r.room }),
        timeoutMs: opts.sendTimeoutMs ?? 1000,
        retries: 2,
        quiet: true,
        access: r.access,
        onConnectionTrouble: (broker, why) => {
          if (!this.closed) this.signals?.trouble(r.room, broker, why);
        },
      }).producer({ allowAutoTopicCreation: false, idempotent: true, maxInFlightRequests: 1 }),
      connected: false,
      queue: [],
      queuedRecords: 0,
      pumping: false,
      failingSince: undefined,
      lastError: undefined,
      divergedSince: undefined,
      written: 0,
      inFlightSince: undefined,
    }));
  }

  /**
   * Queues the batch for every room and resolves once each room has written it or is known to be
   * failing, with at least one room written. Rejects (DualSendError) if no room wrote it within
   * `sendTimeoutMs`; a room that had it in flight may still write it then.
   */
  async send(topic: string, records: readonly DualRecord[]): Promise<SendResult> {
    if (this.closed) throw new Error('dual producer is closed');
    const batch: Batch = {
      topic,
      messages: records.map((r) => this.stamp(topic, r)),
      written: new Set(),
      withdrawn: false,
      notify: () => undefined,
    };
    const changed = new Promise<void>((resolve) => (batch.notify = resolve));
    let wakeUp = changed;
    for (const w of this.writers) this.enqueue(w, batch);

    const timeoutMs = this.opts.sendTimeoutMs ?? 1000;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const now = Date.now();
      const pending = this.writers.filter((w) => w.divergedSince === undefined && !batch.written.has(w.room));
      const struggling = (w: RoomWriter) => w.failingSince !== undefined || (w.inFlightSince !== undefined && now - w.inFlightSince > timeoutMs);
      const waitingOnHealthy = pending.some((w) => !struggling(w));
      if (batch.written.size > 0 && !waitingOnHealthy) break;
      const left = deadline - Date.now();
      if (left <= 0) break;
      await Promise.race([wakeUp, new Promise((r) => setTimeout(r, Math.min(left, 50)))]);
      wakeUp = new Promise<void>((resolve) => (batch.notify = resolve));
    }
    if (batch.written.size === 0) {
      batch.withdrawn = true;
      throw new DualSendError(Object.fromEntries(this.writers.map((w) => [w.room, w.divergedSince !== undefined ? 'diverged' : (w.lastError ?? 'not written in time')])));
    }
    return Object.fromEntries(this.writers.map((w) => [w.room, batch.written.has(w.room)]));
  }

  stats(): RoomStats[] {
    return this.writers.map((w) => ({
      room: w.room,
      queuedRecords: w.queuedRecords,
      written: w.written,
      ...(w.failingSince !== undefined && { failingSince: w.failingSince }),
      ...(w.lastError !== undefined && { lastError: w.lastError }),
      ...(w.divergedSince !== undefined && { divergedSince: w.divergedSince }),
    }));
  }

  /** Writes to a diverged room again, from now on (after it was backfilled). */
  resync(room: string): void {
    const w = this.writers.find((x) => x.room === room);
    if (w) w.divergedSince = undefined;
  }

  /** The Kafka record: ids, and a timestamp that never goes back on its partition. */
  private stamp(topic: string, r: DualRecord): Batch['messages'][number] {
    const key = `${topic}/${r.partition}`;
    const stamp = Math.max(r.timestamp, this.stamps.get(key) ?? 0);
    this.stamps.set(key, stamp);
    const headers: Record<string, string> = { ...r.headers, [HEADER_PRODUCER]: this.producerId, [HEADER_SEQUENCE]: String(++this.sequence) };
    if (stamp !== r.timestamp) headers[HEADER_EVENT_TIME] = String(r.timestamp);
    return { key: r.key ?? null, value: r.value, timestamp: String(stamp), partition: r.partition, headers };
  }

  private enqueue(w: RoomWriter, batch: Batch): void {
    if (w.divergedSince !== undefined) return;
    const max = this.opts.maxQueuedRecords ?? 100_000;
    if (w.queuedRecords + batch.messages.length > max) {
      w.divergedSince = Date.now();
      w.queue.length = 0;
      w.queuedRecords = 0;
      this.log.error('room queue full: room diverged, no more writes to it until resync after a backfill', { room: w.room, maxQueuedRecords: max });
      return;
    }
    w.queue.push(batch);
    w.queuedRecords += batch.messages.length;
    if (!w.pumping) void this.pump(w);
  }

  /** Writes a room's queue in order: one batch at a time, the head retried until it is written. */
  private async pump(w: RoomWriter): Promise<void> {
    w.pumping = true;
    let attempt = 0;
    try {
      while (w.queue.length > 0 && w.divergedSince === undefined) {
        const head = w.queue[0]!;
        if (head.withdrawn) {
          this.dequeue(w);
          continue;
        }
        w.inFlightSince = Date.now();
        try {
          if (!w.connected) {
            await w.producer.connect();
            w.connected = true;
          }
          await w.producer.send({ topic: head.topic, messages: head.messages, acks: -1 });
          w.inFlightSince = undefined;
          head.written.add(w.room);
          w.written += head.messages.length;
          this.dequeue(w);
          head.notify();
          if (w.failingSince !== undefined) this.log.info('room writable again; its queue is being written', { room: w.room, queued: w.queuedRecords });
          w.failingSince = undefined;
          w.lastError = undefined;
          attempt = 0;
        } catch (err) {
          w.inFlightSince = undefined;
          if (w.failingSince === undefined) {
            w.failingSince = Date.now();
            this.log.warn('room write failed; queueing for it and retrying in order', { room: w.room, error: (err as Error).message });
          }
          w.lastError = (err as Error).message;
          head.notify();
          if (w.connected) {
            w.connected = false;
            await withTimeout(w.producer.disconnect(), 1000).catch(() => undefined);
          }
          if (this.closed && w.queue.length === 0) return;
          attempt++;
          await new Promise((r) => setTimeout(r, Math.min(5000, (this.opts.retryAfterMs ?? 200) * 2 ** Math.min(attempt - 1, 5))));
        }
      }
    } finally {
      w.pumping = false;
    }
  }

  private dequeue(w: RoomWriter): void {
    const b = w.queue.shift();
    if (b) w.queuedRecords -= b.messages.length;
  }

  /**
   * Stops accepting records, waits up to `drainMs` (default 5000) for queues to be written, then
   * disconnects. Returns per room what was still queued (lost for that room: see the guarantee).
   */
  async close(drainMs = 5000): Promise<Readonly<Record<string, number>>> {
    this.closed = true;
    const deadline = Date.now() + drainMs;
    while (Date.now() < deadline && this.writers.some((w) => w.queue.length > 0 && w.divergedSince === undefined)) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const left = Object.fromEntries(this.writers.map((w) => [w.room, w.queuedRecords]));
    for (const w of this.writers) {
      if (w.queuedRecords > 0) this.log.warn('closing with records not written to this room', { room: w.room, queued: w.queuedRecords });
      w.queue.length = 0;
      w.queuedRecords = 0;
    }
    await Promise.all(this.writers.map((w) => withTimeout(w.producer.disconnect(), 2000).catch(() => undefined)));
    await this.signalStore?.close();
    this.etcd?.close();
    return left;
  }
}

export function createDualProducer(opts: DualProducerOptions): DualProducer {
  return new DualProducer(opts);
}
