// node dist/bench/standby-cost.js [--consumers N] [--seconds S]
// What a pre-joined standby member costs an SDK process (issue 19): N routed consumers idle in
// room-a for S seconds, with and then without the standby member in room-b; per consumer, the
// extra TCP connections, resident memory and CPU. Last line: one JSON object.

import { execFileSync } from 'node:child_process';
import { createEtcdClient } from '../src/adapters/etcd/client.js';
import { createKafka } from '../src/adapters/kafka/kafka-client.js';
import { silentLogger } from '../src/ports/logger.js';
import { createRoutedConsumer, type RoutedConsumer } from '../src/sdk/routed-consumer.js';
import { LOCAL, randomId, services, waitFor } from './support/local-stack.js';
import { flag } from './stats.js';

const argv = process.argv.slice(2);
const n = flag(argv, 'consumers', 10);
const seconds = flag(argv, 'seconds', 20);

/** This process's TCP connections to a port. */
function connections(port: number): number {
  const out = execFileSync('ss', ['-tnpH', 'state', 'established', `( dport = :${port} )`]).toString();
  return out.split('\n').filter((l) => l.includes(`pid=${process.pid},`)).length;
}

async function measure(standby: boolean): Promise<{ connA: number; connB: number; rssMb: number; cpuMsPerSec: number }> {
  const id = randomId();
  const topic = `cost-${id}`;
  const prefix = `/switchyard-cost-${id}`;
  for (const r of Object.values(LOCAL.rooms)) {
    const admin = createKafka({ clientId: 'cost-admin', brokers: r.brokers, log: silentLogger }).admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true });
    await admin.disconnect();
  }
  const etcd = createEtcdClient({ endpoints: [LOCAL.etcd] });
  const route = {
    pipeline: 'cost', chain: 'primary', room: 'room-a', epoch: 1, since: Date.now(), reason: 'standby cost', consumerGroup: `cost-${id}`, history: [],
    kafka: { brokers: [...LOCAL.rooms['room-a'].brokers], topics: [topic] },
    standby: { room: 'room-b', brokers: [...LOCAL.rooms['room-b'].brokers] },
  };
  await etcd.put(`${prefix}/routes/cost`).value(JSON.stringify(route)).exec();
  const consumers: RoutedConsumer[] = [];
  try {
    global.gc?.();
    const rss0 = process.memoryUsage().rss;
    for (let i = 0; i < n; i++) {
      const c = createRoutedConsumer({ pipeline: 'cost', etcd: { endpoints: [LOCAL.etcd], prefix }, marginMs: 1000, eachMessage: async () => undefined, standbyConsumer: standby, signals: false, pacing: false });
      consumers.push(c);
      await c.start();
    }
    await waitFor('every consumer to consume (and its standby to join)', 30_000, () =>
      consumers.every((c) => c.status().servingRoom === 'room-a') ? true : undefined,
    );
    await new Promise((r) => setTimeout(r, 3000));
    const cpu0 = process.cpuUsage();
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const cpu = process.cpuUsage(cpu0);
    global.gc?.();
    return {
      connA: connections(19092),
      connB: connections(29092),
      rssMb: (process.memoryUsage().rss - rss0) / 1e6,
      cpuMsPerSec: (cpu.user + cpu.system) / 1000 / ((Date.now() - t0) / 1000),
    };
  } finally {
    await Promise.all(consumers.map((c) => c.close()));
    await etcd.delete().prefix(prefix).exec();
    etcd.close();
    for (const r of Object.values(LOCAL.rooms)) {
      const admin = createKafka({ clientId: 'cost-admin', brokers: r.brokers, log: silentLogger }).admin();
      await admin.connect().then(() => admin.deleteTopics({ topics: [topic] })).catch(() => undefined);
      await admin.disconnect().catch(() => undefined);
    }
  }
}

await services('up');
const without = await measure(false);
const withStandby = await measure(true);
const per = (x: number) => Number((x / n).toFixed(2));
console.log(`${'standby'.padEnd(9)}${'conn a'.padStart(8)}${'conn b'.padStart(8)}${'rss MB'.padStart(9)}${'cpu ms/s'.padStart(10)}`);
for (const [name, m] of [['off', without], ['joined', withStandby]] as const) {
  console.log(`${name.padEnd(9)}${String(m.connA).padStart(8)}${String(m.connB).padStart(8)}${m.rssMb.toFixed(1).padStart(9)}${m.cpuMsPerSec.toFixed(1).padStart(10)}`);
}
console.log(
  JSON.stringify({
    bench: 'standby-cost',
    consumers: n,
    seconds,
    extra_connections_per_consumer: per(withStandby.connB - without.connB + withStandby.connA - without.connA),
    extra_rss_mb_per_consumer: per(withStandby.rssMb - without.rssMb),
    extra_cpu_ms_per_sec_per_consumer: per(withStandby.cpuMsPerSec - without.cpuMsPerSec),
  }),
);
process.exit(0);
