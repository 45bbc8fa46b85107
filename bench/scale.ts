// npm run bench:scale -- [--pipelines N] [--interval MS] [--idle S] [--consumer-pipelines N] [--members N] [--partitions N] [--consumer-processes N] [--heap-mb MB] [--cpu-prof DIR] [--move-prof PREFIX] [--heap-snapshot DIR] [--skip-consumers]
// Issue 19 point 6. One controller with many pipelines, idle on the local stack (RSS, tick
// duration, etcd writes per tick); then many SDK consumers moved together by one failover (room-a's
// broker SIGKILLed, three controller replicas). A table and progress on stderr, ONE JSON line last.

import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { runScaleController, type ScaleControllerResult } from './scenarios/scale-controller.js';
import { runScaleConsumers, type ScaleConsumersResult } from './scenarios/scale-consumers.js';
import { flag, percentile } from './stats.js';
import { deleteLeftoverScaleTopics } from './support/scale-stack.js';

// A lock file this process inherited (flock without -o) must not be inherited by room-a's broker
// when the run starts it again: the broker would hold the lock for as long as it runs.
for (const fd of readdirSync('/proc/self/fd')) {
  try {
    if (Number(fd) > 2 && readlinkSync(`/proc/self/fd/${fd}`).endsWith('.lock')) closeSync(Number(fd));
  } catch {
    // gone already
  }
}

const argv = process.argv.slice(2);
const pipelines = flag(argv, 'pipelines', 1000);
const interval = flag(argv, 'interval', 250);
const idleS = flag(argv, 'idle', 40);
const cpuProfAt = argv.indexOf('--cpu-prof');
const cpuProfDir = cpuProfAt >= 0 ? argv[cpuProfAt + 1] : undefined;
// The controller runs with the heap limit the Helm chart gives it (values.yaml heapMb), as deployed;
// a second run without one says what Node's own default would do (--heap-mb 0: only that run).
const chartHeapMb = Number((parseYaml(readFileSync(new URL('../../charts/switchyard/values.yaml', import.meta.url), 'utf8')) as { heapMb?: number }).heapMb ?? 0);
const heapMbAt = argv.indexOf('--heap-mb');
const heapMb = heapMbAt >= 0 ? Number(argv[heapMbAt + 1]) : chartHeapMb;
if (!Number.isInteger(heapMb) || heapMb < 0) throw new Error(`--heap-mb needs a whole number of MB (0: no limit), got ${argv[heapMbAt + 1]}`);
const heapAt = argv.indexOf('--heap-snapshot');
const heapSnapshotDir = heapAt >= 0 ? argv[heapAt + 1] : undefined;
if (heapSnapshotDir) mkdirSync(heapSnapshotDir, { recursive: true });
const say = (line: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);

const consumerPipelines = flag(argv, 'consumer-pipelines', 10);
const members = flag(argv, 'members', 10);
const partitions = flag(argv, 'partitions', 10);
const consumerProcessesAt = argv.indexOf('--consumer-processes');
const consumerProcesses = consumerProcessesAt >= 0 ? Number(argv[consumerProcessesAt + 1]) : 0;
if (!Number.isInteger(consumerProcesses) || consumerProcesses < 0) throw new Error(`--consumer-processes needs a whole number (0: all in this process), got ${argv[consumerProcessesAt + 1]}`);
const skipController = argv.includes('--skip-controller');
const moveProfAt = argv.indexOf('--move-prof');
const moveProfile = moveProfAt >= 0 ? argv[moveProfAt + 1] : undefined;
const skipConsumers = argv.includes('--skip-consumers');

// (Not in the consumer part's own process: the parent did it, and is deleting its own topics.)
const leftover = argv.includes('--consumers-result') ? 0 : await deleteLeftoverScaleTopics();
if (leftover > 0) say(`deleted ${leftover} topic(s) an earlier unfinished run left`);
let c: ScaleControllerResult | undefined;
let unlimited: ScaleControllerResult | undefined;
if (!skipController) {
  say(heapMb > 0 ? `controller with the chart's heap limit: --max-old-space-size=${heapMb}` : 'controller with no heap limit');
  c = await runScaleController({ pipelines, probeIntervalMs: interval, idleMs: idleS * 1000, warmupMs: 5000, heapMb, ...(cpuProfDir && { cpuProfDir }), ...(heapSnapshotDir && { heapSnapshotDir }), say });
  say(`controller: ${JSON.stringify(c)}`);
  if (heapMb > 0) {
    say('again with no heap limit (Node sizes its heap from the machine: what running it by hand without NODE_OPTIONS gives)');
    unlimited = await runScaleController({ pipelines, probeIntervalMs: interval, idleMs: idleS * 1000, warmupMs: 5000, say });
    say(`controller, no heap limit: ${JSON.stringify(unlimited)}`);
  }
}
let k: ScaleConsumersResult | undefined;
const resultAt = argv.indexOf('--consumers-result');
if (!skipConsumers && c) {
  // After the controller part, the consumers run in a fresh process of their own, as they would in
  // a deployment: this one has held the controller part's logs and timers, and the 100 consumers'
  // event loop must not carry them (the same run in this process placed them up to 300 ms later).
  k = await consumersInChild();
} else if (!skipConsumers) {
  k = await runScaleConsumers({ pipelines: consumerPipelines, members, partitions, probeIntervalMs: interval, rate: 100, processes: consumerProcesses, ...(moveProfile && { moveProfile }), say });
  say(`consumers: ${JSON.stringify({ ...k, moves: undefined })}`);
  if (resultAt >= 0) {
    writeFileSync(argv[resultAt + 1]!, JSON.stringify(k));
    process.exit(0);
  }
}

