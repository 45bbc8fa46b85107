// Helpers for tests, benchmarks and the demo that drive the local stack of scripts/services.sh.
// Loopback only; every wait is bounded.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The project root, from this file's place in either bench/ or dist/bench/. */
export const ROOT = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    try {
      readFileSync(join(dir, 'package.json'));
      if (readFileSync(join(dir, 'package.json'), 'utf8').includes('"name": "switchyard"')) return dir;
    } catch {
      /* keep climbing */
    }
    dir = dirname(dir);
  }
  throw new Error('cannot find the project root');
})();

export const STATE_DIR = process.env['SWITCHYARD_STATE'] ?? '/tmp/switchyard-local';

export const LOCAL = {
  etcd: 'http://127.0.0.1:23790',
  rooms: {
    // cuttable: the broker's second listener (port `listen`) advertises `via`, where a test runs a
    // TcpProxy it can cut: a client bootstrapped at `via` talks to the broker only through it.
    // flink: the room's Flink REST API and the stream job it runs (dashboard-events -> dashboard-events-out).
    'room-a': { brokers: ['127.0.0.1:19092'], service: 'kafka-a', olap: 'http://127.0.0.1:18123', olapService: 'clickhouse-a', cuttable: { listen: 19094, via: 19095 }, flink: { url: 'http://127.0.0.1:18081', service: 'flink-a', job: 'dashboard-agg-a', in: 'dashboard-events' } },
    'room-b': { brokers: ['127.0.0.1:29092'], service: 'kafka-b', olap: 'http://127.0.0.1:28123', olapService: 'clickhouse-b', cuttable: { listen: 29094, via: 29095 }, flink: { url: 'http://127.0.0.1:28081', service: 'flink-b', job: 'dashboard-agg-b', in: 'dashboard-events' } },
  },
  // issue 18: SASL_SSL (SCRAM-SHA-512 users switchyard and sdk, PLAIN user plain) and SSL with a
  // client certificate required; CA, certificates and passwords in `pki`.
  kafkaSecure: { sasl: '127.0.0.1:39092', mtls: '127.0.0.1:39094', service: 'kafka-secure', pki: join(STATE_DIR, 'kafka-secure', 'pki') },
} as const;

/** The Kafka version the local brokers run (scripts/services.sh, SWITCHYARD_KAFKA_VERSION). */
export const KAFKA_VERSION = process.env['SWITCHYARD_KAFKA_VERSION'] ?? '3.9.1';
/** Where scripts/services.sh caches that version's jars (for the broker's own tools in a test). */
export const KAFKA_LIBS = join(process.env['SWITCHYARD_CACHE'] ?? join(homedir(), '.cache', 'switchyard'), `kafka-${KAFKA_VERSION}`, 'libs');

export type LocalRoom = keyof typeof LOCAL.rooms;

export async function services(...args: string[]): Promise<string> {
  const { stdout } = await run('bash', [join(ROOT, 'scripts/services.sh'), ...args], { timeout: 120_000 });
  return stdout;
}

/** SIGKILLs a service directly (no shell in between) and returns the moment it was sent. */
export function killService(service: string): number {
  const pid = Number(readFileSync(join(STATE_DIR, service, 'pid'), 'utf8').trim());
  const at = Date.now();
  process.kill(pid, 'SIGKILL');
  return at;
}

export function randomId(): string {
  return Math.random().toString(36).slice(2, 8);
}

