import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEtcdClient } from '../../src/adapters/etcd/client.js';
import { LOCAL, randomId, services, startController, STATE_DIR, waitFor, writeScenarioConfig, type ControllerProcess } from '../../bench/support/local-stack.js';
import { createKafka } from '../../src/adapters/kafka/kafka-client.js';
import { silentLogger } from '../../src/ports/logger.js';
import type { SwitchRecord } from '../../src/core/journal.js';
import { cli } from '../support/cli.js';
import { createTopicEverywhere } from '../support/sdk-stack.js';

// No secret leaks. The controller runs against etcd with TLS and a user (etcd-secure), room-a's
// Kafka over TLS with a SCRAM user (kafka-secure) and its ClickHouse over HTTPS with a password
// (clickhouse-secure), and a bearer token on its HTTP port, every secret from a file. It switches, fails to reach a ClickHouse with a wrong password, and is
// asked for everything it shows: its logs, `status -o json`, `history -o json`, /metrics,
// /status, and the errors of a refused start. None may hold any of the secrets.

const ETCD_PKI = join(STATE_DIR, 'etcd-secure', 'pki');
const CH_PKI = join(STATE_DIR, 'clickhouse-secure', 'pki');
const KAFKA_PKI = LOCAL.kafkaSecure.pki;
const PREFIX = '/switchyard-secure';
const id = randomId().slice(0, 6);
const pipeline = `leak-${id}`;
const dir = mkdtempSync(join(tmpdir(), 'switchyard-secrets-'));
const secrets = {
  etcd: readFileSync(join(ETCD_PKI, 'switchyard.password'), 'utf8').trim(),
  clickhouse: readFileSync(join(CH_PKI, 'default.password'), 'utf8').trim(),
  // Read once kafka-secure has started (it makes its passwords on first start).
  kafka: '',
  http: `http-token-${randomId()}`,
};
let config: string;
let controller: ControllerProcess | undefined;

/** The scenario topology, moved onto the secured etcd and ClickHouse, with every secret from a file. */
function secureTopology(chPasswordFile: string, kafkaPasswordFile = join(KAFKA_PKI, 'switchyard.password')): string {
  const file = writeScenarioConfig({ prefix: PREFIX, topic: `leak-${id}`, group: `leak-group-${id}`, pipeline, probeIntervalMs: 250, fallAfter: 3, marginMs: 2000, observersRequired: 1, minDwellMs: 1000, verifyTimeoutMs: 1000 });
  const text = readFileSync(file, 'utf8')
    .replace(
      /^etcd: .*$/m,
      `etcd: { endpoints: ["https://127.0.0.1:23791"], prefix: ${PREFIX}, leaseTtlSeconds: 5, tls: { caFile: ${join(ETCD_PKI, 'ca.crt')}, certFile: ${join(ETCD_PKI, 'switchyard.crt')}, keyFile: ${join(ETCD_PKI, 'switchyard.key')} }, auth: { username: switchyard, password: { file: ${join(ETCD_PKI, 'switchyard.password')} } } }`,
    )
    .replace(
      /^  room-a: \{ kafka: \{ brokers: \[[^\]]*\] \}/m,
      `  room-a: { kafka: { brokers: ["${LOCAL.kafkaSecure.sasl}"], tls: { caFile: ${join(KAFKA_PKI, 'ca.crt')} }, sasl: { mechanism: scram-sha-512, username: switchyard, password: { file: ${kafkaPasswordFile} } } }` +
        `, olap: { url: "https://127.0.0.1:38443", user: default, password: { file: ${chPasswordFile} }, caFile: ${join(CH_PKI, 'ca.crt')} }`,
    );
  writeFileSync(file, text);
  return file;
}

