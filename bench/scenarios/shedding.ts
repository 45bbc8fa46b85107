// Shedding end to end on real Kafka and etcd (issue 15), shared by bench:caps and
// test/integration/shedding.test.ts: three pipelines served by room-a (capacity 1,500 records/s),
// their inbound rates measured from room-a's log ends by the real position tracker, caps kept by
// the leader's CapKeeper, and SDK consumers for P2 and P3 that follow the caps. P0's traffic grows
// (P3 should stop, then P2; P0 never), then falls (both should read again).

import type { Producer } from 'kafkajs';
import { createEtcdClient } from '../../src/adapters/etcd/client.js';
import { EtcdLeaderLock } from '../../src/adapters/etcd/leader-lock.js';
import { EtcdRouteStore } from '../../src/adapters/etcd/route-store.js';
import { EtcdCapStore } from '../../src/adapters/etcd/cap-store.js';
import { KafkaPositionReader } from '../../src/adapters/kafka/position-reader.js';
import { createKafka } from '../../src/adapters/kafka/kafka-client.js';
import { CapKeeper } from '../../src/controller/cap-keeper.js';
import { PositionTracker } from '../../src/controller/position-tracker.js';
import type { CapRecord } from '../../src/core/caps.js';
import { routeFor, type Pipeline, type Route, type TierName, type Topology } from '../../src/core/model.js';
import { benchPolicy } from '../support/policy.js';
import { silentLogger } from '../../src/ports/logger.js';
import { createRoutedConsumer, type RoutedConsumer } from '../../src/sdk/routed-consumer.js';
import { LOCAL, randomId, waitFor } from '../support/local-stack.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
type Tier = 'p0' | 'p2' | 'p3';

export interface SheddingResult {
  /** Cap changes of P2 and P3 in order, e.g. P3:shed, P2:shed, P2:uncapped, P3:uncapped. */
  readonly steps: readonly string[];
  /** At each phase: was each shed, and did its consumer read in the last second or so. */
  readonly phases: readonly { readonly p0Rate: number; readonly shed: readonly string[]; readonly p2Reading: boolean; readonly p3Reading: boolean }[];
  /** P3 shed while P2 read on, then P2 too, P0 never, and both resumed (P2 first) and read again. */
  readonly shed_order_ok: boolean;
}


