import type { Etcd3 } from 'etcd3';
import { EtcdConsumerRegistry } from '../../src/adapters/etcd/consumer-registry.js';
import { EtcdJournalStore } from '../../src/adapters/etcd/journal-store.js';
import { EtcdRouteStore } from '../../src/adapters/etcd/route-store.js';
import { EtcdWatermarkStore } from '../../src/adapters/etcd/watermark-store.js';
import { systemClock } from '../../src/adapters/system/system-clock.js';
import type { QueryRoute } from '../../src/core/model.js';
import { SwitchRunner, type SwitchRunnerDeps } from '../../src/executor/switch-runner.js';
import { silentLogger } from '../../src/ports/logger.js';
import { noMetrics } from '../../src/ports/metrics.js';

/**
 * A switch runner whose stores all live under one etcd prefix, with no stream jobs, no workloads,
 * an OLAP that answers and no wait for consumers to verify. `deps` names what a test changes: a
 * store it watches, a step it stubs, its own observer name.
 */
export function etcdSwitchRunner(etcd: Etcd3, prefix: string, deps: Partial<SwitchRunnerDeps> = {}): SwitchRunner {
  return new SwitchRunner({
    journals: new EtcdJournalStore(etcd, prefix),
    routes: new EtcdRouteStore(etcd, prefix),
    queryRoutes: new EtcdRouteStore<QueryRoute>(etcd, prefix, 'query-routes'),
    watermarks: new EtcdWatermarkStore(etcd, prefix),
    consumers: new EtcdConsumerRegistry(etcd, prefix),
    olapAnswers: async () => true,
    observer: 'runner-test',
    verifyTimeoutMs: 0,
    clock: systemClock,
    log: silentLogger,
    metrics: noMetrics,
    ...deps,
  });
}
