// A stress test: finds the largest rate a pipeline's job takes in a room while every criterion of
// a baseline passes, from evidence read off a shadow copy of the job. The pipeline's own records
// are replayed into a fresh topic at rising rates; a second run of its job (same jar, same
// cluster, its own topics and group) takes them; each step is judged by what Flink's REST API and
// Kafka say. Nothing of the pipeline's own job, topics or group is touched.

import type { KafkaAccess } from '../ports/kafka-access.js';
import type { Admin, Producer } from 'kafkajs';
import { createKafka } from '../adapters/kafka/kafka-client.js';
import type { JobLaunch } from '../adapters/flink/flink-job-control.js';
import type { BaselineFile } from '../config/schema.js';
import type { Logger } from '../ports/logger.js';
import { argValue, shadowArgs, ShadowJob, type ShadowReading } from './flink-shadow.js';
import { highWatermarks, KafkaUnreachableError, PacedSender, readSample, type SampleRecord } from './replay.js';

/** The limits a step must keep to pass; back-pressure and CPU are fixed by the baseline schema. */
export const BACKPRESSURE_LIMIT = 0.1;
export const CPU_LIMIT = 0.6;

export interface StressOptions {
  readonly pipeline: string;
  readonly room: string;
  /** The Flink job name of the pipeline's chain in the room (what is copied). */
  readonly job: string;
  readonly brokers: readonly string[];
  /** TLS and SASL for those brokers (the shadow job's own Kafka settings are in its launch args). */
  readonly access?: () => KafkaAccess | undefined;
  readonly flinkUrl: string;
  /** How the job is started: its `--in`, `--out`, `--job-name` and `--group` are replaced for the shadow. */
  readonly launch: JobLaunch;
  /** The pipeline topic whose records are replayed. */
  readonly sourceTopic: string;
  /** The shadow job's parallelism and the shadow topic's partitions. */
  readonly tasks: number;
  /** The rates to try, in order (see stepRates). */
  readonly rates: readonly number[];
  readonly warmupMs: number;
  readonly holdMs: number;
  readonly latencyLimitMs: number;
  /** After a step's load stops, how long its output may take to be all there (default: latency limit + 5 s). */
  readonly drainMs?: number;
  /** Readings during the hold, one per this many ms (default 1000). */
  readonly sampleEveryMs?: number;
  /** Most records read from the source topic to replay (default 50,000; looped over). */
  readonly sampleLimit?: number;
  /** Names the shadow topics, job and group (default: random). */
  readonly id?: string;
  /** Each REST or Kafka request gives up after this long (default 10 s). */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  readonly log: Logger;
  /** Called after each step is judged (the CLI prints its progress line). */
  readonly onStep?: (step: StepResult) => void;
}

/** What was measured in one step, and why it failed ([] when it passed). */
export interface StepResult {
  readonly ratePerSecond: number;
  /** Records acknowledged during the hold, per second. */
  readonly sentPerSecond: number;
  /** The highest source emit lag of any subtask over the hold's readings. */
  readonly inputLatencyMs: number | null;
  /** The highest back-pressure ratio of any vertex over the hold's readings. */
  readonly backpressureRatio: number | null;
  readonly backpressureVertex: string | null;
  /** CPU the busiest task manager's JVM used over the hold, over the CPU its machine has (0..1). */
  readonly cpuRatio: number | null;
  /** Records sent in this step (warm-up and hold) and records the job wrote for them. */
  readonly expected: number;
  readonly measured: number;
  readonly resultsOk: boolean;
  readonly readings: number;
  readonly failures: readonly string[];
  readonly passed: boolean;
}

export interface StressResult {
  readonly pipeline: string;
  readonly room: string;
  readonly job: string;
  readonly tasks: number;
  readonly latencyLimitMs: number;
  readonly startedAt: number;
  readonly steps: readonly StepResult[];
  /** The last step that passed (the baseline), if any did. */
  readonly lastPassing?: StepResult;
  readonly shadow: { readonly inTopic: string; readonly outTopic: string; readonly jobName: string; readonly jobId?: string; readonly group: string };
  /** What could not be cleaned up ([] when everything was). */
  readonly cleanupProblems: readonly string[];
  /** Mean size of the records replayed, bytes: their key, value and headers, plus a record's framing in a batch. */
  readonly meanRecordBytes?: number;
}

/**
 * Bytes a record adds in a v2 record batch beyond its key, value and headers (length, attributes,
 * timestamp and offset deltas, key and value lengths, header count: about 10 as varints), with a
 * batch header of 61 bytes shared by the records of a batch. Measured on the local broker: 1,000-byte
 * values in batches of 10 take 1,015 bytes each in the log (bench/scenarios/quota.ts).
 */
const RECORD_FRAMING_BYTES = 10;

