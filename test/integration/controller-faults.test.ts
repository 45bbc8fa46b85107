// The real Controller and SwitchRunner on the real etcd, with faults injected where etcd calls
// fail in production: a journal write that times out once, bad stored data, a loop that stalls.
// What must hold: the loop keeps ticking, the leader keeps leading (or campaigns again), the
// switch finishes, and /healthz and /readyz say what is true.

import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GRPCDeadlineExceededError } from 'etcd3';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { createEtcdClient } from '../../src/adapters/etcd/client.js';
import { EtcdConsumerRegistry } from '../../src/adapters/etcd/consumer-registry.js';
import { EtcdIntentStore } from '../../src/adapters/etcd/intent-store.js';
import { EtcdJournalStore } from '../../src/adapters/etcd/journal-store.js';
import { EtcdLeaderLock } from '../../src/adapters/etcd/leader-lock.js';
import { EtcdObservationStore } from '../../src/adapters/etcd/observation-store.js';
import { EtcdRouteStore } from '../../src/adapters/etcd/route-store.js';
import { EtcdWatermarkStore } from '../../src/adapters/etcd/watermark-store.js';
import { systemClock } from '../../src/adapters/system/system-clock.js';
import { Controller } from '../../src/controller/controller.js';
import { startHttpServer } from '../../src/controller/http-server.js';
import type { Observation } from '../../src/core/health.js';
import type { SwitchJournal, SwitchRecord, SwitchStep } from '../../src/core/journal.js';
import type { QueryRoute, Topology } from '../../src/core/model.js';
import { Executor } from '../../src/executor/executor.js';
import { SwitchRunner } from '../../src/executor/switch-runner.js';
import type { HealthProbe } from '../../src/ports/health-probe.js';
import type { ConsumerAck, JournalStore, StoredJournal } from '../../src/ports/journal-store.js';
import { silentLogger } from '../../src/ports/logger.js';
import { noMetrics, type ControllerMetrics } from '../../src/ports/metrics.js';
import type { Fence, WriteOutcome } from '../../src/ports/route-store.js';
import { LOCAL, randomId, waitFor } from '../../bench/support/local-stack.js';
import { testPipeline, testPolicy, testTopology } from '../support/model.js';

const etcd = createEtcdClient({ endpoints: [LOCAL.etcd] });
const prefixes: string[] = [];
afterAll(async () => {
  for (const p of prefixes) await etcd.delete().prefix(p).exec();
  etcd.close();
});

/** A JournalStore that rejects the next put saving `step`, once, as etcd does on a deadline. */
class FlakyJournals implements JournalStore {
  failOn: SwitchStep | undefined;
  failures = 0;
  constructor(private readonly inner: JournalStore) {}
  list(): Promise<Map<string, StoredJournal>> {
    return this.inner.list();
  }
  put(fence: Fence, journal: SwitchJournal, expectedVersion: string | undefined): Promise<WriteOutcome & { version?: string }> {
    if (this.failOn !== undefined && journal.steps.at(-1)?.step === this.failOn) {
      this.failOn = undefined;
      this.failures++;
      return Promise.reject(new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED: Deadline exceeded'));
    }
    return this.inner.put(fence, journal, expectedVersion);
  }
  finish(fence: Fence, journal: SwitchJournal, record: SwitchRecord, expectedVersion: string): Promise<WriteOutcome> {
    return this.inner.finish(fence, journal, record, expectedVersion);
  }
  history(pipeline?: string, newest?: number): Promise<SwitchRecord[]> {
    return this.inner.history(pipeline, newest);
  }
  acks(pipeline: string): Promise<ConsumerAck[]> {
    return this.inner.acks(pipeline);
  }
  ack(pipeline: string, ack: ConsumerAck): Promise<void> {
    return this.inner.ack(pipeline, ack);
  }
}

/** Kafka probes that say what the test wants: a room is DOWN while `down` names it; `hang` stalls them. */
class StubProbes {
  readonly down = new Set<string>();
  hang: Promise<void> | undefined;
  probes(rooms: readonly string[]): HealthProbe[] {
    return rooms.map((room) => ({
      room,
      probe: async (): Promise<Observation> => {
        if (this.hang) await this.hang;
        const status = this.down.has(room) ? 'DOWN' : 'OK';
        return { room, component: 'kafka', observer: 'ctl-test', observerRoom: 'room-c', at: Date.now(), status, reason: `stub says ${status}`, latencyMs: 1 };
      },
      close: async () => undefined,
    }));
  }
}

interface Counted extends ControllerMetrics {
  readonly ticks: string[];
  readonly rejected: string[];
}

function countingMetrics(): Counted {
  const ticks: string[] = [];
  const rejected: string[] = [];
  return { ...noMetrics, ticks, rejected, tick: (o) => ticks.push(o), writeRejected: (r) => rejected.push(r) };
}

function build(topology: Topology, over: { stallAfterMs?: number } = {}) {
  const prefix = `/switchyard-ctlfault-${randomId()}`;
  prefixes.push(prefix);
  const routes = new EtcdRouteStore(etcd, prefix);
  const queryRoutes = new EtcdRouteStore<QueryRoute>(etcd, prefix, 'query-routes');
  const journals = new FlakyJournals(new EtcdJournalStore(etcd, prefix));
  const metrics = countingMetrics();
  const errors: string[] = [];
  const stub = new StubProbes();
  const lock = new EtcdLeaderLock(etcd, prefix, 'ctl-test', 3, silentLogger);
  const runner = new SwitchRunner({
    journals,
    routes,
    queryRoutes,
    watermarks: new EtcdWatermarkStore(etcd, prefix),
    consumers: new EtcdConsumerRegistry(etcd, prefix),
    olapAnswers: async () => true,
    observer: 'ctl-test',
    verifyTimeoutMs: 300,
    clock: systemClock,
    log: silentLogger,
    metrics,
  });
  const controller = new Controller({
    topology,
    observer: 'ctl-test',
    probes: stub.probes(['room-a', 'room-b']),
    routes,
    observationStore: new EtcdObservationStore(etcd, prefix, 5),
    lock,
    executor: new Executor(routes, queryRoutes, systemClock, silentLogger, metrics),
    journals,
    runner,
    intents: new EtcdIntentStore(etcd, prefix),
    clock: systemClock,
    log: silentLogger,
    metrics,
    countError: (site) => errors.push(site),
    ...(over.stallAfterMs !== undefined && { stallAfterMs: over.stallAfterMs }),
  });
  return { prefix, routes, journals, metrics, errors, stub, lock, controller };
}

async function listen(controller: Controller): Promise<{ server: Server; get: (path: string) => Promise<{ status: number; body: string }> }> {
  const server = await startHttpServer(controller, new Registry(), 0);
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    get: async (path) => {
      const res = await fetch(`http://127.0.0.1:${port}${path}`);
      return { status: res.status, body: await res.text() };
    },
  };
}

