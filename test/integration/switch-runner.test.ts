import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { createEtcdClient } from '../../src/adapters/etcd/client.js';
import { EtcdConsumerAnnouncer, EtcdConsumerRegistry } from '../../src/adapters/etcd/consumer-registry.js';
import { EtcdJournalStore } from '../../src/adapters/etcd/journal-store.js';
import { EtcdLeaderLock } from '../../src/adapters/etcd/leader-lock.js';
import { EtcdRouteStore } from '../../src/adapters/etcd/route-store.js';
import { KubernetesActuator, kubeConfigFor } from '../../src/adapters/kubernetes/fenced-patch.js';
import { SWITCH_STEPS, stepAt } from '../../src/core/journal.js';
import { queryRouteOf, type QueryRoute } from '../../src/core/model.js';
import type { SwitchRunner, SwitchRunnerDeps } from '../../src/executor/switch-runner.js';
import type { ConsumerPresence } from '../../src/ports/consumer-registry.js';
import { silentLogger } from '../../src/ports/logger.js';
import { LOCAL, randomId, waitFor } from '../../bench/support/local-stack.js';
import { KafkaGroupInspector } from '../../src/adapters/kafka/group-inspector.js';
import { createKafka } from '../../src/adapters/kafka/kafka-client.js';
import { createTopicEverywhere } from '../support/sdk-stack.js';
import { routeOn, testPipeline, testTopology } from '../support/model.js';
import { etcdSwitchRunner } from '../support/switch-runner.js';

const etcd = createEtcdClient({ endpoints: [LOCAL.etcd] });
const prefix = `/switchyard-runner-${randomId()}`;
afterAll(async () => {
  await etcd.delete().prefix(prefix).exec();
  etcd.close();
});

/** A leader of its own on a fresh pipeline whose route is at epoch 1, on primary. */
async function leadOn(pipeline: string) {
  const topology = testTopology([testPipeline(pipeline)]);
  const routes = new EtcdRouteStore(etcd, prefix);
  const journals = new EtcdJournalStore(etcd, prefix);
  const lock = new EtcdLeaderLock(etcd, `${prefix}/${pipeline}`, 'runner-test', 5, silentLogger);
  const leadership = await lock.campaign(new AbortController().signal);
  const from = routeOn(topology, pipeline, 'primary', 1, Date.now());
  expect(await routes.put(leadership.fence, from, undefined)).toEqual({ kind: 'written' });
  return { topology, routes, journals, lock, leadership, from };
}

/** A runner on the test's etcd and these stores; `deps` names what else differs. */
const runnerOn = (journals: EtcdJournalStore, routes: EtcdRouteStore, deps: Partial<SwitchRunnerDeps> = {}): SwitchRunner => etcdSwitchRunner(etcd, prefix, { journals, routes, ...deps });

