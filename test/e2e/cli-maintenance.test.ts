import { afterAll, describe, expect, it } from 'vitest';
import { cli, who } from '../support/cli.js';
import { FaultStack } from '../../bench/support/fault-stack.js';
import { killService, LOCAL, services, waitFor, writeScenarioConfig } from '../../bench/support/local-stack.js';
import type { SwitchRecord } from '../../src/core/journal.js';

/** The parts of `status -o json` these tests read. */
interface StatusJson {
  rooms: { room: string; component: string; status: string }[];
  leader: { id: string; since: string | null; ageMs: number | null; leaseRemainingMs: number | null } | null;
  pipelines: Record<string, unknown>[];
}

let stack: FaultStack | undefined;
afterAll(async () => {
  await stack?.stop();
  await services('start', LOCAL.rooms['room-a'].service);
});

describe('switchyard pause / resume / history (built CLI against the real stack)', () => {
  it('a paused pipeline is not failed over; after resume it is, and history shows it once', async () => {
    stack = new FaultStack();
    await stack.createTopic();
    stack.start('ctl-a', 'room-a');
    stack.start('ctl-b', 'room-b');
    const leader = await stack.leader();
    await stack.steady();
    const config = stack.configFile();

    const paused = await cli('pause', 'live-dashboard', '-c', config, '--reason', 'broker upgrade', '--operator', 'alice');
    expect(paused).toMatchObject({ code: 0 });
    expect(paused.stdout).toContain('paused live-dashboard');
    expect((await stack.etcd.get(`${stack.cfg.prefix}/intents/pause/live-dashboard`).json()) as object).toMatchObject({ by: 'alice', reason: 'broker upgrade' });

    killService(LOCAL.rooms['room-a'].service);
    await waitFor('the leader to hold the paused pipeline', 10_000, () => leader.logs.find((l) => l['msg'] === 'verdict' && l['rule'] === 'paused'));
    await new Promise((r) => setTimeout(r, 3000)); // room-a is long DOWN by now
    const none = await cli('history', 'live-dashboard', '-c', config, '-o', 'json');
    expect(JSON.parse(none.stdout)).toEqual([]);

    // status tells the whole story: room-a down, who leads and for how long, and why nothing moved.
    const held = await cli('status', '-c', config, '-o', 'json');
    expect(held.code).toBe(1); // a room is not OK
    const report = JSON.parse(held.stdout) as StatusJson;
    expect(report.rooms.find((r) => r.room === 'room-a' && r.component === 'kafka')?.status).toBe('DOWN');
    expect(report.leader).toMatchObject({ id: leader.name });
    expect(report.leader!.ageMs).toBeGreaterThan(0);
    expect(report.leader!.leaseRemainingMs).toBeGreaterThan(0);
    expect(report.pipelines).toEqual([
      expect.objectContaining({ pipeline: 'live-dashboard', chain: 'primary', room: 'room-a', epoch: 1, paused: expect.objectContaining({ by: 'alice', reason: 'broker upgrade' }), lastSwitch: null, switching: null }),
    ]);
    const table = await cli('status', '-c', config);
    expect(table.stdout).toMatch(new RegExp(`leader: ${leader.name}, leading for \\d+s, lease ends in \\d+s unless renewed`));
    expect(table.stdout).toMatch(/live-dashboard\s+P0\s+primary@room-a\s+1\s+\d+s ago\s+none\s+PAUSED by alice \d+s ago: broker upgrade/);

    expect((await cli('resume', 'live-dashboard', '-c', config)).stdout).toContain('resumed live-dashboard');
    const records = await waitFor('the failover after resume', 15_000, async () => {
      const r = JSON.parse((await cli('history', '-c', config, '-o', 'json')).stdout) as SwitchRecord[];
      return r.length > 0 ? r : undefined;
    });
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ pipeline: 'live-dashboard', kind: 'failover', fromRoom: 'room-a', toRoom: 'room-b', epoch: 2 });
    const text = await cli('history', 'live-dashboard', '-c', config);
    expect(text.stdout).toMatch(/live-dashboard\s+failover\s+primary@room-a\s+standby@room-b\s+2/);
    const after = JSON.parse((await cli('status', '-c', config, '-o', 'json')).stdout) as StatusJson;
    expect(after.pipelines[0]).toMatchObject({ chain: 'standby', room: 'room-b', epoch: 2, paused: null, lastSwitch: { kind: 'failover', epoch: 2, toRoom: 'room-b' } });
  });

  it('bad arguments and unknown pipelines: one clear line, non-zero exit', async () => {
    const config = stack!.configFile();
    const unknown = await cli('pause', 'no-such-pipeline', '-c', config);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.trim()).toBe("switchyard: unknown pipeline 'no-such-pipeline' (known: live-dashboard)");
    const neither = await cli('resume', '-c', config);
    expect(neither.code).toBe(2);
    expect(neither.stderr.trim()).toBe('switchyard: name a pipeline or pass --all');
    expect((await cli('history', 'nope', '-c', config)).code).toBe(2);
  });

  it('switchover: now (waits for the result), scheduled (list, cancel), and refused outside the change window', async () => {
    const config = stack!.configFile();
    // Room-a's broker died in the first test: bring it back and let the leader see it healthy.
    const restarted = Date.now();
    await services('start', LOCAL.rooms['room-a'].service);
    const leader = await stack!.leader();
    await waitFor('room-a healthy again', 30_000, () =>
      leader.logs.find((l) => l['msg'] === 'verdict' && l['rooms'] === 'room-a=OK,room-b=OK' && Date.parse(String(l['time'])) >= restarted),
    );
    const now = await cli('switchover', 'live-dashboard', '--to', 'primary', '-c', config, '--yes', '--reason', 'room-a is back', '--operator', 'bob');
    expect(now.stderr).toBe('');
    expect(now.code).toBe(0);
    expect(now.stdout).toContain(`switchover live-dashboard: standby@room-b (epoch 2) -> primary@room-a now, by ${who('bob')}: room-a is back`);
    expect(now.stdout).toMatch(/done: live-dashboard-e3 standby@room-b -> primary@room-a/);
    const records = JSON.parse((await cli('history', 'live-dashboard', '-c', config, '-o', 'json')).stdout) as SwitchRecord[];
    expect(records.at(-1)).toMatchObject({ kind: 'switchover', requestedBy: who('bob'), toRoom: 'room-a', epoch: 3 });

    const later = await cli('switchover', 'live-dashboard', '--at', '+1h', '-c', config, '--yes', '--reason', 'later');
    expect(later.code).toBe(0);
    const id = /recorded (so-[0-9a-f]+)/.exec(later.stdout)![1]!;
    expect((await cli('switchover', '--list', '-c', config)).stdout).toMatch(new RegExp(`${id}\\s+live-dashboard\\s+standby`));
    expect((await cli('switchover', '--cancel', id, '-c', config)).stdout).toBe(`cancelled ${id}\n`);
    expect((await cli('switchover', '--list', '-c', config)).stdout).toBe('no pending switchovers\n');
    const dry = await cli('switchover', 'live-dashboard', '--dry-run', '-c', config);
    expect(dry.code).toBe(0);
    // The dry run says what switching now would leave behind (nothing: both rooms answer, in sync).
    expect(dry.stdout).toMatch(/^data: switching room-a -> room-b now: no loss/m);
    expect(dry.stdout).toContain('dry run: nothing recorded');

    // A window that is closed now: starts two hours from now (UTC), one hour long.
    const h = (new Date().getUTCHours() + 2) % 24;
    const closed = `${String(h).padStart(2, '0')}:00-${String(h + 1).padStart(2, '0')}:00`;
    const strict = writeScenarioConfig({ ...stack!.cfg, changeWindow: closed });
    const refused = await cli('switchover', 'live-dashboard', '-c', strict, '--yes', '--reason', 'not now');
    expect(refused.code).toBe(1); // a refusal, not bad arguments
    expect(refused.stderr).toContain(`outside the change window ${closed} UTC`);
    expect(refused.stderr).toContain('pass --emergency --reason');
    expect((await cli('switchover', 'live-dashboard', '-c', strict, '--yes', '--emergency')).stderr).toContain('--emergency needs --reason');
    const urgent = await cli('switchover', 'live-dashboard', '-c', strict, '--yes', '--emergency', '--reason', 'room-a power', '--operator', 'carol');
    expect(urgent.code).toBe(0);
    const last = (JSON.parse((await cli('history', 'live-dashboard', '-c', config, '-o', 'json')).stdout) as SwitchRecord[]).at(-1)!;
    expect(last).toMatchObject({ kind: 'switchover', requestedBy: who('carol'), toRoom: 'room-b', epoch: 4 });
    // The controllers run with an all-day window here, so the record says emergency without "outside".
    expect(last.reason).toContain(`by ${who('carol')} (emergency): room-a power`);
  });
});