export interface ScenarioConfig {
  readonly prefix: string;
  readonly topic: string;
  readonly group: string;
  readonly pipeline: string;
  readonly probeIntervalMs: number;
  readonly fallAfter: number;
  readonly marginMs: number;
  readonly observersRequired: number;
  readonly leaseTtlSeconds?: number;
  readonly minDwellMs?: number;
  readonly verifyTimeoutMs?: number;
  /** Per room, the broker list written for it (to simulate one observer's cut-off path). */
  readonly brokers?: Partial<Record<string, string>>;
  /** Give each room its local ClickHouse as OLAP endpoint. */
  readonly olap?: boolean;
  /** Per room, the OLAP health query (default SELECT 1). */
  readonly olapHealthQuery?: Partial<Record<string, string>>;
  /** The P0 change window, "HH:MM-HH:MM" in UTC (default: all day). */
  readonly changeWindow?: string;
  /** The topology's notifications.webhooks (runbook notify and page), name to URL. */
  readonly webhooks?: Readonly<Record<string, string>>;
  /** The controller's Kubernetes API access (controller.kubernetes), and the Service the pipeline points at its active chain. */
  readonly kubernetes?: { readonly server: string; readonly tokenFile?: string; readonly caFile?: string; readonly namespace?: string };
  readonly service?: { readonly namespace: string; readonly name: string };
  /** Per chain, the Kubernetes workloads that follow it (chains.<name>.kubernetes). */
  readonly chainKubernetes?: Partial<Record<'primary' | 'standby', { readonly deployments?: readonly object[]; readonly flinkDeployments?: readonly object[] }>>;
  /** Tiers besides P0 to write (the same policy), e.g. for a runbook that freezes P0 and P1. */
  readonly extraTiers?: readonly string[];
  /** P0 data budget: largest estimated loss (default 60000 ms) and how long to wait for it (default 10000 ms). */
  readonly maxLossMs?: number;
  readonly maxWaitMs?: number;
  /** P0 backfill: automatic or manual (default manual). */
  readonly backfill?: 'automatic' | 'manual';
  /** Give each room its local Flink, and each chain that room's stream job. */
  readonly flink?: boolean;
  /**
   * P0 keeps a warm standby: room-b's job (named like the local stack's) is stopped until a
   * failover starts it with these arguments from the job jar.
   */
  readonly warm?: { readonly jar: string; readonly args: readonly string[]; readonly savepointDir: string };
  /** P0 stream-job limits (default: the schema's). */
  readonly streamJobs?: { readonly maxCheckpointAgeMs?: number; readonly maxRestarts?: number; readonly restartWindowMs?: number };
}

/** Writes a topology and a P0 policy for one scenario into a temp dir; returns the topology path. */
export function writeScenarioConfig(c: ScenarioConfig): string {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-scenario-'));
  mkdirSync(join(dir, 'policies'));
  // The same policy for P0 and each extra tier (a runbook may freeze tiers no pipeline here uses).
  for (const tier of ['P0', ...(c.extraTiers ?? [])]) writeFileSync(
    join(dir, 'policies', `${tier.toLowerCase()}.yaml`),
    [
      `tier: ${tier}`,
      'failover: automatic',
      ...(c.warm ? ['standby: warm'] : []),
      'failback: manual',
      `probe: { intervalMs: ${c.probeIntervalMs}, timeoutMs: ${Math.max(20, Math.floor(c.probeIntervalMs * 0.8))} }`,
      `fallAfter: ${c.fallAfter}`,
      'riseAfter: 3',
      `staleAfterMs: ${c.probeIntervalMs * 8}`,
      `observersRequired: ${c.observersRequired}`,
      `minDwellMs: ${c.minDwellMs ?? 60000}`,
      'maxSwitchesPerHour: 100',
      `duplicateMarginMs: ${c.marginMs}`,
      `dataBudget: { maxLossMs: ${c.maxLossMs ?? 60000}, maxDuplicateMs: ${Math.max(c.marginMs, 10000)}, maxWaitMs: ${c.maxWaitMs ?? 10000} }`,
      `changeWindows: { timeZone: UTC, windows: ["${c.changeWindow ?? '00:00-24:00'}"] }`,
      `backfill: ${c.backfill ?? 'manual'}`,
      ...(c.streamJobs ? [`streamJobs: { ${Object.entries(c.streamJobs).map(([k, v]) => `${k}: ${v}`).join(', ')} }`] : []),
      '',
    ].join('\n'),
  );
  const file = join(dir, 'topology.yaml');
  writeFileSync(
    file,
    [
      `controller: { httpPort: 0, verifyTimeoutMs: ${c.verifyTimeoutMs ?? 10000}${c.kubernetes ? `, kubernetes: ${JSON.stringify(c.kubernetes)}` : ''} }`,
      `etcd: { endpoints: ["${LOCAL.etcd}"], prefix: ${c.prefix}, leaseTtlSeconds: ${c.leaseTtlSeconds ?? 5} }`,
      'policies: policies',
      'witnesses: [witness]',
      ...(c.webhooks ? [`notifications: { webhooks: { ${Object.entries(c.webhooks).map(([k, v]) => `${k}: "${v}"`).join(', ')} } }`] : []),
      'rooms:',
      `  room-a: { kafka: { brokers: ["${c.brokers?.['room-a'] ?? LOCAL.rooms['room-a'].brokers[0]}"] }${c.olap ? `, olap: { url: "${LOCAL.rooms['room-a'].olap}", healthQuery: "${c.olapHealthQuery?.['room-a'] ?? 'SELECT 1'}" }` : ''}${c.flink ? `, flink: { url: "${LOCAL.rooms['room-a'].flink.url}" }` : ''} }`,
      `  room-b: { kafka: { brokers: ["${c.brokers?.['room-b'] ?? LOCAL.rooms['room-b'].brokers[0]}"] }${c.olap ? `, olap: { url: "${LOCAL.rooms['room-b'].olap}", healthQuery: "${c.olapHealthQuery?.['room-b'] ?? 'SELECT 1'}" }` : ''}${c.flink ? `, flink: { url: "${LOCAL.rooms['room-b'].flink.url}"${c.warm ? `, savepointDir: "${c.warm.savepointDir}", launch: { ${LOCAL.rooms['room-b'].flink.job}: { jar: "${c.warm.jar}", entryClass: io.switchyard.flink.PipelineJob, args: [${c.warm.args.map((a) => JSON.stringify(a)).join(', ')}] } }` : ''} }` : ''} }`,
      'pipelines:',
      `  ${c.pipeline}:`,
      '    tier: P0',
      `    topics: [${c.topic}]`,
      `    consumerGroup: ${c.group}`,
      ...(c.service ? [`    service: ${JSON.stringify(c.service)}`] : []),
      '    chains:',
      `      primary: { room: room-a, role: primary${c.flink ? `, jobs: [${LOCAL.rooms['room-a'].flink.job}]` : ''}${c.chainKubernetes?.primary ? `, kubernetes: ${JSON.stringify(c.chainKubernetes.primary)}` : ''} }`,
      `      standby: { room: room-b, role: standby${c.flink ? `, jobs: [${LOCAL.rooms['room-b'].flink.job}]` : ''}${c.chainKubernetes?.standby ? `, kubernetes: ${JSON.stringify(c.chainKubernetes.standby)}` : ''} }`,
      '',
    ].join('\n'),
  );
  return file;
}

