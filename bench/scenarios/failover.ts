// One kill-and-flip run on the real local stack, shared by the e2e test, the benchmark and the
// demo: a dual-writing producer, the controller as a child process, an SDK consumer; room-a's
// broker is SIGKILLed in steady state and the run measures detection, flip and RTO, and counts
// lost and duplicated records.

import { createKafka } from '../../src/adapters/kafka/kafka-client.js';
import { createEtcdClient } from '../../src/adapters/etcd/client.js';
import { EtcdRouteStore } from '../../src/adapters/etcd/route-store.js';
import { EtcdJournalStore } from '../../src/adapters/etcd/journal-store.js';
import type { SwitchRecord } from '../../src/core/journal.js';
import { silentLogger, type Logger } from '../../src/ports/logger.js';
import { createDualProducer } from '../../src/sdk/dual-producer.js';
import { createRoutedConsumer, type FlipReport } from '../../src/sdk/routed-consumer.js';
import { killService, LOCAL, randomId, services, startController, waitFor, writeScenarioConfig } from '../support/local-stack.js';
import { produceSequence } from '../support/traffic.js';

export interface FailoverOptions {
  readonly probeIntervalMs?: number;
  readonly fallAfter?: number;
  readonly marginMs?: number;
  /** The SDK's push signals to the observers (default true; false: detection by probes alone). */
  readonly signals?: boolean;
  /** Records per second, in batches every 10 ms. */
  readonly rate?: number;
  /** Steady state before the kill, and production after the flip. */
  readonly steadyMs?: number;
  readonly afterMs?: number;
  readonly log?: Logger;
  /** Progress lines for humans (the demo). */
  readonly say?: (line: string) => void;
}

export interface FailoverResult {
  readonly produced: number;
  readonly consumed: number;
  readonly lost: number;
  readonly lostSample: readonly number[];
  readonly duplicates: number;
  /** Duplicates whose event time lies before the replay window: must be 0. */
  readonly duplicatesOutsideMargin: number;
  readonly killAt: number;
  readonly detectMs: number;
  readonly flipMs: number;
  readonly rtoMs: number;
  readonly detectionWindowMs: number;
  readonly flip: FlipReport;
  readonly fromRoom: string;
  readonly toRoom: string;
  /** The switches the controllers recorded in etcd for the pipeline. */
  readonly history: readonly SwitchRecord[];
  /** The leader's switch steps: when each was saved, ms after the decision. */
  readonly steps: readonly { readonly step: string; readonly afterMs: number }[];
  /** Verdicts where the data-budget gate held the switch (waiting or refusing). */
  readonly budgetWaits: number;
  /** Controllers that heard a client's push signal and probed ahead of their cadence. */
  readonly hurriedObservers: number;
}

const PARTITIONS = 3;

async function createTopic(brokers: readonly string[], topic: string): Promise<void> {
  const admin = createKafka({ clientId: 'scenario-admin', brokers, log: silentLogger }).admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}

