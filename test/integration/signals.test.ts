import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Etcd3 } from 'etcd3';
import { createEtcdClient } from '../../src/adapters/etcd/client.js';
import { EtcdSignalStore } from '../../src/adapters/etcd/signal-store.js';
import { createKafka } from '../../src/adapters/kafka/kafka-client.js';
import type { ClientSignal } from '../../src/ports/signal-store.js';
import { silentLogger } from '../../src/ports/logger.js';
import { SignalReporter } from '../../src/sdk/signal-reporter.js';
import { LOCAL, randomId, waitFor } from '../../bench/support/local-stack.js';
import { TcpProxy } from '../support/tcp-proxy.js';

// Issue 19: an SDK client that sees a room's Kafka connection fail leaves a signal in etcd, and
// the observers hear it at once (ADR 0018). Real etcd and a real broker (behind a proxy we cut).
describe('push signals from SDK clients (real etcd and Kafka)', () => {
  let etcd: Etcd3;
  const prefix = `/switchyard-signals-${randomId()}`;

  beforeAll(() => {
    etcd = createEtcdClient({ endpoints: [LOCAL.etcd] });
  });
  afterAll(async () => {
    await etcd.delete().prefix(prefix).exec();
    etcd.close();
  });

  it('a reported signal reaches a follower; a value that is not one is left out with the reason; a stopped follower hears nothing', async () => {
    const store = new EtcdSignalStore(etcd, prefix);
    const heard: ClientSignal[] = [];
    const malformed: string[] = [];
    const stop = await store.follow((s) => heard.push(s), (key, why) => malformed.push(`${key}: ${why}`));
    const signal: ClientSignal = { room: 'room-a', component: 'kafka', client: 'sdk-1', at: Date.now(), reason: '127.0.0.1:19092: ECONNREFUSED' };
    await store.report(signal);
    await waitFor('the signal to be heard', 5000, () => (heard.length > 0 ? true : undefined));
    expect(heard[0]).toEqual(signal);
    await etcd.put(`${prefix}/signals/room-a/forged`).value('{"room":"room-a","component":"olap"}');
    await waitFor('the bad value to be reported', 5000, () => (malformed.length > 0 ? true : undefined));
    expect(malformed[0]).toBe(`${prefix}/signals/room-a/forged: component: must be kafka`);
    expect(heard).toHaveLength(1);
    await stop();
    await store.report({ ...signal, at: Date.now() });
    await new Promise((r) => setTimeout(r, 300));
    expect(heard).toHaveLength(1);
    // The signal lives under the client's lease: closing the store takes it away.
    expect((await etcd.getAll().prefix(`${prefix}/signals/room-a/sdk-1`).keys()).length).toBe(1);
    await store.close();
    expect((await etcd.getAll().prefix(`${prefix}/signals/room-a/sdk-1`).keys()).length).toBe(0);
  });

  it("under a lease the writer holds already (an SDK consumer's presence), a signal is one write and goes with that lease", async () => {
    const presence = etcd.lease(10, { autoKeepAlive: true });
    await presence.put(`${prefix}/consumers/p/sdk-3`).value('{}');
    const store = new EtcdSignalStore(etcd, prefix, { lease: () => presence });
    await store.report({ room: 'room-a', component: 'kafka', client: 'sdk-3', at: Date.now(), reason: 'ECONNREFUSED' });
    const key = `${prefix}/signals/room-a/sdk-3`;
    const stored = await etcd.get(key).exec();
    expect(stored.kvs).toHaveLength(1);
    expect(stored.kvs[0]!.lease).toBe(await presence.grant());
    // Closing the store leaves the holder's lease alone; revoking the lease takes the signal away.
    await store.close();
    expect(await etcd.get(key).string()).not.toBeNull();
    await presence.revoke();
    expect(await etcd.get(key).string()).toBeNull();
    // A holder's lease gone before it heard: the signal goes under the store's own lease instead.
    const own = new EtcdSignalStore(etcd, prefix, { lease: () => presence });
    await own.report({ room: 'room-a', component: 'kafka', client: 'sdk-3', at: Date.now(), reason: 'ECONNREFUSED' });
    const again = await etcd.get(key).exec();
    expect(again.kvs).toHaveLength(1);
    expect(again.kvs[0]!.lease).not.toBe(stored.kvs[0]!.lease);
    await own.close();
    expect(await etcd.get(key).string()).toBeNull();
  });

  it('a reporter leaves at most one signal per room a second', async () => {
    const written: ClientSignal[] = [];
    const fake = { report: async (s: ClientSignal) => void written.push(s), follow: async () => async () => undefined, close: async () => undefined };
    let now = 1_000_000;
    const reporter = new SignalReporter(fake, 'sdk-2', silentLogger, 1000, () => now);
    reporter.trouble('room-a', 'b1:9092', 'ECONNRESET');
    reporter.trouble('room-a', 'b1:9092', 'ECONNREFUSED');
    reporter.trouble('room-b', 'b2:9092', 'ECONNREFUSED');
    now += 1000;
    reporter.trouble('room-a', 'b1:9092', 'ECONNREFUSED');
    await new Promise((r) => setImmediate(r));
    expect(written.map((s) => `${s.room} ${s.reason}`)).toEqual(['room-a b1:9092: ECONNRESET', 'room-b b2:9092: ECONNREFUSED', 'room-a b1:9092: ECONNREFUSED']);
  });

  it("a kafkajs client reports a broker connection that breaks or is refused, and not its own disconnect", async () => {
    // room-a's second listener advertises the proxy's port: every connection goes through it.
    const { listen, via } = LOCAL.rooms['room-a'].cuttable;
    const proxy = new TcpProxy('127.0.0.1', listen, via);
    await proxy.start();
    const trouble: string[] = [];
    const client = () => createKafka({ clientId: 'signals-test', brokers: [`127.0.0.1:${via}`], log: silentLogger, timeoutMs: 1000, retries: 0, quiet: true, onConnectionTrouble: (broker, why) => trouble.push(`${broker} ${why}`) }).admin();
    const admin = client();
    try {
      await admin.connect();
      await admin.listTopics();
      // Our own disconnect is no trouble: the broker's answering close is expected.
      const other = client();
      await other.connect();
      await other.listTopics();
      await other.disconnect();
      await new Promise((r) => setTimeout(r, 300));
      expect(trouble).toEqual([]);
      // The path breaks: the client says so, naming the broker.
      proxy.cutAll();
      await waitFor('the break to be reported', 5000, () => (trouble.length > 0 ? true : undefined));
      expect(trouble[0]).toMatch(new RegExp(`^127\\.0\\.0\\.1:${via} (ECONNRESET|closed by the broker)$`));
      // A broker that is gone: the next connection fails and is reported too.
      await proxy.stop();
      const before = trouble.length;
      await admin.listTopics().catch(() => undefined);
      await waitFor('the refused connection to be reported', 5000, () => (trouble.length > before ? true : undefined));
      expect(trouble.at(-1)).toBe(`127.0.0.1:${via} ECONNREFUSED`);
    } finally {
      await admin.disconnect().catch(() => undefined);
      await proxy.stop().catch(() => undefined);
    }
  });
});
