// Helpers for the scale benchmark (npm run bench:scale): a topology with many pipelines, many
// topics created and deleted in batches, a controller child process that can take node flags
// (--cpu-prof, the tick timer), its RSS, and etcd's own write counters.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createKafka } from '../../src/adapters/kafka/kafka-client.js';
import { silentLogger } from '../../src/ports/logger.js';
import { LOCAL, ROOT, onJsonLines } from './local-stack.js';

export interface ScalePipeline {
  readonly name: string;
  readonly topics: readonly string[];
  readonly group: string;
}

export interface ScaleConfig {
  readonly prefix: string;
  readonly pipelines: readonly ScalePipeline[];
  readonly probeIntervalMs: number;
  readonly fallAfter: number;
  readonly marginMs: number;
  readonly observersRequired: number;
  readonly maxLossMs?: number;
  readonly minDwellMs?: number;
}

/** Writes a topology (every pipeline P0, primary in room-a, standby in room-b) and its policy; returns the topology path. */
export function writeScaleConfig(c: ScaleConfig): string {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-scale-'));
  mkdirSync(join(dir, 'policies'));
  writeFileSync(
    join(dir, 'policies', 'p0.yaml'),
    [
      'tier: P0',
      'failover: automatic',
      'failback: manual',
      `probe: { intervalMs: ${c.probeIntervalMs}, timeoutMs: ${Math.max(20, Math.floor(c.probeIntervalMs * 0.8))} }`,
      `fallAfter: ${c.fallAfter}`,
      'riseAfter: 3',
      `staleAfterMs: ${c.probeIntervalMs * 8}`,
      `observersRequired: ${c.observersRequired}`,
      `minDwellMs: ${c.minDwellMs ?? 60000}`,
      // Every pipeline of a room moves in one failover: the hourly limit must not hold any back.
      `maxSwitchesPerHour: ${Math.max(100, c.pipelines.length * 2)}`,
      `duplicateMarginMs: ${c.marginMs}`,
      `dataBudget: { maxLossMs: ${c.maxLossMs ?? 60000}, maxDuplicateMs: ${Math.max(c.marginMs, 10000)}, maxWaitMs: 10000 }`,
      'changeWindows: { timeZone: UTC, windows: ["00:00-24:00"] }',
      'backfill: manual',
      '',
    ].join('\n'),
  );
  const file = join(dir, 'topology.yaml');
  const lines = [
    'controller: { httpPort: 0, verifyTimeoutMs: 10000 }',
    `etcd: { endpoints: ["${LOCAL.etcd}"], prefix: ${c.prefix}, leaseTtlSeconds: 5 }`,
    'policies: policies',
    'witnesses: [witness]',
    'rooms:',
    `  room-a: { kafka: { brokers: ["${LOCAL.rooms['room-a'].brokers[0]}"] } }`,
    `  room-b: { kafka: { brokers: ["${LOCAL.rooms['room-b'].brokers[0]}"] } }`,
    'pipelines:',
  ];
  for (const p of c.pipelines) {
    lines.push(
      `  ${p.name}:`,
      '    tier: P0',
      `    topics: [${p.topics.join(', ')}]`,
      `    consumerGroup: ${p.group}`,
      '    chains:',
      '      primary: { room: room-a, role: primary }',
      '      standby: { room: room-b, role: standby }',
    );
  }
  writeFileSync(file, [...lines, ''].join('\n'));
  return file;
}

/** Creates the topics in both rooms, `batch` per CreateTopics request; returns how long it took. */
export async function createTopicsBoth(topics: readonly string[], partitions: number, batch = 100): Promise<number> {
  const started = Date.now();
  await Promise.all(
    Object.values(LOCAL.rooms).map(async (r) => {
      const admin = createKafka({ clientId: 'scale-admin', brokers: r.brokers, log: silentLogger, timeoutMs: 30_000 }).admin();
      await admin.connect();
      try {
        for (let i = 0; i < topics.length; i += batch) {
          const chunk = topics.slice(i, i + batch);
          // Not waitForLeaders: kafkajs then asks metadata for the whole batch and gives up on the
          // first UNKNOWN_TOPIC_OR_PARTITION of a large one; leaders are awaited below instead.
          await admin.createTopics({ topics: chunk.map((topic) => ({ topic, numPartitions: partitions, replicationFactor: 1 })), waitForLeaders: false, timeout: 60_000 });
        }
        const deadline = Date.now() + 120_000;
        for (;;) {
          const md = await admin.fetchTopicMetadata({ topics: [...topics] }).catch(() => undefined);
          if (md && md.topics.length === topics.length && md.topics.every((t) => t.partitions.length === partitions && t.partitions.every((p) => p.leader >= 0))) break;
          if (Date.now() > deadline) throw new Error(`${r.service}: topics without a leader after 120 s`);
          await new Promise((res) => setTimeout(res, 500));
        }
      } finally {
        await admin.disconnect();
      }
    }),
  );
  return Date.now() - started;
}

