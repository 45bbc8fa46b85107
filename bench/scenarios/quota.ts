// Flood under a broker quota, shared by bench:caps and the client-quotas integration test: a
// fresh topic holds far more than the quota lets through (3x for the whole run), a plain kafkajs
// consumer with a quota'd client id reads it from the beginning, and we compare what it got per
// window with the quota. Bytes are counted as the broker counts them: records x their mean size
// in the log (batch headers included), read from the partition's segment files.

import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { LOCAL, STATE_DIR, randomId, waitFor } from '../support/local-stack.js';
import { KafkaClientQuotas } from '../../src/adapters/kafka/client-quotas.js';
import { createKafka, kafkajs } from '../../src/adapters/kafka/kafka-client.js';
import { silentLogger } from '../../src/ports/logger.js';
import { windowRates } from '../support/arrival-rates.js';

export interface QuotaRunOptions {
  /** The quota, bytes/s. Default 100,000. */
  readonly bytesPerSecond?: number;
  /** Each record's value, bytes. Default 1,000. */
  readonly recordBytes?: number;
  /** How long to measure (after the warm-up), ms. Default 30,000. */
  readonly durationMs?: number;
  /** Left out of the measurement after the first record arrives, ms. Default 0. */
  readonly warmupMs?: number;
  /** Measurement window, ms. Default 10,000. */
  readonly windowMs?: number;
  /**
   * The consumer's largest fetch, bytes (kafkajs maxBytes and maxBytesPerPartition). Default:
   * kafkajs's own (1 MiB a partition), as an untuned consumer has.
   */
  readonly fetchBytes?: number;
  /** Which room's broker of the local stack (default room-a). */
  readonly room?: keyof typeof LOCAL.rooms;
}

export interface QuotaRunResult {
  /** The worst window's absolute error against the quota, percent. */
  readonly quota_error_pct: number;
  /** Each sliding window's signed error against the quota, percent (+: more than the quota). */
  readonly windows: number[];
  /** Each window's consumed rate, bytes/s. */
  readonly rates: number[];
  readonly window_ms: number;
  readonly quota_bytes_per_s: number;
  /** Mean size of one record in the log, bytes (the value plus its share of framing). */
  readonly mean_record_bytes: number;
  readonly records_written: number;
  readonly records_read: number;
  /** Records read per second of the run, from the first record (for a picture of the throttling). */
  readonly per_second: number[];
}


/** Bytes of the partition's log on the local broker's disk (room-a of scripts/services.sh). */
function logBytes(ROOM: (typeof LOCAL.rooms)[keyof typeof LOCAL.rooms], topic: string, partition: number): number {
  const dir = join(STATE_DIR, ROOM.service, 'data', `${topic}-${partition}`);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.log'))
    .reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
}

/**
 * The broker's quota period, ms: quota.window.num x quota.window.size.seconds. A consumer held
 * by a quota reads in bursts once per period (when the oldest sample leaves the window), so
 * windows shorter than the period, or not a multiple of it, alias against those bursts.
 */
export async function brokerQuotaPeriodMs(room: keyof typeof LOCAL.rooms = 'room-a'): Promise<number> {
  const ROOM = LOCAL.rooms[room];
  const admin = createKafka({ clientId: 'quota-config-reader', brokers: ROOM.brokers, log: silentLogger }).admin();
  await admin.connect();
  try {
    const { resources } = await admin.describeConfigs({
      resources: [{ type: kafkajs.ConfigResourceTypes.BROKER, name: '1', configNames: ['quota.window.num', 'quota.window.size.seconds'] }],
      includeSynonyms: false,
    });
    const value = (name: string) => Number(resources[0]?.configEntries.find((e) => e.configName === name)?.configValue);
    const period = value('quota.window.num') * value('quota.window.size.seconds') * 1000;
    if (!Number.isFinite(period) || period <= 0) throw new Error('the broker did not report its quota window');
    return period;
  } finally {
    await admin.disconnect();
  }
}

