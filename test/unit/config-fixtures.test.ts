import { cpSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, type ConfigProblem } from '../../src/config/load.js';

const GOOD = join(import.meta.dirname, 'fixtures/good');

/** A copy of the good fixture with one file edited (old text -> new text, which must exist). */
function broken(file: string, edit: (text: string) => string): string {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-fixture-'));
  cpSync(GOOD, dir, { recursive: true });
  const path = join(dir, file);
  const before = readFileSync(path, 'utf8');
  const after = edit(before);
  if (after === before) throw new Error(`fixture edit changed nothing in ${file}`);
  writeFileSync(path, after);
  return join(dir, 'topology.yaml');
}
const replace = (from: string, to: string) => (t: string) => t.replace(from, to);

function problemsOf(topologyFile: string): ConfigProblem[] {
  try {
    loadConfig(topologyFile);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return [...(err as ConfigError).problems];
  }
  throw new Error('expected the configuration to be rejected, but it loaded');
}

interface Case {
  name: string;
  file: string;
  edit: (t: string) => string;
  path: string;
  reason: string;
}

const CASES: Case[] = [
  { name: 'YAML syntax error', file: 'topology.yaml', edit: replace('rooms:\n', 'rooms: [\n'), path: 'line 5 column 3', reason: 'invalid YAML: Missing , between flow sequence items' },
  { name: 'duplicate YAML key', file: 'policies/p0.yaml', edit: replace('fallAfter: 3 ', 'fallAfter: 3\nfallAfter: 4 '), path: 'line 14 column 1', reason: 'invalid YAML: Map keys must be unique' },
  { name: 'missing required policy field', file: 'policies/p0.yaml', edit: (t) => t.replace(/^riseAfter:.*\n/m, ''), path: 'riseAfter', reason: 'expected number' },
  { name: 'wrong type', file: 'policies/p1.yaml', edit: replace('fallAfter: 3', 'fallAfter: three'), path: 'fallAfter', reason: 'expected number' },
  { name: 'typo in a policy field', file: 'policies/p0.yaml', edit: replace('minDwellMs:', 'minDwelMs: 1\nminDwellMs:'), path: '', reason: 'Unrecognized key: "minDwelMs"' },
  { name: 'unknown failover mode', file: 'policies/p2.yaml', edit: replace('failover: none', 'failover: sometimes'), path: 'failover', reason: 'expected one of' },
  { name: 'probe timeout not below interval', file: 'policies/p0.yaml', edit: replace('timeoutMs: 200', 'timeoutMs: 250'), path: 'probe.timeoutMs', reason: 'must be below probe.intervalMs (250 ms), got 250' },
  { name: 'signal spacing too short', file: 'policies/p0.yaml', edit: replace('timeoutMs: 200', 'timeoutMs: 200\n  signalIntervalMs: 5'), path: 'probe.signalIntervalMs', reason: 'must be 0 (off) or from 20 ms to probe.intervalMs (250 ms), got 5' },
  { name: 'staleness shorter than two intervals', file: 'policies/p0.yaml', edit: replace('staleAfterMs: 2000', 'staleAfterMs: 400'), path: 'staleAfterMs', reason: 'must be at least 2 x probe.intervalMs (500 ms), got 400' },
  { name: 'unknown time zone', file: 'policies/p0.yaml', edit: replace('timeZone: Asia/Shanghai', 'timeZone: Mars/Olympus'), path: 'changeWindows.timeZone', reason: "unknown time zone 'Mars/Olympus'" },
  { name: 'malformed change window', file: 'policies/p1.yaml', edit: replace('"00:00-08:00"', '"8am-5pm"'), path: 'changeWindows.windows.0', reason: 'must be HH:MM-HH:MM' },
  { name: 'empty change window', file: 'policies/p1.yaml', edit: replace('"00:00-08:00"', '"08:00-08:00"'), path: 'changeWindows.windows.0', reason: "'08:00-08:00' is not a window" },
  { name: 'automatic failover without a standby', file: 'policies/p1.yaml', edit: replace('standby: warm', 'standby: none'), path: 'failover', reason: 'automatic failover needs a standby chain' },
  { name: 'duplicate budget smaller than the replay margin', file: 'policies/p0.yaml', edit: replace('maxDuplicateMs: 10000', 'maxDuplicateMs: 1000'), path: 'dataBudget.maxDuplicateMs', reason: 'must be at least duplicateMarginMs (2000)' },
  { name: 'two files for one tier', file: 'policies/p3.yaml', edit: replace('tier: P3', 'tier: P2'), path: 'tier', reason: 'tier P2 is already defined in' },
  { name: 'cap headroom above 1', file: 'policies/p2.yaml', edit: replace('capHeadroom: 0.9', 'capHeadroom: 1.5'), path: 'capHeadroom', reason: 'expected number to be <=1' },
  { name: 'unknown tier in a pipeline', file: 'topology.yaml', edit: replace('tier: P3', 'tier: P7'), path: 'pipelines.nightly-report.tier', reason: "unknown tier 'P7' (policies define: P0, P1, P2, P3)" },
  { name: 'unknown room in a chain', file: 'topology.yaml', edit: replace('standby: { room: room-b', 'standby: { room: room-z'), path: 'pipelines.live-dashboard.chains.standby.room', reason: "unknown room 'room-z' (rooms: room-a, room-b)" },
  { name: 'two primary chains', file: 'topology.yaml', edit: replace('room: room-b, role: standby', 'room: room-b, role: primary'), path: 'pipelines.live-dashboard.chains', reason: 'must have exactly one chain with role primary, found 2' },
  { name: 'automatic tier with a single chain', file: 'topology.yaml', edit: replace('tier: P3', 'tier: P0'), path: 'pipelines.nightly-report.chains', reason: 'tier P0 fails over automatically, so the pipeline needs a standby or fallback chain' },
  { name: 'broker without a port', file: 'topology.yaml', edit: replace('"127.0.0.1:29092"', '"127.0.0.1"'), path: 'rooms.room-b.kafka.brokers.0', reason: 'must be host:port' },
  { name: 'pipeline name not a DNS label', file: 'topology.yaml', edit: replace('  nightly-report:', '  Nightly_Report:'), path: 'pipelines.Nightly_Report', reason: 'invalid name: must be a lowercase DNS label' },
  { name: 'bad etcd endpoint', file: 'topology.yaml', edit: replace('"http://127.0.0.1:23790"', '"127.0.0.1 port 23790"'), path: 'etcd.endpoints.0', reason: 'Invalid URL' },
  { name: 'lease TTL too short for the probe timeout', file: 'topology.yaml', edit: replace('etcd: { endpoints: ["http://127.0.0.1:23790"] }', 'etcd: { endpoints: ["http://127.0.0.1:23790"], leaseTtlSeconds: 2 }'), path: 'etcd.leaseTtlSeconds', reason: 'must exceed 2 x probe.timeoutMs of tier P3 (4000 ms' },
  { name: 'unknown top-level field', file: 'topology.yaml', edit: replace('policies: policies', 'policies: policies\nroms: {}'), path: '', reason: 'Unrecognized key: "roms"' },
  { name: 'a Service actuator without Kubernetes settings', file: 'topology.yaml', edit: replace('    consumerGroup: reporter\n', '    consumerGroup: reporter\n    service: { namespace: data, name: report-olap }\n'), path: 'pipelines.nightly-report.service', reason: 'needs controller.kubernetes' },
  { name: 'chain workloads without Kubernetes settings', file: 'topology.yaml', edit: replace('standby: { room: room-b, role: standby, jobs: [agg-b] }', 'standby: { room: room-b, role: standby, jobs: [agg-b], kubernetes: { deployments: [{ namespace: data, name: gw-b, replicas: 3 }] } }'), path: 'pipelines.live-dashboard.chains.standby.kubernetes', reason: 'need controller.kubernetes' },
  { name: 'one Deployment following two chains', file: 'topology.yaml', edit: (t) => t.replace('policies: policies', 'policies: policies\ncontroller: { kubernetes: {} }').replace('primary: { room: room-a, role: primary, jobs: [agg-a] }', 'primary: { room: room-a, role: primary, jobs: [agg-a], kubernetes: { deployments: [{ namespace: data, name: gw, replicas: 3 }] } }').replace('standby: { room: room-b, role: standby, jobs: [agg-b] }', 'standby: { room: room-b, role: standby, jobs: [agg-b], kubernetes: { deployments: [{ namespace: data, name: gw, replicas: 1 }] } }'), path: 'pipelines.live-dashboard.chains.standby.kubernetes.deployments.0', reason: 'Deployment data/gw is also named by pipelines.live-dashboard.chains.primary.kubernetes.deployments.0: an object follows one pipeline\'s chain' },
  { name: 'a FlinkDeployment that is no Kubernetes name', file: 'topology.yaml', edit: (t) => t.replace('policies: policies', 'policies: policies\ncontroller: { kubernetes: {} }').replace('standby: { room: room-b, role: standby, jobs: [agg-b] }', 'standby: { room: room-b, role: standby, jobs: [agg-b], kubernetes: { flinkDeployments: [{ namespace: data, name: Agg_B }] } }'), path: 'pipelines.live-dashboard.chains.standby.kubernetes.flinkDeployments.0.name', reason: 'must be a Kubernetes object name' },
  { name: 'standby in the primary\'s room', file: 'topology.yaml', edit: replace('standby: { room: room-b, role: standby, jobs: [agg-b] }', 'standby: { room: room-a, role: standby, jobs: [agg-b] }'), path: 'pipelines.live-dashboard.chains.standby.room', reason: "in the primary's room 'room-a'" },
  { name: 'two rooms sharing a broker', file: 'topology.yaml', edit: replace('room-b: { kafka: { brokers: ["127.0.0.1:29092"] }', 'room-b: { kafka: { brokers: ["127.0.0.1:19092"] }'), path: 'rooms.room-b.kafka.brokers.0', reason: 'two rooms sharing a broker are one failure domain' },
  { name: 'broker port out of range', file: 'topology.yaml', edit: replace('127.0.0.1:29092', '127.0.0.1:99999'), path: 'rooms.room-b.kafka.brokers.0', reason: 'out of range (1-65535)' },
  { name: 'etcd endpoint with another scheme', file: 'topology.yaml', edit: replace('http://127.0.0.1:23790', 'ftp://127.0.0.1:23790'), path: 'etcd.endpoints.0', reason: "scheme 'ftp:' is not http or https" },
  { name: 'a witness named like a room', file: 'topology.yaml', edit: replace('policies: policies', 'policies: policies\nwitnesses: [room-a]'), path: 'witnesses.0', reason: "'room-a' is a room: a witness must be a site apart from every room" },
  { name: 'a witness listed twice', file: 'topology.yaml', edit: replace('policies: policies', 'policies: policies\nwitnesses: [w1, w1]'), path: 'witnesses.1', reason: "'w1' is listed twice" },
  { name: 'a replica in an unknown site (a typo would fake a quorum)', file: 'topology.yaml', edit: replace('policies: policies', 'policies: policies\nwitnesses: [w1]\ncontroller: { room: rom-a }'), path: 'controller.room', reason: "unknown room or witness site 'rom-a' (rooms: room-a, room-b; witnesses: w1)" },
  { name: 'stream jobs in a room without Flink', file: 'topology.yaml', edit: replace(', flink: { url: "http://127.0.0.1:28081" }', ''), path: 'pipelines.live-dashboard.chains.standby.jobs', reason: "names stream jobs (agg-b), but room 'room-b' has no flink endpoint (rooms.room-b.flink.url)" },
  { name: 'one job named by two chains', file: 'topology.yaml', edit: replace('jobs: [agg-b]', 'jobs: [agg-a]'), path: 'pipelines.live-dashboard.chains.standby.jobs.0', reason: "job 'agg-a' is also named by live-dashboard.primary" },
  { name: 'a warm standby job with no launch settings', file: 'topology.yaml', edit: replace('  live-dashboard:\n    tier: P0', '  live-dashboard:\n    tier: P1'), path: 'pipelines.live-dashboard.chains.standby.jobs.0', reason: "so job 'agg-b' is started on failover: say how in rooms.room-b.flink.launch.agg-b" },
  { name: 'a warm standby job whose jar is missing', file: 'topology.yaml', edit: (t) => t.replace('  live-dashboard:\n    tier: P0', '  live-dashboard:\n    tier: P1').replace('flink: { url: "http://127.0.0.1:28081" }', 'flink: { url: "http://127.0.0.1:28081", launch: { agg-b: { jar: no-such.jar, entryClass: x.Y } } }'), path: 'rooms.room-b.flink.launch.agg-b.jar', reason: 'jar not found: ' },
  { name: 'warm standby jobs with nowhere to put their savepoints', file: 'topology.yaml', edit: (t) => t.replace('  live-dashboard:\n    tier: P0', '  live-dashboard:\n    tier: P1'), path: 'rooms.room-b.flink.savepointDir', reason: 'are stopped with a savepoint when the pipeline leaves them' },
  { name: 'a Flink endpoint with another scheme', file: 'topology.yaml', edit: replace('flink: { url: "http://127.0.0.1:28081" }', 'flink: { url: "ftp://127.0.0.1:28081" }'), path: 'rooms.room-b.flink.url', reason: "scheme 'ftp:' is not http or https" },
  { name: 'a Flink URL carrying a password', file: 'topology.yaml', edit: replace('flink: { url: "http://127.0.0.1:28081" }', 'flink: { url: "http://admin:s3cret@127.0.0.1:28081" }'), path: 'rooms.room-b.flink.url', reason: 'a URL must not carry a user or password' },
  { name: 'an etcd password over http', file: 'topology.yaml', edit: replace('etcd: { endpoints: ["http://127.0.0.1:23790"] }', 'etcd: { endpoints: ["http://127.0.0.1:23790"], auth: { username: sy, password: { env: HOME } } }'), path: 'etcd.auth', reason: 'a password must not cross the network in clear' },
  { name: 'an etcd password written inline', file: 'topology.yaml', edit: replace('etcd: { endpoints: ["http://127.0.0.1:23790"] }', 'etcd: { endpoints: ["https://127.0.0.1:23790"], auth: { username: sy, password: hunter2 } }'), path: 'etcd.auth.password', reason: 'a secret is never written into the topology' },
  { name: 'a Kafka SASL password without TLS', file: 'topology.yaml', edit: replace('room-b: { kafka: { brokers: ["127.0.0.1:29092"] }', 'room-b: { kafka: { brokers: ["127.0.0.1:29092"], sasl: { mechanism: scram-sha-512, username: sy, password: { env: HOME } } }'), path: 'rooms.room-b.kafka.sasl', reason: 'SASL needs tls' },
  { name: 'a Kafka SASL password written inline', file: 'topology.yaml', edit: replace('room-b: { kafka: { brokers: ["127.0.0.1:29092"] }', 'room-b: { kafka: { brokers: ["127.0.0.1:29092"], tls: {}, sasl: { mechanism: plain, username: sy, password: hunter2 } }'), path: 'rooms.room-b.kafka.sasl.password', reason: 'a secret is never written into the topology' },
  { name: 'a Kafka SASL mechanism Kafka does not offer us', file: 'topology.yaml', edit: replace('room-b: { kafka: { brokers: ["127.0.0.1:29092"] }', 'room-b: { kafka: { brokers: ["127.0.0.1:29092"], tls: {}, sasl: { mechanism: gssapi, username: sy, password: { env: HOME } } }'), path: 'rooms.room-b.kafka.sasl.mechanism', reason: 'scram-sha-512' },
  { name: 'a Kafka client certificate without its key', file: 'topology.yaml', edit: replace('room-b: { kafka: { brokers: ["127.0.0.1:29092"] }', 'room-b: { kafka: { brokers: ["127.0.0.1:29092"], tls: { certFile: topology.yaml } }'), path: 'rooms.room-b.kafka.tls.keyFile', reason: 'a client certificate needs both certFile and keyFile' },
  { name: 'a Kafka CA file that is not there', file: 'topology.yaml', edit: replace('room-b: { kafka: { brokers: ["127.0.0.1:29092"] }', 'room-b: { kafka: { brokers: ["127.0.0.1:29092"], tls: { caFile: no-such-ca.pem } }'), path: 'rooms.room-b.kafka.tls.caFile', reason: 'no-such-ca.pem: not found' },
  { name: 'P1 given a shed order', file: 'policies/p1.yaml', edit: replace('shedOrder: 0', 'shedOrder: 3'), path: 'shedOrder', reason: 'tier P1 is never shed (only P2 and P3 are): set 0, got 3' },
  { name: 'missing policies directory', file: 'topology.yaml', edit: replace('policies: policies', 'policies: no-such-dir'), path: 'policies', reason: 'policy directory or file not found: ' },
];

