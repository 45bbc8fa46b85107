// The shadow job of a stress test, and what the stress test reads about it, through Flink's REST
// API. Field meanings and why each is read: docs/flink.md ("Stress tests").

import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { JobLaunch } from '../adapters/flink/flink-job-control.js';

/** Flink's REST API did not answer (refused, timed out): the CLI maps this to exit 3. */
export class FlinkUnreachableError extends Error {
  constructor(
    readonly url: string,
    override readonly cause: unknown,
  ) {
    super(`Flink unreachable at ${url}: ${(cause as Error).message ?? String(cause)}`);
    this.name = 'FlinkUnreachableError';
  }
}

/** One vertex of the shadow job, with the names its metrics go by. */
export interface ShadowVertex {
  readonly id: string;
  readonly name: string;
  readonly parallelism: number;
  /** The source's lag metric as the vertex's subtasks list it (e.g. `Source__events-in.currentEmitEventTimeLag`), when it is the source. */
  readonly emitLagMetric?: string;
}

/** One reading of the shadow job while load runs; `undefined` fields could not be read this time. */
export interface ShadowReading {
  /** Per source subtask that has emitted a record: emit time minus the record's timestamp, ms. */
  readonly emitLagMs: readonly number[];
  /** The highest back-pressure ratio over every vertex's subtasks. */
  readonly backpressure?: { readonly ratio: number; readonly vertex: string };
  /** When the reading was taken (epoch ms). */
  readonly at: number;
  /** Each task manager's `Status.JVM.CPU.Time` (ns of CPU its JVM used), when every one answered. */
  readonly cpuTimeNs?: ReadonlyMap<string, number>;
}

const LAG = '.currentEmitEventTimeLag';

/**
 * A second copy of a pipeline's job in the same Flink cluster, reading and writing shadow topics.
 * `start` uploads the jar when the cluster has not got it and runs it at the given parallelism;
 * `cancel` cancels it and waits until it is CANCELED. Every request gives up after `timeoutMs`.
 */
export class ShadowJob {
  private jid: string | undefined;
  private vertexList: ShadowVertex[] = [];
  /** The task managers running the job, with their CPU cores. */
  private taskManagers = new Map<string, number>();

  constructor(
    private readonly url: string,
    private readonly timeoutMs: number,
  ) {}

  get jobId(): string | undefined {
    return this.jid;
  }

  get vertices(): readonly ShadowVertex[] {
    return this.vertexList;
  }