/** Runs the flood once on room-a's broker; removes the quota afterwards, whatever happened. */
export async function measureQuotaError(opts: QuotaRunOptions = {}): Promise<QuotaRunResult> {
  const ROOM = LOCAL.rooms[opts.room ?? 'room-a'];
  const quota = opts.bytesPerSecond ?? 100_000;
  const recordBytes = opts.recordBytes ?? 1000;
  const windowMs = opts.windowMs ?? 10_000;
  const durationMs = opts.durationMs ?? 30_000;
  const warmupMs = opts.warmupMs ?? 0;
  const id = randomId();
  const topic = `quota-flood-${id}`;
  const clientId = `quota-reader-${id}`;
  const kafka = (cid: string) => createKafka({ clientId: cid, brokers: ROOM.brokers, log: silentLogger, timeoutMs: 10_000 });
  const quotas = new KafkaClientQuotas({ brokers: ROOM.brokers, timeoutMs: 5000 });

  const admin = kafka(`quota-admin-${id}`).admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true });
  await admin.disconnect();

  // 3x what the quota lets through in the run (plus a window of margin), written before reading.
  // 10 records (~10 kB) per batch, like a producer's default 16 kB batch.size: a fetch returns whole
  // batches, so the batch is the finest step the broker's throttling can take.
  const perBatch = 10;
  const value = Buffer.alloc(recordBytes, 'x');
  const wanted = Math.ceil((3 * quota * (warmupMs + durationMs + windowMs)) / 1000 / recordBytes);
  const batches = Math.ceil(wanted / perBatch);
  const producer = kafka(`quota-writer-${id}`).producer();
  await producer.connect();
  for (let b = 0; b < batches; b++) {
    await producer.send({ topic, acks: -1, messages: Array.from({ length: perBatch }, () => ({ value, partition: 0 })) });
  }
  await producer.disconnect();
  const written = batches * perBatch;
  const meanRecordBytes = logBytes(ROOM, topic, 0) / written;

  const fetch = opts.fetchBytes === undefined ? {} : { maxBytes: opts.fetchBytes, maxBytesPerPartition: opts.fetchBytes };
  const consumer = kafka(clientId).consumer({ groupId: `quota-group-${id}`, ...fetch });
  try {
    await quotas.setConsumerByteRate(clientId, quota);
    // The broker that throttles must know the quota before the first fetch.
    await waitFor('the quota to be visible', 10_000, async () => ((await quotas.consumerByteRate(clientId)) === quota ? true : undefined));

    const arrivals: { at: number; records: number }[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        arrivals.push({ at: Date.now(), records: batch.messages.length });
      },
    });
    const first = (await waitFor('the first records', 30_000, () => arrivals[0]?.at)) + warmupMs;
    const end = first + durationMs;
    await new Promise((r) => setTimeout(r, Math.max(0, end - Date.now()) + 200));
    // The records of the last gap before `end` are counted by the burst that ends it: wait for it.
    await waitFor('a read after the measured span', 5000, () => ((arrivals.at(-1)?.at ?? 0) >= end ? true : undefined), 50).catch(() => undefined);
    await consumer.stop();

    // Every window of `windowMs` in the run, sliding by one second (as "every 10 s window" means),
    // each burst spread over the throttle it waited out (bench/support/arrival-rates.ts).
    const rates = windowRates(arrivals, first, end, windowMs).map((perSecond) => perSecond * meanRecordBytes);
    const windows = rates.map((r) => ((r - quota) / quota) * 100);
    return {
      quota_error_pct: Math.max(...windows.map(Math.abs)),
      windows,
      rates,
      window_ms: windowMs,
      quota_bytes_per_s: quota,
      mean_record_bytes: meanRecordBytes,
      records_written: written,
      records_read: arrivals.filter((a) => a.at >= first && a.at < end).reduce((s, a) => s + a.records, 0),
      per_second: Array.from({ length: Math.ceil(durationMs / 1000) }, (_, i) => arrivals.filter((a) => a.at >= first + i * 1000 && a.at < first + (i + 1) * 1000).reduce((s, a) => s + a.records, 0)),
    };
  } finally {
    await consumer.disconnect().catch(() => undefined);
    await quotas.setConsumerByteRate(clientId, undefined).catch(() => undefined);
    await quotas.close();
  }
}