const BASELINE_CASES: Case[] = [
  { name: 'a baseline for an unknown pipeline', file: 'baselines/live-dashboard.room-a.yaml', edit: replace('pipeline: live-dashboard', 'pipeline: live-dashbord'), path: 'pipeline', reason: "unknown pipeline 'live-dashbord'" },
  { name: 'a baseline for a room the pipeline has no chain in', file: 'baselines/live-dashboard.room-a.yaml', edit: replace('room: room-a', 'room: room-c'), path: 'room', reason: "pipeline live-dashboard has no chain in room 'room-c'" },
  { name: 'a baseline whose CPU limit is above 60 %', file: 'baselines/live-dashboard.room-a.yaml', edit: replace('cpuRatio: { limit: 0.6,', 'cpuRatio: { limit: 0.8,'), path: 'criteria.cpuRatio.limit', reason: 'expected number to be <=0.6' },
  { name: 'a baseline without its date', file: 'baselines/live-dashboard.room-a.yaml', edit: replace('measuredAt: "2026-11-20T10:00:00+08:00"\n', ''), path: 'measuredAt', reason: 'expected string' },
  { name: 'a baseline date without a zone', file: 'baselines/live-dashboard.room-a.yaml', edit: replace('"2026-11-20T10:00:00+08:00"', '"2026-11-20 10:00"'), path: 'measuredAt', reason: 'Invalid ISO datetime' },
];

