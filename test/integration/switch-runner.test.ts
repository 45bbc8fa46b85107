import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { createEtcdClient } from '../../src/adapters/etcd/client.js';
import { EtcdJournalStore } from '../../src/adapters/etcd/journal-store.js';
import { EtcdLeaderLock } from '../../src/adapters/etcd/leader-lock.js';
import { EtcdRouteStore } from '../../src/adapters/etcd/route-store.js';
import { EtcdWatermarkStore } from '../../src/adapters/etcd/watermark-store.js';
import { kubeConfigFor, ServiceSelectorActuator } from '../../src/adapters/kubernetes/service-selector.js';
import { systemClock } from '../../src/adapters/system/system-clock.js';
import { SWITCH_STEPS } from '../../src/core/journal.js';
import { queryRouteOf, type QueryRoute } from '../../src/core/model.js';
import { SwitchRunner } from '../../src/executor/switch-runner.js';
import { silentLogger } from '../../src/ports/logger.js';
import { noMetrics } from '../../src/ports/metrics.js';
import { LOCAL, randomId } from '../../bench/support/local-stack.js';
import { routeOn, testPipeline, testTopology } from '../support/model.js';

const etcd = createEtcdClient({ endpoints: [LOCAL.etcd] });
const prefix = `/switchyard-runner-${randomId()}`;
afterAll(async () => {
  await etcd.delete().prefix(prefix).exec();
  etcd.close();
});

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
    const actuator = new ServiceSelectorActuator(kubeConfigFor(`http://127.0.0.1:${(api.address() as AddressInfo).port}`));

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

    const runner = new SwitchRunner({
      journals,
      routes,
      queryRoutes,
      watermarks: new EtcdWatermarkStore(etcd, prefix),
      olapAnswers: async () => true,
      pointService: async (_p, chain, epoch) => {
        const outcome = await actuator.point({ namespace: 'data', name: 'olap' }, { 'switchyard.io/chain': chain }, epoch);
        return `service data/olap ${outcome.kind} switchyard.io/chain=${chain} at epoch ${epoch}`;
      },
      observer: 'runner-test',
      verifyTimeoutMs: 0,
      clock: systemClock,
      log: silentLogger,
      metrics: noMetrics,
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
      // A finished journal is never run again.
      expect((await runner.advance(leadership.fence, stored, leadership.lost)).kind).toBe('done');
      expect(await journals.history('live')).toHaveLength(1);
    } finally {
      api.close();
      await lock.resign();
    }
  });
});