export async function measureShedding(opts: { capacity?: number } = {}): Promise<SheddingResult> {
  const id = randomId();
  const prefix = `/switchyard-shed-${id}`;
  const names: Record<Tier, string> = { p0: `shed-p0-${id}`, p2: `shed-p2-${id}`, p3: `shed-p3-${id}` };
  const brokers = [...LOCAL.rooms['room-a'].brokers];
  const pipeline = (name: string, tier: TierName): Pipeline => ({ name, tier, topics: [name], consumerGroup: `${name}-group`, chains: [{ name: 'primary', room: 'room-a', role: 'primary', jobs: [] }] });
  const pipelines = [pipeline(names.p0, 'P0'), pipeline(names.p2, 'P2'), pipeline(names.p3, 'P3')];
  const topology: Topology = {
    rooms: new Map([['room-a', { name: 'room-a', kafka: { brokers }, capacity: { recordsPerSecond: opts.capacity ?? 1500 } }]]),
    pipelines: new Map(pipelines.map((p) => [p.name, p])),
    policies: new Map([['P0', benchPolicy('P0')], ['P2', benchPolicy('P2', { shedOrder: 2 })], ['P3', benchPolicy('P3', { shedOrder: 1 })]]),
  };
  const etcd = createEtcdClient({ endpoints: [LOCAL.etcd] });
  const lock = new EtcdLeaderLock(etcd, prefix, 'shed-leader', 5, silentLogger);
  const consumers: RoutedConsumer[] = [];
  let producer: Producer | undefined;
  let running = true;
  const background: Promise<void>[] = [];
  try {
    const leadership = await lock.campaign(new AbortController().signal);
    const admin = createKafka({ clientId: 'shed-admin', brokers, log: silentLogger }).admin();
    await admin.connect();
    await admin.createTopics({ topics: Object.values(names).map((topic) => ({ topic, numPartitions: 2, replicationFactor: 1 })), waitForLeaders: true });
    await admin.disconnect();
    producer = createKafka({ clientId: 'shed-producer', brokers, log: silentLogger }).producer();
    await producer.connect();
    const routes = new Map<string, Route | undefined>(pipelines.map((p) => [p.name, routeFor(topology, p, p.chains[0]!, 1, Date.now(), 'shedding scenario')]));
    for (const [p, r] of routes) await etcd.put(`${prefix}/routes/${p}`).value(JSON.stringify(r)).exec();
    const positions = new PositionTracker({ rooms: new Map([['room-a', { reader: new KafkaPositionReader('room-a', brokers, silentLogger), topics: Object.values(names) }]]), timeoutMs: 2000, log: silentLogger });
    const capStore = new EtcdCapStore(etcd, prefix);
    const caps = new EtcdRouteStore<CapRecord>(etcd, prefix, 'caps');
    const keeper = new CapKeeper({ caps, store: capStore, baselines: () => new Map(), positions, log: silentLogger, by: 'shed-leader', intervalMs: 1000 });

    const reads: Record<'p2' | 'p3', number[]> = { p2: [], p3: [] };
    for (const tier of ['p2', 'p3'] as const) {
      const c = createRoutedConsumer({ pipeline: names[tier], etcd: { endpoints: [LOCAL.etcd], prefix }, marginMs: 1000, fromBeginning: true, eachMessage: async () => void reads[tier].push(Date.now()) });
      consumers.push(c);
      await c.start();
    }
    const rate: Record<Tier, number> = { p0: 500, p2: 400, p3: 400 };
    background.push(
      (async () => {
        let n = 0;
        while (running) {
          const t0 = Date.now();
          await producer!.sendBatch({ topicMessages: (['p0', 'p2', 'p3'] as const).map((k) => ({ topic: names[k], messages: Array.from({ length: rate[k] / 10 }, () => ({ value: String(n++) })) })) });
          await sleep(Math.max(0, 100 - (Date.now() - t0)));
        }
      })(),
      (async () => {
        while (running) {
          await positions.sample();
          await keeper.round(topology, routes, leadership.fence, leadership.lost, Date.now());
          await sleep(250);
        }
      })(),
    );
    const shed = async () => [...(await caps.list()).values()].filter((c) => c.route.paused).map((c) => c.route.pipeline === names.p0 ? 'P0' : c.route.pipeline === names.p2 ? 'P2' : 'P3').sort();
    const reading = (tier: 'p2' | 'p3') => reads[tier].some((t) => t > Date.now() - 1500);
    const phases: SheddingResult['phases'][number][] = [];
    const phase = async (p0Rate: number, settled: (shed: string[]) => boolean) => {
      rate.p0 = p0Rate;
      await waitFor(`the caps to settle at P0 ${p0Rate}/s`, 25_000, async () => settled(await shed()), 250).catch(() => undefined);
      await sleep(2500);
      phases.push({ p0Rate, shed: await shed(), p2Reading: reading('p2'), p3Reading: reading('p3') });
    };
    await sleep(6000);
    await phase(500, (s) => s.length === 0);
    await phase(900, (s) => s.includes('P3'));
    await phase(1300, (s) => s.includes('P2'));
    await phase(300, (s) => s.length === 0);
    const steps = (await capStore.history()).filter((e) => e.pipeline !== names.p0).map((e) => `${e.pipeline === names.p2 ? 'P2' : 'P3'}:${e.origin}`);
    const [calm, short, shorter, back] = phases;
    const shed_order_ok =
      calm!.shed.length === 0 && calm!.p2Reading && calm!.p3Reading &&
      short!.shed.join() === 'P3' && short!.p2Reading && !short!.p3Reading &&
      shorter!.shed.join() === 'P2,P3' && !shorter!.p2Reading && !shorter!.p3Reading &&
      back!.shed.length === 0 && back!.p2Reading && back!.p3Reading &&
      steps.join() === 'P3:shed,P2:shed,P2:uncapped,P3:uncapped';
    return { steps, phases, shed_order_ok };
  } finally {
    running = false;
    await Promise.all(background).catch(() => undefined);
    await Promise.all(consumers.map((c) => c.close().catch(() => undefined)));
    await producer?.disconnect().catch(() => undefined);
    await lock.resign().catch(() => undefined);
    await etcd.delete().prefix(prefix).exec().catch(() => undefined);
    etcd.close();
  }
}