describe('configuration fixtures: each mistake is rejected whole, naming file, path and reason', () => {
  it('the good fixture loads', () => {
    const c = loadConfig(join(GOOD, 'topology.yaml'));
    expect([...c.topology.pipelines.keys()]).toEqual(['live-dashboard', 'nightly-report']);
    expect(c.topology.pipelines.get('live-dashboard')!.chains[0]!.jobs).toEqual(['agg-a']);
    expect(c.topology.baselines?.get('live-dashboard')?.get('room-a')).toMatchObject({ ratePerSecond: 12000, tasks: 4, measuredAt: Date.parse('2026-11-20T02:00:00Z'), measuredBy: 'alice' });
    expect(c.etcd).toEqual({ endpoints: ['http://127.0.0.1:23790'], prefix: '/switchyard', leaseTtlSeconds: 5 });
    expect(c.topology.witnesses).toEqual([]);
  });

  it('a lease TTL that leaves no room in an automatic tier\'s RTO is valid but warned about, with the fix', () => {
    // The good fixture keeps the default 5 s TTL with P0's 5 s objective: a leader that dies with its room costs 6 s.
    expect(loadConfig(join(GOOD, 'topology.yaml')).warnings).toEqual([
      "etcd.leaseTtlSeconds 5 s: when the leader dies with its room, tier P0 serves again only after its lease runs out plus a flip (about 6000 ms), past its RTO objective of 5000 ms; lower the TTL to 4 s or less (tier P3's probe.timeoutMs 2000 needs a TTL above 4 s: shorten it too)",
    ]);
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-fixture-'));
    cpSync(GOOD, dir, { recursive: true });
    writeFileSync(join(dir, 'policies/p3.yaml'), readFileSync(join(dir, 'policies/p3.yaml'), 'utf8').replace('timeoutMs: 2000', 'timeoutMs: 1500'));
    writeFileSync(join(dir, 'topology.yaml'), readFileSync(join(dir, 'topology.yaml'), 'utf8').replace('etcd: { endpoints: ["http://127.0.0.1:23790"] }', 'etcd: { endpoints: ["http://127.0.0.1:23790"], leaseTtlSeconds: 4 }'));
    expect(loadConfig(join(dir, 'topology.yaml')).warnings).toEqual([]);
  });

  it('witness sites load into the topology, and a replica may run in one', () => {
    const file = broken('topology.yaml', replace('policies: policies', 'policies: policies\nwitnesses: [witness]\ncontroller: { room: witness }'));
    const c = loadConfig(file);
    expect(c.topology.witnesses).toEqual(['witness']);
    expect(c.controller.room).toBe('witness');
  });

  it(`has at least 15 cases (${CASES.length})`, () => {
    expect(CASES.length).toBeGreaterThanOrEqual(15);
  });

  for (const c of CASES) {
    it(c.name, () => {
      const problems = problemsOf(broken(c.file, c.edit));
      const match = problems.find((p) => p.file.endsWith(c.file.split('/').pop()!) && p.path === c.path && p.reason.includes(c.reason));
      expect(match, `wanted ${c.file}: ${c.path}: ...${c.reason}...; got\n${problems.map((p) => `${p.file}: ${p.path}: ${p.reason}`).join('\n')}`).toBeDefined();
    });
  }

  it('a YAML alias bomb is refused, not expanded', () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-bomb-'));
    const lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 9; i++) lines.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill(`*${String.fromCharCode(96 + i)}`).join(',')}]`);
    writeFileSync(join(dir, 'topology.yaml'), lines.join('\n') + '\n');
    const [p] = problemsOf(join(dir, 'topology.yaml'));
    expect(p!.reason).toMatch(/^invalid YAML: /);
  });

  it('a huge file, a directory and a special file are refused with the reason', () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-odd-'));
    writeFileSync(join(dir, 'big.yaml'), `# ${'x'.repeat(2 * 1024 * 1024)}\n`);
    expect(problemsOf(join(dir, 'big.yaml'))[0]!.reason).toMatch(/configuration files are limited to 1048576/);
    expect(problemsOf(dir)[0]!.reason).toBe('is a directory, not a file');
    expect(problemsOf('/dev/null')[0]!.reason).toMatch(/not a regular file/);
  });

  it('a missing topology file says so', () => {
    expect(problemsOf('/nonexistent/topology.yaml')).toEqual([{ file: '/nonexistent/topology.yaml', path: '', reason: 'file not found' }]);
  });
});