beforeAll(async () => {
  await services('start', LOCAL.kafkaSecure.service);
  secrets.kafka = readFileSync(join(KAFKA_PKI, 'switchyard.password'), 'utf8').trim();
  await createTopicEverywhere(`leak-${id}`, 3);
  const admin = createKafka({ clientId: 'secrets-test', brokers: [LOCAL.kafkaSecure.sasl], log: silentLogger, access: { tls: { ca: readFileSync(join(KAFKA_PKI, 'ca.crt')) }, sasl: { mechanism: 'scram-sha-512', username: 'switchyard', password: secrets.kafka } } }).admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: `leak-${id}`, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true });
  await admin.disconnect();
  writeFileSync(join(dir, 'http-token'), secrets.http);
  config = secureTopology(join(CH_PKI, 'default.password'));
  controller = startController(config, `leak-${id}`, 'room-a', { SWITCHYARD_HTTP_TOKEN_FILE: join(dir, 'http-token') });
  await waitFor('the controller to lead and see both rooms OK', 30_000, () =>
    controller!.logs.some((l) => l['msg'] === 'verdict' && l['rule'] === 'healthy' && l['rooms'] === 'room-a=OK,room-b=OK') ? true : undefined,
  );
});

afterAll(async () => {
  await controller?.stop();
  const root = createEtcdClient({ endpoints: ['https://127.0.0.1:23791'], tls: { ca: readFileSync(join(ETCD_PKI, 'ca.crt')), cert: readFileSync(join(ETCD_PKI, 'root.crt')), key: readFileSync(join(ETCD_PKI, 'root.key')) } });
  await root.delete().prefix(`${PREFIX}/`).exec().catch(() => undefined);
  root.close();
  await services('stop', LOCAL.kafkaSecure.service);
});

function expectNoSecret(where: string, text: string): void {
  for (const [name, value] of Object.entries(secrets)) expect(text.includes(value), `${where} holds the ${name} secret`).toBe(false);
}

