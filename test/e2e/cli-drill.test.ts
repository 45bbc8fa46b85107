import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultStack, type Replica } from '../../bench/support/fault-stack.js';
import { waitFor } from '../../bench/support/local-stack.js';
import type { DrillReport } from '../../src/cli/commands/drill.js';
import type { SwitchRecord } from '../../src/core/journal.js';
import type { SwitchoverIntent } from '../../src/core/switchover.js';
import type { RoutedConsumer } from '../../src/sdk/routed-consumer.js';
import { startTraffic, type Traffic } from '../support/traffic.js';
import { cli, spawnCli, who } from '../support/cli.js';

// Drills and status --watch with the built CLI against the real stack: two controller replicas,
// a producer writing to both rooms and an SDK consumer whose acknowledgements verify each leg.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let stack: FaultStack;
let replicas: Replica[] = [];
let config: string;
let traffic: Traffic | undefined;
let consumer: RoutedConsumer;

beforeAll(async () => {
  stack = new FaultStack({ verifyTimeoutMs: 8000 });
  await stack.createTopic();
  replicas = [stack.start('ctl-a', 'room-a'), stack.start('ctl-b', 'room-b')];
  await stack.leader();
  await stack.steady();
  config = stack.configFile();
  traffic = await startTraffic(stack);
  consumer = traffic.consumer;
});

afterAll(async () => {
  await traffic?.stop();
  await stack?.stop();
});

const history = async () => JSON.parse((await cli('history', 'live-dashboard', '-c', config, '-o', 'json')).stdout) as SwitchRecord[];