describe('a baseline with a mistake is left out, named with file, path and reason, and the configuration still loads', () => {
  for (const c of BASELINE_CASES) {
    it(c.name, () => {
      const loaded = loadConfig(broken(c.file, c.edit));
      expect(loaded.topology.baselines?.get('live-dashboard')?.get('room-a')).toBeUndefined();
      const about = loaded.warnings.filter((w) => w.startsWith('baseline '));
      expect(about[0]).toContain(`baselines/live-dashboard.room-a.yaml: ${c.path}: `);
      expect(about[0]).toContain(c.reason);
      expect(about[0]).toContain('left out (the pipeline is uncapped in that room until it is fixed)');
    });
  }
});

describe('secrets in files are re-read when the files change (no restart)', () => {
  it('etcd, ClickHouse and Kafka passwords and the ClickHouse CA: the next use reads the new file; nothing is inline', () => {
    const topology = broken('topology.yaml', (t) =>
      t
        .replace('etcd: { endpoints: ["http://127.0.0.1:23790"] }', 'etcd: { endpoints: ["https://127.0.0.1:23790"], auth: { username: sy, password: { file: etcd.pw } } }')
        .replace(
          'room-a: { kafka: { brokers: ["127.0.0.1:19092"] }',
          'room-a: { kafka: { brokers: ["127.0.0.1:19092"], tls: { caFile: ca.pem }, sasl: { mechanism: scram-sha-512, username: sy, password: { file: kafka.pw } } }, olap: { url: "https://ch-a:8443", user: sy, password: { file: ch.pw }, caFile: ca.pem }',
        ),
    );
    const dir = join(topology, '..');
    const put = (name: string, text: string) => writeFileSync(join(dir, name), text);
    put('etcd.pw', 'etcd-1\n');
    put('kafka.pw', 'kafka-1\n');
    put('ch.pw', 'ch-1\n');
    put('ca.pem', 'CA ONE');
    const c = loadConfig(topology);
    const ch = c.olapAccess.get('https://ch-a:8443')!;
    const kafka = () => c.kafkaAccess.get('127.0.0.1:19092')!();
    expect([c.etcd.auth?.password, ch.auth?.password, String(ch.ca), kafka().sasl?.password, String(kafka().tls?.ca)]).toEqual(['etcd-1', 'ch-1', 'CA ONE', 'kafka-1', 'CA ONE']);
    // Rotated: each file replaced (a new inode, as a Kubernetes Secret update or `mv` does).
    for (const [name, text] of [['etcd.pw', 'etcd-2\n'], ['kafka.pw', 'kafka-2\n'], ['ch.pw', 'ch-2\n'], ['ca.pem', 'CA TWO']] as const) {
      put(`${name}.new`, text);
      renameSync(join(dir, `${name}.new`), join(dir, name));
    }
    expect([c.etcd.auth?.password, ch.auth?.password, String(ch.ca), kafka().sasl?.password, String(kafka().tls?.ca)]).toEqual(['etcd-2', 'ch-2', 'CA TWO', 'kafka-2', 'CA TWO']);
    // The topology, which is stored and shown, holds none of them.
    expect(JSON.stringify([...c.topology.rooms.values()])).not.toMatch(/etcd-\d|ch-\d|kafka-\d/);
  });
});
