import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli } from '../support/cli.js';
import { FaultStack } from '../../bench/support/fault-stack.js';
import { waitFor } from '../../bench/support/local-stack.js';

// The controller binary keeps the caps from baseline files it re-reads when they change, an
// override wins while it lasts, and the CLI and /metrics show the cap in force.

interface CapsJson {
  caps: { pipeline: string; room: string | null; cap: number | null; origin: string; perTask: number[] | null; reason: string }[];
}

function baseline(dir: string, room: string, rate: number): void {
  mkdirSync(join(dir, 'baselines'), { recursive: true });
  writeFileSync(
    join(dir, 'baselines', `live-dashboard.${room}.yaml`),
    [
      'pipeline: live-dashboard',
      `room: ${room}`,
      `ratePerSecond: ${rate}`,
      'tasks: 4',
      `measuredAt: "${new Date(Date.now() - 86_400_000).toISOString()}"`,
      'measuredBy: e2e',
      'criteria:',
      '  inputLatencyMs: { limit: 1000, measured: 120 }',
      '  backpressureRatio: { limit: 0.1, measured: 0 }',
      '  cpuRatio: { limit: 0.6, measured: 0.3 }',
      '  results: { expected: 1000, measured: 1000 }',
      '',
    ].join('\n'),
  );
}

let stack: FaultStack | undefined;
afterAll(async () => {
  await stack?.stop();
});

describe('caps kept by the controller (built binary, real etcd and Kafka)', () => {
  it('caps from the baseline files and policies, re-read on change; an override wins until unset; caps show, history and /metrics agree', async () => {
    stack = new FaultStack({ observersRequired: 1 });
    await stack.createTopic();
    const config = stack.configFile();
    const dir = dirname(config);
    baseline(dir, 'room-a', 5000);
    const replica = stack.start('ctl-a', 'room-a');
    await stack.leader();
    const capOf = async () => (JSON.parse((await cli('caps', 'show', '-c', config, '-o', 'json')).stdout) as CapsJson).caps.find((c) => c.pipeline === 'live-dashboard');

    // 5,000/s x P0's headroom 0.8, split over the baseline's 4 tasks.
    expect(await waitFor('the baseline cap', 20_000, async () => ((await capOf())?.cap === 4000 ? capOf() : undefined), 250)).toMatchObject({ room: 'room-a', origin: 'baseline', perTask: [1000, 1000, 1000, 1000] });

    // A new stress test result: the file changes, the leader re-reads it.
    baseline(dir, 'room-a', 6000);
    await waitFor('the new baseline applied', 15_000, async () => (await capOf())?.cap === 4800, 250);

    const set = await cli('caps', 'set', 'live-dashboard', '1000', '--reason', 'event day', '--until', '+10m', '--operator', 'erin', '-c', config);
    expect(set.code).toBe(0);
    const overridden = await waitFor('the override applied', 10_000, async () => ((await capOf())?.cap === 1000 ? capOf() : undefined), 250);
    expect(overridden).toMatchObject({ origin: 'override', reason: expect.stringContaining('override by erin') });
    expect(await stack.metric(replica, 'switchyard_cap_records_per_second{pipeline="live-dashboard"}')).toBe(1000);

    expect((await cli('caps', 'unset', 'live-dashboard', '-c', config)).code).toBe(0);
    await waitFor('back to the baseline cap', 10_000, async () => (await capOf())?.cap === 4800, 250);
    // Nothing left to apply: the stored caps are the planned ones.
    const applied = await cli('caps', 'apply', '--no-dry-run', '--timeout', '5', '-c', config);
    expect(applied.code).toBe(0);
    expect(applied.stdout).toContain('applied: the stored caps are the planned ones');
    const text = await cli('caps', 'show', '-c', config);
    expect(text.stdout).toMatch(/live-dashboard\s+room-a\s+4800\/s\s+4 x 1200\s+baseline/);
    // Every change is in the history, with its reason.
    const history = JSON.parse((await cli('history', '--caps', '-c', config, '-o', 'json')).stdout) as { before?: number; after?: number; origin: string; reason: string }[];
    expect(history.map((e) => `${e.before ?? '-'}>${e.after ?? '-'}:${e.origin}`)).toEqual(['->4000:baseline', '4000>4800:baseline', '4800>1000:override', '1000>4800:baseline']);
    expect(history[2]!.reason).toContain('override by erin');

    // The tier's headroom changed in its policy file: the caps follow without a restart.
    appendFileSync(join(dir, 'policies', 'p0.yaml'), 'capHeadroom: 0.5\n');
    await waitFor('the new headroom applied', 15_000, async () => (await capOf())?.cap === 3000, 250);
  }, 120_000);
});
