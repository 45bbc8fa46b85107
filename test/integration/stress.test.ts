import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBaseline, loadConfig } from '../../src/config/load.js';
import { createKafka } from '../../src/adapters/kafka/kafka-client.js';
import { silentLogger } from '../../src/ports/logger.js';
import { LOCAL, PROJECT, randomId, waitFor } from '../../bench/support/local-stack.js';

// `switchyard stress` on the local stack's room-a: a shadow copy of dashboard-agg-a (the thin job
// jar, run through Flink REST) takes the test pipeline's records replayed at rising rates. The
// command runs as its own process from the build (npm test builds first), so exit codes and what
// it prints are the real ones; the lead registers it in the parser, until then a two-line entry
// point runs it.

const A = LOCAL.rooms['room-a'];
const CACHE = process.env['SWITCHYARD_CACHE'] ?? join(homedir(), '.cache/switchyard');
const JAR = join(CACHE, 'flink-2.2.1', 'switchyard-flink.jar');
const id = randomId();
const source = `stress-src-${id}`;
const dir = mkdtempSync(join(tmpdir(), 'switchyard-stress-'));
const flags = join(dir, 'flags');
const kafka = createKafka({ clientId: 'stress-test', brokers: A.brokers, log: silentLogger });

function topology(flinkUrl: string): string {
  const file = join(dir, `topology-${randomId()}.yaml`);
  writeFileSync(
    file,
    [
      `etcd: { endpoints: ["${LOCAL.etcd}"], prefix: /stress-${id} }`,
      `policies: ${PROJECT.resolve('policies')}`,
      'baselines: baselines',
      'rooms:',
      '  room-a:',
      `    kafka: { brokers: ["${A.brokers[0]}"] }`,
      '    flink:',
      `      url: "${flinkUrl}"`,
      '      launch:',
      // The job's own flags directory: a fault set here slows the shadow job and nothing else.
      `        ${A.flink.job}: { jar: "${JAR}", entryClass: io.switchyard.flink.PipelineJob, args: [--bootstrap, "${A.brokers[0]}", --in, ${source}, --out, dashboard-events-out, --room, room-a, --job-name, ${A.flink.job}, --flags, "${flags}"] }`,
      '  room-b:',
      `    kafka: { brokers: ["${LOCAL.rooms['room-b'].brokers[0]}"] }`,
      'pipelines:',
      '  stress-it:',
      '    tier: P0',
      `    topics: [${source}]`,
      `    consumerGroup: stress-it-${id}`,
      '    chains:',
      `      primary: { room: room-a, role: primary, jobs: [${A.flink.job}] }`,
      '      standby: { room: room-b, role: standby }',
      '',
    ].join('\n'),
  );
  return file;
}

const entry = join(dir, 'stress-cli.mjs');

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the built stress command as a process; `during` gets the child while it runs. */
function stress(args: string[], during?: (child: ReturnType<typeof spawn>) => Promise<void>): Promise<Run> {
  const child = spawn(process.execPath, [entry, 'stress', ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<Run>((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
  const killer = setTimeout(() => child.kill('SIGKILL'), 110_000);
  return (async () => {
    try {
      if (during) await during(child);
      return await exited;
    } finally {
      clearTimeout(killer);
    }
  })();
}

async function flink<T>(path: string): Promise<T> {
  return (await (await fetch(`${A.flink.url}${path}`)).json()) as T;
}

interface Run0 {
  jid: string;
  name: string;
  state: string;
}
const shadowRuns = async () => (await flink<{ jobs: Run0[] }>('/jobs/overview')).jobs.filter((j) => j.name.startsWith(`${A.flink.job}-stress-`));

/** Shadow topics of this test's source still in the broker. */
async function shadowTopics(): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return (await admin.listTopics()).filter((t) => t.startsWith(`${source}-stress-`));
  } finally {
    await admin.disconnect();
  }
}

/** Watches Flink while a run goes: the shadow jobs it saw RUNNING, with their parallelism. */
function watchShadow(): { stop: () => Promise<Map<string, number>> } {
  const seen = new Map<string, number>();
  let on = true;
  const loop = (async () => {
    while (on) {
      for (const j of await shadowRuns().catch(() => [])) {
        if (j.state === 'RUNNING' && !seen.has(j.jid)) {
          const d = await flink<{ vertices: { parallelism: number }[] }>(`/jobs/${j.jid}`).catch(() => undefined);
          if (d) seen.set(j.jid, Math.max(...d.vertices.map((v) => v.parallelism)));
        }
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
  return {
    stop: async () => {
      on = false;
      await loop;
      return seen;
    },
  };
}

interface Step {
  ratePerSecond: number;
  sentPerSecond: number;
  inputLatencyMs: number | null;
  backpressureRatio: number | null;
  cpuRatio: number | null;
  expected: number;
  measured: number;
  resultsOk: boolean;
  readings: number;
  failures: string[];
  passed: boolean;
}

beforeAll(async () => {
  mkdirSync(flags, { recursive: true });
  writeFileSync(
    entry,
    `import yargs from ${JSON.stringify(pathToFileURL(PROJECT.resolve('node_modules/yargs/index.mjs')).href)};\n` +
      `import { stressCommand } from ${JSON.stringify(pathToFileURL(PROJECT.resolve('dist/src/cli/commands/stress.js')).href)};\n` +
      'await yargs(process.argv.slice(2)).command(stressCommand).strict().parseAsync();\n',
  );
  // The pipeline's "real" topic: 600 records the stress test replays (looping over them).
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic: source, numPartitions: 3 }] });
  await admin.disconnect();
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic: source, acks: -1, messages: Array.from({ length: 600 }, (_, i) => ({ key: `user-${i % 13}`, value: JSON.stringify({ n: i, page: `/p/${i % 5}`, ms: 20 + (i % 90) }) })) });
  await producer.disconnect();
});