/** This script again with --skip-controller, its result read back from a file. */
async function consumersInChild(): Promise<ScaleConsumersResult> {
  const dir = mkdtempSync(join(tmpdir(), 'scale-consumers-'));
  const file = join(dir, 'result.json');
  const drop = new Set(['--cpu-prof', '--heap-snapshot', '--heap-mb', '--idle', '--pipelines']);
  const args = argv.filter((a, i) => !drop.has(a) && !drop.has(argv[i - 1] ?? ''));
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), ...args, '--skip-controller', '--consumers-result', file], { stdio: ['ignore', 'ignore', 'inherit'] });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  try {
    if (code !== 0) throw new Error(`the consumer part's process exited with ${code}`);
    return JSON.parse(readFileSync(file, 'utf8')) as ScaleConsumersResult;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const col = (xs: (string | number | undefined)[], w = 14) => xs.map((x) => String(x ?? '-').padStart(w)).join('');
const placed = k?.moves.map((m) => m.placedMs) ?? [];
const first = k?.moves.flatMap((m) => (m.firstRecordMs === undefined ? [] : [m.firstRecordMs])) ?? [];
if (c) {
  console.log(col(['pipelines', 'heap_limit', 'rss_mb', 'tick_p50_ms', 'tick_p99_ms', 'tick_max_ms', 'ticks', 'writes/tick'], 13));
  console.log(col([c.pipelines, heapMb > 0 ? `${heapMb} MB` : 'none', c.rssMbMax, c.tickMsP50, c.tickMsP99, c.tickMsMax, c.ticks, c.writesPerIdleTick], 13));
  if (unlimited) console.log(col([unlimited.pipelines, 'none', unlimited.rssMbMax, unlimited.tickMsP50, unlimited.tickMsP99, unlimited.tickMsMax, unlimited.ticks, unlimited.writesPerIdleTick], 13));
  console.log(`etcd writes in ${c.idleMs} ms idle, by key under the run's prefix: ${JSON.stringify(c.writesByClass)}; lease renewals per tick (not writes, ADR 0019): ${c.leaseRenewalsPerIdleTick}`);
  console.log(`observation publishes by the news they carried: ${JSON.stringify(c.observationNews)}`);
}
if (k) {
  console.log(col(['consumers', 'groups', 'moved', 'placed_p50', 'placed_max', 'first_p50', 'first_max', 'detect_ms', 'lost'], 12));
  console.log(col([k.consumers, k.pipelines, k.moves.length, percentile(placed, 50), Math.max(...placed), percentile(first, 50), first.length ? Math.max(...first) : undefined, k.detectMs, k.lost], 12));
}
const summary = {
  bench: 'scale',
  ...(c && {
    pipelines: c.pipelines,
    rss_mb: c.rssMbMax,
    heap_limit_mb: heapMb > 0 ? heapMb : null,
    ...(unlimited && { rss_mb_no_heap_limit: unlimited.rssMbMax, tick_ms_p99_no_heap_limit: unlimited.tickMsP99 }),
    tick_ms_p50: c.tickMsP50,
    tick_ms_p99: c.tickMsP99,
    tick_ms_max: c.tickMsMax,
    ticks_measured: c.ticks,
    interval_ms: c.intervalMs,
    etcd_writes_per_idle_tick: c.writesPerIdleTick,
    etcd_writes_by_key: c.writesByClass,
    etcd_lease_renewals_per_idle_tick: c.leaseRenewalsPerIdleTick,
    observation_publishes_by_news: c.observationNews,
  }),
  ...(k && {
    consumers: k.consumers,
    consumer_processes: consumerProcesses > 0 ? consumerProcesses : 1,
    consumer_groups: k.pipelines,
    members_per_group: k.members,
    partitions_per_topic: k.partitions,
    consumers_moved: k.moves.length,
    // decision (route.since) -> placed in room-b (FlipReport.seekedAt, or the polled status for a member without records)
    consumers_moved_ms_max: placed.length ? Math.max(...placed) : null,
    consumers_moved_ms_p50: placed.length ? percentile(placed, 50) : null,
    consumers_first_record_ms_max: first.length ? Math.max(...first) : null,
    consumers_with_first_record: first.length,
    // where the time goes, over the members with a flip report: decision -> route seen -> old let go
    routes_written_ms_max: k.routeWrittenMs.length > 0 ? Math.max(...k.routeWrittenMs) : null,
    consumers_seen_ms_p50: percentile(k.moves.flatMap((m) => (m.seenMs === undefined ? [] : [m.seenMs])), 50),
    consumers_seen_ms_max: Math.max(...k.moves.flatMap((m) => (m.seenMs === undefined ? [] : [m.seenMs]))),
    consumers_promoted: k.moves.filter((m) => m.promoted).length,
    consumers_marks_read_ahead: k.moves.filter((m) => m.marksReadAhead).length,
    consumers_lookups_read_ahead: k.moves.filter((m) => m.lookupsReadAhead).length,
    consumers_with_flip_report: k.moves.filter((m) => m.placedBy === 'flip-report').length,
    consumers_stopped_old_ms_p50: percentile(k.moves.flatMap((m) => (m.stoppedOldMs === undefined ? [] : [m.stoppedOldMs])), 50),
    members_with_records_before: k.membersWithRecords,
    event_loop_delay_ms_p50: k.loopDelayMsP50,
    event_loop_delay_ms_max: k.loopDelayMsMax,
    decision_spread_ms: k.decisionSpreadMs,
    detect_ms: k.detectMs,
    produced: k.produced,
    lost: k.lost,
    duplicates: k.duplicates,
  }),
};
console.log(JSON.stringify(summary));
process.exit(0);
