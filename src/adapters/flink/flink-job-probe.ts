import { bulkhead, type BulkheadPolicy } from 'cockatiel';
import type CircuitBreaker from 'opossum';
import { isOpenBreaker, probeBreaker } from '../probe-breaker.js';
import type { Observation } from '../../core/health.js';
import { backpressureLevel, evaluateStreamJob, type FlinkJobState, type StreamJobSample, type StreamJobThresholds } from '../../core/stream-job-rules.js';
import type { Clock } from '../../ports/clock.js';
import { worstVertex, type HealthProbe, type StreamJobReading } from '../../ports/health-probe.js';
import type { Logger } from '../../ports/logger.js';

/** A stream job this probe watches, with the limits of the strictest tier that runs it. */
export interface WatchedJob {
  readonly name: string;
  readonly limits: StreamJobThresholds;
}

export interface FlinkProbeOptions {
  readonly room: string;
  /** The room's Flink REST API, e.g. http://127.0.0.1:18081. */
  readonly url: string;
  readonly jobs: readonly WatchedJob[];
  readonly observer: string;
  readonly observerRoom: string;
  /** Each REST request gives up after this long; a whole probe after twice that. */
  readonly timeoutMs: number;
  /** REST requests in flight at most (per room). */
  readonly concurrency: number;
  /**
   * How long `probe()` waits for the read it starts before answering with the previous one
   * (default 150 ms): a read that fits gives each tick fresh news, one that does not never holds
   * the tick up.
   */
  readonly waitMs?: number;
  readonly clock: Clock;
  readonly log: Logger;
}

interface JobsOverview {
  jobs: { jid: string; name: string; state: FlinkJobState; 'start-time': number }[];
}
interface ClusterOverview {
  taskmanagers: number;
  'slots-available': number;
}
interface JobDetail {
  state: FlinkJobState;
  vertices: { id: string; name: string }[];
}
interface Checkpoints {
  counts: { completed: number; failed: number };
  latest?: { completed?: { latest_ack_timestamp?: number } | null };
}
interface CheckpointConfig {
  interval: number;
  timeout: number;
  tolerable_failed_checkpoints: number;
}
interface Backpressure {
  backpressureLevel?: string;
  subtasks?: { ratio?: number }[];
}
interface Exceptions {
  exceptionHistory?: { entries?: { exceptionName?: string; timestamp?: number }[] };
}

/** How many samples of each job are kept: enough for the restart window at one probe a second. */
const KEPT = 600;

/**
 * One room's stream jobs, read through Flink's REST API (field meanings: docs/flink.md). One
 * probe reads the cluster and job overviews once, then each watched job's details, checkpoints,
 * checkpoint settings (once per job run), restart count, newest exception and every vertex's
 * back-pressure, with at most `concurrency` requests in flight. Each job becomes one observation
 * (component `stream`, subject = job name) judged by the core's stream-job rules against its
 * tier's limits; a job that is not there is reported DOWN by name.
 *
 * The probe never makes a tick wait: `probe()` starts a read when none is in flight and answers
 * with the newest complete one (each observation carries the time it was read, so the core's
 * staleness rule covers a read that hangs).
 */
export class FlinkJobProbe implements HealthProbe {
  readonly room: string;
  private readonly limiter: BulkheadPolicy;
  /** Each job's samples, for the run (jid) they belong to: a new run starts a new history. */
  private readonly history = new Map<string, { readonly jid: string; readonly samples: StreamJobSample[] }>();
  /** What does not change within a job run: its checkpoint settings and its vertices. */
  private readonly runs = new Map<string, { readonly config: CheckpointConfig; readonly vertices: JobDetail['vertices'] }>();
  private readonly slow = new Map<string, SlowRead>();
  private latest: Observation[] = [];
  private readings: StreamJobReading[] = [];
  private inFlight: Promise<void> | undefined;
  private closed = false;

  private readonly breaker: CircuitBreaker<[], [Observation, StreamJobReading][]>;

  constructor(private readonly opts: FlinkProbeOptions) {
    this.room = opts.room;
    this.limiter = bulkhead(opts.concurrency, Number.MAX_SAFE_INTEGER);
    this.breaker = probeBreaker(() => this.readAll(this.opts.clock.now()), 2 * opts.timeoutMs);
  }

  /** The newest reading of every watched job. */
  jobReadings(): readonly StreamJobReading[] {
    return this.readings;
  }

  async probe(): Promise<readonly Observation[]> {
    if (!this.inFlight && !this.closed) {
      const started = this.opts.clock.now();
      const deadline = 2 * this.opts.timeoutMs;
      // Behind the same breaker as every probe: a read past the deadline fails, and a room whose
      // reads keep failing is answered at once (DOWN) for a second instead of being piled on.
      this.inFlight = this.breaker
        .fire()
        .then(
          (read) => this.apply(read),
          (err: unknown) => this.unreachable(started, isOpenBreaker(err) ? 'circuit open after repeated failures' : (err as { code?: string }).code === 'ETIMEDOUT' ? `no answer within ${deadline} ms` : errorText(err)),
        )
        .finally(() => (this.inFlight = undefined));
      // The first read (nothing to answer with yet) and a quick one are waited for, within the deadline.
      await Promise.race([this.inFlight, this.opts.clock.sleep(this.latest.length === 0 ? deadline : Math.min(deadline, this.opts.waitMs ?? 150))]);
    }
    return this.latest;
  }

