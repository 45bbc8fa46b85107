import { mkdirSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { loadConfig } from '../../src/config/load.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createEtcdClient, type EtcdClientOptions } from '../../src/adapters/etcd/client.js';
import { EtcdLeaderLock } from '../../src/adapters/etcd/leader-lock.js';
import { EtcdRouteStore } from '../../src/adapters/etcd/route-store.js';
import { EtcdWatermarkStore } from '../../src/adapters/etcd/watermark-store.js';
import { silentLogger } from '../../src/ports/logger.js';
import { LOCAL, PROJECT, randomId, STATE_DIR, waitFor } from '../../bench/support/local-stack.js';
import { createRoutedConsumer } from '../../src/sdk/routed-consumer.js';
import { createTopicEverywhere, writeRecords } from '../support/sdk-stack.js';
import { cli } from '../support/cli.js';
import { routeOn, testPipeline, testTopology } from '../support/model.js';

// etcd as production runs it (scripts/services.sh etcd-secure): TLS with client certificates and
// auth on, a controller user that may read and write under /switchyard-secure/ only, and an SDK
// user that may read routes and write only its own watermarks, acks and presence.

const SECURE = 'https://127.0.0.1:23791';
const PKI = join(STATE_DIR, 'etcd-secure', 'pki');
const PREFIX = '/switchyard-secure';
const pem = (name: string) => readFileSync(join(PKI, name));
const password = (user: string) => readFileSync(join(PKI, `${user}.password`), 'utf8').trim();
const certs = (user: string) => ({ ca: pem('ca.crt'), cert: pem(`${user}.crt`), key: pem(`${user}.key`) });
const pipeline = `secure-${randomId().slice(0, 6)}`;
const clients: ReturnType<typeof createEtcdClient>[] = [];

function client(opts: Omit<EtcdClientOptions, 'endpoints'>) {
  const c = createEtcdClient({ endpoints: [SECURE], callTimeoutMs: 3000, ...opts });
  clients.push(c);
  return c;
}

afterAll(async () => {
  const root = client({ tls: certs('root'), auth: { username: 'root', password: password('root') } });
  await root.delete().prefix(`${PREFIX}/routes/${pipeline}`).exec();
  await root.delete().prefix(`${PREFIX}/watermarks/${pipeline}`).exec();
  await root.delete().prefix(`${PREFIX}/`).exec().catch(() => undefined);
  for (const c of clients) c.close();
});

describe('etcd with TLS, client certificates and auth', () => {
  it('a client without a certificate is refused, and a wrong password too', async () => {
    await expect(client({ tls: { ca: pem('ca.crt') } }).get(`${PREFIX}/routes/x`).string()).rejects.toThrow();
    await expect(client({ tls: certs('switchyard'), auth: { username: 'switchyard', password: 'wrong' } }).get(`${PREFIX}/routes/x`).string()).rejects.toThrow(/authentication failed|invalid auth/i);
  });

  it('the controller\'s user leads and writes routes under its prefix, and nowhere else', async () => {
    const etcd = client({ tls: certs('switchyard'), auth: { username: 'switchyard', password: password('switchyard') } });
    const topology = testTopology([testPipeline(pipeline)]);
    const lock = new EtcdLeaderLock(etcd, PREFIX, 'secure-leader', 5, silentLogger);
    const leadership = await lock.campaign(new AbortController().signal);
    try {
      const routes = new EtcdRouteStore(etcd, PREFIX);
      expect(await routes.put(leadership.fence, routeOn(topology, pipeline, 'primary', 1, Date.now()), undefined)).toEqual({ kind: 'written' });
      expect((await routes.get(pipeline))!.route.epoch).toBe(1);
    } finally {
      await lock.resign();
    }
    await expect(etcd.put('/elsewhere/x').value('x').exec()).rejects.toThrow(/permission denied/i);
  });

  it('a certificate alone authenticates as its common name: the SDK\'s reads routes and cannot write one', async () => {
    const byCert = client({ tls: certs('sdk') });
    expect(JSON.parse((await byCert.get(`${PREFIX}/routes/${pipeline}`).string())!).epoch).toBe(1);
    await expect(byCert.put(`${PREFIX}/routes/${pipeline}`).value('{"forged":true}').exec()).rejects.toThrow(/permission denied/i);
  });

  it('the SDK\'s user reads the route and writes its watermarks, and cannot write a route', async () => {
    const sdk = client({ tls: certs('sdk'), auth: { username: 'sdk', password: password('sdk') } });
    const routes = new EtcdRouteStore(sdk, PREFIX);
    expect((await routes.get(pipeline))!.route.epoch).toBe(1);
    await expect(sdk.put(`${PREFIX}/routes/${pipeline}`).value('{"forged":true}').exec()).rejects.toThrow(/permission denied/i);
    await new EtcdWatermarkStore(sdk, PREFIX).advance(`${pipeline}-group`, 'events', new Map([[0, Date.now()]]));
    await expect(sdk.get(`${PREFIX}/intents/x`).string()).rejects.toThrow(/permission denied/i);
  });

  it('an SDK consumer with the SDK\'s user follows the route, processes records and announces itself', async () => {
    const topic = `${pipeline}-events`;
    await createTopicEverywhere(topic, 1);
    await writeRecords(topic, [{ value: 'one', partition: 0, timestamp: Date.now() - 1000 }], ['room-a']);
    const got: string[] = [];
    const consumer = createRoutedConsumer({
      pipeline,
      etcd: { endpoints: [SECURE], prefix: PREFIX, tls: certs('sdk'), auth: { username: 'sdk', password: password('sdk') } },
      marginMs: 1000,
      fromBeginning: true,
      allowedRooms: { 'room-a': { brokers: LOCAL.rooms['room-a'].brokers }, 'room-b': { brokers: LOCAL.rooms['room-b'].brokers } },
      eachMessage: async (m) => void got.push(m.value!.toString()),
    });
    try {
      await consumer.start();
      await waitFor('the record', 20_000, () => got.includes('one') || undefined);
      await waitFor('consuming, as its presence says', 10_000, () => consumer.status().state === 'consuming' || undefined);
      const root = client({ tls: certs('root'), auth: { username: 'root', password: password('root') } });
      await waitFor('its presence key', 10_000, async () => ((await root.getAll().prefix(`${PREFIX}/consumers/${pipeline}/`).keys()).length > 0 ? true : undefined));
    } finally {
      await consumer.close();
    }
  });

  it('the CLI reaches it from a topology naming the CA, the certificate and a password file or variable, and never prints the password', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-secure-'));
    mkdirPolicies(dir);
    const topology = (passwordRef: string) =>
      [
        `etcd: { endpoints: ["${SECURE}"], prefix: ${PREFIX}, tls: { caFile: ${join(PKI, 'ca.crt')}, certFile: ${join(PKI, 'switchyard.crt')}, keyFile: ${join(PKI, 'switchyard.key')} }, auth: { username: switchyard, password: ${passwordRef} } }`,
        'policies: policies',
        'rooms:',
        '  room-a: { kafka: { brokers: ["127.0.0.1:19092"] } }',
        '  room-b: { kafka: { brokers: ["127.0.0.1:29092"] } }',
        'pipelines:',
        `  ${pipeline}: { tier: P3, topics: [events], consumerGroup: g, chains: { primary: { room: room-a, role: primary } } }`,
        '',
      ].join('\n');
    writeFileSync(join(dir, 'file.yaml'), topology(`{ file: ${join(PKI, 'switchyard.password')} }`));
    writeFileSync(join(dir, 'env.yaml'), topology('{ env: SY_ETCD_PASSWORD }'));
    const secret = password('switchyard');
    const viaFile = await cli('status', '-c', join(dir, 'file.yaml'), '-o', 'json');
    expect(viaFile.stderr).toBe('');
    expect(JSON.parse(viaFile.stdout).pipelines[0]).toMatchObject({ pipeline, room: 'room-a', epoch: 1 });
    const viaEnv = await cli('status', '-c', join(dir, 'env.yaml'), '-o', 'json', { env: { SY_ETCD_PASSWORD: secret } });
    expect(JSON.parse(viaEnv.stdout).pipelines[0]).toMatchObject({ pipeline, epoch: 1 });
    for (const out of [viaFile.stdout, viaEnv.stdout]) expect(out).not.toContain(secret);
    // Unset: exit 2 naming the field. Wrong: etcd refuses; the message does not hold the password.
    const unset = await cli('status', '-c', join(dir, 'env.yaml'), { env: { SY_ETCD_PASSWORD: '' } });
    expect([unset.code, unset.stderr]).toEqual([2, expect.stringContaining('env.yaml: etcd.auth.password.env: environment variable SY_ETCD_PASSWORD is not set or empty')]);
    const wrong = await cli('status', '-c', join(dir, 'env.yaml'), '-o', 'json', { env: { SY_ETCD_PASSWORD: 'not-the-password-42' } });
    expect(wrong.code).toBe(3);
    expect(JSON.parse(wrong.stdout).storeError).toMatch(/authentication failed|invalid auth/i);
    expect(wrong.stdout + wrong.stderr).not.toContain('not-the-password-42');
  });

  it('a password changed in etcd and then in its file is used from the next token, without a restart', async () => {
    const root = client({ tls: certs('root'), auth: { username: 'root', password: password('root') } });
    const user = `rotated-${randomId()}`;
    await root.user(user).create('first-password');
    await root.user(user).addRole('switchyard');
    try {
      const dir = mkdtempSync(join(tmpdir(), 'switchyard-secure-rotate-'));
      mkdirPolicies(dir);
      const pwFile = join(dir, 'etcd.password');
      writeFileSync(pwFile, 'first-password\n');
      writeFileSync(
        join(dir, 'topology.yaml'),
        [
          `etcd: { endpoints: ["${SECURE}"], prefix: ${PREFIX}, tls: { caFile: ${join(PKI, 'ca.crt')}, certFile: ${join(PKI, 'switchyard.crt')}, keyFile: ${join(PKI, 'switchyard.key')} }, auth: { username: ${user}, password: { file: etcd.password } } }`,
          'rooms:',
          '  room-a: { kafka: { brokers: ["127.0.0.1:19092"] } }',
          'pipelines:',
          `  ${pipeline}: { tier: P3, topics: [events], consumerGroup: g, chains: { primary: { room: room-a, role: primary } } }`,
          '',
        ].join('\n'),
      );
      const config = loadConfig(join(dir, 'topology.yaml'));
      const c = client({ ...(config.etcd.tls && { tls: config.etcd.tls }), ...(config.etcd.auth && { auth: config.etcd.auth }) });
      const key = `${PREFIX}/rotation/${user}`;
      await c.put(key).value('before');
      // etcd drops the user's tokens: the next call fetches one with the file's old password, refused.
      await root.user(user).setPassword('second-password');
      await expect(c.get(key).string()).rejects.toThrow(/authentication failed/);
      // The file is replaced (as a Secret update does): the next call authenticates with it.
      writeFileSync(`${pwFile}.new`, 'second-password\n');
      renameSync(`${pwFile}.new`, pwFile);
      expect(await c.get(key).string()).toBe('before');
      await c.put(key).value('after');
      await root.delete().key(key).exec();
    } finally {
      await root.user(user).delete();
    }
  });
});

function mkdirPolicies(dir: string): void {
  mkdirSync(join(dir, 'policies'));
  writeFileSync(join(dir, 'policies', 'p3.yaml'), readFileSync(PROJECT.resolve('policies/p3.yaml')));
}
