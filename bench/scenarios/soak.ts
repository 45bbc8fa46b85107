// A healthy stack under load for a fixed time: three controller replicas with the tier's probes
// (fast ones, for issue 19), a dual-writing producer and an SDK consumer, both signalling. Nothing
// fails, so nothing may switch: the run counts switches, the verdicts that were not healthy,
// the signals the observers heard, and lost records.

import { createKafka } from '../../src/adapters/kafka/kafka-client.js';
import { createEtcdClient } from '../../src/adapters/etcd/client.js';
import { EtcdRouteStore } from '../../src/adapters/etcd/route-store.js';
import { EtcdJournalStore } from '../../src/adapters/etcd/journal-store.js';
import { silentLogger } from '../../src/ports/logger.js';
import { createDualProducer } from '../../src/sdk/dual-producer.js';
import { createRoutedConsumer } from '../../src/sdk/routed-consumer.js';
import { LOCAL, randomId, services, startController, waitFor, writeScenarioConfig } from '../support/local-stack.js';
import { produceSequence } from '../support/traffic.js';

export interface SoakOptions {
  readonly minutes: number;
  readonly probeIntervalMs: number;
  readonly fallAfter: number;
  /** Records per second, in batches every 10 ms. */
  readonly rate: number;
  readonly say?: (line: string) => void;
}

export interface SoakResult {
  readonly ms: number;
  readonly produced: number;
  readonly consumed: number;
  readonly lost: number;
  /** Switches recorded for the pipeline: must be 0. */
  readonly switches: number;
  /** Routes written after the first: must be 0. */
  readonly routeChanges: number;
  /** Leader verdicts other than healthy, by rule. */
  readonly verdicts: Readonly<Record<string, number>>;
  /** Signals that made an observer hurry (all replicas). */
  readonly hurried: number;
}

const PARTITIONS = 3;

export async function runSoak(opts: SoakOptions): Promise<SoakResult> {
  const say = opts.say ?? (() => undefined);
  const id = randomId();
  const cfg = {
    prefix: `/switchyard-soak-${id}`,
    topic: `soak-${id}`,
    group: `soak-${id}`,
    pipeline: 'live-dashboard',
    probeIntervalMs: opts.probeIntervalMs,
    fallAfter: opts.fallAfter,
    marginMs: 2000,
    observersRequired: 2,
    maxLossMs: 0,
  };
  await services('up');
  for (const r of Object.values(LOCAL.rooms)) {
    const admin = createKafka({ clientId: 'soak-admin', brokers: r.brokers, log: silentLogger }).admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: cfg.topic, numPartitions: PARTITIONS, replicationFactor: 1 }], waitForLeaders: true });
    await admin.disconnect();
  }
  const configFile = writeScenarioConfig(cfg);
  const controllers = (['room-a', 'room-b', 'witness'] as const).map((room) => startController(configFile, `observer-${room}`, room));
  const etcd = createEtcdClient({ endpoints: [LOCAL.etcd] });
  const routes = new EtcdRouteStore(etcd, cfg.prefix);
  const seen = new Set<number>();
  const acked = new Set<number>();
  const producer = createDualProducer({
    rooms: Object.entries(LOCAL.rooms).map(([room, r]) => ({ room, brokers: r.brokers })),
    sendTimeoutMs: 500,
    signals: { endpoints: [LOCAL.etcd], prefix: cfg.prefix },
  });
  const consumer = createRoutedConsumer({
    pipeline: cfg.pipeline,
    etcd: { endpoints: [LOCAL.etcd], prefix: cfg.prefix },
    marginMs: cfg.marginMs,
    fromBeginning: true,
    eachMessage: async (m) => {
      seen.add(Number(JSON.parse(m.value!.toString()).seq));
    },
  });
  const stopProducing = produceSequence(producer, cfg.topic, { rate: opts.rate, partitions: PARTITIONS }, (seqs, rooms) => {
    if (rooms?.['room-a'] && rooms['room-b']) for (const s of seqs) acked.add(s);
  });
  const allLogs = () => controllers.flatMap((c) => c.logs);
  try {
    const first = await waitFor('the controller to write the first route', 15_000, async () => (await routes.get(cfg.pipeline))?.route);
    await consumer.start();
    await waitFor('the controller to see both rooms healthy', 15_000, () =>
      allLogs().some((l) => l['msg'] === 'verdict' && l['rule'] === 'healthy' && String(l['rooms']) === 'room-a=OK,room-b=OK') ? true : undefined,
    );
    // The soak window starts here: count only what the controllers log from now on.
    const marks = controllers.map((c) => c.logs.length);
    const started = Date.now();
    const end = started + opts.minutes * 60_000;
    while (Date.now() < end) {
      await new Promise((r) => setTimeout(r, Math.min(30_000, end - Date.now())));
      say(`${Math.round((Date.now() - started) / 1000)} s: produced ${acked.size}, consumed ${seen.size}`);
    }
    const ms = Date.now() - started;
    await stopProducing();
    await waitFor('the consumer to drain', 20_000, () => ([...acked].every((s) => seen.has(s)) ? true : undefined)).catch(() => undefined);
    const window = controllers.flatMap((c, i) => c.logs.slice(marks[i]));
    const verdicts: Record<string, number> = {};
    for (const l of window) if (l['msg'] === 'verdict' && l['rule'] !== 'healthy') verdicts[String(l['rule'])] = (verdicts[String(l['rule'])] ?? 0) + 1;
    const history = await new EtcdJournalStore(etcd, cfg.prefix).history(cfg.pipeline);
    const now = await routes.get(cfg.pipeline);
    return {
      ms,
      produced: acked.size,
      consumed: seen.size,
      lost: [...acked].filter((s) => !seen.has(s)).length,
      switches: history.length,
      routeChanges: (now?.route.epoch ?? first.epoch) - first.epoch,
      verdicts,
      hurried: window.filter((l) => l['msg'] === 'client signal: probing ahead of cadence').length,
    };
  } finally {
    await stopProducing();
    await consumer.close().catch(() => undefined);
    await producer.close(500).catch(() => undefined);
    await Promise.all(controllers.map((c) => c.stop()));
    for (const r of Object.values(LOCAL.rooms)) {
      const admin = createKafka({ clientId: 'soak-admin', brokers: r.brokers, log: silentLogger }).admin();
      await admin.connect().then(() => admin.deleteTopics({ topics: [cfg.topic] })).catch(() => undefined);
      await admin.disconnect().catch(() => undefined);
    }
    await etcd.delete().prefix(cfg.prefix).exec().catch(() => undefined);
    etcd.close();
  }
}
