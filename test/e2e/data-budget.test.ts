import { afterAll, describe, expect, it } from 'vitest';
import { FaultStack } from '../../bench/support/fault-stack.js';
import { LOCAL, killService, services, waitFor } from '../../bench/support/local-stack.js';
import { withGap } from '../../bench/scenarios/data-gap.js';
import { cli } from '../support/cli.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Issue 12 (a, c): the standby stopped receiving 10 s before the primary died. P0 (maxLossMs 0)
// must wait maxWaitMs for it to catch up, then refuse, naming the estimate; the estimate must be
// within 10% of what a consumer switched to the standby would really have lost. Then the records
// only room-a held reach the consumers after all, by an operator's backfill or the leader's.
describe('data-aware failover on real Kafka', () => {
  let stack: FaultStack | undefined;
  afterAll(async () => {
    await stack?.stop();
    await services('start', LOCAL.rooms['room-a'].service);
  });

  // The consumer is held from the kill until the decision: one that kept working through what it
  // had fetched changed the loss under the controller (it once caught up, and the failover rightly
  // lost nothing, so the refusal this test waits for never came). The log around the kill is
  // printed if the refusal does not come.
  it('a standby 10 s behind: P0 waits, then refuses with an estimate within 10% of the real loss; forced, then backfilled, nothing is lost', async () => {
    await stack?.stop();
    await services('start', LOCAL.rooms['room-a'].service);
    stack = new FaultStack({ observersRequired: 1, maxLossMs: 0, maxWaitMs: 3000, marginMs: 2000 });
    await stack.createTopic();
    const ctl = stack.start('ctl-a', 'room-a');
    await stack.leader();
    await stack.steady();

    const { consumer, processed, counts, writtenOnlyToA, hold, fast, close } = await withGap(stack);
    try {
      // Before anything fails, the controller already says it: consumers behind, the standby
      // behind, and what a failover now would lose.
      const lagNow = await stack.metric(ctl, 'switchyard_consumer_lag_records');
      const lossNow = await stack.metric(ctl, 'switchyard_failover_loss_estimate_records');
      const gapNow = await stack.metric(ctl, 'switchyard_standby_gap_seconds');
      console.log(`before the kill: lag ${lagNow} record(s), failover loss estimate ${lossNow} record(s), standby gap ${gapNow} s`);
      expect(lagNow).toBeGreaterThan(100);
      expect(lossNow).toBeGreaterThan(100);
      expect(gapNow).toBeGreaterThan(3);

      hold();
      const killedAt = killService(LOCAL.rooms['room-a'].service);
      const stop = await waitFor('the data budget to refuse', 30_000, () =>
        ctl.logs.find((l) => l['msg'] === 'verdict' && l['rule'] === 'data-budget-stop' && Date.parse(String(l['time'])) >= killedAt),
      ).catch((err: Error) => {
        const around = ctl.logs.filter((l) => Date.parse(String(l['time'])) >= killedAt - 3000).slice(0, 40);
        console.log(`controller log around the kill:\n${around.map((l) => JSON.stringify(l).slice(0, 500)).join('\n')}`);
        throw err;
      });
      const waited = ctl.logs.find((l) => l['msg'] === 'verdict' && l['rule'] === 'data-budget-retry' && Date.parse(String(l['time'])) >= killedAt);
      expect(waited).toBeDefined();
      // It waited maxWaitMs (3 s) before refusing.
      expect(Date.parse(String(stop['time'])) - Date.parse(String(waited!['time']))).toBeGreaterThanOrEqual(2500);
      const reason = String(stop['reason']);
      const estimated = Number(/\((?:at least )?(\d+) record\(s\) in all\)/.exec(reason)?.[1]);
      // What a consumer moved to room-b would never see: records only room-a had, not yet processed.
      const measured = writtenOnlyToA.filter((s) => !processed.has(s)).length;
      // Measured while the consumer is still held, as the estimate was made; then it works again.
      fast();
      console.log(`data budget: ${reason}\nestimated ${estimated} record(s), measured ${measured} (${writtenOnlyToA.length} only in room-a, ${processed.size} processed)`);
      expect(reason).toMatch(/refusing without --force/);
      expect(Number.isFinite(estimated)).toBe(true);
      expect(measured).toBeGreaterThan(100);
      expect(Math.abs(estimated - measured)).toBeLessThanOrEqual(Math.ceil(measured * 0.1));
      // And the route did not move.
      await sleep(1000);
      expect((await stack.routes.get(stack.cfg.pipeline))!.route).toMatchObject({ room: 'room-a', epoch: 1 });

      // `status` says what a failover now would lose (from the last samples room-a's observer published).
      const status = JSON.parse((await cli('status', '-c', stack.configFile(), '-o', 'json')).stdout) as { pipelines: { data: { failoverLossRecords: number; failoverNow: string } }[] };
      expect(status.pipelines[0]!.data.failoverLossRecords).toBeGreaterThan(100);
      expect(status.pipelines[0]!.data.failoverNow).toMatch(/^\d+ record\(s\) lost$/);
      // `plan` shows the same: it would wait for the standby, and what a failover now would lose.
      const plan = JSON.parse((await cli('plan', '-c', stack.configFile(), '-o', 'json')).stdout) as { verdicts: { rule: string; data: string | null; lag: unknown }[] };
      expect(plan.verdicts[0]!.rule).toMatch(/^data-budget-(retry|stop)$/);
      expect(plan.verdicts[0]!.data).toMatch(/^switching room-a -> room-b now: \d+ record\(s\) lost/);

      // The controllers are gone too: an operator forces it. The CLI prints the estimate (from the
      // last positions the observer published before room-a died) and wants --accept-loss.
      await ctl.stop();
      const config = stack.configFile();
      const refused = await cli('failover', stack.cfg.pipeline, '--to', 'standby', '--force', '-c', config, '--yes', '--operator', 'erin', '--reason', 'room-a gone');
      console.log(refused.stdout + refused.stderr);
      expect(refused.code).toBe(1);
      expect(refused.stdout).toMatch(/^data: switching room-a -> room-b now: \d+ record\(s\) lost/m);
      expect(refused.stdout).toMatch(/room-a: does not answer here .*; last published sample \d+ s old/);
      expect(refused.stderr).toMatch(/this switch would lose about \d+ record\(s\): nothing done; add --accept-loss/);
      const cliEstimate = Number(/now: (\d+) record/.exec(refused.stdout)?.[1]);
      expect(Math.abs(cliEstimate - measured)).toBeLessThanOrEqual(Math.ceil(measured * 0.2));
      const forced = await cli('failover', stack.cfg.pipeline, '--to', 'standby', '--force', '--accept-loss', '-c', config, '--yes', '--operator', 'erin', '--reason', 'room-a gone');
      expect(forced.code).toBe(0);
      const [record] = await stack.journals.history(stack.cfg.pipeline);
      expect(record!.reason).toMatch(/room-a gone; data: switching room-a -> room-b now: \d+ record\(s\) lost .*; loss accepted by erin/);
      expect(record!.gap?.sourceRoom).toBe('room-a');
      await waitFor('the consumer in room-b', 20_000, () => consumer.route?.room === 'room-b');
      const lostBefore = writtenOnlyToA.filter((s) => !processed.has(s)).length;

      // Room-a comes back: the backfill copies what only it held into room-b, where the consumer reads.
      const gone = await cli('backfill', stack.cfg.pipeline, '-c', config);
      expect(gone.code).toBe(1);
      expect(gone.stderr).toMatch(/room-a does not answer, so its gap cannot be read yet/);
      await services('start', LOCAL.rooms['room-a'].service);
      const dry = await cli('backfill', stack.cfg.pipeline, '-c', config, '--dry-run');
      expect(dry.code).toBe(0);
      expect(dry.stdout).toMatch(/live-dashboard-e2: room-a -> room-b, switched .* \(dry run: nothing copied\)/);
      const copied = await cli('backfill', stack.cfg.pipeline, '-c', config, '-o', 'json');
      console.log(copied.stdout.slice(0, 1500) + copied.stderr);
      expect(copied.code).toBe(0);
      await waitFor('every record only room-a had, processed after all', 30_000, () => writtenOnlyToA.every((s) => processed.has(s)));
      const again = await cli('backfill', stack.cfg.pipeline, '-c', config);
      expect(again.stdout).toContain('every gap is copied');
      // History shows the estimate made before the switch against what the backfill found after it.
      const [shown] = JSON.parse((await cli('history', stack.cfg.pipeline, '-c', config, '-o', 'json')).stdout) as { data: { estimatedLoss: number; backfill: { status: string; foundInOldRoom: number; copied: number } } }[];
      expect(shown!.data.backfill.status).toBe('done');
      expect(shown!.data.estimatedLoss).toBeGreaterThan(0);
      expect(shown!.data.backfill.copied).toBeGreaterThanOrEqual(lostBefore);
      console.log(`backfill: lost before ${lostBefore}, after ${writtenOnlyToA.filter((s) => !processed.has(s)).length}; processed twice ${[...counts.values()].filter((n) => n > 1).length}`);
      expect([...counts.values()].filter((n) => n > 1).length).toBe(0);
    } finally {
      await close();
    }
  });

  it('a loss within the tier\'s budget: the automatic failover records the gap, and the leader backfills it once room-a is back', async () => {
    await stack?.stop();
    await services('start', LOCAL.rooms['room-a'].service);
    stack = new FaultStack({ observersRequired: 1, maxLossMs: 60_000, backfill: 'automatic', marginMs: 2000 });
    await stack.createTopic();
    const ctl = stack.start('ctl-a', 'room-a');
    await stack.leader();
    await stack.steady();
    const { consumer, processed, counts, writtenOnlyToA, hold, fast, close } = await withGap(stack);
    try {
      hold();
      killService(LOCAL.rooms['room-a'].service);
      // The consumer moves (and works again) once the switch is decided.
      await waitFor('the failover decision', 30_000, () => ctl.logs.find((l) => l['msg'] === 'switch started'));
      fast();
      const [record] = await waitFor('the automatic failover', 30_000, async () => {
        const h = await stack!.journals.history(stack!.cfg.pipeline);
        return h.length > 0 ? h : undefined;
      });
      expect(record!.gap?.sourceRoom).toBe('room-a');
      expect(record!.reason).toMatch(/data: within the data budget: estimated loss \d+ ms \(\d+ record\(s\) in all\)/);
      await waitFor('the consumer in room-b', 20_000, () => consumer.route?.room === 'room-b');
      const lostBefore = writtenOnlyToA.filter((s) => !processed.has(s)).length;
      expect(lostBefore).toBeGreaterThan(50);
      await services('start', LOCAL.rooms['room-a'].service);
      await waitFor('the leader to backfill what only room-a had', 60_000, () => writtenOnlyToA.every((s) => processed.has(s)));
      // The copy lands before the leader saves its last progress and says so.
      await waitFor('the leader to report the backfill', 10_000, () => ctl.logs.some((l) => l['msg'] === 'backfill finished'));
      console.log(`automatic backfill: lost before ${lostBefore}, after 0; processed twice ${[...counts.values()].filter((n) => n > 1).length}`);
      // At 3 a.m. the next question is how to come back: plan says when, and what to run.
      const plan = await cli('plan', '-c', stack.configFile());
      expect(plan.stdout).toContain('not on the primary, and failback is manual:');
      expect(plan.stdout).toMatch(/live-dashboard: once primary@room-a is healthy again .*run: switchyard switchover live-dashboard --to primary -c /);
      expect([...counts.values()].filter((n) => n > 1).length).toBe(0);
    } finally {
      await close();
    }
  });
});