describe('switch runner on a real etcd', () => {
  it('runs every step in order, flips consumer and query routes, points the Service, records once', async () => {
    // A loopback stand-in for the API server: one Service at route epoch 1, selecting primary.
    const requests: { method?: string; url?: string; body?: unknown }[] = [];
    const svc = { metadata: { name: 'olap', namespace: 'data', resourceVersion: '7', annotations: { 'switchyard.io/route-epoch': '1' } }, spec: { selector: { 'switchyard.io/chain': 'primary' } } };
    const api = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        requests.push({ method: req.method, url: req.url, ...(body && { body: JSON.parse(body) }) });
        if (req.method === 'PATCH') {
          const patch = JSON.parse(body) as typeof svc;
          svc.metadata = { ...svc.metadata, ...patch.metadata, resourceVersion: '8', annotations: { ...svc.metadata.annotations, ...patch.metadata.annotations } };
          svc.spec.selector = { ...svc.spec.selector, ...patch.spec.selector };
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ apiVersion: 'v1', kind: 'Service', ...svc }));
      });
    });
    await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
    const actuator = new KubernetesActuator(kubeConfigFor(`http://127.0.0.1:${(api.address() as AddressInfo).port}`));

    const topology = testTopology([testPipeline('live')]);
    const rooms = topology.rooms as Map<string, { name: string; kafka: { brokers: string[] }; olap?: { url: string } }>;
    rooms.set('room-a', { ...rooms.get('room-a')!, olap: { url: LOCAL.rooms['room-a'].olap } });
    rooms.set('room-b', { ...rooms.get('room-b')!, olap: { url: LOCAL.rooms['room-b'].olap } });
    const routes = new EtcdRouteStore(etcd, prefix);
    const queryRoutes = new EtcdRouteStore<QueryRoute>(etcd, prefix, 'query-routes');
    const journals = new EtcdJournalStore(etcd, prefix);
    const lock = new EtcdLeaderLock(etcd, prefix, 'runner-test', 5, silentLogger);
    const leadership = await lock.campaign(new AbortController().signal);
    const from = routeOn(topology, 'live', 'primary', 1, Date.now());
    expect(await routes.put(leadership.fence, from, undefined)).toEqual({ kind: 'written' });
    expect(await queryRoutes.put(leadership.fence, queryRouteOf(from, Date.now())!, undefined)).toEqual({ kind: 'written' });

    const runner = runnerOn(journals, routes, {
      queryRoutes,
      pointService: async (_p, chain, epoch) => {
        const outcome = await actuator.point({ namespace: 'data', name: 'olap' }, { 'switchyard.io/chain': chain }, epoch);
        return `service data/olap ${outcome.kind} switchyard.io/chain=${chain} at epoch ${epoch}`;
      },
    });
    const to = routeOn(topology, 'live', 'standby', 2, Date.now());
    try {
      const result = await runner.start(leadership.fence, { kind: 'switch-route', from, route: to, reason: 'test failover', detectedAfterMs: 700 }, 'failover', undefined, leadership.lost);
      expect(result.kind).toBe('done');
      const stored = (await journals.list()).get('live')!;
      expect(stored.journal.steps.map((s) => s.step)).toEqual([...SWITCH_STEPS]);
      expect(stored.journal.steps.find((s) => s.step === 'flip-queries')!.note).toBe(
        `query route ${LOCAL.rooms['room-b'].olap} (room-b) written at epoch 2; service data/olap patched switchyard.io/chain=standby at epoch 2`,
      );
      expect((await routes.get('live'))!.route).toMatchObject({ epoch: 2, room: 'room-b' });
      expect((await queryRoutes.get('live'))!.route).toMatchObject({ epoch: 2, room: 'room-b', url: LOCAL.rooms['room-b'].olap });
      expect(requests).toEqual([
        { method: 'GET', url: '/api/v1/namespaces/data/services/olap' },
        {
          method: 'PATCH',
          url: '/api/v1/namespaces/data/services/olap',
          body: { metadata: { resourceVersion: '7', annotations: { 'switchyard.io/route-epoch': '2' } }, spec: { selector: { 'switchyard.io/chain': 'standby' } } },
        },
      ]);
      const history = await journals.history('live');
      expect(history).toHaveLength(1);
      expect(history[0]).toMatchObject({ id: 'live-e2', outcome: 'unverified', detectedAfterMs: 700, leaders: ['runner-test'] });
      expect(stepAt(stored.journal, 'fence-old')!.note).toBe(
        '0 live consumer(s), 0 serving an epoch below 2; not stopped by the controller: an SDK consumer stops using its route when it sees a newer epoch, and epoch 2 is written at flip-consumers',
      );
      expect(history[0]!.note).toBe(`unverified within 0 ms: 0 of 0 live consumer(s) acknowledged epoch 2; no consumer acknowledged epoch 2; ${LOCAL.rooms['room-b'].olap} answers`);
      // A finished journal is never run again.
      expect((await runner.advance(leadership.fence, stored, leadership.lost)).kind).toBe('done');
      expect(await journals.history('live')).toHaveLength(1);
    } finally {
      api.close();
      await lock.resign();
    }
  });

  it('between the intent and the route write: one journal save, and the steps carried by the next save run side by side (ADR 0021)', async () => {
    const { topology, routes, journals, lock, leadership, from } = await leadOn('carried');
    const registry = new EtcdConsumerRegistry(etcd, prefix);
    // What reaches etcd, in order: each journal save (by the steps it holds) and the route write.
    const writes: string[] = [];
    const putJournal = journals.put.bind(journals);
    journals.put = async (fence, journal, version) => {
      writes.push(`journal ${journal.steps.map((s) => s.step).join(',')}`);
      return putJournal(fence, journal, version);
    };
    const putRoute = routes.put.bind(routes);
    routes.put = async (fence, route, version) => {
      writes.push(`route epoch ${route.epoch}`);
      return putRoute(fence, route, version);
    };
    // start-jobs holds until fence-old has asked who is live (at most 2 s): in turn, it would wait it out.
    let asked!: () => void;
    const fenceOldAsked = new Promise<void>((r) => (asked = r));
    const live = registry.live.bind(registry);
    registry.live = async (pipeline) => {
      asked();
      return live(pipeline);
    };
    let sideBySide = false;
    const runner = runnerOn(journals, routes, {
      consumers: registry,
      startJobs: async () => {
        sideBySide = await Promise.race([fenceOldAsked.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 2000))]);
        return 'no stream jobs to start';
      },
    });
    try {
      const to = routeOn(topology, 'carried', 'standby', 2, Date.now());
      const result = await runner.start(leadership.fence, { kind: 'switch-route', from, route: to, reason: 'test failover', detectedAfterMs: 0 }, 'failover', undefined, leadership.lost);
      expect(result.kind).toBe('done');
      expect(sideBySide).toBe(true);
      expect(writes.slice(0, 3)).toEqual(['journal intent', 'route epoch 2', 'journal intent,gate,start-jobs,fence-old,place-offsets,flip-consumers']);
      const stored = (await journals.list()).get('carried')!.journal;
      expect(stored.steps.map((s) => s.step)).toEqual([...SWITCH_STEPS]);
      expect(stepAt(stored, 'start-jobs')!.note).toBe('no stream jobs to start');
    } finally {
      await lock.resign();
    }
  });

  it('resumed after its route was written but not its steps (the save did not land): the carried steps are not run again, and a start-jobs that would fail holds nothing', async () => {
    const { topology, routes, journals, lock, leadership, from } = await leadOn('resumed');
    const to = routeOn(topology, 'resumed', 'standby', 2, Date.now());
    // The first run: the journal's save after the route write times out (it did not apply).
    const putJournal = journals.put.bind(journals);
    let failSaves = true;
    journals.put = async (fence, journal, version) => {
      if (failSaves && journal.steps.some((st) => st.step === 'flip-consumers')) throw new Error('4 DEADLINE_EXCEEDED: Deadline exceeded');
      return putJournal(fence, journal, version);
    };
    let startJobsCalls = 0;
    const runner = (startJobs: () => Promise<string>) =>
      runnerOn(journals, routes, {
        startJobs: async () => {
          startJobsCalls++;
          return startJobs();
        },
      });
    try {
      const first = await runner(async () => 'warm standby started').start(leadership.fence, { kind: 'switch-route', from, route: to, reason: 'test failover', detectedAfterMs: 0 }, 'failover', undefined, leadership.lost);
      expect(first).toMatchObject({ kind: 'retry', failed: true, opened: true });
      expect((await routes.get('resumed'))!.route.epoch).toBe(2);
      const stored = (await journals.list()).get('resumed')!;
      expect(stored.journal.steps.map((st) => st.step)).toEqual(['intent']);
      // The next tick resumes it; the Flink API is unreachable now, which start-jobs would fail on.
      failSaves = false;
      const resumed = await runner(async () => {
        throw new Error('flink: connect ECONNREFUSED');
      }).advance(leadership.fence, stored, leadership.lost);
      expect(resumed.kind).toBe('done');
      expect(startJobsCalls).toBe(1);
      const journal = (await journals.list()).get('resumed')!.journal;
      expect(journal.steps.map((st) => st.step)).toEqual([...SWITCH_STEPS]);
      for (const st of ['gate', 'start-jobs', 'fence-old', 'place-offsets'] as const) {
        expect(stepAt(journal, st)!.note).toBe('not run again: the route is at epoch 2 already, written by this switch after this step ran');
      }
      expect(stepAt(journal, 'flip-consumers')!.note).toBe('route already at epoch 2');
      // Recorded in order: no step's time is before the one before it.
      const times = journal.steps.map((st) => st.at);
      expect(times).toEqual([...times].sort((a, b) => a - b));
      expect(await journals.history('resumed')).toHaveLength(1);
    } finally {
      await lock.resign();
    }
  });

  describe('verify counts the live consumers', () => {
    // Each case on its own pipeline, with consumers announced under their own leases as the SDK does.
    const announcers: EtcdConsumerAnnouncer[] = [];
    afterAll(async () => {
      await Promise.all(announcers.map((a) => a.withdraw()));
    });

    async function switchWith(pipeline: string, verifyTimeoutMs: number, groups?: KafkaGroupInspector) {
      const { topology, routes, journals, lock, leadership, from } = await leadOn(pipeline);
      const runner = runnerOn(journals, routes, { verifyTimeoutMs, ...(groups && { groups }) });
      const to = routeOn(topology, pipeline, 'standby', 2, Date.now());
      const announce = async (consumer: string, over: Partial<ConsumerPresence> = {}) => {
        const a = new EtcdConsumerAnnouncer(etcd, prefix, 5);
        announcers.push(a);
        await a.announce({ consumer, pipeline, epoch: 1, room: 'room-a', state: 'consuming', servingRoom: 'room-a', servingEpoch: 1, since: Date.now(), ...over });
        return a;
      };
      const ack = (consumer: string, firstMessageAt: number) => journals.ack(pipeline, { consumer, epoch: 2, room: 'room-b', firstMessageAt });
      return {
        journals,
        announce,
        ack,
        start: () => runner.start(leadership.fence, { kind: 'switch-route', from, route: to, reason: 'test failover', detectedAfterMs: 500 }, 'failover', undefined, leadership.lost),
        advance: async () => runner.advance(leadership.fence, (await journals.list()).get(pipeline)!, leadership.lost),
        close: () => lock.resign(),
      };
    }

    it('two live consumers, one acknowledges: pending, then unverified naming the other', async () => {
      const s = await switchWith('two-one', 1500);
      try {
        await s.announce('c1');
        await s.announce('c2');
        const started = await s.start();
        expect(started.kind).toBe('pending');
        if (started.kind !== 'pending') return;
        expect(stepAt(started.journal, 'fence-old')!.note).toMatch(/^2 live consumer\(s\), 2 serving an epoch below 2 \(c1 in room-a, c2 in room-a\); not stopped by the controller/);
        await s.ack('c1', Date.now());
        // c2 sees the new route but cannot reach room-b: it stays on room-a and says so.
        await s.announce('c2', { epoch: 2, room: 'room-b', state: 'unreachable', reason: 'room-b brokers refuse connections' });
        expect((await s.advance()).kind).toBe('pending');
        await new Promise((r) => setTimeout(r, 1600));
        expect((await s.advance()).kind).toBe('done');
        const [record] = await s.journals.history('two-one');
        expect(record!.outcome).toBe('unverified');
        expect(record!.rtoMs).toBeUndefined();
        expect(record!.note).toBe(
          'unverified within 1500 ms: 1 of 2 live consumer(s) acknowledged epoch 2; ' +
            'not moved: c2 (unreachable: room-b brokers refuse connections; sees epoch 2 in room-b, serving room-a under epoch 1)',
        );
      } finally {
        await s.close();
      }
    });

    it('two live consumers, both acknowledge: verified, the RTO from the earliest first record', async () => {
      const s = await switchWith('two-two', 10_000);
      try {
        await s.announce('c1');
        await s.announce('c2');
        expect((await s.start()).kind).toBe('pending');
        const first = Date.now();
        await s.ack('c1', first + 40);
        expect((await s.advance()).kind).toBe('pending');
        await s.ack('c2', first);
        expect((await s.advance()).kind).toBe('done');
        const [record] = await s.journals.history('two-two');
        expect(record).toMatchObject({ outcome: 'verified', note: 'verified: 2 of 2 live consumer(s) acknowledged epoch 2' });
        expect(record!.rtoMs).toBe(first - record!.decidedAt + 500);
      } finally {
        await s.close();
      }
    });

    it("a member still in the pipeline's group in the old room's Kafka holds verify until it leaves", async () => {
      const pipeline = `old-${randomId()}`;
      const s = await switchWith(pipeline, 10_000, new KafkaGroupInspector());
      await createTopicEverywhere(`${pipeline}-events`, 1);
      // Not an SDK consumer: a plain Kafka client of the same group, still reading room-a.
      const straggler = createKafka({ clientId: 'straggler', brokers: LOCAL.rooms['room-a'].brokers, log: silentLogger }).consumer({ groupId: `${pipeline}-group` });
      await straggler.connect();
      await straggler.subscribe({ topic: `${pipeline}-events` });
      await straggler.run({ eachMessage: async () => undefined });
      try {
        await waitFor('the straggler to join', 15_000, async () => ((await new KafkaGroupInspector().members(LOCAL.rooms['room-a'].brokers, `${pipeline}-group`, 2000)).length > 0 ? true : undefined));
        await s.announce('c1');
        const started = await s.start();
        expect(started.kind).toBe('pending');
        if (started.kind !== 'pending') return;
        await s.ack('c1', Date.now());
        // Every SDK consumer moved, but the old room is still read: not verified yet.
        const held = await s.advance();
        expect(held.kind).toBe('pending');
        await straggler.disconnect();
        expect((await s.advance()).kind).toBe('done');
        const [record] = await s.journals.history(pipeline);
        expect(record).toMatchObject({ outcome: 'verified', note: `verified: 1 of 1 live consumer(s) acknowledged epoch 2; group ${pipeline}-group in room-a: no member` });
      } finally {
        await straggler.disconnect().catch(() => undefined);
        await s.close();
      }
    });

    it("an SDK consumer's paused standby member in the old room (named by its presence) is not counted as reading it", async () => {
      const pipeline = `standby-${randomId()}`;
      const s = await switchWith(pipeline, 10_000, new KafkaGroupInspector());
      await createTopicEverywhere(`${pipeline}-events`, 1);
      // A member of the group in room-a, as the SDK's standby member would be after a flip to room-b.
      const member = createKafka({ clientId: 'sdk-standby-c1-1', brokers: LOCAL.rooms['room-a'].brokers, log: silentLogger }).consumer({ groupId: `${pipeline}-group` });
      await member.connect();
      await member.subscribe({ topic: `${pipeline}-events` });
      await member.run({ eachMessage: async () => undefined });
      try {
        await waitFor('the member to join', 15_000, async () => ((await new KafkaGroupInspector().members(LOCAL.rooms['room-a'].brokers, `${pipeline}-group`, 2000)).length > 0 ? true : undefined));
        // Its presence names a standby in another room only: the member counts, verify waits.
        await s.announce('c1', { standbyClientId: 'sdk-standby-c1-1', standbyRoom: 'room-b' });
        expect((await s.start()).kind).toBe('pending');
        await s.ack('c1', Date.now());
        expect((await s.advance()).kind).toBe('pending');
        // Named as its standby in room-a: not counted.
        await s.announce('c1', { standbyClientId: 'sdk-standby-c1-1', standbyRoom: 'room-a' });
        expect((await s.advance()).kind).toBe('done');
        const [record] = await s.journals.history(pipeline);
        expect(record!.note).toBe(`verified: 1 of 1 live consumer(s) acknowledged epoch 2; group ${pipeline}-group in room-a: no member (and 1 paused standby member(s) of SDK consumers, not counted)`);
      } finally {
        await member.disconnect().catch(() => undefined);
        await s.close();
      }
    });

    it('a consumer whose presence has gone is not waited for; one consuming under the new epoch counts as moved', async () => {
      const s = await switchWith('gone', 10_000);
      try {
        await s.announce('c1');
        const c2 = await s.announce('c2');
        await s.announce('c3');
        expect((await s.start()).kind).toBe('pending');
        await s.ack('c1', Date.now());
        await c2.withdraw();
        await s.announce('c3', { epoch: 2, room: 'room-b', state: 'consuming', servingRoom: 'room-b', servingEpoch: 2 });
        expect((await s.advance()).kind).toBe('done');
        const [record] = await s.journals.history('gone');
        expect(record).toMatchObject({ outcome: 'verified', note: 'verified: 1 of 2 live consumer(s) acknowledged epoch 2, 1 more report consuming under it (c3)' });
      } finally {
        await s.close();
      }
    });
  });
});
