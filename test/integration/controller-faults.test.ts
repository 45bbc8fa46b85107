// The real Controller and SwitchRunner on the real etcd, with faults injected where etcd calls
// fail in production: a journal write that times out once, bad stored data, a loop that stalls.
// What must hold: the loop keeps ticking, the leader keeps leading (or campaigns again), the
// switch finishes, and /healthz and /readyz say what is true.

import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { createEtcdClient } from '../../src/adapters/etcd/client.js';
import type { Controller } from '../../src/controller/controller.js';
import { startHttpServer } from '../../src/controller/http-server.js';
import type { Topology } from '../../src/core/model.js';
import { LOCAL, waitFor } from '../../bench/support/local-stack.js';
import { buildController, capturingLogger, settles } from '../support/controller-harness.js';
import { testPipeline, testPolicy, testTopology } from '../support/model.js';

const etcd = createEtcdClient({ endpoints: [LOCAL.etcd] });
const prefixes: string[] = [];
afterAll(async () => {
  for (const p of prefixes) await etcd.delete().prefix(p).exec();
  etcd.close();
});

function build(topology: Topology, over: Parameters<typeof buildController>[2] = {}) {
  const built = buildController(etcd, topology, over);
  prefixes.push(built.prefix);
  return built;
}

async function listen(controller: Controller): Promise<{ server: Server; get: (path: string) => Promise<{ status: number; body: string }> }> {
  const server = await startHttpServer(controller, new Registry(), { port: 0 });
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    get: async (path) => {
      const res = await fetch(`http://127.0.0.1:${port}${path}`);
      return { status: res.status, body: await res.text() };
    },
  };
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
      // The save after the route write times out: the retry finds the route written and saves it.
      t.journals.failOn = 'flip-consumers';
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

  it("a room's failure moves all its pipelines side by side: their switches' journals are written at once, not one switch after another (ADR 0020)", async () => {
    const names = ['p1', 'p2', 'p3', 'p4', 'p5', 'p6'];
    const topology = testTopology(names.map((n) => testPipeline(n)), [testPolicy({ probeIntervalMs: 100, probeTimeoutMs: 80, staleAfterMs: 2000 })]);
    const t = build(topology);
    // Journal writes in flight at once: a tick that ran its switches in turn never has two.
    const put = t.journals.put.bind(t.journals);
    let inFlight = 0;
    let most = 0;
    t.journals.put = async (fence, journal, version) => {
      most = Math.max(most, ++inFlight);
      try {
        return await put(fence, journal, version);
      } finally {
        inFlight--;
      }
    };
    const stop = new AbortController();
    const run = t.controller.run(stop.signal);
    try {
      await waitFor('the first routes', 10_000, async () => ((await t.routes.list()).size === names.length ? true : undefined));
      t.stub.down.add('room-a');
      await waitFor('every pipeline switched', 15_000, async () => {
        const routes = await t.routes.list();
        return names.every((n) => routes.get(n)?.route.room === 'room-b') || undefined;
      });
      expect(most).toBeGreaterThanOrEqual(names.length);
      expect(t.errors).toEqual([]);
    } finally {
      stop.abort();
      await settles(run, 10_000);
    }
  });

  it('a running journal with bad stored data, or values that do not parse, hold only their own pipeline, with the reason, logged once per change', async () => {
    const topology = testTopology([testPipeline('live'), testPipeline('bad'), testPipeline('junk')], [testPolicy({ probeIntervalMs: 100, probeTimeoutMs: 80 })]);
    const log = capturingLogger();
    const t = build(topology, { log });
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
      const held = (p: string) => log.lines.filter((l) => l.msg === 'verdict' && l.fields['pipeline'] === p && l.fields['rule'] === 'invalid-data');
      // Each bad pipeline is held with a reason that names the key to repair, logged once per
      // change of the rooms' health (room-a went DOWN meanwhile), not once per tick.
      const at = t.controller.status().ticks;
      await waitFor('twenty ticks more', 10_000, () => (t.controller.status().ticks > at + 20 ? true : undefined));
      for (const p of ['bad', 'junk']) {
        const rooms = held(p).map((l) => String(l.fields['rooms']));
        expect(rooms.length).toBeGreaterThanOrEqual(1);
        expect(new Set(rooms).size).toBe(rooms.length);
      }
      expect(String(held('bad')[0]!.fields['reason'])).toBe(
        `holding bad: its stored switch journal cannot be carried on (from: not a route object (missing)); check where its consumers read, then delete ${t.prefix}/journal/bad`,
      );
      expect(String(held('junk')[0]!.fields['reason'])).toContain('its stored switch journal is not valid (the stored journal is not JSON)');
      // Nothing was tried (and failed) for them: they are held, not retried every tick.
      expect(t.errors).not.toContain('switch');
      expect(t.controller.status().leader).toBe(true);
      expect(t.controller.status().healthy).toBe(true);
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
