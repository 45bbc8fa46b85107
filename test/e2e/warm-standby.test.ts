import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FaultStack } from '../../bench/support/fault-stack.js';
import { LOCAL, randomId, services, waitFor } from '../../bench/support/local-stack.js';
import { jobFailedAt } from '../../bench/scenarios/job-failover.js';
import { feedJob } from '../../bench/support/traffic.js';
import { EtcdSavepointStore } from '../../src/adapters/etcd/savepoint-store.js';
import { FlinkJobControl } from '../../src/adapters/flink/flink-job-control.js';
import { createKafka } from '../../src/adapters/kafka/kafka-client.js';
import { silentLogger } from '../../src/ports/logger.js';

// A warm standby (issue 14, point 5): room-b's Flink runs no job until a failover starts it, from
// the savepoint its last stop left. Room-a's job fails; the switch's start-jobs step starts
// room-b's job through Flink's REST API and waits for RUNNING before the route flips; the job
// then processes everything its input got while it was stopped.

const BUILD = join(process.env['SWITCHYARD_CACHE'] ?? join(homedir(), '.cache/switchyard'), 'flink-2.2.1');
const B = LOCAL.rooms['room-b'];
let stack: FaultStack | undefined;
let warmCluster: ChildProcess | undefined;

afterEach(async () => {
  await stack?.stop();
  stack = undefined;
  warmCluster?.kill('SIGKILL');
  await new Promise((r) => setTimeout(r, 500));
  // Both rooms back to the local stack's hot jobs.
  await services('fault', 'flink-a', 'clear');
  for (const svc of ['flink-a', 'flink-b']) {
    await services('stop', svc);
    await services('start', svc);
  }
});

async function produce(topic: string, from: number, count: number): Promise<void> {
  const p = createKafka({ clientId: 'warm-e2e', brokers: B.brokers, log: silentLogger }).producer();
  await p.connect();
  await p.send({ topic, acks: -1, messages: Array.from({ length: count }, (_, i) => ({ value: `r${from + i}`, partition: (from + i) % 3 })) });
  await p.disconnect();
}

async function distinctOutput(topic: string): Promise<Set<string>> {
  const kafka = createKafka({ clientId: 'warm-e2e-reader', brokers: B.brokers, log: silentLogger });
  const admin = kafka.admin();
  await admin.connect();
  const total = (await admin.fetchTopicOffsets(topic)).reduce((n, o) => n + Number(o.high), 0);
  await admin.disconnect();
  const seen = new Set<string>();
  if (total === 0) return seen;
  const consumer = kafka.consumer({ groupId: `warm-e2e-${randomId()}` });
  let read = 0;
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({ eachMessage: async ({ message }) => void (read++, seen.add(message.value!.toString())) });
  await waitFor('the output read', 15_000, () => (read >= total ? true : undefined));
  await consumer.disconnect();
  return seen;
}

