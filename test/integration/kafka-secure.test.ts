import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKafka } from '../../src/adapters/kafka/kafka-client.js';
import { KafkaClientQuotas } from '../../src/adapters/kafka/client-quotas.js';
import { KafkaHealthProbe } from '../../src/adapters/kafka/kafka-health-probe.js';
import { systemClock } from '../../src/adapters/system/system-clock.js';
import { loadConfig } from '../../src/config/load.js';
import { kafkaAccessFor, type KafkaAccess } from '../../src/ports/kafka-access.js';
import { silentLogger } from '../../src/ports/logger.js';
import { KAFKA_LIBS, LOCAL, randomId, services, waitFor } from '../../bench/support/local-stack.js';
import { createEtcdClient } from '../../src/adapters/etcd/client.js';
import { createDualProducer } from '../../src/sdk/dual-producer.js';
import { createRoutedConsumer } from '../../src/sdk/routed-consumer.js';
import { putRoute, routeTo } from '../support/sdk-stack.js';

// Kafka as production runs it (scripts/services.sh kafka-secure): a SASL_SSL listener with
// SCRAM-SHA-512 users (made by the storage tool at format) and a PLAIN user, and an SSL listener
// that requires a client certificate. No plaintext listener for clients.

const run = promisify(execFile);
const { sasl: SASL, mtls: MTLS, pki: PKI } = LOCAL.kafkaSecure;
const ca = () => readFileSync(join(PKI, 'ca.crt'));
const password = (user: string) => readFileSync(join(PKI, `${user}.password`), 'utf8').trim();
const scram = (username = 'switchyard', pw = password(username)): KafkaAccess => ({ tls: { ca: ca() }, sasl: { mechanism: 'scram-sha-512', username, password: pw } });
const plain = (): KafkaAccess => ({ tls: { ca: ca() }, sasl: { mechanism: 'plain', username: 'plain', password: password('plain') } });
const certificate = (): KafkaAccess => ({ tls: { ca: ca(), cert: readFileSync(join(PKI, 'switchyard.crt')), key: readFileSync(join(PKI, 'switchyard.key')) } });
const id = randomId();
const dir = mkdtempSync(join(tmpdir(), 'switchyard-kafka-secure-'));
const closers: (() => Promise<unknown>)[] = [];

// Started for this file and stopped after it: the rest of the suite runs without this broker.
beforeAll(async () => {
  await services('start', LOCAL.kafkaSecure.service);
});

afterAll(async () => {
  for (const c of closers) await c().catch(() => undefined);
  await services('stop', LOCAL.kafkaSecure.service);
});

function admin(broker: string, access: KafkaAccess | undefined) {
  const a = createKafka({ clientId: `kafka-secure-test-${id}`, brokers: [broker], log: silentLogger, timeoutMs: 3000, retries: 0, quiet: true, access }).admin();
  closers.push(() => a.disconnect());
  return a;
}

/** The broker's own ConfigCommand, as the switchyard SCRAM user: SCRAM credentials are changed on a running cluster this way. */
async function setScramPassword(user: string, pw: string): Promise<void> {
  const props = join(dir, `admin-${randomId()}.properties`);
  writeFileSync(
    props,
    [
      'security.protocol=SASL_SSL',
      'sasl.mechanism=SCRAM-SHA-512',
      `sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="switchyard" password="${password('switchyard')}";`,
      'ssl.truststore.type=PEM',
      `ssl.truststore.location=${join(PKI, 'ca.crt')}`,
      '',
    ].join('\n'),
  );
  await run('java', ['-Xmx128m', '-XX:TieredStopAtLevel=1', '-cp', `${KAFKA_LIBS}/*`, 'kafka.admin.ConfigCommand', '--bootstrap-server', SASL, '--command-config', props, '--alter', '--entity-type', 'users', '--entity-name', user, '--add-config', `SCRAM-SHA-512=[iterations=4096,password=${pw}]`], { timeout: 60_000 });
}