/** A record's size as the broker stores it and counts it against a quota, less its batch's share. */
export function recordBytes(r: SampleRecord): number {
  let bytes = (r.key?.length ?? 0) + (r.value?.length ?? 0) + RECORD_FRAMING_BYTES;
  for (const [k, v] of Object.entries(r.headers ?? {})) {
    for (const one of Array.isArray(v) ? v : [v]) bytes += Buffer.byteLength(k) + (one === undefined ? 0 : typeof one === 'string' ? Buffer.byteLength(one) : one.length) + 2;
  }
  return bytes;
}

/** Rates from `from` to `to` by `step`; `to` is always the last even when the steps do not land on it. */
export function stepRates(from: number, to: number, step: number): number[] {
  const out: number[] = [];
  for (let r = from; r < to; r += step) out.push(r);
  out.push(to);
  return out;
}

/** Why a step failed, one reason per criterion it missed ([] = passed). A criterion with no reading fails: no evidence, no pass. */
export function stepFailures(s: Omit<StepResult, 'failures' | 'passed'>, latencyLimitMs: number): string[] {
  const why: string[] = [];
  if (s.sentPerSecond < s.ratePerSecond * 0.95) why.push(`the load reached only ${Math.round(s.sentPerSecond)}/s of ${s.ratePerSecond}/s`);
  if (s.inputLatencyMs === null) why.push('no input latency reading');
  else if (s.inputLatencyMs > latencyLimitMs) why.push(`input latency ${s.inputLatencyMs} ms > ${latencyLimitMs} ms`);
  if (s.backpressureRatio === null) why.push('no back-pressure reading computed during the hold');
  else if (s.backpressureRatio > BACKPRESSURE_LIMIT) why.push(`back-pressure ${s.backpressureRatio} on ${s.backpressureVertex} > ${BACKPRESSURE_LIMIT}`);
  if (s.cpuRatio === null) why.push('no CPU reading');
  else if (s.cpuRatio > CPU_LIMIT) why.push(`CPU ${s.cpuRatio.toFixed(2)} > ${CPU_LIMIT}`);
  if (!s.resultsOk) why.push(`${s.measured} output records, expected ${s.expected}`);
  return why;
}

/** The baseline file's content for a run whose `lastPassing` step is the baseline. */
export function baselineOf(r: StressResult, measuredBy: string, measuredAt: string): BaselineFile {
  const b = r.lastPassing;
  if (!b || b.inputLatencyMs === null || b.backpressureRatio === null || b.cpuRatio === null) throw new Error('no step passed: there is no baseline');
  return {
    pipeline: r.pipeline,
    room: r.room,
    job: r.job,
    ratePerSecond: b.ratePerSecond,
    tasks: r.tasks,
    ...(r.meanRecordBytes !== undefined && { meanRecordBytes: r.meanRecordBytes }),
    measuredAt,
    measuredBy,
    criteria: {
      inputLatencyMs: { limit: r.latencyLimitMs, measured: b.inputLatencyMs },
      backpressureRatio: { limit: BACKPRESSURE_LIMIT, measured: b.backpressureRatio },
      cpuRatio: { limit: CPU_LIMIT, measured: round(b.cpuRatio, 3) },
      results: { expected: b.expected, measured: b.measured },
    },
    steps: r.steps.map((s) => ({ ratePerSecond: s.ratePerSecond, inputLatencyMs: s.inputLatencyMs ?? 0, backpressureRatio: s.backpressureRatio ?? 0, cpuRatio: round(s.cpuRatio ?? 0, 3), resultsOk: s.resultsOk })),
  };
}

const round = (n: number, digits: number): number => Math.round(n * 10 ** digits) / 10 ** digits;

/** Resolves after `ms`, or rejects at once when `signal` aborts. */
function sleeper(signal: AbortSignal | undefined): (ms: number) => Promise<void> {
  return (ms) =>
    new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason as Error);
      const t = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        clearTimeout(t);
        reject(signal!.reason as Error);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
}

/** Whether a kafkajs error (or one it wraps) says the brokers could not be reached. */
function kafkaUnreachable(err: unknown): boolean {
  for (let e = err as (Error & { cause?: unknown; originalError?: unknown }) | undefined, depth = 0; e && depth < 5; depth++) {
    if (/^KafkaJS(ConnectionError|NumberOfRetriesExceeded|BrokerNotFound|RequestTimeoutError|ConnectionClosedError)$/.test(e.name ?? '')) return true;
    e = (e.cause ?? e.originalError) as typeof e;
  }
  return false;
}

/**
 * Runs the stress test: replays the pipeline's records into a shadow topic at each rate in turn
 * (a warm-up, then a hold with a reading a second), judges the step, and stops at the first that
 * fails or after the last. Always cancels the shadow job and deletes the shadow topics, also when
 * a wait runs out or `signal` aborts (the error is thrown after the cleanup).
 */