  /** Reads everything now and waits for it (for the CLI, which probes once). */
  async readNow(): Promise<readonly Observation[]> {
    const started = this.opts.clock.now();
    await this.readAll(started).then(
      (read) => this.apply(read),
      (err: unknown) => this.unreachable(started, errorText(err)),
    );
    return this.latest;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.inFlight?.catch(() => undefined);
    this.breaker.shutdown();
  }

  private observe(job: string, status: Observation['status'], reason: string, at: number, started: number): Observation {
    return { room: this.room, component: 'stream', subject: job, observer: this.opts.observer, observerRoom: this.opts.observerRoom, at, status, reason, latencyMs: at - started };
  }

  private unreachable(started: number, why: string): void {
    const at = this.opts.clock.now();
    this.latest = this.opts.jobs.map((j) => this.observe(j.name, 'DOWN', `${this.room} Flink REST unreachable: ${why}`, at, started));
    this.readings = this.opts.jobs.map((j) => ({ job: j.name, room: this.room, state: 'UNREACHABLE', at }));
  }

  private async get<T>(path: string): Promise<T> {
    return this.limiter.execute(async () => {
      const res = await fetch(`${this.opts.url}${path}`, { signal: AbortSignal.timeout(this.opts.timeoutMs) });
      if (!res.ok) throw new Error(`GET ${path}: HTTP ${res.status}`);
      return (await res.json()) as T;
    });
  }

  private async readSlow(base: string, detail: JobDetail): Promise<SlowRead> {
    const [metrics, exceptions, pressure] = await Promise.all([
      // A metric the JobManager caches (metrics.fetcher.update-interval, 10 s by default).
      this.get<{ id: string; value: string }[]>(`${base}/metrics?get=numRestarts`),
      this.get<Exceptions>(`${base}/exceptions?maxExceptions=1`),
      // Only a running job has back-pressure; for a failed one Flink would only be slow to say so.
      Promise.all(
        (detail.state === 'RUNNING' ? detail.vertices : []).map(async (v) => {
          const bp = await this.get<Backpressure>(`${base}/vertices/${v.id}/backpressure`);
          const ratio = Math.max(0, ...(bp.subtasks ?? []).map((s) => s.ratio ?? 0));
          return { vertex: v.name, level: bp.backpressureLevel ?? backpressureLevel(ratio), ratio };
        }),
      ),
    ]);
    return { at: this.opts.clock.now(), state: detail.state, metrics, exceptions, pressure };
  }

  private async readAll(started: number): Promise<[Observation, StreamJobReading][]> {
    const [overview, cluster] = await Promise.all([this.get<JobsOverview>('/jobs/overview'), this.get<ClusterOverview>('/overview')]);
    const newest = new Map<string, JobsOverview['jobs'][number]>();
    for (const j of overview.jobs) {
      const seen = newest.get(j.name);
      if (!seen || j['start-time'] > seen['start-time']) newest.set(j.name, j);
    }
    const results = await Promise.all(
      this.opts.jobs.map(async (watched): Promise<[Observation, StreamJobReading]> => {
        const entry = newest.get(watched.name);
        if (!entry) {
          const at = this.opts.clock.now();
          const there = [...newest.keys()].slice(0, 5).join(', ') || 'none';
          return [this.observe(watched.name, 'DOWN', `job ${watched.name} is not in ${this.room}'s Flink (jobs there: ${there})`, at, started), { job: watched.name, room: this.room, state: 'MISSING', at }];
        }
        try {
          return await this.readJob(watched, entry.jid, entry.state, cluster, started);
        } catch (err) {
          const at = this.opts.clock.now();
          return [this.observe(watched.name, 'UNKNOWN', `job ${watched.name} could not be read: ${errorText(err)}`, at, started), { job: watched.name, room: this.room, jid: entry.jid, state: entry.state, at }];
        }
      }),
    );
    return results;
  }

  /** Makes a complete read the one `probe()` answers with. */
  private apply(results: readonly [Observation, StreamJobReading][]): void {
    this.latest = results.map(([o]) => o);
    this.readings = results.map(([, r]) => r);
    // Forget what belongs to job runs that are gone (a restarted service, a resubmitted job).
    const current = new Set(this.readings.flatMap((r) => (r.jid ? [r.jid] : [])));
    for (const jid of this.runs.keys()) if (!current.has(jid)) this.runs.delete(jid);
    for (const jid of this.slow.keys()) if (!current.has(jid)) this.slow.delete(jid);
  }