describe('warm standby on real Flink', () => {
  it('room-a\'s job fails: the switch starts room-b\'s stopped job from its savepoint before the route flips, its output has no gap; going back stops it with a savepoint', async () => {
    const id = randomId();
    const topics = { in: `warm-in-${id}`, out: `warm-out-${id}` };
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-warm-e2e-'));
    // Room-b's Flink as a warm room has it: a cluster with no job.
    await services('stop', 'flink-b');
    warmCluster = spawn('java', [
      '--add-opens', 'java.base/java.util=ALL-UNNAMED', '--add-opens', 'java.base/java.lang=ALL-UNNAMED', '-Xmx384m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1',
      '-cp', join(BUILD, 'switchyard-local-flink-1-cluster.jar'), 'io.switchyard.flink.RoomCluster',
      '--dir', dir, '--rest-port', new URL(B.flink.url).port, '--bootstrap', B.brokers[0]!, '--in', topics.in, '--out', topics.out, '--room', 'room-b', '--job-name', B.flink.job, '--hot', 'false',
    ], { stdio: 'ignore' });
    await waitFor('room-b\'s warm cluster', 60_000, async () => ((await fetch(`${B.flink.url}/overview`).catch(() => undefined))?.ok ? true : undefined), 250);

    const args = ['--bootstrap', B.brokers[0]!, '--in', topics.in, '--out', topics.out, '--room', 'room-b', '--job-name', B.flink.job, '--flags', join(dir, 'flags'), '--checkpoint-ms', '1000'];
    const jar = join(BUILD, 'switchyard-flink.jar');
    stack = new FaultStack({ flink: true, warm: { jar, args, savepointDir: `file://${join(dir, 'savepoints')}` } });
    // Its last run: 100 records processed, then stopped with a savepoint (as a failback leaves it).
    const control = new FlinkJobControl({ url: B.flink.url, timeoutMs: 30_000 });
    const earlier = await control.start({ jarFile: jar, entryClass: 'io.switchyard.flink.PipelineJob', args });
    await control.untilRunning(earlier, 30_000);
    await produce(topics.in, 0, 100);
    await waitFor('100 records through', 30_000, async () => ((await distinctOutput(topics.out)).size >= 100 ? true : undefined), 500);
    const savepoint = await control.stopWithSavepoint(earlier, `file://${join(dir, 'savepoints')}`, 30_000);
    await new EtcdSavepointStore(stack.etcd, stack.cfg.prefix).put(B.flink.job, { path: savepoint, at: Date.now(), by: 'test' });
    // While it is stopped, its input keeps coming.
    await produce(topics.in, 100, 100);

    await stack.createTopic();
    stack.start('ctl-a', 'room-a');
    stack.start('ctl-b', 'room-b');
    await stack.leader();
    // Room-b can take over although its job is stopped: as a warm target it is judged by its Kafka.
    await stack.steady();
    const stopFeed = await feedJob('room-a', 1, 50);
    try {
      await services('fault', 'flink-a', 'poison');
      const failed = await jobFailedAt('room-a');
      const history = await waitFor('the failover', 60_000, async () => {
        const h = await stack!.journals.history('live-dashboard');
        return h.length > 0 ? h : undefined;
      });
      const journal = (await stack.journals.list()).get('live-dashboard')!.journal;
      const start = journal.steps.find((s) => s.step === 'start-jobs')!;
      const flip = journal.steps.find((s) => s.step === 'flip-consumers')!;
      console.log(`warm failover: FAILED -> decision ${history[0]!.decidedAt - failed} ms; start-jobs ${start.ms} ms: ${start.note}`);
      expect(history[0]).toMatchObject({ kind: 'failover', fromRoom: 'room-a', toRoom: 'room-b' });
      expect(start.note).toMatch(new RegExp(`^warm standby in room-b: ${B.flink.job} started from savepoint .*savepoint-.*RUNNING after \\d+ ms`));
      // The job ran before any route pointed at room-b.
      expect(start.at).toBeLessThanOrEqual(flip.at);
      const run = await control.newestRun(B.flink.job);
      expect(run?.state).toBe('RUNNING');
      // Everything its input got, before and while it was stopped, comes out: no gap.
      const out = await waitFor('all 200 records through', 30_000, async () => {
        const o = await distinctOutput(topics.out);
        return o.size >= 200 ? o : undefined;
      }, 500);
      expect(Array.from({ length: 200 }, (_, i) => `r${i}`).filter((v) => !out.has(v))).toEqual([]);

      // Back to the primary (its job healthy again): the warm standby's job is stopped with a
      // savepoint, recorded for its next start.
      await stopFeed();
      await services('fault', 'flink-a', 'clear');
      await services('stop', 'flink-a');
      await services('start', 'flink-a');
      const { cli } = await import('../support/cli.js');
      const back = await waitFor('the switchover back to be accepted', 60_000, async () => {
        const r = await cli('switchover', 'live-dashboard', '--to', 'primary', '--reason', 'room-a job fixed', '--yes', '--wait', '60', '-c', stack!.configFile());
        return r.code === 0 ? r : undefined;
      }, 2000);
      expect(back.stdout).toMatch(/done: .* standby@room-b -> primary@room-a/);
      const stopped = (await stack.journals.list()).get('live-dashboard')!.journal.steps.find((s) => s.step === 'stop-jobs')!;
      expect(stopped.note).toMatch(new RegExp(`^warm standby in room-b left: ${B.flink.job} stopped with savepoint .*savepoint-`));
      const recorded = await new EtcdSavepointStore(stack.etcd, stack.cfg.prefix).get(B.flink.job);
      expect(recorded?.path).not.toBe(savepoint);
      expect(stopped.note).toContain(recorded!.path);
      expect((await control.newestRun(B.flink.job))?.state).toBe('FINISHED');
    } finally {
      await stopFeed();
    }
  });
});
