// A plain consumer held at its cap by a broker quota that the leader keeps and corrects (issue 15),
// shared by bench:caps and test/integration/client-quotas.test.ts. The leader's CapKeeper sets
// cap x mean record size as the consumer's consumer_byte_rate and, from its group's committed
// offsets against the log ends, corrects it until the consumer reads at the cap (brokers throttle
// in steps and count bytes: a few percent off, ADR 0011). A flooded topic (3x the cap), a plain
// kafkajs consumer committing every second; after the corrections settle, every sliding 10 s
// window's read rate is compared with the cap, in records per second.

import { createEtcdClient } from '../../src/adapters/etcd/client.js';
import { EtcdLeaderLock } from '../../src/adapters/etcd/leader-lock.js';
import { EtcdRouteStore } from '../../src/adapters/etcd/route-store.js';
import { EtcdCapStore } from '../../src/adapters/etcd/cap-store.js';
import { KafkaClientQuotas } from '../../src/adapters/kafka/client-quotas.js';
import { KafkaGroupOffsetReader } from '../../src/adapters/kafka/group-offsets.js';
import { KafkaPositionReader } from '../../src/adapters/kafka/position-reader.js';
import { createKafka } from '../../src/adapters/kafka/kafka-client.js';
import { CapKeeper } from '../../src/controller/cap-keeper.js';
import { PositionTracker } from '../../src/controller/position-tracker.js';
import type { Baseline, CapRecord } from '../../src/core/caps.js';
import { routeFor, type Pipeline, type Topology } from '../../src/core/model.js';
import { benchPolicy } from '../support/policy.js';
import { silentLogger, type Logger } from '../../src/ports/logger.js';
import { LOCAL, randomId, waitFor } from '../support/local-stack.js';
import { windowRates, type Arrival } from '../support/arrival-rates.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface CorrectedQuotaResult {
  readonly cap: number;
  /** Worst sliding 10 s window's |read rate - cap| / cap, percent, after the corrections settled. */
  readonly quota_error_pct: number;
  readonly windows: readonly number[];
  /** The quota's correction factors, in the order the leader set them. */
  readonly corrections: readonly number[];
  /** Records read in each second of the measured span (a picture of the throttling). */
  readonly per_second: readonly number[];
  /** Batch arrivals in the measured span: ms since its start, records. */
  readonly arrivals: readonly (readonly [number, number])[];
}