  private async readJob(watched: WatchedJob, jid: string, state: FlinkJobState, cluster: ClusterOverview, started: number): Promise<[Observation, StreamJobReading]> {
    const base = `/jobs/${jid}`;
    // The job's state comes from /jobs/overview, served by the dispatcher as it is. A job's details
    // and checkpoint statistics come from a cache the REST API refreshes every web.refresh-interval
    // (3 s by default): there a FAILED job still looked RESTARTING for 1.6 s. Its details are read
    // once per run, for the vertices; its checkpoints on every probe.
    const known = this.runs.get(jid);
    const [run, checkpoints] = await Promise.all([
      known ??
        Promise.all([this.get<CheckpointConfig>(`${base}/checkpoints/config`), this.get<JobDetail>(base)]).then(([config, d]) => {
          const r = { config, vertices: d.vertices };
          this.runs.set(jid, r);
          return r;
        }),
      this.get<Checkpoints>(`${base}/checkpoints`),
    ]);
    const { config } = run;
    const detail: JobDetail = { state, vertices: run.vertices };
    // Restarts, exceptions and back-pressure change slowly for a running job (Flink itself
    // refreshes the metrics behind them every few seconds): read them at most every
    // SLOW_READ_MS then, and every time for a job that is not RUNNING.
    const cached = this.slow.get(jid);
    const fresh = cached !== undefined && detail.state === 'RUNNING' && cached.state === 'RUNNING' && this.opts.clock.now() - cached.at < SLOW_READ_MS;
    const slow = fresh ? cached : await this.readSlow(base, detail);
    // A job seen for the first time counts as read at a random point of the last period, so
    // that the slow reads of many jobs spread over the period instead of all coming at once.
    if (!fresh) this.slow.set(jid, cached ? slow : { ...slow, at: slow.at - Math.floor(Math.random() * SLOW_READ_MS) });
    const { metrics, exceptions, pressure } = slow;
    const at = this.opts.clock.now();
    const worst = worstVertex(pressure);
    const restarts = Number(metrics.find((m) => m.id === 'numRestarts')?.value ?? 0);
    const lastAck = checkpoints.latest?.completed?.latest_ack_timestamp;
    const entry = exceptions.exceptionHistory?.entries?.[0];
    const sample: StreamJobSample = {
      at,
      state: detail.state,
      numRestarts: Number.isFinite(restarts) ? restarts : 0,
      checkpoint: { lastCompletedAt: lastAck || undefined, intervalMs: config.interval, timeoutMs: config.timeout, tolerableFailures: config.tolerable_failed_checkpoints, failedCount: checkpoints.counts.failed },
      backpressureRatio: worst?.ratio ?? 0,
      ...(worst && { backpressuredVertex: worst.vertex }),
      ...(entry?.timestamp !== undefined && { lastException: { at: entry.timestamp, name: shortName(entry.exceptionName ?? 'exception') } }),
      taskManagers: cluster.taskmanagers,
      freeSlots: cluster['slots-available'],
    };
    // A new run of the job (a new jid) starts a new history: its restart counter starts again.
    const kept = this.history.get(watched.name);
    const history = [...(kept?.jid === jid ? kept.samples : []), sample].slice(-KEPT);
    this.history.set(watched.name, { jid, samples: history });
    const verdict = evaluateStreamJob(history, watched.limits, at);
    const extra = sample.lastException && sample.lastException.at > at - watched.limits.restartWindowMs ? `; last exception ${Math.round((at - sample.lastException.at) / 1000)} s ago (${sample.lastException.name})` : '';
    const reason = `job ${watched.name}: ${verdict.reasons.join('; ')}${extra}`;
    const reading: StreamJobReading = {
      job: watched.name,
      room: this.room,
      jid,
      state: detail.state,
      restarts: sample.numRestarts,
      completedCheckpoints: checkpoints.counts.completed,
      failedCheckpoints: checkpoints.counts.failed,
      ...(lastAck ? { checkpointAgeMs: at - lastAck } : {}),
      backpressure: pressure,
      ...(sample.lastException && { lastExceptionAt: sample.lastException.at }),
      taskManagers: cluster.taskmanagers,
      freeSlots: cluster['slots-available'],
      at,
    };
    return [this.observe(watched.name, verdict.status, reason, at, started), reading];
  }
}

interface SlowRead {
  readonly at: number;
  readonly state: FlinkJobState;
  readonly metrics: { id: string; value: string }[];
  readonly exceptions: Exceptions;
  readonly pressure: { vertex: string; level: string; ratio: number }[];
}

/** How long a running job's restarts, exceptions and back-pressure are reused. */
const SLOW_READ_MS = 5000;

function shortName(className: string): string {
  return className.split('.').pop() ?? className;
}

function errorText(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string; errors?: { code?: string }[] } };
  if (e.name === 'TimeoutError') return 'no answer in time';
  // fetch wraps the socket error (or, trying several addresses, an AggregateError of them).
  const code = e.cause?.code ?? e.cause?.errors?.find((x) => x.code)?.code ?? e.cause?.message;
  return code ? `${e.message} (${code})` : e.message;
}