export async function runFailover(opts: FailoverOptions = {}): Promise<FailoverResult> {
  const say = opts.say ?? (() => undefined);
  const id = randomId();
  const cfg = {
    prefix: `/switchyard-run-${id}`,
    topic: `events-${id}`,
    group: `dashboard-${id}`,
    pipeline: 'live-dashboard',
    probeIntervalMs: opts.probeIntervalMs ?? 250,
    fallAfter: opts.fallAfter ?? 3,
    marginMs: opts.marginMs ?? 2000,
    observersRequired: 2,
    // P0 as shipped: a switch that would lose a record waits; in sync, it must not wait at all.
    maxLossMs: 0,
  };
  const rate = opts.rate ?? 500;

  await services('up');
  await Promise.all(Object.values(LOCAL.rooms).map((r) => createTopic(r.brokers, cfg.topic)));
  const configFile = writeScenarioConfig(cfg);
  say(`topic ${cfg.topic} created in room-a and room-b; starting the controller`);
  // One controller replica per room and one at a witness site, as the README deploys them: P0
  // needs observers in two sites to agree before failing over, even when a room dies whole.
  const controllers = (['room-a', 'room-b', 'witness'] as const).map((room) =>
    startController(configFile, `observer-${room}`, room, {}, (l) => {
      if (l['msg'] === 'verdict' || l['msg'] === 'route written' || l['msg'] === 'elected leader') {
        say(`controller@${room}: ${String(l['msg'])}: ${String(l['reason'] ?? l['fenceKey'] ?? '')}`);
      }
      if (l['msg'] === 'switch recorded') {
        say(`controller@${room}: switch recorded: ${String(l['id'])} ${String(l['outcome'])}, RTO ${String(l['rtoMs'])} ms (first failed probe -> first record in ${String(l['toRoom'])})`);
      }
    }),
  );
  const allLogs = () => controllers.flatMap((c) => c.logs);

  const etcd = createEtcdClient({ endpoints: [LOCAL.etcd] });
  const routes = new EtcdRouteStore(etcd, cfg.prefix);
  const seen = new Map<number, number>(); // seq -> times processed
  const timestamps = new Map<number, number>();
  const acked = new Set<number>();
  let flip: FlipReport | undefined;
  const producer = createDualProducer({
    rooms: Object.entries(LOCAL.rooms).map(([room, r]) => ({ room, brokers: r.brokers })),
    sendTimeoutMs: 500,
    ...(opts.log && { logger: opts.log }),
    ...(opts.signals !== false && { signals: { endpoints: [LOCAL.etcd], prefix: cfg.prefix } }),
  });
  const consumer = createRoutedConsumer({
    pipeline: cfg.pipeline,
    etcd: { endpoints: [LOCAL.etcd], prefix: cfg.prefix },
    marginMs: cfg.marginMs,
    fromBeginning: true,
    signals: opts.signals !== false,
    ...(opts.log && { logger: opts.log }),
    eachMessage: async (m) => {
      const seq = Number(JSON.parse(m.value!.toString()).seq);
      seen.set(seq, (seen.get(seq) ?? 0) + 1);
      timestamps.set(seq, m.timestamp);
    },
    onFlip: (r) => {
      flip = r;
    },
  });

  // A send no room took rejects; those records were never accepted, so they are not counted.
  const stopProducing = produceSequence(producer, cfg.topic, { rate, partitions: PARTITIONS }, (seqs, rooms) => {
    if (rooms?.['room-b']) for (const s of seqs) acked.add(s);
  });

  try {
    await waitFor('the controller to write the first route', 15_000, async () => (await routes.get(cfg.pipeline))?.route);
    await consumer.start();
    await waitFor('the consumer to process records in room-a', 20_000, () => (seen.size > rate / 2 ? true : undefined));
    await waitFor('the controller to see both rooms healthy', 15_000, () =>
      allLogs().some((l) => l['msg'] === 'verdict' && l['rule'] === 'healthy' && String(l['rooms']) === 'room-a=OK,room-b=OK') ? true : undefined,
    );
    await new Promise((r) => setTimeout(r, opts.steadyMs ?? 1500));
    say(`steady state: ${seen.size} records consumed from room-a; SIGKILL room-a's broker now`);

    const killAt = killService(LOCAL.rooms['room-a'].service);
    const report = await waitFor('the consumer to resume in room-b', 30_000, () => flip);
    say(`consumer resumed in ${report.toRoom} (epoch ${report.epoch}); producing a little longer`);
    await new Promise((r) => setTimeout(r, opts.afterMs ?? 2000));
    await stopProducing();
    await waitFor('the consumer to drain every acknowledged record', 20_000, () =>
      [...acked].every((s) => seen.has(s)) ? true : undefined,
    ).catch(() => undefined);

    const journals = new EtcdJournalStore(etcd, cfg.prefix);
    const history = await waitFor('the switch to be recorded', 15_000, async () => {
      const h = await journals.history(cfg.pipeline);
      return h.length > 0 ? h : undefined;
    });
    const journal = (await journals.list()).get(cfg.pipeline)?.journal;
    const steps = (journal?.steps ?? []).map((st) => ({ step: st.step, afterMs: st.at - report.decidedAt }));
    const lostList = [...acked].filter((s) => !seen.has(s)).sort((a, b) => a - b);
    const seekFloor = Math.min(...Object.values(report.seekFrom).flatMap((p) => Object.values(p)));
    let duplicates = 0;
    let duplicatesOutsideMargin = 0;
    for (const [s, n] of seen) {
      if (n < 2) continue;
      duplicates += n - 1;
      if ((timestamps.get(s) ?? 0) < seekFloor) duplicatesOutsideMargin += n - 1;
    }
    return {
      produced: acked.size,
      consumed: seen.size,
      lost: lostList.length,
      lostSample: lostList.slice(0, 10),
      duplicates,
      duplicatesOutsideMargin,
      killAt,
      detectMs: report.decidedAt - killAt,
      flipMs: report.firstMessageAt - report.decidedAt,
      rtoMs: report.firstMessageAt - killAt,
      detectionWindowMs: cfg.fallAfter * cfg.probeIntervalMs,
      flip: report,
      fromRoom: report.fromRoom ?? 'room-a',
      toRoom: report.toRoom,
      history,
      steps,
      budgetWaits: allLogs().filter((l) => l['msg'] === 'verdict' && String(l['rule']).startsWith('data-budget')).length,
      hurriedObservers: controllers.filter((c) => c.logs.some((l) => l['msg'] === 'client signal: probing ahead of cadence' && l['room'] === 'room-a')).length,
    };
  } catch (err) {
    const tail = controllers.flatMap((c) => c.logs.slice(-8)).map((l) => JSON.stringify(l)).join('\n');
    throw new Error(`${(err as Error).message}\n--- controller log (last lines) ---\n${tail}`);
  } finally {
    await stopProducing();
    await consumer.close().catch(() => undefined);
    // Room-a is dead: what is queued for it stays unwritten there (room-b has it).
    await producer.close(500).catch(() => undefined);
    await Promise.all(controllers.map((c) => c.stop()));
    await etcd.delete().prefix(cfg.prefix).exec().catch(() => undefined);
    etcd.close();
    // Bring room-a back for whatever runs next.
    await services('start', LOCAL.rooms['room-a'].service);
  }
}
