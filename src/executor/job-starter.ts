// Switch step start-jobs: before a route flips to a chain, its stream jobs must run. A hot
// standby's already do (the probe said so, or it would not be a target); a warm standby's are
// started here, each from its newest savepoint, and the step waits until they are RUNNING.

import type { SwitchJournal } from '../core/journal.js';
import type { Topology } from '../core/model.js';
import type { Logger } from '../ports/logger.js';

/** What the step needs of a room's Flink (FlinkJobControl) and of the savepoint store. */
export interface JobControl {
  newestRun(job: string): Promise<{ readonly jid: string; readonly state: string } | undefined>;
  stopWithSavepoint(jid: string, targetDirectory: string, withinMs: number): Promise<string>;
  start(launch: { readonly jarFile: string; readonly entryClass: string; readonly args: readonly string[] }, restoreFrom?: string): Promise<string>;
  untilRunning(jid: string, withinMs: number): Promise<void>;
}

export interface JobStarterDeps {
  readonly topology: Topology;
  readonly control: (room: string, url: string) => JobControl;
  readonly savepoints: {
    get(job: string): Promise<{ readonly path: string; readonly at: number } | undefined>;
    put(job: string, record: { readonly path: string; readonly at: number; readonly by: string }): Promise<void>;
  };
  /** Who stops a job (recorded with its savepoint). */
  readonly observer?: string;
  /** How long one job may take to reach RUNNING (default 60 s); past it the step fails and is retried. */
  readonly runningWithinMs?: number;
  readonly log: Logger;
}

const TERMINAL = new Set(['FAILED', 'CANCELED', 'FINISHED', 'SUSPENDED']);

export function createJobStarter(deps: JobStarterDeps): (journal: SwitchJournal) => Promise<string> {
  return async (j) => {
    const pipeline = deps.topology.pipelines.get(j.pipeline);
    const policy = pipeline && deps.topology.policies.get(pipeline.tier);
    const chain = pipeline?.chains.find((c) => c.name === j.to.chain);
    if (!pipeline || !policy || !chain || chain.jobs.length === 0) return 'no stream jobs on the target chain';
    if (policy.standby !== 'warm' || chain.role === 'primary') return `jobs ${chain.jobs.join(', ')} run hot in ${chain.room}: nothing to start`;
    const flink = deps.topology.rooms.get(chain.room)?.flink;
    if (!flink) throw new Error(`room ${chain.room} has no flink endpoint`);
    const control = deps.control(chain.room, flink.url);
    const notes: string[] = [];
    for (const job of chain.jobs) {
      const launch = flink.launch?.[job];
      if (!launch) throw new Error(`no launch settings for job ${job} (rooms.${chain.room}.flink.launch.${job})`);
      // Repeatable: a run already RUNNING (started by an earlier attempt of this step, or by
      // hand) is kept; one still coming up is waited for; only then is a new one started.
      const run = await control.newestRun(job);
      if (run && run.state === 'RUNNING') {
        notes.push(`${job} already RUNNING (${run.jid})`);
        continue;
      }
      let jid = run && !TERMINAL.has(run.state) ? run.jid : undefined;
      let from = 'its newest run, still starting';
      if (!jid) {
        const savepoint = await deps.savepoints.get(job);
        jid = await control.start(launch, savepoint?.path);
        from = savepoint ? `savepoint ${savepoint.path} (taken ${new Date(savepoint.at).toISOString()})` : 'no savepoint (a fresh start)';
        deps.log.info('stream job started', { room: chain.room, job, jid, from });
      }
      const started = Date.now();
      await control.untilRunning(jid, deps.runningWithinMs ?? 60_000);
      notes.push(`${job} started from ${from}, RUNNING after ${Date.now() - started} ms (${jid})`);
    }
    return `warm standby in ${chain.room}: ${notes.join('; ')}`;
  };
}

/**
 * Switch step stop-jobs: when a switch leaves a warm standby chain (a failback, or a move to
 * another chain), that chain's jobs are stopped with a savepoint, recorded for their next start.
 * Runs after verify: consumers have moved before anything they could still need stops.
 */
export function createJobStopper(deps: JobStarterDeps): (journal: SwitchJournal) => Promise<string> {
  return async (j) => {
    const pipeline = deps.topology.pipelines.get(j.pipeline);
    const policy = pipeline && deps.topology.policies.get(pipeline.tier);
    const chain = pipeline?.chains.find((c) => c.name === j.from.chain);
    if (!pipeline || !policy || !chain || chain.jobs.length === 0 || policy.standby !== 'warm' || chain.role === 'primary') return 'no warm standby jobs left behind';
    const flink = deps.topology.rooms.get(chain.room)?.flink;
    if (!flink?.savepointDir) throw new Error(`room ${chain.room} has no flink.savepointDir`);
    const control = deps.control(chain.room, flink.url);
    const notes: string[] = [];
    for (const job of chain.jobs) {
      const run = await control.newestRun(job);
      if (!run || run.state !== 'RUNNING') {
        notes.push(`${job} not running (${run?.state ?? 'no run'})`);
        continue;
      }
      const path = await control.stopWithSavepoint(run.jid, flink.savepointDir, deps.runningWithinMs ?? 60_000);
      await deps.savepoints.put(job, { path, at: Date.now(), by: deps.observer ?? 'controller' });
      deps.log.info('stream job stopped with a savepoint', { room: chain.room, job, jid: run.jid, savepoint: path });
      notes.push(`${job} stopped with savepoint ${path}`);
    }
    return `warm standby in ${chain.room} left: ${notes.join('; ')}`;
  };
}
