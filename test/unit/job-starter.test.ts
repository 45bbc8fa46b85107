import { describe, expect, it } from 'vitest';
import { createJobStarter, createJobStopper, type JobControl } from '../../src/executor/job-starter.js';
import type { SwitchJournal } from '../../src/core/journal.js';
import { silentLogger } from '../../src/ports/logger.js';
import { routeOn, testPipeline, testPolicy, testTopology } from '../support/model.js';

const chains = [
  { name: 'primary', room: 'room-a', role: 'primary' as const, jobs: ['agg-a'] },
  { name: 'standby', room: 'room-b', role: 'standby' as const, jobs: ['agg-b'] },
];
function topology(standby: 'hot' | 'warm') {
  const t = testTopology([testPipeline('live', {}, chains)], [testPolicy({ standby })]);
  const rooms = new Map(t.rooms);
  rooms.set('room-b', { ...rooms.get('room-b')!, flink: { url: 'http://flink-b', concurrency: 8, savepointDir: 'file:///sp', launch: { 'agg-b': { jarFile: '/jobs/agg.jar', entryClass: 'x.Job', args: ['--in', 't'] } } } });
  return { ...t, rooms };
}
const journal = (t: ReturnType<typeof topology>, to: string): SwitchJournal => ({
  id: 'live-e2', pipeline: 'live', kind: 'failover', from: routeOn(t, 'live', 'primary', 1), to: routeOn(t, 'live', to, 2), reason: 'r', requestedBy: 'o', createdAt: 1, detectedAfterMs: 0, steps: [], status: 'running',
});

/** A room's Flink as a script: the runs it has, and what it was asked to do. */
function fakeControl(runs: { jid: string; state: string }[]) {
  const calls: string[] = [];
  const control: JobControl = {
    newestRun: async () => runs.at(-1),
    start: async (launch, from) => {
      calls.push(`start ${launch.jarFile} ${launch.entryClass} ${launch.args.join(' ')} from ${from ?? 'nothing'}`);
      runs.push({ jid: 'j-new', state: 'CREATED' });
      return 'j-new';
    },
    untilRunning: async (jid) => void calls.push(`wait ${jid}`),
    stopWithSavepoint: async (jid, dir) => {
      calls.push(`stop ${jid} into ${dir}`);
      return `${dir}/savepoint-${jid}`;
    },
  };
  return { control, calls };
}

describe('start-jobs: a warm standby\'s jobs run before the route flips', () => {
  it('starts a stopped job from its newest savepoint and waits for it', async () => {
    const t = topology('warm');
    const f = fakeControl([{ jid: 'j0', state: 'FINISHED' }]);
    const start = createJobStarter({ topology: t, control: () => f.control, savepoints: { get: async () => ({ path: 'file:/sp/savepoint-1', at: 0 }), put: async () => undefined }, log: silentLogger });
    const note = await start(journal(t, 'standby'));
    expect(f.calls).toEqual(['start /jobs/agg.jar x.Job --in t from file:/sp/savepoint-1', 'wait j-new']);
    expect(note).toMatch(/^warm standby in room-b: agg-b started from savepoint file:\/sp\/savepoint-1 \(taken .*\), RUNNING after \d+ ms \(j-new\)$/);
  });

  it('is repeatable: a job already RUNNING is kept, one still coming up is waited for, never started twice', async () => {
    const t = topology('warm');
    const running = fakeControl([{ jid: 'j7', state: 'RUNNING' }]);
    const starter = (c: JobControl) => createJobStarter({ topology: t, control: () => c, savepoints: { get: async () => undefined, put: async () => undefined }, log: silentLogger });
    expect(await starter(running.control)(journal(t, 'standby'))).toBe('warm standby in room-b: agg-b already RUNNING (j7)');
    expect(running.calls).toEqual([]);
    const coming = fakeControl([{ jid: 'j8', state: 'INITIALIZING' }]);
    expect(await starter(coming.control)(journal(t, 'standby'))).toMatch(/agg-b started from its newest run, still starting/);
    expect(coming.calls).toEqual(['wait j8']);
    const never = fakeControl([]);
    expect(await starter(never.control)(journal(t, 'standby'))).toMatch(/agg-b started from no savepoint \(a fresh start\)/);
  });

  it('does nothing for a hot standby, or when going back to the primary', async () => {
    const hot = topology('hot');
    const f = fakeControl([]);
    const start = createJobStarter({ topology: hot, control: () => f.control, savepoints: { get: async () => undefined, put: async () => undefined }, log: silentLogger });
    expect(await start(journal(hot, 'standby'))).toBe('jobs agg-b run hot in room-b: nothing to start');
    const warm = topology('warm');
    const back = createJobStarter({ topology: warm, control: () => f.control, savepoints: { get: async () => undefined, put: async () => undefined }, log: silentLogger });
    expect(await back({ ...journal(warm, 'primary'), to: routeOn(warm, 'live', 'primary', 3) })).toBe('jobs agg-a run hot in room-a: nothing to start');
    expect(f.calls).toEqual([]);
  });
});

describe('stop-jobs: leaving a warm standby stops its jobs with a savepoint', () => {
  it('on the way back to the primary: stopped into the room\'s savepoint directory, recorded for the next start', async () => {
    const t = topology('warm');
    const f = fakeControl([{ jid: 'j5', state: 'RUNNING' }]);
    const recorded: string[] = [];
    const stop = createJobStopper({ topology: t, control: () => f.control, savepoints: { get: async () => undefined, put: async (job, r) => void recorded.push(`${job} ${r.path} by ${r.by}`) }, observer: 'ctl-b', log: silentLogger });
    const back = { ...journal(t, 'primary'), from: routeOn(t, 'live', 'standby', 2), to: routeOn(t, 'live', 'primary', 3) };
    expect(await stop(back)).toBe('warm standby in room-b left: agg-b stopped with savepoint file:///sp/savepoint-j5');
    expect(f.calls).toEqual(['stop j5 into file:///sp']);
    expect(recorded).toEqual(['agg-b file:///sp/savepoint-j5 by ctl-b']);
    // Leaving the primary (a failover) stops nothing; nor does a hot standby.
    expect(await stop(journal(t, 'standby'))).toBe('no warm standby jobs left behind');
    const hot = topology('hot');
    expect(await createJobStopper({ topology: hot, control: () => f.control, savepoints: { get: async () => undefined, put: async () => undefined }, log: silentLogger })({ ...back, from: routeOn(hot, 'live', 'standby', 2) })).toBe('no warm standby jobs left behind');
  });
});
