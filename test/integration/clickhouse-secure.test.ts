import { mkdirSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { loadConfig } from '../../src/config/load.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ClickHouseHealthProbe, olapRequest } from '../../src/adapters/clickhouse/clickhouse-health-probe.js';
import { systemClock } from '../../src/adapters/system/system-clock.js';
import type { ServerAccess } from '../../src/ports/server-access.js';
import { LOCAL, PROJECT, randomId, STATE_DIR } from '../../bench/support/local-stack.js';
import { createEtcdClient } from '../../src/adapters/etcd/client.js';
import { createQueryRouter } from '../../src/sdk/query-router.js';
import { cli } from '../support/cli.js';

// ClickHouse as production runs it (scripts/services.sh clickhouse-secure): HTTPS with a
// certificate from a CA of its own, and a default user with a password.

const URL_ = 'https://127.0.0.1:38443';
const PKI = join(STATE_DIR, 'clickhouse-secure', 'pki');
const ca = () => readFileSync(join(PKI, 'ca.crt'));
const password = () => readFileSync(join(PKI, 'default.password'), 'utf8').trim();

function probe(access: ServerAccess | undefined) {
  return new ClickHouseHealthProbe({ room: 'room-a', url: URL_, healthQuery: 'SELECT 1', healthQueryTimeoutMs: 1000, slowQueryMs: 500, maxReplicaDelaySec: 30, maxQueueSize: 100, observer: 'test', observerRoom: 'room-c', timeoutMs: 1500, clock: systemClock, ...(access && { access }) });
}

describe('ClickHouse with HTTPS and a password', () => {
  it('the probe with the user, password and CA finds it OK; without the password it is DOWN, and the reason holds no secret', async () => {
    const good = probe({ auth: { user: 'default', password: password() }, ca: ca() });
    const ok = await good.probe();
    await good.close();
    expect(ok).toMatchObject({ component: 'olap', status: 'OK' });
    const bare = probe({ ca: ca() });
    const down = await bare.probe();
    await bare.close();
    expect(down).toMatchObject({ status: 'DOWN' });
    const wrong = probe({ auth: { user: 'default', password: 'not-it-42' }, ca: ca() });
    const refused = await wrong.probe();
    await wrong.close();
    expect(refused).toMatchObject({ status: 'DOWN' });
    expect(JSON.stringify(refused)).not.toContain('not-it-42');
  });

  it('without the CA the server\'s certificate is not trusted', async () => {
    await expect(olapRequest(`${URL_}/ping`, undefined, { timeoutMs: 2000 })).rejects.toThrow(/self[- ]signed|unable to verify|certificate/i);
    expect(await olapRequest(`${URL_}/ping`, { ca: ca() }, { timeoutMs: 2000 })).toEqual({ status: 200, text: 'Ok.\n' });
  });

  it('the SDK\'s query router sends queries with the room\'s user, password and CA', async () => {
    const etcd = createEtcdClient({ endpoints: [LOCAL.etcd] });
    const prefix = `/switchyard-ch-${randomId()}`;
    try {
      await etcd.put(`${prefix}/query-routes/reports`).value(JSON.stringify({ pipeline: 'reports', chain: 'primary', room: 'room-a', epoch: 1, since: Date.now(), url: URL_ }));
      const router = createQueryRouter({ pipeline: 'reports', etcd: { endpoints: [LOCAL.etcd], prefix }, olapAccess: { [URL_]: { auth: { user: 'default', password: password() }, ca: ca() } } });
      await router.start();
      try {
        expect(await router.query('SELECT 40 + 2')).toBe('42\n');
      } finally {
        await router.close();
      }
    } finally {
      await etcd.delete().prefix(prefix).exec();
      etcd.close();
    }
  });

  it('the controller\'s configuration names the password by file or variable; status probes with it and never prints it; a password over http:// is refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-ch-'));
    mkdirSync(join(dir, 'policies'));
    writeFileSync(join(dir, 'policies', 'p3.yaml'), readFileSync(PROJECT.resolve('policies/p3.yaml')));
    const topology = (olap: string) =>
      [
        'etcd: { endpoints: ["http://127.0.0.1:23790"], prefix: /switchyard-ch-secure }',
        'policies: policies',
        'rooms:',
        `  room-a: { kafka: { brokers: ["127.0.0.1:19092"] }, olap: ${olap} }`,
        'pipelines:',
        '  reports: { tier: P3, topics: [events], consumerGroup: g, chains: { primary: { room: room-a, role: primary } } }',
        '',
      ].join('\n');
    writeFileSync(join(dir, 'env.yaml'), topology(`{ url: "${URL_}", user: default, password: { env: CH_PASSWORD }, caFile: ${join(PKI, 'ca.crt')} }`));
    writeFileSync(join(dir, 'plain.yaml'), topology(`{ url: "http://127.0.0.1:38123", user: default, password: { env: CH_PASSWORD } }`));
    const r = await cli('status', '-c', join(dir, 'env.yaml'), '-o', 'json', { env: { CH_PASSWORD: password() } });
    const report = JSON.parse(r.stdout) as { rooms: { room: string; component: string; status: string }[] };
    expect(report.rooms.find((x) => x.component === 'olap')).toMatchObject({ room: 'room-a', status: 'OK' });
    expect(r.stdout + r.stderr).not.toContain(password());
    const plain = await cli('status', '-c', join(dir, 'plain.yaml'), { env: { CH_PASSWORD: password() } });
    expect(plain.code).toBe(2);
    expect(plain.stderr).toContain('plain.yaml: rooms.room-a.olap.password: a password must not cross the network in clear');
    expect(plain.stderr).not.toContain(password());
  });

  it('a password file replaced while the probe runs is used from the next probe, without a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-ch-rotate-'));
    mkdirSync(join(dir, 'policies'));
    writeFileSync(join(dir, 'policies', 'p3.yaml'), readFileSync(PROJECT.resolve('policies/p3.yaml')));
    const pwFile = join(dir, 'ch.password');
    writeFileSync(pwFile, 'the-old-password\n');
    writeFileSync(
      join(dir, 'topology.yaml'),
      [
        'etcd: { endpoints: ["http://127.0.0.1:23790"], prefix: /switchyard-ch-secure }',
        'rooms:',
        `  room-a: { kafka: { brokers: ["127.0.0.1:19092"] }, olap: { url: "${URL_}", user: default, password: { file: ch.password }, caFile: ${join(PKI, 'ca.crt')} } }`,
        'pipelines:',
        '  reports: { tier: P3, topics: [events], consumerGroup: g, chains: { primary: { room: room-a, role: primary } } }',
        '',
      ].join('\n'),
    );
    const config = loadConfig(join(dir, 'topology.yaml'));
    const p = probe(config.olapAccess.get(URL_));
    try {
      expect(await p.probe()).toMatchObject({ status: 'DOWN' });
      // The server's password is set in the file as a Secret update would: a new file renamed in.
      writeFileSync(`${pwFile}.new`, `${password()}\n`);
      renameSync(`${pwFile}.new`, pwFile);
      expect(await p.probe()).toMatchObject({ status: 'OK' });
    } finally {
      await p.close();
    }
  });
});