describe('switchyard failover --force (no controller alive)', () => {
  it('refuses while a leader lives (also a SIGKILLed one, until its lease runs out); then takes leadership and runs the switch', async () => {
    const own = new FaultStack({ leaseTtlSeconds: 5 });
    try {
      await own.createTopic();
      const a = own.start('ctl-a', 'room-a');
      const b = own.start('ctl-b', 'room-b');
      await own.leader();
      await own.steady();
      const config = own.configFile();

      expect((await cli('failover', 'live-dashboard', '--to', 'standby', '-c', config, '--yes')).code).toBe(2);
      const refused = await cli('failover', 'live-dashboard', '--to', 'standby', '--force', '-c', config, '--yes', '--reason', 'test');
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/a live leader exists \(ctl-[ab], leading for \d+s, lease ends in \d+s unless renewed\): use switchyard switchover/);

      // Both controllers die hard: the leader's key lives on until its lease (5 s) runs out.
      a.child.kill('SIGKILL');
      b.child.kill('SIGKILL');
      const early = await cli('failover', 'live-dashboard', '--to', 'standby', '--force', '-c', config, '--yes', '--operator', 'dave', '--reason', 'too early');
      expect(early.code).toBe(1);
      expect(early.stderr).toMatch(/a live leader exists \(ctl-[ab], leading for \d+s, lease ends in \d+s unless renewed\): .*its lease runs out by itself — retry then/);
      expect((await own.routes.get('live-dashboard'))!.route.epoch).toBe(1); // the refusal changed nothing

      const statusNow = JSON.parse((await cli('status', '-c', config, '-o', 'json')).stdout) as StatusJson;
      await new Promise((r) => setTimeout(r, (statusNow.leader?.leaseRemainingMs ?? 0) + 1500));
      const forced = await cli('failover', 'live-dashboard', '--to', 'standby', '--force', '-c', config, '--yes', '--operator', 'dave', '--reason', 'controllers down');
      expect(forced.stderr).toBe('');
      expect(forced.code).toBe(0);
      expect(forced.stdout).toContain(`forced failover live-dashboard: primary@room-a (epoch 1) -> standby@room-b, by ${who('dave')}`);
      expect(forced.stdout).toMatch(/done: live-dashboard-e2 -> standby@room-b/);
      // Both rooms answer and hold the same (no) records: nothing to lose, so no --accept-loss needed.
      expect(forced.stdout).toContain('data: switching room-a -> room-b now: no loss');
      expect((await own.routes.get('live-dashboard'))!.route).toMatchObject({ epoch: 2, room: 'room-b' });
      const history = await own.journals.history('live-dashboard');
      expect(history).toHaveLength(1);
      expect(history[0]).toMatchObject({ kind: 'failover', requestedBy: who('dave'), toRoom: 'room-b' });
      expect(history[0]!.leaders[0]).toMatch(/^cli-dave-\d+$/);
      expect(history[0]!.reason).toContain(`by ${who('dave')}: controllers down`);
    } finally {
      await own.stop();
    }
  });
});