  async call<T>(method: 'GET' | 'POST' | 'PATCH', path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.url}${path}`, {
        method,
        ...(body !== undefined && { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new FlinkUnreachableError(this.url, err);
    }
    const text = await res.text();
    if (!res.ok) throw new Error(`Flink ${method} ${path}: HTTP ${res.status}: ${text.split('\n')[0]!.slice(0, 300)}`);
    return (text ? JSON.parse(text) : {}) as T;
  }

  /** Free task slots now: a job at parallelism N needs N (its operators share a slot per subtask). */
  async freeSlots(): Promise<number> {
    return (await this.call<{ 'slots-available': number }>('GET', '/overview'))['slots-available'];
  }

  private async jarId(jarFile: string): Promise<string> {
    const listed = await this.call<{ files: { id: string; name: string }[] }>('GET', '/jars');
    const there = listed.files.find((f) => f.name === basename(jarFile));
    if (there) return there.id;
    const form = new FormData();
    form.append('jarfile', new Blob([await readFile(jarFile)], { type: 'application/x-java-archive' }), basename(jarFile));
    let res: Response;
    try {
      res = await fetch(`${this.url}/jars/upload`, { method: 'POST', body: form, signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      throw new FlinkUnreachableError(this.url, err);
    }
    const text = await res.text();
    if (!res.ok) throw new Error(`Flink POST /jars/upload: HTTP ${res.status}: ${text.split('\n')[0]!.slice(0, 300)}`);
    return basename((JSON.parse(text) as { filename: string }).filename);
  }

  /** Runs the job at `parallelism` (FlinkJobControl.start has no parallelism); returns its job id. */
  async start(launch: JobLaunch, parallelism: number): Promise<string> {
    const id = await this.jarId(launch.jarFile);
    const res = await this.call<{ jobid: string }>('POST', `/jars/${encodeURIComponent(id)}/run`, { entryClass: launch.entryClass, programArgsList: launch.args, parallelism });
    this.jid = res.jobid;
    return res.jobid;
  }

  /**
   * Reads the running job's vertices, finds the source by its lag metric and the task managers
   * its subtasks run on. The source registers its metrics a moment after the task is RUNNING,
   * so this is retried until `deadline` (epoch ms).
   */
  async discover(deadline: number, sleep: (ms: number) => Promise<void>): Promise<void> {
    const jid = this.requireJid();
    for (;;) {
      const detail = await this.call<{ vertices: { id: string; name: string; parallelism: number }[] }>('GET', `/jobs/${jid}`);
      const vertices: ShadowVertex[] = [];
      const managers = new Set<string>();
      // A subtask not yet deployed names its task manager "(unassigned)": wait until every one is placed.
      let unplaced = false;
      for (const v of detail.vertices) {
        const ids = await this.call<{ id: string }[]>('GET', `/jobs/${jid}/vertices/${v.id}/subtasks/metrics`);
        const lag = ids.map((m) => m.id).find((m) => m.endsWith(LAG));
        vertices.push({ id: v.id, name: v.name, parallelism: v.parallelism, ...(lag && { emitLagMetric: lag }) });
        const sub = await this.call<{ subtasks: { 'taskmanager-id'?: string }[] }>('GET', `/jobs/${jid}/vertices/${v.id}`);
        for (const s of sub.subtasks) {
          const tm = s['taskmanager-id'];
          if (!tm || tm === '(unassigned)') unplaced = true;
          else managers.add(tm);
        }
      }
      if (vertices.some((v) => v.emitLagMetric) && managers.size > 0 && !unplaced) {
        this.vertexList = vertices;
        for (const tm of managers) {
          const info = await this.call<{ hardware?: { cpuCores?: number } }>('GET', `/taskmanagers/${encodeURIComponent(tm)}`);
          this.taskManagers.set(tm, Math.max(1, info.hardware?.cpuCores ?? 1));
        }
        return;
      }
      if (Date.now() > deadline && unplaced) throw new Error(`the shadow job ${jid} still has subtasks on no task manager ("(unassigned)"): is the cluster short of slots?`);
      if (Date.now() > deadline) throw new Error(`the shadow job ${jid} shows no source vertex with a ${LAG.slice(1)} metric (vertices: ${vertices.map((v) => v.name).join(', ')}): is its source a FLIP-27 source such as KafkaSource?`);
      await sleep(500);
    }
  }

  /**
   * One reading: each source subtask's emit lag (`/jobs/:jid/vertices/:vid/metrics?get=<i>.<op>.currentEmitEventTimeLag`,
   * -1 until the subtask has emitted a record); each vertex's back-pressure, the higher of
   * `/jobs/:jid/vertices/:vid/backpressure` (`subtasks[].ratio`, only when its `end-timestamp` is at
   * or after `since`) and its subtasks' `backPressuredTimeMsPerSecond` (max) / 1000; and the task
   * managers' `Status.JVM.CPU.Time`. A request that fails leaves its field out.
   */
  async read(since: number): Promise<ShadowReading> {
    const jid = this.requireJid();
    const lags = Promise.all(
      this.vertexList
        .filter((v) => v.emitLagMetric)
        .map(async (v) => {
          const names = Array.from({ length: v.parallelism }, (_, i) => `${i}.${v.emitLagMetric}`);
          const got = await this.call<{ id: string; value: string }[]>('GET', `/jobs/${jid}/vertices/${v.id}/metrics?get=${names.map(encodeURIComponent).join(',')}`);
          return got.map((m) => Number(m.value)).filter((n) => Number.isFinite(n) && n >= 0);
        }),
    ).then((per) => per.flat(), () => []);
    const pressure = Promise.all(
      this.vertexList.map(async (v) => {
        // Both say the same thing (the endpoint's ratio is backPressuredTimeMsPerSecond / 1000),
        // but the endpoint recomputes only every few seconds: the metric shows a rise sooner.
        const [bp, metric] = await Promise.all([
          this.call<{ 'end-timestamp'?: number; subtasks?: { ratio?: number }[] }>('GET', `/jobs/${jid}/vertices/${v.id}/backpressure`).catch(() => undefined),
          this.call<{ id: string; max?: number }[]>('GET', `/jobs/${jid}/vertices/${v.id}/subtasks/metrics?get=backPressuredTimeMsPerSecond&agg=max`).catch(() => undefined),
        ]);
        const ratios = (bp?.subtasks ?? []).map((s) => s.ratio).filter((r): r is number => typeof r === 'number');
        const fresh = ratios.length > 0 && (bp?.['end-timestamp'] ?? 0) >= since;
        const ms = metric?.[0]?.max;
        const fromMetric = typeof ms === 'number' && Number.isFinite(ms) ? Math.min(1, Math.max(0, ms / 1000)) : undefined;
        if (!fresh && fromMetric === undefined) return undefined;
        return { ratio: Math.max(fresh ? Math.max(...ratios) : 0, fromMetric ?? 0), vertex: v.name };
      }),
    ).then((per) => {
      const got = per.filter((p) => p !== undefined);
      // Every vertex must answer: the worst of some vertices is not the job's worst.
      if (got.length < this.vertexList.length) return undefined;
      return got.reduce((a, b) => (b.ratio > a.ratio ? b : a));
    });
    const cpu = Promise.all(
      [...this.taskManagers.keys()].map(async (tm) => {
        const got = await this.call<{ id: string; value: string }[]>('GET', `/taskmanagers/${encodeURIComponent(tm)}/metrics?get=Status.JVM.CPU.Time`);
        const n = Number(got[0]?.value);
        return Number.isFinite(n) && n >= 0 ? ([tm, n] as const) : undefined;
      }),
    ).then(
      (per) => (per.length > 0 && per.every((x) => x !== undefined) ? new Map(per as (readonly [string, number])[]) : undefined),
      () => undefined,
    );
    const at = Date.now();
    const [emitLagMs, backpressure, cpuTimeNs] = await Promise.all([lags, pressure, cpu]);
    return { at, emitLagMs, ...(backpressure && { backpressure }), ...(cpuTimeNs && { cpuTimeNs }) };
  }

  /**
   * CPU used between two readings over CPU available, 0..1, for the busiest task manager: the
   * growth of its JVM's CPU time over the wall time between them times its cores. Undefined
   * without two readings of CPU time some time apart.
   */
  cpuBetween(first: ShadowReading | undefined, last: ShadowReading | undefined): number | undefined {
    if (!first?.cpuTimeNs || !last?.cpuTimeNs || last.at - first.at < 1000) return undefined;
    let worst: number | undefined;
    for (const [tm, cores] of this.taskManagers) {
      const a = first.cpuTimeNs.get(tm);
      const b = last.cpuTimeNs.get(tm);
      if (a === undefined || b === undefined) return undefined;
      const load = Math.max(0, b - a) / ((last.at - first.at) * 1e6 * cores);
      worst = Math.max(worst ?? 0, load);
    }
    return worst;
  }

  /** The job's state as the dispatcher lists it now (`/jobs/overview`, not the cached details). */
  async state(): Promise<string | undefined> {
    const jid = this.requireJid();
    return (await this.call<{ jobs: { jid: string; state: string }[] }>('GET', '/jobs/overview')).jobs.find((j) => j.jid === jid)?.state;
  }

  /** Cancels the job (`PATCH /jobs/:jid?mode=cancel`) and waits until it is no longer running. */
  async cancel(withinMs: number, sleep: (ms: number) => Promise<void>): Promise<void> {
    if (!this.jid) return;
    const ended = new Set(['CANCELED', 'FAILED', 'FINISHED']);
    if (ended.has((await this.state()) ?? 'CANCELED')) return;
    await this.call('PATCH', `/jobs/${this.jid}?mode=cancel`);
    const deadline = Date.now() + withinMs;
    let state: string | undefined;
    while (Date.now() < deadline) {
      state = await this.state();
      if (state === undefined || ended.has(state)) return;
      await sleep(200);
    }
    throw new Error(`shadow job ${this.jid} not cancelled within ${withinMs} ms (state ${state ?? 'unknown'})`);
  }

  private requireJid(): string {
    if (!this.jid) throw new Error('the shadow job has not been started');
    return this.jid;
  }
}

/**
 * The launch arguments with the job's topics, name and group replaced: `--key value` pairs as the
 * pipeline's job takes them (scripts/flink PipelineJob: --in, --out, --job-name, --group). A key the
 * arguments do not have is added.
 */
export function shadowArgs(args: readonly string[], replace: Readonly<Record<string, string>>): string[] {
  const out = [...args];
  const done = new Set<string>();
  for (let i = 0; i + 1 < out.length; i++) {
    const key = out[i]!.startsWith('--') ? out[i]!.slice(2) : undefined;
    if (key !== undefined && key in replace) {
      out[i + 1] = replace[key]!;
      done.add(key);
      i++;
    }
  }
  for (const [k, v] of Object.entries(replace)) if (!done.has(k)) out.push(`--${k}`, v);
  return out;
}

/** The value of `--key` in launch arguments, if they have it. */
export function argValue(args: readonly string[], key: string): string | undefined {
  const i = args.indexOf(`--${key}`);
  return i >= 0 ? args[i + 1] : undefined;
}

/**
 * The parallelism of the newest run of the job named `name` (its widest vertex), or undefined when
 * the cluster has no such run: a shadow copy runs at the same parallelism by default.
 */
export async function jobParallelism(url: string, name: string, timeoutMs: number): Promise<number | undefined> {
  const rest = new ShadowJob(url, timeoutMs);
  const runs = (await rest.call<{ jobs: { jid: string; name: string; state: string; 'start-time': number }[] }>('GET', '/jobs/overview')).jobs;
  const newest = runs.filter((j) => j.name === name).sort((a, b) => b['start-time'] - a['start-time'])[0];
  if (!newest) return undefined;
  const detail = await rest.call<{ vertices: { parallelism: number }[] }>('GET', `/jobs/${newest.jid}`);
  return detail.vertices.length > 0 ? Math.max(...detail.vertices.map((v) => v.parallelism)) : undefined;
}
