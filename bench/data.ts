// npm run bench:data -- [--runs N] [--gap-ms MS] [--groups N] [--lag-rounds N]
// Part 1, per run on the local stack: the standby's feed is broken for gap-ms while a slow consumer
// falls behind, then room-a's broker is SIGKILLed. The P0 gate refuses with an estimate; the
// records only room-a held that the consumer never processed are the measured loss. An operator
// then forces the failover (--accept-loss), room-a returns, `switchyard backfill` copies the gap,
// and whatever the consumer still never saw is lost_after_backfill.
// Part 2: committed offsets of N consumer groups read in one room, as the lag tracker does each
// second (lag_probe_ms_p50 over lag-rounds reads).
// Prints a table, then ONE JSON line as the last line.

import { FaultStack } from './support/fault-stack.js';
import { LOCAL, killService, randomId, services, waitFor } from './support/local-stack.js';
import { flag, median, percentile, tail } from './stats.js';
import { withGap } from './scenarios/data-gap.js';
import { createKafka } from '../src/adapters/kafka/kafka-client.js';
import { KafkaGroupOffsetReader } from '../src/adapters/kafka/group-offsets.js';
import { silentLogger } from '../src/ports/logger.js';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { PROJECT } from './support/local-stack.js';

const argv = process.argv.slice(2);
const runs = flag(argv, 'runs', 3);
const gapMs = flag(argv, 'gap-ms', 8000);
const groups = flag(argv, 'groups', 1000);
const lagRounds = flag(argv, 'lag-rounds', 20);
const run = promisify(execFile);

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run('node', [PROJECT.resolve('bin/switchyard.js'), ...args], { timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

interface RunResult {
  readonly estimated: number;
  readonly measured: number;
  readonly lostAfterBackfill: number;
}

async function once(): Promise<RunResult> {
  const stack = new FaultStack({ observersRequired: 1, maxLossMs: 0, maxWaitMs: 1000, marginMs: 2000 });
  try {
    await stack.createTopic();
    const ctl = stack.start('ctl-a', 'room-a');
    await stack.leader();
    await stack.steady();
    const gap = await withGap(stack, gapMs);
    try {
      gap.hold();
      const killedAt = killService(LOCAL.rooms['room-a'].service);
      const stop = await waitFor('the data budget to refuse', 30_000, () =>
        ctl.logs.find((l) => l['msg'] === 'verdict' && l['rule'] === 'data-budget-stop' && Date.parse(String(l['time'])) >= killedAt),
      );
      const estimated = Number(/\((?:at least )?(\d+) record\(s\) in all\)/.exec(String(stop['reason']))?.[1]);
      const lost = () => gap.writtenOnlyToA.filter((s) => !gap.processed.has(s)).length;
      const measured = lost();
      gap.fast();
      await ctl.stop();
      const config = stack.configFile();
      const forced = await cli('failover', stack.cfg.pipeline, '--to', 'standby', '--force', '--accept-loss', '-c', config, '--yes', '--reason', 'bench');
      if (forced.code !== 0) throw new Error(`forced failover failed: ${forced.stderr}`);
      await services('start', LOCAL.rooms['room-a'].service);
      const backfill = await cli('backfill', stack.cfg.pipeline, '-c', config);
      if (backfill.code !== 0) throw new Error(`backfill failed: ${backfill.stderr}`);
      await waitFor('the backfilled records', 30_000, () => lost() === 0).catch(() => undefined);
      return { estimated, measured, lostAfterBackfill: lost() };
    } finally {
      await gap.close();
    }
  } finally {
    await stack.stop();
    await services('start', LOCAL.rooms['room-a'].service);
  }
}

/** N groups with committed offsets in room-a; returns the read times of the lag tracker's reader. */
async function lagFanOut(): Promise<number[]> {
  const topic = `lag-bench-${randomId()}`;
  const admin = createKafka({ clientId: 'bench-lag', brokers: LOCAL.rooms['room-a'].brokers, log: silentLogger }).admin();
  await admin.connect();
  const names = Array.from({ length: groups }, (_, i) => `lag-bench-${topic}-${i}`);
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true });
    for (let i = 0; i < names.length; i += 100) {
      await Promise.all(names.slice(i, i + 100).map((g, j) => admin.setOffsets({ groupId: g, topic, partitions: [0, 1, 2].map((p) => ({ partition: p, offset: String(i + j) })) })));
    }
    const reader = new KafkaGroupOffsetReader('room-a', LOCAL.rooms['room-a'].brokers, silentLogger);
    const times: number[] = [];
    try {
      for (let r = 0; r < lagRounds; r++) {
        const t0 = performance.now();
        const got = await reader.read(names.map((g) => ({ group: g, topics: [topic] })), 10_000);
        times.push(performance.now() - t0);
        if (got.size !== names.length) throw new Error(`read ${got.size} of ${names.length} groups`);
      }
    } finally {
      await reader.close();
    }
    return times;
  } finally {
    await admin.deleteGroups(names).catch(() => undefined);
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  }
}

await services('up');
const results: RunResult[] = [];
for (let i = 1; i <= runs; i++) {
  results.push(await once());
  const r = results.at(-1)!;
  process.stderr.write(`run ${i}/${runs}: estimated ${r.estimated}, measured ${r.measured}, lost after backfill ${r.lostAfterBackfill}\n`);
}
const lagTimes = await lagFanOut();
const errPct = (r: RunResult) => (r.measured === 0 ? 0 : (Math.abs(r.estimated - r.measured) / r.measured) * 100);
console.log('run  estimated  measured  error_pct  lost_after_backfill');
results.forEach((r, i) => console.log(`${String(i + 1).padStart(3)}  ${String(r.estimated).padStart(9)}  ${String(r.measured).padStart(8)}  ${errPct(r).toFixed(1).padStart(9)}  ${String(r.lostAfterBackfill).padStart(19)}`));
console.log(`lag probe: ${groups} groups, ${lagRounds} reads, median ${median(lagTimes).toFixed(0)} ms, p95 ${percentile(lagTimes, 95).toFixed(0)} ms`);
console.log(
  JSON.stringify({
    bench: 'data',
    runs,
    gap_ms: gapMs,
    est_loss_records: median(results.map((r) => r.estimated)),
    measured_loss_records: median(results.map((r) => r.measured)),
    est_error_pct: Number(Math.max(...results.map(errPct)).toFixed(1)),
    lost_after_backfill: Math.max(...results.map((r) => r.lostAfterBackfill)),
    lag_groups: groups,
    lag_probe_ms_p50: Math.round(median(lagTimes)),
    ...tail('lag_probe_ms', lagTimes.map(Math.round)),
  }),
);
process.exit(0);
