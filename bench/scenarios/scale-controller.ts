// Scale, controller part: one real controller with many pipelines (one topic of one partition
// each, in both rooms) runs idle on the local stack; measured: its RSS, each tick's duration (the
// tick timer preloaded into the child), and the writes etcd applies per tick (etcd's revision, and
// a watch on the run's prefix to say which keys were written).

import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createEtcdClient } from '../../src/adapters/etcd/client.js';
import { percentile } from '../stats.js';
import { randomId, waitFor } from '../support/local-stack.js';
import { createTopicsBoth, deleteTopicsBoth, etcdWriteCounters, rssMb, startTimedController, writeScaleConfig, type ScalePipeline } from '../support/scale-stack.js';

export interface ScaleControllerOptions {
  readonly pipelines: number;
  readonly probeIntervalMs: number;
  /** Idle time measured, after warm-up. */
  readonly idleMs: number;
  readonly warmupMs: number;
  /** Directory for a CPU profile of the controller (node --cpu-prof), if wanted. */
  readonly cpuProfDir?: string;
  /** The controller's heap limit in MB (node --max-old-space-size), as the Helm chart sets it; none if undefined. */
  readonly heapMb?: number;
  /** Directory for a heap snapshot of the controller at the end of the idle window, if wanted. */
  readonly heapSnapshotDir?: string;
  readonly say: (line: string) => void;
}

export interface ScaleControllerResult {
  readonly pipelines: number;
  readonly topics: number;
  readonly topicsCreateMs: number;
  readonly routesReadyMs: number;
  readonly rssMbMax: number;
  readonly rssMbAtStart: number;
  readonly ticks: number;
  readonly tickMsP50: number;
  readonly tickMsP99: number;
  readonly tickMsMax: number;
  readonly intervalMs: number;
  /** etcd revisions (write transactions, every client) during the idle window. */
  readonly etcdRevisions: number;
  /** Writes under this run's prefix during the idle window, by key class (observations, positions, ...). */
  readonly writesByClass: Readonly<Record<string, number>>;
  /** Per reason (a not-OK observation it carried): how many observation publishes carried it. */
  readonly observationNews: Readonly<Record<string, number>>;
  readonly writesPerIdleTick: number;
  /** Lease renewals per idle tick (ADR 0019: what confirms unchanged observations; not writes). */
  readonly leaseRenewalsPerIdleTick: number;
  readonly writesUnderPrefixPerIdleTick: number;
  readonly idleMs: number;
  /** The controller's log lines during the idle window, by message. */
  readonly logsByMsg: Readonly<Record<string, number>>;
}

