import { createServer, type Server } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultStack, type Replica } from '../../bench/support/fault-stack.js';
import { EtcdRunbookStore } from '../../src/adapters/etcd/runbook-store.js';
import { EtcdCapStore } from '../../src/adapters/etcd/cap-store.js';
import type { RunbookExport } from '../../src/cli/runbook-view.js';
import { startTraffic, type Traffic } from '../support/traffic.js';
import { cli } from '../support/cli.js';
import { openPage } from '../support/chromium.js';

// The example live-event night (examples/runbooks/live-event.yaml), rehearsed on the real stack at
// 200 times real time (its 8½ hours in under three minutes): the rehearsal clock comes from the
// started runbook through the clock port, not from patching Date. The test acknowledges each step
// that waits for a person with the built CLI, kills the leader (SIGKILL) while the night's
// switchover is under way, and checks that the new leader finished the runbook with no step run
// twice: each step begun and ended once in the controllers' logs, each switch once in history,
// each webhook delivered once, and the report shows it all.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const EVENT = 'new-year-gala';
const SPEED = 200;

let stack: FaultStack;
let replicas: Replica[] = [];
let config: string;
let traffic: Traffic | undefined;
let server: Server;
const hooks: { key: string; kind: string; step: string }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const b = JSON.parse(body) as { kind: string; step: string };
      hooks.push({ key: String(req.headers['idempotency-key']), kind: b.kind, step: b.step });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/hooks/oncall`;
  stack = new FaultStack({ observersRequired: 1, olap: true, webhooks: { oncall: url }, extraTiers: ['P1'] });
  await stack.createTopic();
  replicas = [stack.start('ctl-a', 'room-a'), stack.start('ctl-b', 'room-b')];
  await stack.leader();
  await stack.steady();
  config = stack.configFile();
  traffic = await startTraffic(stack);
});

afterAll(async () => {
  await traffic?.stop();
  await stack?.stop();
  await new Promise((r) => server?.close(r));
});

const status = async (): Promise<RunbookExport> => {
  const r = await cli('runbook', 'status', EVENT, '-c', config, '-o', 'json');
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout) as RunbookExport;
};

describe('runbook on the real stack (built CLI, rehearsal clock)', () => {
  let leaderKilled: string | undefined;

  it('runs the example night: acks by the operator, a leader killed mid-switch, the new leader finishes it, no step runs twice', async () => {
    const valid = await cli('runbook', 'validate', 'examples/runbooks/live-event.yaml', '-c', config);
    expect(valid.stderr).toBe('');
    expect(valid.code).toBe(0);
    const started = await cli('runbook', 'start', 'examples/runbooks/live-event.yaml', '-c', config, '--speed', String(SPEED), '--operator', 'erin', '--yes', '-o', 'json');
    expect(started.stderr).toBe('');
    expect(JSON.parse(started.stdout)).toMatchObject({ started: EVENT, by: 'erin', steps: 14, rehearsal: { speed: SPEED } });
    expect((await cli('runbook', 'start', 'examples/runbooks/live-event.yaml', '-c', config, '--speed', String(SPEED), '--yes')).code).toBe(1);

    const store = new EtcdRunbookStore(stack.etcd, stack.cfg.prefix);
    const acked = new Set<string>();
    const deadline = Date.now() + 240_000;
    // Kill the leader while the night's switchover is under way: 250 ms after its step is written
    // running (a watch, not the polling below: the switch itself takes about a second; the pause
    // lets the leader's own "runbook step ... running" log line out before it dies).
    const killer = await stack.etcd
      .watch()
      .key(`${stack.cfg.prefix}/runbooks/${EVENT}/steps/switch-away`)
      .create();
    let killing = false;
    killer.on('put', (kv) => {
      if (killing || (JSON.parse(kv.value.toString()) as { status?: string }).status !== 'running') return;
      killing = true;
      setTimeout(() => {
        const leader = replicas.find((r) => r.child.exitCode === null && r.firstLog('elected leader') !== undefined && !r.logs.some((l) => l['msg'] === 'leadership lost; stopped acting, campaigning again'));
        if (!leader) return;
        leaderKilled = leader.name;
        leader.child.kill('SIGKILL');
      }, 250);
    });
    for (;;) {
      const rb = await store.get(EVENT);
      if (rb?.ended) break;
      if (Date.now() > deadline) throw new Error(`the runbook did not end within 240 s: ${JSON.stringify([...(rb?.steps ?? [])].map(([id, s]) => [id, s.record.status]))}`);
      // Acknowledge each step that waits for a person, as the operator would, once it is due.
      const x = await status();
      for (const s of x.steps) {
        if (s.state !== 'waiting-ack' || acked.has(s.id)) continue;
        const r = await cli('runbook', 'ack', EVENT, s.id, '-c', config, '--operator', 'erin');
        expect(r.stderr).toBe('');
        expect(r.stdout).toMatch(new RegExp(`^acknowledged ${EVENT}/${s.id} as erin`));
        acked.add(s.id);
      }
      await sleep(150);
    }
    await killer.cancel();
    const x = await status();
    const problems = x.steps.filter((s) => s.state !== 'done').map((s) => `${s.id}: ${s.state}: ${s.result}`);
    expect(problems).toEqual([]);
    expect(x.status).toBe('finished');
    expect([...acked].sort()).toEqual(['caps-on', 'drill', 'hold-maintenance', 'switch-away', 'window-override']);
    expect(leaderKilled).toBeDefined();

    // The operator's acks are on record, with who; the controller's own steps say controller.
    const step = (id: string) => x.steps.find((s) => s.id === id)!;
    expect(step('drill')).toMatchObject({ by: 'erin', ackedBy: 'erin' });
    expect(step('announce')).toMatchObject({ by: 'controller' });
    expect(step('stress-check').checkpoint).toBe('passed');
    expect(step('go-live').result).toMatch(/checkpoint: 2 check\(s\) passed/);

    // No step ran twice: across both controllers' logs, each step was begun once and ended once.
    const logs = replicas.flatMap((r) => r.logs).filter((l) => l['msg'] === 'runbook step' && l['event'] === EVENT);
    for (const s of x.steps) {
      expect(logs.filter((l) => l['step'] === s.id && l['status'] === 'running'), `${s.id} begun`).toHaveLength(1);
      expect(logs.filter((l) => l['step'] === s.id && l['status'] === 'done'), `${s.id} ended`).toHaveLength(1);
    }
    // The new leader carried the switchover on and ran the rest.
    const survivor = replicas.find((r) => r.name !== leaderKilled)!;
    const afterKill = survivor.logs.filter((l) => l['msg'] === 'runbook step' && l['event'] === EVENT).map((l) => l['step']);
    expect(afterKill).toEqual(expect.arrayContaining(['switch-away', 'fail-back', 'unfreeze', 'review']));

    // Each switch the night asked for happened once: the drill's two legs, the switchover and the failback.
    const history = x.switches.filter((s) => s.request?.startsWith(`rb-${EVENT}-`));
    expect(history.map((s) => [s.request, s.from, s.to])).toEqual([
      [`rb-${EVENT}-drill-1`, 'primary@room-a', 'standby@room-b'],
      [`rb-${EVENT}-drill-2`, 'standby@room-b', 'primary@room-a'],
      [`rb-${EVENT}-switch-away`, 'primary@room-a', 'standby@room-b'],
      [`rb-${EVENT}-fail-back`, 'standby@room-b', 'primary@room-a'],
    ]);
    expect(x.switches).toHaveLength(4);
    // Each webhook once, with its idempotency key.
    expect(hooks.map((h) => h.key)).toEqual([`${EVENT}/announce/notify`, `${EVENT}/review/notify`]);
    // The cap was set by the step (with who) and lifted by caps-off.
    expect(x.caps.map((c) => [c.origin, c.after])).toEqual(expect.arrayContaining([['override', 8000]]));
    expect((await new EtcdCapStore(stack.etcd, stack.cfg.prefix).overrides()).has('live-dashboard')).toBe(false);
  }, 330_000);

  it('writes a report that Chromium shows: every step done, four switches and the cap marked on the timeline', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'switchyard-e2e-report-')), 'gala.html');
    const r = await cli('runbook', 'report', EVENT, '-c', config, '--out', file);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^wrote .*gala\.html: 14 steps \(0 failed, \d+ late\), 4 switch\(es\), \d+ cap change\(s\)/);
    const page = await openPage(pathToFileURL(file).href);
    try {
      const shown = await page.evaluate<{ steps: number; bars: number; done: number; switches: number; caps: number; failedRows: number }>(`({
        steps: document.querySelectorAll('svg g.step').length,
        bars: [...document.querySelectorAll('svg g.step rect.actual')].filter((r) => r.getBoundingClientRect().width > 0).length,
        done: document.querySelectorAll('svg g.step.state-done').length,
        switches: document.querySelectorAll('svg g.switch').length,
        caps: document.querySelectorAll('svg g.cap').length,
        failedRows: document.querySelectorAll('table.steps tr.failed').length,
      })`);
      expect(shown).toMatchObject({ steps: 14, bars: 14, done: 14, switches: 4, failedRows: 0 });
      expect(shown.caps).toBeGreaterThanOrEqual(2); // capped, then lifted
    } finally {
      await page.close();
    }
  });
});
