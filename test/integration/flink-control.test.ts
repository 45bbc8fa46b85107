import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FlinkJobControl } from '../../src/adapters/flink/flink-job-control.js';
import { createKafka } from '../../src/adapters/kafka/kafka-client.js';
import { silentLogger } from '../../src/ports/logger.js';
import { LOCAL, randomId, waitFor } from '../../bench/support/local-stack.js';

// The moves a warm standby needs, on a real Flink cluster with no job (as a warm room's is):
// upload and run the job through REST, stop it with a savepoint, start it again from that
// savepoint, and its output continues with nothing missing.

const CACHE = process.env['SWITCHYARD_CACHE'] ?? join(homedir(), '.cache/switchyard');
const BUILD = join(CACHE, 'flink-2.2.1');
const PORT = 38081;
const URL = `http://127.0.0.1:${PORT}`;
const id = randomId();
const topics = { in: `warm-in-${id}`, out: `warm-out-${id}` };
const dir = mkdtempSync(join(tmpdir(), 'switchyard-warm-'));
const brokers = LOCAL.rooms['room-b'].brokers;
let cluster: ChildProcess | undefined;

afterAll(() => {
  cluster?.kill('SIGKILL');
});

async function produce(from: number, count: number): Promise<void> {
  const p = createKafka({ clientId: 'warm-test', brokers, log: silentLogger }).producer();
  await p.connect();
  await p.send({ topic: topics.in, acks: -1, messages: Array.from({ length: count }, (_, i) => ({ value: `r${from + i}`, partition: (from + i) % 3 })) });
  await p.disconnect();
}

/** Every value the job wrote so far. */
async function output(): Promise<string[]> {
  const kafka = createKafka({ clientId: 'warm-test-reader', brokers, log: silentLogger });
  const admin = kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(topics.out);
  await admin.disconnect();
  const total = offsets.reduce((n, o) => n + Number(o.high), 0);
  if (total === 0) return [];
  const consumer = kafka.consumer({ groupId: `warm-read-${randomId()}` });
  const seen: string[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic: topics.out, fromBeginning: true });
  await consumer.run({ eachMessage: async ({ message }) => void seen.push(message.value!.toString()) });
  await waitFor('the output read', 15_000, () => (seen.length >= total ? true : undefined));
  await consumer.disconnect();
  return seen;
}

describe('starting and stopping a stream job through Flink REST (warm standby moves)', () => {
  it('runs the job, stops it with a savepoint, starts it from the savepoint: nothing the input got is missing from the output', async () => {
    cluster = spawn('java', [
      '--add-opens', 'java.base/java.util=ALL-UNNAMED', '--add-opens', 'java.base/java.lang=ALL-UNNAMED',
      '-Xmx384m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1',
      '-cp', join(BUILD, 'switchyard-local-flink-1-cluster.jar'), 'io.switchyard.flink.RoomCluster',
      '--dir', dir, '--rest-port', String(PORT), '--bootstrap', brokers[0]!, '--in', topics.in, '--out', topics.out, '--room', 'room-b', '--job-name', 'warm', '--hot', 'false',
    ], { stdio: 'ignore' });
    await waitFor('the cluster\'s REST API', 60_000, async () => ((await fetch(`${URL}/overview`).catch(() => undefined))?.ok ? true : undefined), 250);
    const control = new FlinkJobControl({ url: URL, timeoutMs: 30_000 });
    const launch = {
      jarFile: join(BUILD, 'switchyard-flink.jar'),
      entryClass: 'io.switchyard.flink.PipelineJob',
      args: ['--bootstrap', brokers[0]!, '--in', topics.in, '--out', topics.out, '--room', 'room-b', '--job-name', 'warm', '--flags', join(dir, 'flags'), '--checkpoint-ms', '1000'],
    };

    const first = await control.start(launch);
    await control.untilRunning(first, 30_000);
    await produce(0, 100);
    await waitFor('the first 100 records through', 30_000, async () => ((await output()).length >= 100 ? true : undefined), 500);
    const savepoint = await control.stopWithSavepoint(first, `file://${join(dir, 'savepoints')}`, 30_000);
    expect(savepoint).toMatch(/savepoint-/);
    expect(await control.state(first)).toBe('FINISHED');

    // While the job is stopped (a warm standby), its input keeps arriving.
    await produce(100, 100);
    const second = await control.start(launch, savepoint);
    expect(second).not.toBe(first);
    await control.untilRunning(second, 30_000);
    const out = await waitFor('all 200 records through', 30_000, async () => {
      const o = await output();
      return new Set(o).size >= 200 ? o : undefined;
    }, 500);
    const missing = Array.from({ length: 200 }, (_, i) => `r${i}`).filter((v) => !out.includes(v));
    // From the savepoint's offsets: nothing is missing, and nothing before it is read again.
    expect(missing).toEqual([]);
    expect(out.length).toBe(200);
  });
});