export async function runScaleController(o: ScaleControllerOptions): Promise<ScaleControllerResult> {
  const id = randomId();
  const prefix = `/switchyard-scale-${id}`;
  const width = String(o.pipelines - 1).length;
  const pipelines: ScalePipeline[] = Array.from({ length: o.pipelines }, (_, i) => {
    const n = String(i).padStart(width, '0');
    return { name: `p${n}`, topics: [`scale-${id}-t${n}`], group: `scale-${id}-g${n}` };
  });
  const topics = pipelines.flatMap((p) => p.topics);
  const etcd = createEtcdClient({ endpoints: ['http://127.0.0.1:23790'] });
  let controller: ReturnType<typeof startTimedController> | undefined;
  try {
    o.say(`creating ${topics.length} topics of 1 partition in room-a and room-b ...`);
    const topicsCreateMs = await createTopicsBoth(topics, 1);
    o.say(`topics created in ${topicsCreateMs} ms; starting one controller with ${o.pipelines} pipelines (probe every ${o.probeIntervalMs} ms)`);
    // Two observers required with one controller: the idle window must stay idle. With one
    // required, a probe that missed its 200 ms three times on a busy machine failed all 1,000
    // pipelines over in the middle of a run (docs/perf/scale.md).
    const configFile = writeScaleConfig({ prefix, pipelines, probeIntervalMs: o.probeIntervalMs, fallAfter: 3, marginMs: 2000, observersRequired: 2 });
    const started = Date.now();
    const nodeArgs = [
      ...(o.heapMb ? [`--max-old-space-size=${o.heapMb}`] : []),
      ...(o.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${o.cpuProfDir}`] : []),
      ...(o.heapSnapshotDir ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${o.heapSnapshotDir}`] : []),
    ];
    controller = startTimedController(configFile, 'observer-room-a', 'room-a', nodeArgs);
    const c = controller;
    await waitFor(`routes for all ${o.pipelines} pipelines`, 120_000, async () => {
      if (c.child.exitCode !== null) throw new Error(`controller exited: ${c.logs.slice(-5).map((l) => JSON.stringify(l)).join(' | ')}`);
      const n = await etcd.getAll().prefix(`${prefix}/routes/`).count();
      return n >= o.pipelines ? true : undefined;
    }, 500);
    const routesReadyMs = Date.now() - started;
    o.say(`all routes written ${routesReadyMs} ms after start; warming up ${o.warmupMs} ms`);
    await new Promise((r) => setTimeout(r, o.warmupMs));
    const healthyLogs = c.logs.filter((l) => l['msg'] === 'verdict' && l['rule'] === 'healthy').length;
    o.say(`healthy verdicts logged so far: ${healthyLogs}; measuring ${o.idleMs} ms of idle ticks`);

    // Which keys get written: a watch on the run's prefix (this run's keys only).
    const byClass: Record<string, number> = {};
    const watcher = await etcd.watch().prefix(`${prefix}/`).create();
    const count = (kv: { key: Buffer }) => {
      const rest = kv.key.toString().slice(prefix.length + 1);
      const cls = rest.split('/')[0] ?? rest;
      byClass[cls] = (byClass[cls] ?? 0) + 1;
    };
    // Why an observation was published (ADR 0019: only news is): the not-OK observations it carried.
    const news: Record<string, number> = {};
    watcher.on('put', (kv: { key: Buffer; value: Buffer }) => {
      count(kv);
      if (!kv.key.toString().startsWith(`${prefix}/observations/`)) return;
      try {
        const list = JSON.parse(kv.value.toString()) as { room: string; component: string; status: string; reason: string; hurried?: boolean }[];
        const why = new Set(list.filter((o) => o.status !== 'OK' || o.hurried).map((o) => `${o.room} ${o.component} ${o.status}${o.hurried ? ' hurried' : ''}: ${o.reason.slice(0, 80)}`));
        if (why.size === 0) why.add('all OK (first publish, or a lost lease)');
        for (const w of why) news[w] = (news[w] ?? 0) + 1;
      } catch {
        news['not JSON'] = (news['not JSON'] ?? 0) + 1;
      }
    });
    watcher.on('delete', count);
    const before = await etcdWriteCounters();
    const windowStart = Date.now();
    const rssAtStart = rssMb(c.child.pid!) ?? 0;
    let rssMax = rssAtStart;
    while (Date.now() - windowStart < o.idleMs) {
      await new Promise((r) => setTimeout(r, 500));
      const rss = rssMb(c.child.pid!);
      if (rss === undefined) throw new Error('the controller exited during the idle window');
      rssMax = Math.max(rssMax, rss);
    }
    const windowEnd = Date.now();
    const after = await etcdWriteCounters();
    if (o.heapSnapshotDir) {
      // Written by the controller itself (it pauses while it writes): after the window's figures.
      const dir = o.heapSnapshotDir;
      const before = new Set(readdirSync(dir));
      c.child.kill('SIGUSR2');
      const file = await waitFor('the heap snapshot', 120_000, () => readdirSync(dir).find((f) => f.endsWith('.heapsnapshot') && !before.has(f)), 500);
      // Written once its size stops changing.
      let size = -1;
      await waitFor('the heap snapshot to be complete', 120_000, () => {
        const now = statSync(join(dir, file)).size;
        const done = now === size && now > 0;
        size = now;
        return done ? true : undefined;
      }, 1000);
      o.say(`heap snapshot: ${join(dir, file)} (node dist/bench/support/heapsnapshot-top.js FILE)`);
    }
    await watcher.cancel();
    const idleTicks = c.ticks.filter((t) => t.at > windowStart && t.at <= windowEnd);
    if (idleTicks.length < 20) throw new Error(`only ${idleTicks.length} ticks in the idle window`);
    const ms = idleTicks.map((t) => t.ms);
    const actedDuringWindow = c.logs.filter((l) => l['msg'] === 'decided' && Date.parse(String(l['time'] ?? '')) > windowStart).length;
    if (actedDuringWindow > 0) o.say(`warning: the controller acted ${actedDuringWindow} time(s) during the idle window`);
    const logsByMsg: Record<string, number> = {};
    for (const l of c.logs) {
      const t = Date.parse(String(l['time'] ?? ''));
      const key = `${String(l['msg'])}${l['reason'] ?? l['error'] ? `: ${String(l['reason'] ?? l['error']).slice(0, 160)}` : ''}`;
      if (t > windowStart && t <= windowEnd) logsByMsg[key] = (logsByMsg[key] ?? 0) + 1;
    }
    const revisions = (after['etcd_debugging_mvcc_current_revision'] ?? 0) - (before['etcd_debugging_mvcc_current_revision'] ?? 0);
    const underPrefix = Object.values(byClass).reduce((a, b) => a + b, 0);
    return {
      pipelines: o.pipelines,
      topics: topics.length,
      topicsCreateMs,
      routesReadyMs,
      rssMbMax: Math.round(rssMax),
      rssMbAtStart: Math.round(rssAtStart),
      ticks: idleTicks.length,
      tickMsP50: Math.round(percentile(ms, 50) * 10) / 10,
      tickMsP99: Math.round(percentile(ms, 99) * 10) / 10,
      tickMsMax: Math.round(Math.max(...ms) * 10) / 10,
      intervalMs: o.probeIntervalMs,
      etcdRevisions: revisions,
      writesByClass: byClass,
      observationNews: news,
      writesPerIdleTick: Math.round((revisions / idleTicks.length) * 100) / 100,
      leaseRenewalsPerIdleTick: Math.round((((after['etcd_debugging_lease_renewed_total'] ?? 0) - (before['etcd_debugging_lease_renewed_total'] ?? 0)) / idleTicks.length) * 100) / 100,
      writesUnderPrefixPerIdleTick: Math.round((underPrefix / idleTicks.length) * 100) / 100,
      idleMs: windowEnd - windowStart,
      logsByMsg,
    };
  } finally {
    await controller?.stop();
    await etcd.delete().prefix(`${prefix}/`).exec().catch(() => undefined);
    etcd.close();
    o.say('deleting the topics ...');
    await deleteTopicsBoth(topics);
  }
}
