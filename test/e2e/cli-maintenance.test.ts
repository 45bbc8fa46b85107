import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { FaultStack } from '../../bench/support/fault-stack.js';
import { killService, LOCAL, PROJECT, services, waitFor } from '../../bench/support/local-stack.js';
import type { SwitchRecord } from '../../src/core/journal.js';

const run = promisify(execFile);
async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [PROJECT.resolve('bin/switchyard.js'), ...args], { timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
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

    expect((await cli('resume', 'live-dashboard', '-c', config)).stdout).toContain('resumed live-dashboard');
    const records = await waitFor('the failover after resume', 15_000, async () => {
      const r = JSON.parse((await cli('history', '-c', config, '-o', 'json')).stdout) as SwitchRecord[];
      return r.length > 0 ? r : undefined;
    });
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ pipeline: 'live-dashboard', kind: 'failover', fromRoom: 'room-a', toRoom: 'room-b', epoch: 2 });
    const text = await cli('history', 'live-dashboard', '-c', config);
    expect(text.stdout).toMatch(/live-dashboard\s+failover\s+primary@room-a\s+standby@room-b\s+2/);
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
});