export interface ControllerProcess {
  readonly child: ChildProcess;
  /** Every JSON log line so far. */
  readonly logs: Record<string, unknown>[];
  stop(): Promise<void>;
}

/** Starts `switchyard controller` from the built CLI as a child process. */
export function startController(
  configFile: string,
  observer: string,
  room: string,
  extraEnv: Record<string, string> = {},
  onLog?: (line: Record<string, unknown>) => void,
): ControllerProcess {
  const args = [join(ROOT, 'bin/switchyard.js'), 'controller', '--config', configFile, '--observer', observer, '--room', room];
  const child = spawn(process.execPath, args, {
    // A fault hook is refused unless the test-hooks switch is on too: tests that pass one set it.
    env: { ...process.env, SWITCHYARD_LOG_LEVEL: 'info', ...(extraEnv['SWITCHYARD_FAULT_PAUSE_AFTER_STEP'] && { SWITCHYARD_TEST_HOOKS: '1' }), ...extraEnv },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  onJsonLines(child.stderr!, (entry) => {
    logs.push(entry);
    onLog?.(entry);
  });
  return {
    child,
    logs,
    stop: () =>
      new Promise<void>((done) => {
        if (child.exitCode !== null || child.signalCode !== null) return done();
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        child.once('exit', () => {
          clearTimeout(timer);
          done();
        });
        child.kill('SIGTERM');
      }),
  };
}

/** Calls `onEntry` with each line of `stream` parsed as JSON (a line that is not JSON: `{ msg: line }`). */
export function onJsonLines(stream: NodeJS.ReadableStream, onEntry: (entry: Record<string, unknown>) => void): void {
  let buf = '';
  stream.on('data', (chunk: Buffer) => {
    buf += chunk.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        entry = { msg: line };
      }
      onEntry(entry);
    }
  });
}

export async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined> | T | undefined, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
}

export const PROJECT = { root: ROOT, resolve: (...p: string[]) => resolve(ROOT, ...p) };