/** Resolves when run() returns, or rejects after `ms` (a loop that never ends is the bug). */
function settles(run: Promise<void>, ms: number): Promise<void> {
  return Promise.race([run, new Promise<void>((_, reject) => setTimeout(() => reject(new Error(`run() did not return within ${ms} ms of the stop signal`)), ms))]);
}

describe('controller on a real etcd, with faults', () => {
  it('one DEADLINE_EXCEEDED on a journal write: keeps ticking and leading, finishes the switch, health stays true', async () => {
    const topology = testTopology([testPipeline('live')], [testPolicy({ probeIntervalMs: 100, probeTimeoutMs: 80, staleAfterMs: 2000 })]);
    const t = build(topology);
    const http = await listen(t.controller);
    const stop = new AbortController();
    const run = t.controller.run(stop.signal);
    try {
      await waitFor('the first route', 10_000, async () => (await t.routes.get('live'))?.route.epoch === 1 || undefined);
      t.journals.failOn = 'fence-old';
      t.stub.down.add('room-a');
      const record = await waitFor('the switch recorded', 15_000, async () => (await t.journals.history('live'))[0]);
      expect(t.journals.failures).toBe(1);
      expect(record).toMatchObject({ epoch: 2, toRoom: 'room-b', leaders: ['ctl-test'] });
      expect((await t.routes.get('live'))!.route).toMatchObject({ epoch: 2, room: 'room-b' });
      // The failed save was retried on a later tick and counted; the loop never left.
      expect(t.metrics.rejected).toContain('error');
      expect(t.errors).toContain('switch');
      const ticks = t.controller.status().ticks;
      await waitFor('more ticks', 3000, () => t.controller.status().ticks > ticks + 3 || undefined);
      expect(t.controller.status().leader).toBe(true);
      expect((await http.get('/healthz')).status).toBe(200);
      expect((await http.get('/readyz')).status).toBe(200);
    } finally {
      stop.abort();
      await settles(run, 10_000);
      http.server.close();
    }
  });

  it('a running journal with bad stored data, or values that do not parse, stop only their own pipeline', async () => {
    const topology = testTopology([testPipeline('live'), testPipeline('bad')], [testPolicy({ probeIntervalMs: 100, probeTimeoutMs: 80 })]);
    const t = build(topology);
    // A journal an older or broken writer left: running, with no target route.
    await etcd.put(`${t.prefix}/journal/bad`).value(JSON.stringify({ id: 'bad-e2', pipeline: 'bad', kind: 'failover', reason: 'x', requestedBy: 'x', createdAt: 1, detectedAfterMs: 0, steps: [], status: 'running' }));
    // And values that are not JSON at all: a journal key and a consumer's ack.
    await etcd.put(`${t.prefix}/journal/junk`).value('{"pipeline": "junk", truncat');
    await etcd.put(`${t.prefix}/acks/live/garbled`).value('not json');
    const stop = new AbortController();
    const run = t.controller.run(stop.signal);
    try {
      await waitFor('the first route', 10_000, async () => (await t.routes.get('live'))?.route.epoch === 1 || undefined);
      t.stub.down.add('room-a');
      const record = await waitFor('the good pipeline switched', 15_000, async () => (await t.journals.history('live'))[0]);
      expect(record).toMatchObject({ epoch: 2, toRoom: 'room-b' });
      expect(record!.note).toMatch(/^unverified within 300 ms: 0 of 0 live consumer\(s\) acknowledged epoch 2/);
      expect([...(await t.journals.list()).keys()].sort()).toEqual(['bad', 'live']);
      expect(t.errors).toContain('switch');
      expect(t.controller.status().leader).toBe(true);
    } finally {
      stop.abort();
      await settles(run, 10_000);
    }
  });

  it('leadership given up under it (resign): the controller campaigns again and leads anew', async () => {
    const topology = testTopology([testPipeline('live')], [testPolicy({ probeIntervalMs: 100, probeTimeoutMs: 80 })]);
    const t = build(topology);
    const stop = new AbortController();
    const run = t.controller.run(stop.signal);
    try {
      const first = await waitFor('a leader', 10_000, async () => (t.controller.status().leader ? t.lock.leaderInfo() : undefined));
      await t.lock.resign();
      const again = await waitFor('leading again', 10_000, async () => {
        const info = await t.lock.leaderInfo();
        return t.controller.status().leader && info && info.since !== first.since ? info : undefined;
      });
      expect(again.id).toBe('ctl-test');
      const ticks = t.controller.status().ticks;
      await waitFor('more ticks', 3000, () => t.controller.status().ticks > ticks + 3 || undefined);
    } finally {
      stop.abort();
      await settles(run, 10_000);
    }
  });

  it('a write refused as fenced (election key gone, lease alive): steps down, campaigns again, then switches', async () => {
    const topology = testTopology([testPipeline('live')], [testPolicy({ probeIntervalMs: 100, probeTimeoutMs: 80 })]);
    const t = build(topology);
    const stop = new AbortController();
    const run = t.controller.run(stop.signal);
    try {
      await waitFor('the first route', 10_000, async () => (await t.routes.get('live'))?.route.epoch === 1 || undefined);
      // The lock notices nothing (its lease keeps being renewed), but every fenced write is refused.
      const election = `${t.prefix}/election/`;
      const keys = await etcd.getAll().prefix(election).keys();
      expect(keys).toHaveLength(1);
      await etcd.delete().key(keys[0]!).exec();
      t.stub.down.add('room-a');
      const record = await waitFor('the switch recorded', 15_000, async () => (await t.journals.history('live'))[0]);
      expect(record).toMatchObject({ epoch: 2, toRoom: 'room-b' });
      expect(t.metrics.rejected).toContain('fenced');
      expect(t.controller.status().leader).toBe(true);
      expect(await etcd.getAll().prefix(election).keys()).toHaveLength(1);
    } finally {
      stop.abort();
      await settles(run, 10_000);
    }
  });

  it('a loop that stops completing ticks fails /healthz and /readyz with the reason, and recovers', async () => {
    const topology = testTopology([testPipeline('live')], [testPolicy({ probeIntervalMs: 100, probeTimeoutMs: 80 })]);
    const t = build(topology, { stallAfterMs: 800 });
    const http = await listen(t.controller);
    const stop = new AbortController();
    const run = t.controller.run(stop.signal);
    let release: () => void = () => undefined;
    try {
      await waitFor('ready', 10_000, async () => (await http.get('/readyz')).status === 200 || undefined);
      expect((await http.get('/healthz')).status).toBe(200);
      t.stub.hang = new Promise<void>((r) => (release = r));
      const health = await waitFor('healthz failing', 5000, async () => {
        const h = await http.get('/healthz');
        return h.status === 503 ? h : undefined;
      });
      expect(health.body).toMatch(/no tick completed for \d+ ms/);
      const ready = await http.get('/readyz');
      expect(ready.status).toBe(503);
      expect(ready.body).toMatch(/no tick completed/);
      t.stub.hang = undefined;
      release();
      await waitFor('healthz back', 5000, async () => (await http.get('/healthz')).status === 200 || undefined);
    } finally {
      t.stub.hang = undefined;
      release();
      stop.abort();
      await settles(run, 10_000);
      http.server.close();
    }
  });
});
