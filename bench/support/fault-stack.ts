// A small multi-replica stack for fault tests and the takeover benchmark: its own etcd prefix
// and topic, controllers as child processes (each with its own env), and readers for what the
// controllers wrote. Loopback only; every wait bounded; stop() cleans up.

import { createEtcdClient } from '../../src/adapters/etcd/client.js';
import { EtcdJournalStore } from '../../src/adapters/etcd/journal-store.js';
import { EtcdRouteStore } from '../../src/adapters/etcd/route-store.js';
import { createKafka } from '../../src/adapters/kafka/kafka-client.js';
import { silentLogger } from '../../src/ports/logger.js';
import { LOCAL, randomId, startController, waitFor, writeScenarioConfig, type ControllerProcess, type ScenarioConfig } from './local-stack.js';

export interface Replica extends ControllerProcess {
  readonly name: string;
  readonly room: string;
  /** The HTTP port it listens on (from its log). */
  port(): Promise<number>;
  /** When it logged `msg` first (epoch ms), optionally after `since`. */
  firstLog(msg: string, since?: number): number | undefined;
}

export class FaultStack {
  readonly id = randomId();
  readonly cfg: ScenarioConfig;
  readonly etcd = createEtcdClient({ endpoints: [LOCAL.etcd] });
  readonly routes: EtcdRouteStore;
  readonly journals: EtcdJournalStore;
  private readonly replicas: Replica[] = [];
  private readonly files = new Map<string, string>();

  constructor(over: Partial<ScenarioConfig> = {}) {
    this.cfg = {
      prefix: `/switchyard-fault-${this.id}`,
      topic: `fault-${this.id}`,
      group: `fault-group-${this.id}`,
      pipeline: 'live-dashboard',
      probeIntervalMs: 250,
      fallAfter: 3,
      marginMs: 2000,
      observersRequired: 2,
      leaseTtlSeconds: 2,
      verifyTimeoutMs: 1000,
      ...over,
    };
    this.routes = new EtcdRouteStore(this.etcd, this.cfg.prefix);
    this.journals = new EtcdJournalStore(this.etcd, this.cfg.prefix);
  }

  async createTopic(): Promise<void> {
    for (const room of Object.values(LOCAL.rooms)) {
      const admin = createKafka({ clientId: 'fault-admin', brokers: room.brokers, log: silentLogger }).admin();
      await admin.connect();
      try {
        await admin.createTopics({ topics: [{ topic: this.cfg.topic, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true });
      } finally {
        await admin.disconnect();
      }
    }
  }

  /** The topology file replicas started without overrides use (for CLI commands). */
  configFile(): string {
    const key = JSON.stringify({});
    let file = this.files.get(key);
    if (!file) {
      file = writeScenarioConfig(this.cfg);
      this.files.set(key, file);
    }
    return file;
  }

  /** Starts a replica; `configOver` gives it its own view of the topology (e.g. a cut-off path). */
  start(name: string, room: string, env: Record<string, string> = {}, configOver: Partial<ScenarioConfig> = {}): Replica {
    const key = JSON.stringify(configOver);
    let file = this.files.get(key);
    if (!file) {
      file = writeScenarioConfig({ ...this.cfg, ...configOver });
      this.files.set(key, file);
    }
    const proc = startController(file, name, room, env);
    const replica: Replica = {
      ...proc,
      name,
      room,
      port: () => waitFor(`${name}'s HTTP port`, 10_000, () => proc.logs.find((l) => l['msg'] === 'http listening')?.['port'] as number | undefined),
      firstLog: (msg, since = 0) => {
        const hit = proc.logs.find((l) => l['msg'] === msg && Date.parse(String(l['time'])) >= since);
        return hit ? Date.parse(String(hit['time'])) : undefined;
      },
    };
    this.replicas.push(replica);
    return replica;
  }

  async leader(): Promise<Replica> {
    return waitFor('a leader', 20_000, () => this.replicas.find((r) => r.child.exitCode === null && r.firstLog('elected leader') !== undefined && !r.logs.some((l) => l['msg'] === 'leadership lost; stopped acting, campaigning again')));
  }

  /** Waits until some replica has seen both rooms OK (steady state). */
  async steady(): Promise<void> {
    await waitFor('both rooms OK', 20_000, () =>
      this.replicas.some((r) => r.logs.some((l) => l['msg'] === 'verdict' && l['rule'] === 'healthy' && l['rooms'] === 'room-a=OK,room-b=OK')) ? true : undefined,
    );
  }

  async ready(replica: Replica): Promise<boolean> {
    const res = await fetch(`http://127.0.0.1:${await replica.port()}/readyz`).catch(() => undefined);
    return res?.status === 200;
  }

  async metric(replica: Replica, name: string): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${await replica.port()}/metrics`)).text();
    return text
      .split('\n')
      .filter((l) => l.startsWith(name))
      .reduce((n, l) => n + Number(l.split(' ').pop()), 0);
  }

  async stop(): Promise<void> {
    for (const r of this.replicas) {
      if (r.child.signalCode === null && r.child.exitCode === null) r.child.kill('SIGCONT');
    }
    await Promise.all(this.replicas.map((r) => r.stop()));
    await this.etcd.delete().prefix(this.cfg.prefix).exec().catch(() => undefined);
    this.etcd.close();
  }
}
