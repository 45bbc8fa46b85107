import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';

/** How to start a job: the jar with its entry class, and the job's arguments. */
export interface JobLaunch {
  readonly jarFile: string;
  readonly entryClass: string;
  readonly args: readonly string[];
}

/** One entry of /jobs/overview. */
interface JobRun {
  readonly jid: string;
  readonly name: string;
  readonly state: string;
  readonly 'start-time': number;
  readonly tasks?: { readonly total: number; readonly running: number };
}

export interface FlinkControlOptions {
  /** The room's Flink REST API. */
  readonly url: string;
  /** Each request gives up after this long. */
  readonly timeoutMs: number;
}

/**
 * Starts and stops jobs through a Flink cluster's REST API (web submission enabled): the moves a
 * warm standby needs. Start: upload the jar once (`/jars/upload`), run it (`/jars/:id/run`),
 * optionally from a savepoint or retained checkpoint. Stop: stop with a savepoint
 * (`/jobs/:id/stop`, then poll `/jobs/:id/savepoints/:trigger`), so that the next start
 * continues where this one left off. Field meanings: docs/flink.md.
 */
export class FlinkJobControl {
  private readonly jars = new Map<string, string>();

  constructor(private readonly opts: FlinkControlOptions) {}

  private async call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.opts.url}${path}`, {
      method,
      ...(body !== undefined && { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(this.opts.timeoutMs),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status}: ${firstLine(text)}`);
    return JSON.parse(text) as T;
  }

  /** The cluster's id for the jar, uploading it if this cluster has not got it yet. */
  private async jarId(jarFile: string): Promise<string> {
    const known = this.jars.get(jarFile);
    if (known) return known;
    const listed = await this.call<{ files: { id: string; name: string }[] }>('GET', '/jars');
    const there = listed.files.find((f) => f.name === basename(jarFile));
    if (there) {
      this.jars.set(jarFile, there.id);
      return there.id;
    }
    const form = new FormData();
    form.append('jarfile', new Blob([await readFile(jarFile)], { type: 'application/x-java-archive' }), basename(jarFile));
    const res = await fetch(`${this.opts.url}/jars/upload`, { method: 'POST', body: form, signal: AbortSignal.timeout(this.opts.timeoutMs) });
    const text = await res.text();
    if (!res.ok) throw new Error(`POST /jars/upload: HTTP ${res.status}: ${firstLine(text)}`);
    const id = basename((JSON.parse(text) as { filename: string }).filename);
    this.jars.set(jarFile, id);
    return id;
  }

  /** Runs the job, from `restoreFrom` (a savepoint or retained checkpoint path) when given; returns its job id. */
  async start(launch: JobLaunch, restoreFrom?: string): Promise<string> {
    const id = await this.jarId(launch.jarFile);
    const res = await this.call<{ jobid: string }>('POST', `/jars/${encodeURIComponent(id)}/run`, {
      entryClass: launch.entryClass,
      programArgsList: launch.args,
      ...(restoreFrom !== undefined && { savepointPath: restoreFrom, allowNonRestoredState: false }),
    });
    return res.jobid;
  }

  /** Every job run the dispatcher lists now (not the cached job details). */
  private async runs(): Promise<JobRun[]> {
    return (await this.call<{ jobs: JobRun[] }>('GET', '/jobs/overview')).jobs;
  }

  /** Calls `check` every `pollMs` until it gives an answer; rejects with `late()` after `withinMs`. */
  private async until<T>(withinMs: number, check: () => Promise<T | undefined>, late: () => string, pollMs = 200): Promise<T> {
    const deadline = Date.now() + withinMs;
    while (Date.now() < deadline) {
      const answer = await check();
      if (answer !== undefined) return answer;
      await new Promise((r) => setTimeout(r, pollMs));
    }
    throw new Error(late());
  }

  /** The newest run of the job with this name, if the cluster has one. */
  async newestRun(name: string): Promise<{ jid: string; state: string } | undefined> {
    const newest = (await this.runs()).filter((j) => j.name === name).sort((a, b) => b['start-time'] - a['start-time'])[0];
    return newest && { jid: newest.jid, state: newest.state };
  }

  /** The job's state as the dispatcher has it now. */
  async state(jid: string): Promise<string | undefined> {
    return (await this.runs()).find((j) => j.jid === jid)?.state;
  }

  /**
   * Waits until the job is RUNNING with every task running (the job turns RUNNING before its
   * tasks are deployed); rejects with its state if it ends or `withinMs` passes.
   */
  async untilRunning(jid: string, withinMs: number): Promise<void> {
    let state: string | undefined;
    await this.until(
      withinMs,
      async () => {
        const job = (await this.runs()).find((j) => j.jid === jid);
        state = job?.state;
        if (state === 'FAILED' || state === 'CANCELED' || state === 'FINISHED') throw new Error(`job ${jid} is ${state}, not RUNNING`);
        return state === 'RUNNING' && job?.tasks && job.tasks.total > 0 && job.tasks.running === job.tasks.total ? true : undefined;
      },
      () => `job ${jid} not RUNNING within ${withinMs} ms (last state: ${state ?? 'not listed'})`,
    );
  }

  /** Stops the job with a savepoint into `targetDirectory`; returns the savepoint's path. */
  async stopWithSavepoint(jid: string, targetDirectory: string, withinMs: number): Promise<string> {
    const { 'request-id': trigger } = await this.call<{ 'request-id': string }>('POST', `/jobs/${jid}/stop`, { targetDirectory, drain: false });
    return this.until(
      withinMs,
      async () => {
        const s = await this.call<{ status: { id: string }; operation?: { location?: string; 'failure-cause'?: { 'stack-trace'?: string } } }>('GET', `/jobs/${jid}/savepoints/${trigger}`);
        if (s.status.id !== 'COMPLETED') return undefined;
        if (s.operation?.location) return s.operation.location;
        throw new Error(`stop with savepoint of ${jid} failed: ${firstLine(s.operation?.['failure-cause']?.['stack-trace'] ?? 'no location')}`);
      },
      () => `stop with savepoint of ${jid} not done within ${withinMs} ms`,
    );
  }
}

function firstLine(text: string): string {
  return text.split('\n')[0]!.slice(0, 300);
}