/** Deletes the topics in the rooms whose broker answers (best effort). */
export async function deleteTopicsBoth(topics: readonly string[], batch = 200): Promise<void> {
  await Promise.all(
    Object.values(LOCAL.rooms).map(async (r) => {
      const admin = createKafka({ clientId: 'scale-admin', brokers: r.brokers, log: silentLogger, timeoutMs: 30_000 }).admin();
      try {
        await admin.connect();
        const existing = new Set(await admin.listTopics());
        const mine = topics.filter((t) => existing.has(t));
        for (let i = 0; i < mine.length; i += batch) await admin.deleteTopics({ topics: mine.slice(i, i + batch), timeout: 60_000 });
      } catch {
        // best effort: a room that is down keeps its topics until the next `services.sh down`
      } finally {
        await admin.disconnect().catch(() => undefined);
      }
    }),
  );
}

export interface ChildController {
  readonly child: ChildProcess;
  readonly logs: Record<string, unknown>[];
  /** Tick durations reported by the tick timer (ms, with the tick's end time). */
  readonly ticks: { at: number; ms: number }[];
  stop(): Promise<void>;
}

/** The preloaded module that times Controller.tick in the child (dist/bench/support/tick-timer.js). */
const TICK_TIMER = pathToFileURL(join(ROOT, 'dist/bench/support/tick-timer.js')).href;

/**
 * Starts `switchyard controller` like startController (local-stack.ts), with node flags before the
 * script (e.g. --cpu-prof) and the tick timer preloaded; the child's log lines are kept, except
 * the tick timer's, which go to `ticks`.
 */
export function startTimedController(configFile: string, observer: string, room: string, execArgv: readonly string[] = [], onLog?: (l: Record<string, unknown>) => void): ChildController {
  const args = [...execArgv, `--import=${TICK_TIMER}`, join(ROOT, 'bin/switchyard.js'), 'controller', '--config', configFile, '--observer', observer, '--room', room];
  const child = spawn(process.execPath, args, { env: { ...process.env, SWITCHYARD_LOG_LEVEL: 'info' }, stdio: ['ignore', 'ignore', 'pipe'] });
  const logs: Record<string, unknown>[] = [];
  const ticks: { at: number; ms: number }[] = [];
  onJsonLines(child.stderr!, (entry) => {
    if (entry['msg'] === 'bench tick') {
      ticks.push({ at: Number(entry['at']), ms: Number(entry['ms']) });
      return;
    }
    if (logs.length < 50_000) logs.push(entry);
    onLog?.(entry);
  });
  return {
    child,
    logs,
    ticks,
    stop: () =>
      new Promise<void>((done) => {
        if (child.exitCode !== null || child.signalCode !== null) return done();
        const timer = setTimeout(() => child.kill('SIGKILL'), 8000);
        child.once('exit', () => {
          clearTimeout(timer);
          done();
        });
        child.kill('SIGTERM');
      }),
  };
}

/** A process's resident set size in MB (VmRSS), or undefined once it is gone. */
export function rssMb(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** etcd's own counters of applied writes (puts, deletes, write transactions) from its /metrics. */
export async function etcdWriteCounters(): Promise<Record<string, number>> {
  const text = await (await fetch(`${LOCAL.etcd}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^(etcd_mvcc_(?:put|delete|txn|range)_total|etcd_debugging_mvcc_(?:put|delete|txn|range)_total|etcd_mvcc_db_total_size_in_bytes|etcd_debugging_mvcc_current_revision|etcd_debugging_lease_renewed_total)(?:\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (m) out[m[1]!] = (out[m[1]!] ?? 0) + Number(m[2]);
  }
  return out;
}

/** Deletes topics left by an earlier scale run that did not finish (names beginning `scale-` or `scalec-`). */
export async function deleteLeftoverScaleTopics(): Promise<number> {
  let n = 0;
  await Promise.all(
    Object.values(LOCAL.rooms).map(async (r) => {
      const admin = createKafka({ clientId: 'scale-admin', brokers: r.brokers, log: silentLogger, timeoutMs: 30_000 }).admin();
      try {
        await admin.connect();
        const left = (await admin.listTopics()).filter((t) => /^scalec?-[a-z0-9]{6}-t\d+$/.test(t));
        n += left.length;
        for (let i = 0; i < left.length; i += 200) await admin.deleteTopics({ topics: left.slice(i, i + 200), timeout: 60_000 });
      } catch {
        // best effort
      } finally {
        await admin.disconnect().catch(() => undefined);
      }
    }),
  );
  return n;
}
