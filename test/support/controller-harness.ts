// A real Controller and SwitchRunner on the real etcd, with stub probes and a journal store
// that can fail a write on demand: what the controller integration tests build on.

import { GRPCDeadlineExceededError, type Etcd3 } from 'etcd3';
import { etcdKeys } from '../../src/adapters/etcd/client.js';
import { EtcdIntentStore } from '../../src/adapters/etcd/intent-store.js';
import { EtcdJournalStore } from '../../src/adapters/etcd/journal-store.js';
import { EtcdLeaderLock } from '../../src/adapters/etcd/leader-lock.js';
import { EtcdObservationStore } from '../../src/adapters/etcd/observation-store.js';
import { EtcdRouteStore } from '../../src/adapters/etcd/route-store.js';
import { systemClock } from '../../src/adapters/system/system-clock.js';
import { Controller } from '../../src/controller/controller.js';
import type { Observation } from '../../src/core/health.js';
import type { SwitchJournal, SwitchRecord, SwitchStep } from '../../src/core/journal.js';
import type { QueryRoute, Topology } from '../../src/core/model.js';
import { Executor } from '../../src/executor/executor.js';
import type { HealthProbe } from '../../src/ports/health-probe.js';
import type { ConsumerAck, JournalStore, StoredJournal } from '../../src/ports/journal-store.js';
import { silentLogger, type Logger } from '../../src/ports/logger.js';
import { noMetrics, type ControllerMetrics } from '../../src/ports/metrics.js';
import type { Fence, OnMalformed, WriteOutcome } from '../../src/ports/route-store.js';
import { randomId } from '../../bench/support/local-stack.js';
import { etcdSwitchRunner } from './switch-runner.js';


/** A JournalStore that rejects the next put saving `step`, once, as etcd does on a deadline. */
export class FlakyJournals implements JournalStore {
  failOn: SwitchStep | undefined;
  failures = 0;
  constructor(private readonly inner: JournalStore) {}
  list(onMalformed?: OnMalformed): Promise<Map<string, StoredJournal>> {
    return this.inner.list(onMalformed);
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
export class StubProbes {
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

export interface Counted extends ControllerMetrics {
  readonly ticks: string[];
  readonly rejected: string[];
}

export function countingMetrics(): Counted {
  const ticks: string[] = [];
  const rejected: string[] = [];
  return { ...noMetrics, ticks, rejected, tick: (o) => ticks.push(o), writeRejected: (r) => rejected.push(r) };
}

/** A controller under its own etcd prefix (the caller deletes it). */
export function buildController(etcd: Etcd3, topology: Topology, over: { stallAfterMs?: number; log?: Logger } = {}) {
  const prefix = `/switchyard-ctlfault-${randomId()}`;
  const routes = new EtcdRouteStore(etcd, prefix);
  const queryRoutes = new EtcdRouteStore<QueryRoute>(etcd, prefix, 'query-routes');
  const journals = new FlakyJournals(new EtcdJournalStore(etcd, prefix));
  const metrics = countingMetrics();
  const errors: string[] = [];
  const stub = new StubProbes();
  const lock = new EtcdLeaderLock(etcd, prefix, 'ctl-test', 3, silentLogger);
  const runner = etcdSwitchRunner(etcd, prefix, { journals, routes, queryRoutes, observer: 'ctl-test', verifyTimeoutMs: 300, metrics });
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
    log: over.log ?? silentLogger,
    storeKeys: etcdKeys(prefix),
    metrics,
    countError: (site) => errors.push(site),
    ...(over.stallAfterMs !== undefined && { stallAfterMs: over.stallAfterMs }),
  });
  return { prefix, routes, journals, metrics, errors, stub, lock, controller };
}


/** Resolves when run() returns, or rejects after `ms` (a loop that never ends is the bug). */
export function settles(run: Promise<void>, ms: number): Promise<void> {
  return Promise.race([run, new Promise<void>((_, reject) => setTimeout(() => reject(new Error(`run() did not return within ${ms} ms of the stop signal`)), ms))]);
}


export interface LogLine {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly msg: string;
  readonly fields: Record<string, unknown>;
}

/** A logger that keeps every line, for tests that assert what was logged (and how often). */
export function capturingLogger(lines: LogLine[] = []): Logger & { readonly lines: LogLine[] } {
  const make = (base: Record<string, unknown>): Logger => ({
    debug: (msg, fields) => lines.push({ level: 'debug', msg, fields: { ...base, ...fields } }),
    info: (msg, fields) => lines.push({ level: 'info', msg, fields: { ...base, ...fields } }),
    warn: (msg, fields) => lines.push({ level: 'warn', msg, fields: { ...base, ...fields } }),
    error: (msg, fields) => lines.push({ level: 'error', msg, fields: { ...base, ...fields } }),
    child: (fields) => make({ ...base, ...fields }),
  });
  return Object.assign(make({}), { lines });
}