describe('switchyard drill (built CLI, real stack)', () => {
  it('--and-back: two real switches verified by the consumer, a timing report, and both in history as drills', async () => {
    const r = await cli('drill', 'live-dashboard', '--and-back', '--hold', '1s', '-c', config, '--yes', '--operator', 'erin', '--reason', 'monthly drill', '-o', 'json');
    expect(r.code, `${r.stderr}\n${r.stdout}`).toBe(0);
    const report = JSON.parse(r.stdout) as DrillReport;
    console.log(`drill report: ${JSON.stringify(report.legs.map((l) => ({ leg: l.leg, pickupMs: l.pickupMs, flipMs: l.flipMs, firstRecordMs: l.firstRecordMs, switchMs: l.switchMs })))}`);
    expect(report).toMatchObject({ pipeline: 'live-dashboard', by: 'erin', reason: 'monthly drill', ok: true });
    expect(report.legs.map((l) => [l.leg, l.from, l.to, l.outcome])).toEqual([
      [1, 'primary@room-a', 'standby@room-b', 'verified'],
      [2, 'standby@room-b', 'primary@room-a', 'verified'],
    ]);
    for (const leg of report.legs) {
      expect(leg.flipMs).toBeGreaterThanOrEqual(0);
      expect(leg.firstRecordMs).toBeGreaterThanOrEqual(leg.flipMs!); // a consumer reads the new chain after the route moved
      expect(leg.switchMs).toBeGreaterThanOrEqual(leg.firstRecordMs!);
    }
    // Progress went to stderr, because stdout carries the JSON.
    expect(r.stderr).toMatch(/leg 1\/2: live-dashboard-e2 started by ctl-[ab]/);
    expect(r.stderr).toMatch(/leg 2\/2: flip-consumers \+\d+ ms — route primary@room-a written at epoch 3/);

    const records = await history();
    expect(records.map((x) => [x.kind, x.toRoom, x.epoch, x.requestedBy, x.outcome, x.request])).toEqual([
      ['drill', 'room-b', 2, who('erin'), 'verified', `${report.drill}-1`],
      ['drill', 'room-a', 3, who('erin'), 'verified', `${report.drill}-2`],
    ]);
    // The way back waited for the way out plus the hold.
    expect(records[1]!.decidedAt - records[0]!.finishedAt).toBeGreaterThanOrEqual(1000);
    expect(records[0]!.reason).toBe(`drill ${report.drill} (leg 1/2) of live-dashboard from primary@room-a to standby@room-b by ${who('erin')}: monthly drill`);
    await waitFor('the consumer back in room-a', 10_000, () => (consumer.route?.room === 'room-a' && consumer.route.epoch === 3 ? true : undefined));
    expect((await cli('history', 'live-dashboard', '-c', config)).stdout).toMatch(/live-dashboard\s+drill\s+standby@room-b\s+primary@room-a\s+3\s+-\s+\d+ms\s+\d+ms\s+verified\s+-\s+erin/);
  });

  it('cancelling the way back during the hold: the drill reports it, says how to get home, and that command works', async () => {
    const drill = spawnCli('drill', 'live-dashboard', '--and-back', '--hold', '60s', '-c', config, '--yes', '--operator', 'erin', '--reason', 'drill to cancel');
    try {
      const id = await waitFor('the drill to record its legs', 15_000, () => /recorded (dr-[0-9a-f]+)-1 and/.exec(drill.stdout())?.[1]);
      await waitFor('leg 1 done', 20_000, async () => ((await history()).some((x) => x.request === `${id}-1`) ? true : undefined));
      const pending = JSON.parse((await cli('switchover', '--list', '-c', config, '-o', 'json')).stdout) as SwitchoverIntent[];
      expect(pending).toEqual([expect.objectContaining({ id: `${id}-2`, to: 'primary', after: `${id}-1`, holdMs: 60_000, drill: { id, leg: 2, legs: 2 } })]);
      expect((await cli('switchover', '--list', '-c', config)).stdout).toMatch(new RegExp(`${id}-2\\s+live-dashboard\\s+primary\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d UTC(?: \\([^)]*\\))?\\s+erin(?: \\([^)]*\\))?\\s+after ${id}-1`));
      expect((await cli('switchover', '--cancel', `${id}-2`, '-c', config)).stdout).toBe(`cancelled ${id}-2\n`);

      expect(await drill.exited).toBe(1);
      const out = drill.stdout();
      expect(out).toMatch(/1\/2\s+primary@room-a\s+standby@room-b\s+\d+ms\s+\d+ms\s+\d+ms\s+\d+ms\s+verified/);
      expect(out).toMatch(/2\/2\s+standby@room-b\s+primary@room-a\s+-\s+-\s+-\s+-\s+gone: cancelled before it ran/);
      expect(out).toContain(`drill ${id} did not pass`);
      const hint = /to bring it home: switchyard (switchover live-dashboard --to primary -c \S+)/.exec(out);
      expect(hint).not.toBeNull();
      expect((await stack.routes.get('live-dashboard'))!.route).toMatchObject({ chain: 'standby', epoch: 4 });

      const home = await cli(...hint![1]!.split(' '), '--yes', '--reason', 'drill cancelled, going home');
      expect(home.code).toBe(0);
      expect(home.stdout).toMatch(/done: live-dashboard-e5 standby@room-b -> primary@room-a/);
    } finally {
      drill.child.kill('SIGKILL');
    }
  });

  it('status --watch -o json: one report per line until Ctrl-C, then exits by itself', async () => {
    const watch = spawnCli('status', '-c', config, '--watch', '--interval', '0.5', '-o', 'json');
    try {
      await waitFor('three refreshes', 20_000, () => (watch.stdout().split('\n').filter(Boolean).length >= 3 ? true : undefined));
      watch.child.kill('SIGINT');
      const code = await Promise.race([watch.exited, sleep(5000).then(() => 'still running')]);
      expect([0, 1]).toContain(code); // the last refresh's verdict, not a crash
      const lines = watch.stdout().split('\n').filter(Boolean);
      const reports = lines.map((l) => JSON.parse(l) as { at: string; leader: { id: string } | null; pipelines: { epoch: number }[] });
      expect(new Set(reports.map((x) => x.at)).size).toBe(reports.length);
      const epoch = (await stack.routes.get('live-dashboard'))!.route.epoch;
      expect(reports.map((x) => [x.leader?.id.startsWith('ctl-'), x.pipelines[0]!.epoch])).toEqual(reports.map(() => [true, epoch]));
    } finally {
      watch.child.kill('SIGKILL');
    }
  });

  it('refuses, recording nothing: bad arguments, an unknown pipeline, and (last) no leader to carry it out', async () => {
    const hold = await cli('drill', 'live-dashboard', '--hold', '10s', '-c', config, '--yes');
    expect([hold.code, hold.stderr]).toEqual([2, 'switchyard: --hold only makes sense with --and-back\n']);
    const bad = await cli('drill', 'live-dashboard', '--and-back', '--hold', 'soon', '-c', config, '--yes');
    expect([bad.code, bad.stderr]).toEqual([2, "switchyard: --hold 'soon' is not a duration like 30s, 5m or 1h, of at most a week\n"]);
    const unknown = await cli('drill', 'nope', '-c', config, '--yes');
    expect([unknown.code, unknown.stderr]).toEqual([2, "switchyard: unknown pipeline 'nope' (known: live-dashboard)\n"]);
    const chain = await cli('drill', 'live-dashboard', '--to', 'primary', '-c', config, '--yes', '--reason', 'nowhere to go');
    const noReason = await cli('drill', 'live-dashboard', '-c', config, '--yes');
    expect([noReason.code, noReason.stderr]).toEqual([2, 'switchyard: say why with --reason "...": every switch is recorded with who asked and why\n']);
    expect([chain.code, chain.stderr]).toEqual([2, 'switchyard: live-dashboard already runs on primary@room-a\n']);
    const dry = await cli('drill', 'live-dashboard', '--and-back', '--dry-run', '-c', config);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/leg 2\/2 {2}standby@room-b -> primary@room-a {2}when leg 1 is done/);

    await Promise.all(replicas.map((r) => r.stop())); // SIGTERM: every controller resigns
    await waitFor('no leader', 10_000, async () => ((await cli('status', '-c', config, '-o', 'json')).stdout.includes('"leader": null') ? true : undefined), 250);
    const orphan = await cli('drill', 'live-dashboard', '-c', config, '--yes', '--reason', 'orphan');
    expect([orphan.code, orphan.stderr]).toEqual([1, 'switchyard: no controller leads: a drill is carried out by the leader (start one, or see switchyard status)\n']);
    const now = await cli('switchover', 'live-dashboard', '-c', config, '--yes', '--reason', 'orphan');
    expect([now.code, now.stderr]).toEqual([1, 'switchyard: no controller leads, so nobody would carry it out; nothing recorded (start a controller, or use switchyard failover --force)\n']);
    expect((await cli('switchover', '--list', '-c', config)).stdout).toBe('no pending switchovers\n');
  });
});
