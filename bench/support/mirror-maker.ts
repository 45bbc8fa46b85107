// MirrorMaker 2 in dedicated mode (org.apache.kafka.connect.mirror.MirrorMaker) for the
// side-by-side benchmark (bench:peer): the jars come from `scripts/services.sh install-mm2`,
// one JVM replicates room-a to room-b. Loopback only; every wait is bounded.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { services, STATE_DIR } from './local-stack.js';

export interface MirrorMakerOptions {
  /** Unique per run: the cluster aliases carry it, so every internal topic and the worker group are new. */
  readonly id: string;
  readonly sourceBrokers: readonly string[];
  readonly targetBrokers: readonly string[];
  /** Only these are mirrored (the brokers are shared with other tests). */
  readonly topics: readonly string[];
  readonly groups: readonly string[];
}

export interface MirrorMakerProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly source: string;
  readonly target: string;
  readonly logFile: string;
  /** SIGSTOP: the JVM stops replicating and checkpointing (the lag case). */
  pause(): void;
  resume(): void;
  /** SIGTERM, then SIGKILL after `graceMs` (with room-a dead MirrorMaker 2 ignores SIGTERM). */
  stop(graceMs?: number): Promise<'exited' | 'killed'>;
}

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The mm2.properties for one a->b flow, with every interval at its fastest. */
export function mirrorMakerProperties(o: MirrorMakerOptions): { text: string; source: string; target: string } {
  const source = `a${o.id}`;
  const target = `b${o.id}`;
  const flow = `${source}->${target}`;
  const lines = [
    `clusters = ${source}, ${target}`,
    `${source}.bootstrap.servers = ${o.sourceBrokers.join(',')}`,
    `${target}.bootstrap.servers = ${o.targetBrokers.join(',')}`,
    `${flow}.enabled = true`,
    `${target}->${source}.enabled = false`,
    `${flow}.topics = ${o.topics.map(escapeRegex).join(',')}`,
    `${flow}.groups = ${o.groups.map(escapeRegex).join(',')}`,
    // Active/passive: the topic keeps its name in room-b, so consumers fail over without renaming.
    'replication.policy.class = org.apache.kafka.connect.mirror.IdentityReplicationPolicy',
    // One broker per room.
    'replication.factor = 1',
    'checkpoints.topic.replication.factor = 1',
    'heartbeats.topic.replication.factor = 1',
    'offset-syncs.topic.replication.factor = 1',
    `${target}.offset.storage.replication.factor = 1`,
    `${target}.status.storage.replication.factor = 1`,
    `${target}.config.storage.replication.factor = 1`,
    // Group offsets: checkpoints and the sync into room-b's group at their fastest (seconds, >= 1).
    'emit.checkpoints.enabled = true',
    'emit.checkpoints.interval.seconds = 1',
    'sync.group.offsets.enabled = true',
    'sync.group.offsets.interval.seconds = 1',
    // An offset sync for every record MirrorMaker copies (default 100 records apart), so that
    // translation is as exact as the connector allows.
    'offset.lag.max = 0',
    'refresh.topics.interval.seconds = 1',
    'refresh.groups.interval.seconds = 1',
    // Heartbeats would write a `heartbeats` topic into the shared room-b; they play no part in failover.
    'emit.heartbeats.enabled = false',
    'sync.topic.configs.enabled = false',
    'sync.topic.acls.enabled = false',
    // Worker settings take the target cluster's prefix; unprefixed they are silently ignored.
    `${target}.offset.flush.interval.ms = 1000`,
    `${target}.offset.flush.timeout.ms = 1000`,
    '',
  ];
  return { text: lines.join('\n'), source, target };
}

/** Fetches the jars when missing (bounded by services.sh) and returns their folder. */
export async function mirrorMakerLibs(): Promise<string> {
  const out = (await services('install-mm2')).trim().split('\n').pop() ?? '';
  readFileSync(join(out, '.complete'));
  return out;
}

export async function startMirrorMaker(o: MirrorMakerOptions, libs: string): Promise<MirrorMakerProcess> {
  const dir = join(STATE_DIR, 'mm2', o.id);
  mkdirSync(dir, { recursive: true });
  const props = mirrorMakerProperties(o);
  const propsFile = join(dir, 'mm2.properties');
  writeFileSync(propsFile, props.text);
  const log4j = join(dir, 'log4j.properties');
  writeFileSync(
    log4j,
    [
      'log4j.rootLogger=WARN, file',
      'log4j.appender.file=org.apache.log4j.FileAppender',
      `log4j.appender.file.File=${join(dir, 'log')}`,
      'log4j.appender.file.layout=org.apache.log4j.PatternLayout',
      'log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n',
      'log4j.logger.org.apache.kafka.connect.mirror=INFO',
      '',
    ].join('\n'),
  );
  const child = spawn(
    'java',
    ['-Xms96m', '-Xmx320m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Djava.awt.headless=true', `-Dlog4j.configuration=file:${log4j}`,
      '-cp', `${libs}/*`, 'org.apache.kafka.connect.mirror.MirrorMaker', propsFile],
    { stdio: ['ignore', 'ignore', 'ignore'], detached: false },
  );
  if (child.pid === undefined) throw new Error('could not start java for MirrorMaker 2');
  const pid = child.pid;
  writeFileSync(join(dir, 'pid'), String(pid));
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    child,
    pid,
    source: props.source,
    target: props.target,
    logFile: join(dir, 'log'),
    pause: () => {
      if (alive()) process.kill(pid, 'SIGSTOP');
    },
    resume: () => {
      if (alive()) process.kill(pid, 'SIGCONT');
    },
    stop: async (graceMs = 5000) => {
      if (!alive()) return 'exited';
      process.kill(pid, 'SIGCONT');
      process.kill(pid, 'SIGTERM');
      const timer = new Promise<'killed'>((done) => setTimeout(() => done('killed'), graceMs));
      const how = await Promise.race([exited.then(() => 'exited' as const), timer]);
      if (how === 'killed' && alive()) {
        process.kill(pid, 'SIGKILL');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      }
      return how;
    },
  };
}