export async function measureCorrectedQuota(opts: { cap?: number; settleMs?: number; durationMs?: number; log?: Logger } = {}): Promise<CorrectedQuotaResult> {
  const cap = opts.cap ?? 100;
  const settleMs = opts.settleMs ?? 40_000;
  const durationMs = opts.durationMs ?? 30_000;
  const id = randomId();
  const prefix = `/switchyard-quota-${id}`;
  const topic = `quota-corrected-${id}`;
  const clientId = `quota-source-${id}`;
  const groupId = `quota-source-group-${id}`;
  const brokers = [...LOCAL.rooms['room-a'].brokers];
  const policy = benchPolicy('P2', { shedOrder: 2 });
  const pipeline: Pipeline = { name: `quota-${id}`, tier: 'P2', topics: [topic], consumerGroup: `${groupId}-sdk`, chains: [{ name: 'primary', room: 'room-a', role: 'primary', jobs: [], quotaClientId: clientId, quotaGroupId: groupId }] };
  const topology: Topology = { rooms: new Map([['room-a', { name: 'room-a', kafka: { brokers } }]]), pipelines: new Map([[pipeline.name, pipeline]]), policies: new Map([['P2', policy]]) };
  // What `switchyard stress` records for 1,000-byte values: the payload plus a record's framing.
  const baseline: Baseline = {
    file: 'bench', pipeline: pipeline.name, room: 'room-a', ratePerSecond: cap, tasks: 1, meanRecordBytes: 1010, measuredAt: Date.now(), measuredBy: 'bench',
    criteria: { inputLatencyMs: { limit: 1000, measured: 1 }, backpressureRatio: { limit: 0.1, measured: 0 }, cpuRatio: { limit: 0.6, measured: 0.1 }, results: { expected: 1, measured: 1 } },
  };

  const kafka = createKafka({ clientId: 'quota-corrected', brokers, log: silentLogger, timeoutMs: 10_000 });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true });
  await admin.disconnect();
  const producer = kafka.producer();
  await producer.connect();
  const value = Buffer.alloc(1000, 'x');
  const total = Math.ceil((3 * cap * (settleMs + durationMs + 10_000)) / 1000);
  for (let n = 0; n < total; n += 10) await producer.send({ topic, acks: -1, messages: Array.from({ length: 10 }, () => ({ value, partition: 0 })) });
  await producer.disconnect();

  const etcd = createEtcdClient({ endpoints: [LOCAL.etcd] });
  const lock = new EtcdLeaderLock(etcd, prefix, 'quota-leader', 5, silentLogger);
  const quotas = new KafkaClientQuotas({ brokers });
  const groups = new KafkaGroupOffsetReader('room-a', brokers, silentLogger);
  const positions = new PositionTracker({ rooms: new Map([['room-a', { reader: new KafkaPositionReader('room-a', brokers, silentLogger), topics: [topic] }]]), timeoutMs: 2000, log: silentLogger });
  const corrections: number[] = [];
  const log: Logger = {
    ...silentLogger,
    info: (msg, fields) => {
      if (msg === 'broker quota corrected') corrections.push(Number(fields?.['to']));
      opts.log?.info(msg, fields);
    },
    child: () => log,
  };
  const keeper = new CapKeeper({
    caps: new EtcdRouteStore<CapRecord>(etcd, prefix, 'caps'),
    store: new EtcdCapStore(etcd, prefix),
    baselines: () => new Map([[pipeline.name, new Map([['room-a', baseline]])]]),
    positions,
    log,
    by: 'quota-leader',
    intervalMs: 500,
    quotas: new Map([['room-a', quotas]]),
    groups: new Map([['room-a', groups]]),
  });
  const consumer = createKafka({ clientId, brokers, log: silentLogger, timeoutMs: 10_000 }).consumer({ groupId, maxBytes: 10_000, maxBytesPerPartition: 10_000 });
  const reads: Arrival[] = [];
  let running = true;
  const loops: Promise<void>[] = [];
  try {
    const leadership = await lock.campaign(new AbortController().signal);
    const routes = new Map([[pipeline.name, routeFor(topology, pipeline, pipeline.chains[0]!, 1, Date.now(), 'bench')]]);
    loops.push(
      (async () => {
        while (running) {
          await positions.sample();
          await keeper.round(topology, routes, leadership.fence, leadership.lost, Date.now());
          await sleep(500);
        }
      })(),
    );
    await waitFor('the quota to be set', 10_000, async () => ((await quotas.consumerByteRate(clientId)) !== undefined ? true : undefined), 250);
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ autoCommit: true, autoCommitInterval: 1000, eachBatch: async ({ batch }) => void reads.push({ at: Date.now(), records: batch.messages.length }) });
    const first = (await waitFor('the first records', 30_000, () => reads[0]?.at)) + settleMs;
    const end = first + durationMs;
    await sleep(Math.max(0, end - Date.now()) + 200);
    // The records of the last gap before `end` are counted by the burst that ends it: wait for it.
    await waitFor('a read after the measured span', 5000, () => ((reads.at(-1)?.at ?? 0) >= end ? true : undefined), 50).catch(() => undefined);
    // Each burst spread over the throttle it waited out (bench/support/arrival-rates.ts).
    const windows = windowRates(reads, first, end, 10_000).map((rate) => ((rate - cap) / cap) * 100);
    const span = reads.filter((r) => r.at >= first && r.at < end);
    const per_second = Array.from({ length: Math.ceil(durationMs / 1000) }, (_, i) => span.filter((r) => r.at >= first + i * 1000 && r.at < first + (i + 1) * 1000).reduce((n, r) => n + r.records, 0));
    return { cap, quota_error_pct: Math.max(...windows.map(Math.abs)), windows, corrections, per_second, arrivals: span.map((r) => [r.at - first, r.records] as const) };
  } finally {
    running = false;
    await Promise.all(loops).catch(() => undefined);
    await consumer.disconnect().catch(() => undefined);
    await quotas.setConsumerByteRate(clientId, undefined).catch(() => undefined);
    await quotas.close();
    await groups.close().catch(() => undefined);
    await lock.resign().catch(() => undefined);
    await etcd.delete().prefix(prefix).exec().catch(() => undefined);
    etcd.close();
  }
}