describe('Kafka over TLS with SASL or a client certificate', () => {
  it('SCRAM-SHA-512 and PLAIN over SASL_SSL and a client certificate over SSL create, write and read a topic', async () => {
    const topic = `secure-${id}`;
    const a = admin(SASL, scram());
    await a.connect();
    expect(await a.createTopics({ topics: [{ topic, numPartitions: 2, replicationFactor: 1 }], waitForLeaders: true })).toBe(true);
    const producer = createKafka({ clientId: `kafka-secure-test-${id}`, brokers: [SASL], log: silentLogger, timeoutMs: 3000, access: plain() }).producer();
    closers.push(() => producer.disconnect());
    await producer.connect();
    await producer.send({ topic, messages: [{ value: 'a', partition: 0 }, { value: 'b', partition: 1 }, { value: 'c', partition: 1 }] });
    const viaCert = admin(MTLS, certificate());
    await viaCert.connect();
    const offsets = await viaCert.fetchTopicOffsets(topic);
    expect(offsets.map((o) => Number(o.high)).sort()).toEqual([1, 2]);
  });

  it('refuses a client without TLS, without credentials, with a wrong password or without a client certificate; no error holds the password', async () => {
    const wrong = `wrong-${randomId()}-password`;
    const attempts: [string, string, KafkaAccess | undefined][] = [
      ['no TLS', SASL, undefined],
      ['TLS but no SASL', SASL, { tls: { ca: ca() } }],
      ['a wrong SCRAM password', SASL, scram('switchyard', wrong)],
      ['a wrong PLAIN password', SASL, { tls: { ca: ca() }, sasl: { mechanism: 'plain', username: 'plain', password: wrong } }],
      ['no client certificate', MTLS, { tls: { ca: ca() } }],
    ];
    for (const [what, broker, access] of attempts) {
      const a = admin(broker, access);
      const err = await a
        .connect()
        .then(() => a.listTopics())
        .then(
          () => undefined,
          (e: Error) => e,
        );
      expect(err, `${what}: connected`).toBeInstanceOf(Error);
      expect(`${err?.message} ${JSON.stringify(err)}`, what).not.toContain(wrong);
    }
  });

  it('client quotas (our raw protocol client) over SCRAM, PLAIN and a client certificate; a wrong password is an authentication error without the password', async () => {
    const clientId = `quota-${id}`;
    const bySc = new KafkaClientQuotas({ brokers: [SASL], access: () => scram() });
    const byPlain = new KafkaClientQuotas({ brokers: [SASL], access: plain });
    const byCert = new KafkaClientQuotas({ brokers: [MTLS], access: certificate });
    closers.push(() => bySc.close(), () => byPlain.close(), () => byCert.close());
    // A broker applies an altered quota from the metadata log a moment after the controller took it
    // (KRaft): a read right after the write may still see the old value, so each read waits for it.
    const reads = (q: KafkaClientQuotas, value: number | undefined) =>
      waitFor(`${clientId} to read ${value}`, 5000, async () => ((await q.consumerByteRate(clientId)) === value ? true : undefined));
    await bySc.setConsumerByteRate(clientId, 123_456);
    await reads(byPlain, 123_456);
    await reads(byCert, 123_456);
    await byCert.setConsumerByteRate(clientId, undefined);
    await reads(bySc, undefined);

    const wrong = `wrong-${randomId()}-password`;
    const bad = new KafkaClientQuotas({ brokers: [SASL], access: () => scram('switchyard', wrong) });
    closers.push(() => bad.close());
    const err = await bad.consumerByteRate(clientId).then(() => undefined, (e: Error) => e);
    expect(err?.message).toMatch(/SASL SCRAM-SHA-512 authentication of switchyard failed/);
    expect(err?.message).not.toContain(wrong);
    const noSasl = new KafkaClientQuotas({ brokers: [MTLS], access: () => ({ tls: { ca: ca() } }) });
    closers.push(() => noSasl.close());
    await expect(noSasl.consumerByteRate(clientId)).rejects.toThrow();
  });

  it('from a topology: the probe finds the room OK with the user from a password file; a password rotated on the broker and in the file is used on the next connection, without a restart', async () => {
    const user = `rotated-${id}`;
    const first = `first-${randomId()}`;
    const second = `second-${randomId()}`;
    await setScramPassword(user, first);
    const pwFile = join(dir, 'kafka.password');
    writeFileSync(pwFile, `${first}\n`);
    mkdirSync(join(dir, 'policies'), { recursive: true });
    writeFileSync(join(dir, 'policies', 'p0.yaml'), 'tier: P0\nfailover: manual\nprobe: { intervalMs: 500, timeoutMs: 400 }\nfallAfter: 3\nriseAfter: 3\nstaleAfterMs: 4000\nminDwellMs: 0\nduplicateMarginMs: 1000\n');
    const topology = join(dir, 'topology.yaml');
    writeFileSync(
      topology,
      [
        `etcd: { endpoints: ["${LOCAL.etcd}"] }`,
        'rooms:',
        `  room-a: { kafka: { brokers: ["${SASL}"], tls: { caFile: ${join(PKI, 'ca.crt')} }, sasl: { mechanism: scram-sha-512, username: ${user}, password: { file: kafka.password } } } }`,
        `  room-b: { kafka: { brokers: ["${LOCAL.rooms['room-b'].brokers[0]}"] } }`,
        'pipelines:',
        '  p:',
        '    tier: P0',
        '    topics: [t]',
        '    consumerGroup: g',
        '    chains: { primary: { room: room-a, role: primary }, standby: { room: room-b, role: standby } }',
        '',
      ].join('\n'),
    );
    const config = loadConfig(topology);
    expect(JSON.stringify([...config.topology.rooms.values()])).not.toContain(first);
    const probe = () => new KafkaHealthProbe({ room: 'room-a', brokers: [SASL], topics: [], observer: 'test', observerRoom: 'room-c', timeoutMs: 3000, clock: systemClock, log: silentLogger, access: config.kafkaAccess });
    const before = probe();
    closers.push(() => before.close());
    expect(await before.probe()).toMatchObject({ component: 'kafka', status: 'OK' });
    const quotas = new KafkaClientQuotas({ brokers: [SASL], access: () => kafkaAccessFor(config.kafkaAccess, [SASL]) });
    closers.push(() => quotas.close());
    expect(await quotas.consumerByteRate(`nobody-${id}`)).toBeUndefined();
    // A kafkajs client built once and kept (as the backfill copier and the lag readers keep theirs).
    const kept = createKafka({ clientId: `kept-${id}`, brokers: [SASL], log: silentLogger, timeoutMs: 3000, retries: 0, quiet: true, access: () => kafkaAccessFor(config.kafkaAccess, [SASL]) }).admin();
    closers.push(() => kept.disconnect());
    await kept.connect();
    expect(await kept.listTopics()).toEqual(expect.any(Array));
    await kept.disconnect();

    await setScramPassword(user, second);
    // The broker no longer takes the old password...
    const stale = new KafkaClientQuotas({ brokers: [SASL], access: () => scram(user, first) });
    closers.push(() => stale.close());
    await expect(stale.consumerByteRate(`nobody-${id}`)).rejects.toThrow(/authentication/);
    // ...and once the file holds the new one, the next connection uses it: no restart, no reload.
    writeFileSync(pwFile, `${second}\n`);
    await quotas.close();
    expect(await quotas.consumerByteRate(`nobody-${id}`)).toBeUndefined();
    const after = probe();
    closers.push(() => after.close());
    expect(await after.probe()).toMatchObject({ component: 'kafka', status: 'OK' });
    // The kept client's next connection authenticates with the new password.
    await kept.connect();
    expect(await kept.listTopics()).toEqual(expect.any(Array));
  });

  it('the SDK: the dual producer writes with the sdk SCRAM user, and the routed consumer reads with the access its book gives the route\'s brokers', async () => {
    const topic = `sdk-secure-${id}`;
    const a = admin(SASL, scram());
    await a.connect();
    await a.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true });
    const sdk = scram('sdk');
    const producer = createDualProducer({ rooms: [{ room: 'room-a', brokers: [SASL], access: sdk }] });
    closers.push(() => producer.close());
    const at = Date.now();
    const sent = await producer.send(topic, [0, 1, 2].map((i) => ({ key: `k${i}`, value: `v${i}`, timestamp: at + i, partition: 0 })));
    expect(sent).toEqual({ 'room-a': true });

    const etcd = createEtcdClient({ endpoints: [LOCAL.etcd] });
    const prefix = `/switchyard-kafka-secure-${id}`;
    closers.push(async () => {
      await etcd.delete().prefix(prefix).exec();
      etcd.close();
    });
    await putRoute(etcd, prefix, routeTo(`p-${id}`, 1, 'room-a', topic, `g-${id}`, [SASL]));
    const got: string[] = [];
    const consumer = createRoutedConsumer({
      pipeline: `p-${id}`,
      etcd: { endpoints: [LOCAL.etcd], prefix },
      marginMs: 1000,
      fromBeginning: true,
      kafkaAccess: { [SASL]: () => scram('sdk') },
      eachMessage: async (m) => {
        got.push(m.value?.toString() ?? '');
      },
    });
    closers.push(() => consumer.close());
    await consumer.start();
    await waitFor('the three records', 20_000, () => (got.length >= 3 ? true : undefined));
    expect(got.sort()).toEqual(['v0', 'v1', 'v2']);
  });
});
