import { afterEach, describe, expect, it } from 'vitest';
import { FaultStack, type Replica } from '../../bench/support/fault-stack.js';
import { LOCAL, PROJECT, services, waitFor } from '../../bench/support/local-stack.js';
import { loadPolicies } from '../../src/config/load.js';
import { cli } from '../support/cli.js';
import { jobFailedAt, runJobFailover } from '../../bench/scenarios/job-failover.js';
import { feedJob } from '../../bench/support/traffic.js';

// Switching on what the stream jobs say (issue 14), on the local stack's real Flink per room:
// room-a runs dashboard-agg-a, room-b dashboard-agg-b; the pipeline's chains name them.

const P0 = loadPolicies(PROJECT.resolve('policies')).get('P0')!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let stack: FaultStack | undefined;
const broken = new Set<'flink-a' | 'flink-b'>();
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
  // A job that failed stays FAILED: its cluster is started again, with a fresh job.
  for (const svc of broken) {
    await services('fault', svc, 'clear');
    await services('stop', svc);
    await services('start', svc);
  }
  broken.clear();
});

/** Two replicas (room-a's and room-b's) on a stack whose chains name the rooms' Flink jobs, in steady state. */
async function twoReplicas(over: ConstructorParameters<typeof FaultStack>[0] = {}): Promise<{ s: FaultStack; a: Replica; b: Replica }> {
  const s = (stack = new FaultStack({ flink: true, ...over }));
  await s.createTopic();
  const a = s.start('ctl-a', 'room-a');
  const b = s.start('ctl-b', 'room-b');
  await s.leader();
  await s.steady();
  return { s, a, b };
}

const verdicts = (r: Replica, rule: string) => r.logs.filter((l) => l['msg'] === 'verdict' && l['rule'] === rule);

describe('switching on stream-job health (real Flink per room)', () => {
  it('at start the controller warns, by name, about a job its room\'s Flink does not run; status shows every job', async () => {
    const { readFileSync, writeFileSync } = await import('node:fs');
    const { randomId, startController, writeScenarioConfig } = await import('../../bench/support/local-stack.js');
    const id = randomId();
    const file = writeScenarioConfig({ prefix: `/switchyard-jobs-${id}`, topic: `jobs-${id}`, group: `jobs-${id}`, pipeline: 'live-dashboard', probeIntervalMs: 250, fallAfter: 3, marginMs: 2000, observersRequired: 1, flink: true });
    writeFileSync(file, readFileSync(file, 'utf8').replace('jobs: [dashboard-agg-b]', 'jobs: [dashboard-agg-typo]'));
    const c = startController(file, 'ctl-check', 'room-a');
    try {
      const warned = await waitFor('the warning', 20_000, () => c.logs.find((l) => l['msg'] === 'stream job not found'));
      expect(warned).toMatchObject({ room: 'room-b', job: 'dashboard-agg-typo' });
      expect(c.logs.filter((l) => l['msg'] === 'stream job not found')).toHaveLength(1);
      const status = JSON.parse((await cli('status', '-c', file, '-o', 'json')).stdout) as { jobs: { room: string; job: string; state: string }[] };
      expect(status.jobs.map((j) => `${j.room}/${j.job}=${j.state}`)).toEqual(['room-a/dashboard-agg-a=RUNNING', 'room-b/dashboard-agg-typo=MISSING']);
    } finally {
      await c.stop();
    }
  });

  it(`the primary job fails: the pipeline flips within P0's RTO (${P0.rtoObjectiveMs} ms) of the failure, losing nothing`, async () => {
    // Three replicas (a room each and a witness), as the README deploys them; the demo's third act.
    const r = await runJobFailover();
    console.log(`job failure: FAILED -> decision ${r.failedToDecisionMs} ms, -> first record in room-b ${r.failedToFirstRecordMs} ms (objective ${P0.rtoObjectiveMs} ms); ${r.acknowledged} acknowledged by room-b, ${r.lost} lost; reason: ${r.reason}`);
    expect(r.failedToFirstRecordMs).toBeLessThan(P0.rtoObjectiveMs);
    expect(r.lost).toBe(0);
    expect(r.acknowledged).toBeGreaterThan(500);
    expect(r.reason).toMatch(/room-a stream dashboard-agg-a is DOWN per [23]\/2 observer room\(s\).*job is FAILED/);
  });

  it('checkpoints that stall past the tier\'s limit: the pipeline flips', async () => {
    const { a } = await twoReplicas({ streamJobs: { maxCheckpointAgeMs: 6000 } });
    broken.add('flink-a');
    await services('fault', 'flink-a', 'ckstall');
    const history = await waitFor('the failover', 40_000, async () => {
      const h = await stack!.journals.history('live-dashboard');
      return h.length > 0 ? h : undefined;
    });
    expect(history[0]).toMatchObject({ kind: 'failover', fromRoom: 'room-a', toRoom: 'room-b' });
    expect(history[0]!.reason).toMatch(/newest completed checkpoint is \d+ ms old \(the tier allows 6000 ms\)/);
    expect(a.child.exitCode).toBeNull();
  });

  it('back-pressure alone degrades the chain and never flips it', async () => {
    const { s, a, b } = await twoReplicas();
    const stopFeed = await feedJob('room-a');
    try {
      broken.add('flink-a');
      await services('fault', 'flink-a', 'slow', '50');
      const degraded = await waitFor('a verdict naming the back-pressure', 90_000, () =>
        [a, b].flatMap((r) => r.logs).find((l) => l['msg'] === 'verdict' && String(l['reason']).includes('backpressure high')),
      500);
      expect(String(degraded['reason'])).toMatch(/DEGRADED/);
      await sleep(8000);
      expect(await s.journals.history('live-dashboard')).toEqual([]);
      expect((await s.routes.get('live-dashboard'))!.route).toMatchObject({ epoch: 1, room: 'room-a' });
    } finally {
      await stopFeed();
    }
  });

  it('the standby\'s job has failed: no failover to it, and a switchover to it is refused, saying why', async () => {
    const { s, a, b } = await twoReplicas();
    const stopFeed = await feedJob('room-b');
    try {
      broken.add('flink-b');
      await services('fault', 'flink-b', 'poison');
      await jobFailedAt('room-b');
      // Now the primary's job fails too: there is nowhere healthy to go.
      const stopFeedA = await feedJob('room-a');
      broken.add('flink-a');
      await services('fault', 'flink-a', 'poison');
      await jobFailedAt('room-a');
      const held = await waitFor('the leader to find no healthy standby', 30_000, () => [a, b].flatMap((r) => verdicts(r, 'no-healthy-standby'))[0], 250);
      await stopFeedA();
      expect(String(held['reason'])).toMatch(/dashboard-agg-b/);
      expect(String(held['reason'])).toMatch(/FAILED/);
      const refused = await cli('switchover', 'live-dashboard', '--to', 'standby', '--reason', 'try anyway', '--yes', '-c', s.configFile());
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/refused by the leader: target chain standby@room-b cannot serve: .*dashboard-agg-b.*FAILED/);
      expect(await s.journals.history('live-dashboard')).toEqual([]);
    } finally {
      await stopFeed();
    }
  });
});