describe('no secret in anything the controller or the CLI shows', () => {
  it('a switchover, status, history, /metrics, /status and the logs hold none of the secrets', async () => {
    // The operator has a kubeconfig: the API server says who they are, and that is recorded.
    const sw = await cli('switchover', pipeline, '--to', 'standby', '-c', config, '--reason', 'leak check', '--yes', '--operator', 'erin', { env: { KUBECONFIG: join(STATE_DIR, 'kube-apiserver', 'kubeconfig') } });
    expect([sw.code, sw.stderr]).toEqual([0, '']);
    const status = await cli('status', '-c', config, '-o', 'json');
    expect(JSON.parse(status.stdout).rooms.find((r: { component: string }) => r.component === 'olap')).toMatchObject({ room: 'room-a', status: 'OK' });
    const history = await cli('history', '-c', config, '-o', 'json');
    expect(history.stdout).toContain('leak check');
    const record = (JSON.parse(history.stdout) as SwitchRecord[]).find((r) => r.pipeline === pipeline)!;
    expect(record.requestedBy).toBe(`erin (os user ${userInfo().username}, kubernetes user admin)`);
    expect(record.reason).toContain(`by erin (os user ${userInfo().username}, kubernetes user admin): leak check`);
    const port = await waitFor('the HTTP port', 10_000, () => controller!.logs.find((l) => l['msg'] === 'http listening')?.['port'] as number | undefined);
    const auth = { headers: { authorization: `Bearer ${secrets.http}` } };
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`, auth)).text();
    const statusHttp = await (await fetch(`http://127.0.0.1:${port}/status`, auth)).text();
    expect(metrics).toContain('switchyard_leader');
    for (const [where, text] of [['switchover', sw.stdout + sw.stderr], ['status -o json', status.stdout + status.stderr], ['history -o json', history.stdout + history.stderr], ['/metrics', metrics], ['/status', statusHttp], ['controller logs', JSON.stringify(controller!.logs)]] as const) {
      expectNoSecret(where, text);
    }
  });

  it('errors hold none either: wrong ClickHouse and Kafka passwords, and a refused start', async () => {
    const wrongFile = join(dir, 'wrong-password');
    writeFileSync(wrongFile, 'wrong-password-not-a-secret\n');
    const wrong = secureTopology(wrongFile, wrongFile);
    const status = await cli('status', '-c', wrong, '-o', 'json');
    const rooms = JSON.parse(status.stdout).rooms as { room: string; component: string; status: string }[];
    expect(rooms.find((r) => r.component === 'olap')).toMatchObject({ status: 'DOWN' });
    expect(rooms.find((r) => r.component === 'kafka' && r.room === 'room-a')).toMatchObject({ status: 'DOWN' });
    expectNoSecret('status with wrong passwords', status.stdout + status.stderr);
    expect(status.stdout + status.stderr).not.toContain('wrong-password-not-a-secret');
    // A refused start (the fault hook without the test switch) prints its reason, not the configuration.
    const refused = await cli('controller', '--config', config, '--http-port', '0', { env: { SWITCHYARD_FAULT_PAUSE_AFTER_STEP: 'gate:1', SWITCHYARD_TEST_HOOKS: '' } });
    expect(refused.code).toBe(2);
    expectNoSecret('a refused start', refused.stdout + refused.stderr);
  });

  it('a rotated etcd certificate: the controller stops (exit 75, leadership handed over) so that its supervisor starts it with the new one', async () => {
    // Its own copy of the TLS files, so that replacing one touches no other test.
    const tlsDir = mkdtempSync(join(tmpdir(), 'switchyard-etcd-tls-'));
    for (const f of ['ca.crt', 'switchyard.crt', 'switchyard.key']) copyFileSync(join(ETCD_PKI, f), join(tlsDir, f));
    const file = secureTopology(join(CH_PKI, 'default.password'));
    writeFileSync(file, readFileSync(file, 'utf8').split(ETCD_PKI + '/ca.crt').join(join(tlsDir, 'ca.crt')).split(ETCD_PKI + '/switchyard.crt').join(join(tlsDir, 'switchyard.crt')).split(ETCD_PKI + '/switchyard.key').join(join(tlsDir, 'switchyard.key')));
    expect(readFileSync(file, 'utf8')).toContain(tlsDir);
    // This one runs with a heap limit, as the chart's heapMb gives it; the first one without.
    const ctl = startController(file, `leak2-${id}`, 'room-b', { SWITCHYARD_CERT_RESTART_JITTER_MS: '0', NODE_OPTIONS: `${process.env['NODE_OPTIONS'] ?? ''} --max-old-space-size=160` });
    try {
      await waitFor('the second controller to run', 30_000, () => (ctl.logs.some((l) => l['msg'] === 'http listening') ? true : undefined));
      const heapWarning = (logs: readonly Record<string, unknown>[]) => logs.some((l) => String(l['msg']).startsWith('no heap limit set'));
      expect(heapWarning(ctl.logs)).toBe(false);
      if (!/--max-old-space-size/.test(process.env['NODE_OPTIONS'] ?? '')) expect(heapWarning(controller!.logs)).toBe(true);
      const exited = new Promise<number | null>((done) => ctl.child.once('exit', (code) => done(code)));
      // Rewriting a file with the same bytes (as a Secret update does to the files that did not
      // change) is no rotation: the controller keeps running.
      copyFileSync(join(ETCD_PKI, 'switchyard.crt'), join(tlsDir, 'switchyard.crt.new'));
      renameSync(join(tlsDir, 'switchyard.crt.new'), join(tlsDir, 'switchyard.crt'));
      await new Promise((r) => setTimeout(r, 6000));
      expect(ctl.child.exitCode).toBeNull();
      // A renewed certificate (same key, signed again by the CA) arrives as a new file.
      execFileSync('openssl', ['req', '-new', '-key', join(ETCD_PKI, 'switchyard.key'), '-subj', '/CN=switchyard', '-out', join(tlsDir, 'renew.csr')], { stdio: 'ignore' });
      execFileSync('openssl', ['x509', '-req', '-in', join(tlsDir, 'renew.csr'), '-CA', join(ETCD_PKI, 'ca.crt'), '-CAkey', join(ETCD_PKI, 'ca.key'), '-CAcreateserial', '-days', '2', '-extfile', join(ETCD_PKI, 'switchyard.ext'), '-out', join(tlsDir, 'switchyard.crt.new')], { stdio: 'ignore' });
      renameSync(join(tlsDir, 'switchyard.crt.new'), join(tlsDir, 'switchyard.crt'));
      const outcome = await Promise.race([exited, new Promise((r) => setTimeout(() => r('still running'), 20_000))]);
      if (outcome !== 75) console.log(JSON.stringify(ctl.logs.slice(-15)));
      expect(outcome).toBe(75);
      expect(ctl.logs.find((l) => String(l['msg']).startsWith('etcd TLS file changed'))).toMatchObject({ file: join(tlsDir, 'switchyard.crt') });
    } finally {
      await ctl.stop();
    }
  });
});