export async function runStress(opts: StressOptions): Promise<StressResult> {
  const id = opts.id ?? Math.random().toString(36).slice(2, 8);
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const sleep = sleeper(opts.signal);
  const log = opts.log.child({ component: 'stress', pipeline: opts.pipeline, room: opts.room });
  const inTopic = `${opts.sourceTopic}-stress-${id}`;
  const shadow = { inTopic, outTopic: `${inTopic}-out`, jobName: `${opts.job}-stress-${id}`, group: `switchyard-stress-${id}` };
  const steps: StepResult[] = [];
  let meanRecordBytes: number | undefined;
  const cleanupProblems: string[] = [];
  const startedAt = Date.now();
  const job = new ShadowJob(opts.flinkUrl, timeoutMs);
  const kafka = createKafka({ clientId: `switchyard-stress-${id}`, brokers: opts.brokers, log: opts.log, timeoutMs, retries: 2, access: opts.access });
  const admin: Admin = kafka.admin();
  const producer: Producer = kafka.producer({ allowAutoTopicCreation: false });
  let topicsCreated = false;
  let sender: PacedSender | undefined;
  let failure: Error | undefined;

  try {
    const free = await job.freeSlots();
    if (free < opts.tasks) throw new Error(`${opts.room}'s Flink has ${free} free task slots; a shadow job at ${opts.tasks} tasks needs ${opts.tasks} (lower --tasks or free slots)`);
    await admin.connect();
    const sample: SampleRecord[] = await readSample(kafka, admin, opts.sourceTopic, opts.sampleLimit ?? 50_000, `${shadow.group}-sample`, 60_000);
    if (sample.length === 0) throw new Error(`topic ${opts.sourceTopic} in ${opts.room} has no records to replay`);
    meanRecordBytes = Math.round((sample.reduce((s, r) => s + recordBytes(r), 0) / sample.length) * 10) / 10;
    log.info('sample read', { records: sample.length, topic: opts.sourceTopic });

    topicsCreated = true;
    await admin.createTopics({ waitForLeaders: true, timeout: timeoutMs, topics: [shadow.inTopic, shadow.outTopic].map((topic) => ({ topic, numPartitions: opts.tasks })) });
    await producer.connect();

    const args = shadowArgs(opts.launch.args, { in: shadow.inTopic, out: shadow.outTopic, 'job-name': shadow.jobName, group: shadow.group });
    if (argValue(opts.launch.args, 'in') === undefined) log.warn('launch arguments have no --in: the shadow topic was added as --in', { args: opts.launch.args });
    const jid = await job.start({ ...opts.launch, args }, opts.tasks);
    log.info('shadow job started', { jid, name: shadow.jobName, tasks: opts.tasks });
    await untilRunning(job, 60_000, sleep);
    await job.discover(Date.now() + 30_000, sleep);

    let outBefore = await highWatermarks(admin, shadow.outTopic);
    let sentBefore = 0;
    for (const rate of opts.rates) {
      opts.signal?.throwIfAborted();
      const stepStart = Date.now();
      sender = new PacedSender(producer, shadow.inTopic, sample, rate, opts.tasks);
      await sleep(opts.warmupMs);
      if (sender.failure) throw sender.failure;
      const holdStart = Date.now();
      const sentAtHold = sender.sent;
      const readings: ShadowReading[] = [];
      while (Date.now() - holdStart < opts.holdMs) {
        await sleep(Math.min(opts.sampleEveryMs ?? 1000, Math.max(0, opts.holdMs - (Date.now() - holdStart))));
        if (sender.failure) throw sender.failure;
        readings.push(await job.read(holdStart));
      }
      const holdSeconds = (Date.now() - holdStart) / 1000;
      const sentInHold = sender.sent - sentAtHold;
      const sentTotal = await sender.stop();
      sender = undefined;
      const expected = sentTotal;
      const want = outBefore + expected;
      // The job maps one record in to one out: wait until all of this step's output is there (or the drain time is up).
      const drainMs = opts.drainMs ?? opts.latencyLimitMs + 5000;
      const drainUntil = Date.now() + drainMs;
      let out = await highWatermarks(admin, shadow.outTopic);
      while (out < want && Date.now() < drainUntil) {
        await sleep(250);
        out = await highWatermarks(admin, shadow.outTopic);
      }
      // A moment more so that duplicates (a restart re-sends, the sink is at least once) show too.
      if (out >= want) {
        await sleep(500);
        out = await highWatermarks(admin, shadow.outTopic);
      }
      if ((await job.state()) !== 'RUNNING') log.warn('shadow job is no longer RUNNING', { state: await job.state() });
      const measured = out - outBefore;
      outBefore = out;
      sentBefore += sentTotal;
      const lags = readings.flatMap((r) => r.emitLagMs);
      const pressures = readings.map((r) => r.backpressure).filter((b) => b !== undefined);
      const worst = pressures.reduce<(typeof pressures)[number] | undefined>((a, b) => (!a || b!.ratio > a.ratio ? b : a), undefined);
      const withCpu = readings.filter((r) => r.cpuTimeNs);
      const cpu = job.cpuBetween(withCpu[0], withCpu.at(-1));
      const measuredStep = {
        ratePerSecond: rate,
        sentPerSecond: holdSeconds > 0 ? sentInHold / holdSeconds : 0,
        inputLatencyMs: lags.length > 0 ? Math.max(...lags) : null,
        backpressureRatio: worst ? worst.ratio : null,
        backpressureVertex: worst ? worst.vertex : null,
        cpuRatio: cpu ?? null,
        expected,
        measured,
        resultsOk: measured === expected,
        readings: readings.length,
      };
      const failures = stepFailures(measuredStep, opts.latencyLimitMs);
      const step: StepResult = { ...measuredStep, failures, passed: failures.length === 0 };
      steps.push(step);
      log.info('step judged', { rate, ms: Date.now() - stepStart, passed: step.passed, failures });
      opts.onStep?.(step);
      if (!step.passed) break;
    }
    log.debug('records sent in all', { records: sentBefore });
  } catch (err) {
    failure = kafkaUnreachable(err) ? new KafkaUnreachableError(opts.brokers, err) : (err as Error);
  } finally {
    await sender?.stop().catch(() => undefined);
    // Cleanup must run even after an abort: it gets its own sleeper, bounded by its own deadlines.
    const cleanupSleep = sleeper(undefined);
    await job.cancel(30_000, cleanupSleep).catch((err: unknown) => cleanupProblems.push(`shadow job ${job.jobId ?? shadow.jobName}: ${(err as Error).message}`));
    await producer.disconnect().catch(() => undefined);
    if (topicsCreated) {
      await admin
        .deleteTopics({ topics: [shadow.inTopic, shadow.outTopic], timeout: timeoutMs })
        .catch((err: unknown) => {
          // A topic that was never created is not a problem.
          if (!/does not host this topic-partition|UNKNOWN_TOPIC_OR_PARTITION/i.test((err as Error).message)) cleanupProblems.push(`shadow topics ${shadow.inTopic}, ${shadow.outTopic}: ${(err as Error).message}`);
        });
    }
    // Flink commits the shadow job's offsets to its group on checkpoints; the group goes with the test.
    if (job.jobId) await admin.deleteGroups([shadow.group]).catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
    for (const p of cleanupProblems) log.warn('stress test cleanup incomplete', { problem: p });
  }
  if (failure) {
    // What is left behind must not hide behind the error that stopped the run.
    if (cleanupProblems.length > 0) failure.message += `; cleanup incomplete: ${cleanupProblems.join('; ')}`;
    throw failure;
  }

  const passing = steps.filter((s) => s.passed);
  return {
    pipeline: opts.pipeline,
    room: opts.room,
    job: opts.job,
    tasks: opts.tasks,
    latencyLimitMs: opts.latencyLimitMs,
    startedAt,
    steps,
    ...(passing.length > 0 && { lastPassing: passing.at(-1)! }),
    shadow: { ...shadow, ...(job.jobId && { jobId: job.jobId }) },
    cleanupProblems,
    ...(meanRecordBytes !== undefined && { meanRecordBytes }),
  };
}

/** Waits until the shadow job is RUNNING with every task running; rejects with its state when it ends or the time is up. */
async function untilRunning(job: ShadowJob, withinMs: number, sleep: (ms: number) => Promise<void>): Promise<void> {
  const deadline = Date.now() + withinMs;
  let state: string | undefined;
  while (Date.now() < deadline) {
    const o = await job.call<{ jobs: { jid: string; state: string; tasks?: { total: number; running: number } }[] }>('GET', '/jobs/overview');
    const j = o.jobs.find((x) => x.jid === job.jobId);
    state = j?.state;
    if (state === 'FAILED' || state === 'CANCELED' || state === 'FINISHED') throw new Error(`the shadow job ${job.jobId} is ${state}, not RUNNING (its exceptions: /jobs/${job.jobId}/exceptions)`);
    if (state === 'RUNNING' && j?.tasks && j.tasks.total > 0 && j.tasks.running === j.tasks.total) return;
    await sleep(250);
  }
  throw new Error(`the shadow job ${job.jobId} is not RUNNING with all its tasks within ${withinMs} ms (last state: ${state ?? 'not listed'})`);
}