afterAll(async () => {
  rmSync(join(flags, 'slow'), { force: true });
  // Whatever a failed case left behind.
  for (const j of await shadowRuns().catch(() => [])) if (j.state === 'RUNNING') await fetch(`${A.flink.url}/jobs/${j.jid}?mode=cancel`, { method: 'PATCH' }).catch(() => undefined);
  const admin = kafka.admin();
  await admin.connect();
  const left = (await admin.listTopics()).filter((t) => t.startsWith(source));
  if (left.length > 0) await admin.deleteTopics({ topics: left }).catch(() => undefined);
  await admin.disconnect();
});

describe('switchyard stress on the local stack (room-a)', () => {
  it('steps 200 -> 600 -> 1000/s on a shadow job: every criterion read from Flink, output counted exactly, a baseline written at the last passing rate; nothing left behind', async () => {
    const config = topology(A.flink.url);
    const out = join(dir, 'baselines-pass');
    const watch = watchShadow();
    const run = await stress(['stress-it', '--room', 'room-a', '--from', '200', '--to', '1000', '--step', '400', '--warmup', '4', '--hold', '8', '--tasks', '2', '--write', out, '--operator', 'stress-test', '-o', 'json', '-c', config]);
    const seen = await watch.stop();
    console.log(run.stderr.trim());
    expect(run.stderr).not.toMatch(/\n\s+at /);
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as { steps: Step[]; lastPassing: Step; baselineRate: number; shadow: { jobId: string; inTopic: string; outTopic: string }; cleanupProblems: string[]; written: string };

    // The shadow job ran in room-a's Flink at the tasks asked for, and was cancelled after.
    expect([...seen.keys()]).toEqual([result.shadow.jobId]);
    expect(seen.get(result.shadow.jobId)).toBe(2);
    expect((await shadowRuns()).find((j) => j.jid === result.shadow.jobId)?.state).toBe('CANCELED');
    expect(await shadowTopics()).toEqual([]);
    expect(result.cleanupProblems).toEqual([]);

    expect(result.steps.length).toBeGreaterThanOrEqual(1);
    for (const s of result.steps) {
      // Measured, not defaulted: a step with no reading of a criterion cannot pass, and each passing one had readings.
      expect(s.readings).toBeGreaterThanOrEqual(6);
      if (s.passed) {
        expect(s.inputLatencyMs).toEqual(expect.any(Number));
        expect(s.inputLatencyMs!).toBeGreaterThan(0);
        expect(s.inputLatencyMs!).toBeLessThanOrEqual(1000);
        expect(s.backpressureRatio).toEqual(expect.any(Number));
        expect(s.cpuRatio!).toBeGreaterThan(0);
        expect(s.cpuRatio!).toBeLessThanOrEqual(0.6);
        // Exact: one output record per record sent, and the load really was this rate for warm-up plus hold.
        expect(s.measured).toBe(s.expected);
        expect(s.expected).toBeGreaterThan(s.ratePerSecond * 12 * 0.9);
        expect(s.expected).toBeLessThanOrEqual(s.ratePerSecond * 12 * 1.05);
      } else {
        expect(s.failures.length).toBeGreaterThan(0);
      }
    }
    // The run stops at the first failing step: only the last can have failed.
    expect(result.steps.slice(0, -1).every((s) => s.passed)).toBe(true);
    expect(result.steps.map((s) => s.ratePerSecond)).toEqual([200, 600, 1000].slice(0, result.steps.length));
    const lastPassing = result.steps.filter((s) => s.passed).at(-1)!;
    expect(lastPassing).toBeDefined();

    const file = join(out, 'stress-it.room-a.yaml');
    expect(result.written).toBe(file);
    const baseline = loadBaseline(file, loadConfig(config).topology);
    expect(baseline.ratePerSecond).toBe(lastPassing.ratePerSecond);
    // The records replayed were the pipeline's own: their mean size (for a broker quota's byte rate).
    expect(baseline.meanRecordBytes).toBeGreaterThan(10);
    expect(result.baselineRate).toBe(lastPassing.ratePerSecond);
    expect(baseline.tasks).toBe(2);
    expect(baseline.measuredBy).toBe('stress-test');
    expect(baseline.criteria.results).toEqual({ expected: lastPassing.expected, measured: lastPassing.expected });
    expect(baseline.criteria.inputLatencyMs).toEqual({ limit: 1000, measured: lastPassing.inputLatencyMs });
    expect(readdirSync(out)).toEqual(['stress-it.room-a.yaml']);
  });

  it('a job too slow for the first rate: refused (exit 1), no baseline written, the shadow job cancelled and its topics deleted', async () => {
    const config = topology(A.flink.url);
    const out = join(dir, 'baselines-refused');
    // 50 ms per record in the shadow job's enrich step: 2 tasks take about 40/s, not 200/s.
    writeFileSync(join(flags, 'slow'), '50');
    try {
      const run = await stress(['stress-it', '--room', 'room-a', '--from', '200', '--to', '600', '--step', '400', '--warmup', '3', '--hold', '6', '--tasks', '2', '--write', out, '-c', config]);
      console.log(run.stdout.trim());
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/^switchyard: refused: no step passed \(200\/s: .*\d+ output records, expected \d+\); no baseline written$/m);
      expect(run.stderr).not.toMatch(/\n\s+at /);
      expect(run.stdout).toMatch(/step 1\/2 +200\/s .* FAIL: /);
      expect(run.stdout).not.toMatch(/step 2\/2/);
      expect(existsSync(out)).toBe(false);
    } finally {
      rmSync(join(flags, 'slow'), { force: true });
    }
    expect((await shadowRuns()).filter((j) => j.state !== 'CANCELED')).toEqual([]);
    expect(await shadowTopics()).toEqual([]);
  });

  it('Ctrl-C during a step: the shadow job is cancelled and its topics deleted before it exits 1', async () => {
    const config = topology(A.flink.url);
    const before = new Set((await shadowRuns()).map((j) => j.jid));
    const run = await stress(['stress-it', '--room', 'room-a', '--from', '200', '--to', '200', '--step', '100', '--hold', '30', '--tasks', '2', '--write', join(dir, 'baselines-int'), '-c', config], async (child) => {
      await waitFor('the shadow job RUNNING', 60_000, async () => (await shadowRuns()).some((j) => !before.has(j.jid) && j.state === 'RUNNING') || undefined, 250);
      child.kill('SIGINT');
    });
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/interrupted: cancelling the shadow job/);
    expect(run.stderr).toMatch(/^switchyard: stress test stopped: interrupted \(Ctrl-C\); the shadow job was cancelled and its topics deleted$/m);
    expect((await shadowRuns()).filter((j) => j.state !== 'CANCELED')).toEqual([]);
    expect(await shadowTopics()).toEqual([]);
    expect(existsSync(join(dir, 'baselines-int'))).toBe(false);
  });

  it('bad arguments exit 2 naming the option; an unreachable Flink exits 3; neither starts anything', async () => {
    const config = topology(A.flink.url);
    const backwards = await stress(['stress-it', '--room', 'room-a', '--from', '600', '--to', '200', '--step', '100', '-c', config]);
    expect(backwards.code).toBe(2);
    expect(backwards.stderr).toBe('switchyard: --to (200) must be at least --from (600)\n');
    const room = await stress(['stress-it', '--room', 'room-b', '--from', '200', '--to', '600', '--step', '100', '-c', config]);
    expect(room.code).toBe(2);
    expect(room.stderr).toMatch(/^switchyard: --room: room-b has no Flink/);
    const limit = await stress(['stress-it', '--room', 'room-a', '--from', '200', '--to', '600', '--step', '100', '--latency-limit-ms', '0', '-c', config]);
    expect(limit.code).toBe(2);
    expect(limit.stderr).toMatch(/^switchyard: --latency-limit-ms must be a number of milliseconds from 1/);
    const down = await stress(['stress-it', '--room', 'room-a', '--from', '200', '--to', '600', '--step', '100', '--tasks', '2', '-c', topology('http://127.0.0.1:9')]);
    expect(down.code).toBe(3);
    expect(down.stderr).toMatch(/^switchyard: Flink unreachable at http:\/\/127\.0\.0\.1:9: /);
    expect(down.stderr).not.toMatch(/\n\s+at /);
    expect(await shadowTopics()).toEqual([]);
  });
});
