import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Etcd3 } from 'etcd3';
import { createEtcdClient } from '../../src/adapters/etcd/client.js';
import { EtcdLeaderLock } from '../../src/adapters/etcd/leader-lock.js';
import { EtcdRunbookStore } from '../../src/adapters/etcd/runbook-store.js';
import { EtcdIntentStore } from '../../src/adapters/etcd/intent-store.js';
import { EtcdCapStore } from '../../src/adapters/etcd/cap-store.js';
import { EtcdJournalStore } from '../../src/adapters/etcd/journal-store.js';
import { WebhookNotifier } from '../../src/adapters/system/webhook-notifier.js';
import { RunbookKeeper, type RunbookInput } from '../../src/controller/runbook-keeper.js';
import { compileRunbook } from '../../src/config/runbook.js';
import type { RunbookFacts, StartedRunbook } from '../../src/core/runbook.js';
import type { Route } from '../../src/core/model.js';
import type { Leadership } from '../../src/ports/leader-lock.js';
import { silentLogger } from '../../src/ports/logger.js';
import { LOCAL, randomId } from '../../bench/support/local-stack.js';
import { routeOn, testPipeline, testPolicy, testTopology } from '../support/model.js';

// The leader's runbook keeping on a real etcd and a real webhook receiver on loopback, with a
// clock the test moves: steps in order and once, acks, checkpoints that wait, timeouts that page,
// fencing, a new leader carrying a running step on, change windows and overrides, abort.

const MIN = 60_000;
const T0 = Date.UTC(2026, 11, 31, 12, 0); // 12:00 UTC
const topology = testTopology([testPipeline('live')], [testPolicy({ tier: 'P0', changeWindows: { timeZone: 'UTC', windows: [{ fromMinute: 0, toMinute: 8 * 60 }] } })]);

interface Hook {
  readonly key: string;
  readonly body: { kind: string; step: string; message: string };
}

describe('RunbookKeeper on a real etcd', () => {
  let etcd: Etcd3;
  const prefix = `/switchyard-it-${randomId()}`;
  let lock: EtcdLeaderLock;
  let leadership: Leadership;
  let server: Server;
  let url = '';
  const hooks: Hook[] = [];
  let failHooks = 0;

  beforeAll(async () => {
    etcd = createEtcdClient({ endpoints: [LOCAL.etcd] });
    lock = new EtcdLeaderLock(etcd, prefix, 'it-leader', 5, silentLogger);
    leadership = await lock.campaign(new AbortController().signal);
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        if (failHooks > 0) {
          failHooks--;
          res.writeHead(503).end();
          return;
        }
        hooks.push({ key: String(req.headers['idempotency-key']), body: JSON.parse(body) as Hook['body'] });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`;
  });
  afterAll(async () => {
    await lock.resign().catch(() => undefined);
    await etcd.delete().prefix(prefix).exec();
    etcd.close();
    await new Promise((r) => server.close(r));
  });

  function keeper(now: () => number) {
    return new RunbookKeeper({
      store: new EtcdRunbookStore(etcd, prefix),
      intents: new EtcdIntentStore(etcd, prefix),
      caps: new EtcdCapStore(etcd, prefix),
      journals: new EtcdJournalStore(etcd, prefix),
      notifier: new WebhookNotifier({ attempts: 3, initialDelayMs: 10, maxDelayMs: 20, timeoutMs: 1000 }),
      webhooks: new Map([['oncall', url]]),
      topology,
      clock: { now, sleep: async () => undefined },
      log: silentLogger,
    });
  }

  const facts = (over: Partial<RunbookFacts> = {}): RunbookFacts => ({
    lagRecords: new Map([['live', 500]]),
    standbyGapMs: new Map([['live', 100]]),
    p0Standbys: [{ pipeline: 'live', chain: 'standby', room: 'room-b', status: 'OK', reason: 'ok' }],
    olapDelaySec: new Map(),
    switchesInProgress: [],
    ...over,
  });
  const input = (f: RunbookFacts, route: Route = routeOn(topology, 'live', 'primary')): RunbookInput => ({ facts: f, routes: new Map([['live', route]]), intents: undefined });

  async function start(event: string, phases: unknown, page = true): Promise<void> {
    const runbook = compileRunbook(`${event}.yaml`, { event, t0: new Date(T0).toISOString(), timeZone: 'UTC', ...(page && { page: 'oncall' }), phases }, topology, new Set(['oncall']));
    const started: StartedRunbook = { runbook, startedBy: 'it', startedAt: T0 - 2 * 60 * MIN };
    expect(await new EtcdRunbookStore(etcd, prefix).start(started)).toBe(true);
    expect(await new EtcdRunbookStore(etcd, prefix).start(started)).toBe(false); // create-only
  }
  const records = async (event: string) => {
    const rb = await new EtcdRunbookStore(etcd, prefix).get(event);
    return new Map([...(rb?.steps ?? [])].map(([id, s]) => [id, s.record]));
  };

  it('runs each step once and in order: acks, a checkpoint that waits for the state, a webhook with its key, a timeout that pages; a deposed leader writes nothing', async () => {
    await start('night', {
      before: [
        { id: 'standbys', at: 'T-1h', owner: 'sre', action: { check: {} }, checks: [{ p0StandbysHealthy: {} }] },
        { id: 'freeze', at: 'T-30m', owner: 'sre', action: { freeze: { tiers: ['P0'] } } },
        { id: 'tell', after: 'freeze', owner: 'controller', action: { notify: { webhook: 'oncall', message: 'frozen' } } },
      ],
      during: [
        { id: 'caps-on', at: 'T', owner: 'data', action: { cap: { pipeline: 'live', rate: 500, until: 'T+2h' } }, needsAck: true, timeout: '10m', onFailure: 'page' },
        { id: 'lag-ok', at: 'T+10m', owner: 'sre', action: { check: {} }, checks: [{ lagBelow: { pipeline: 'live', records: 100 } }], timeout: '5m', onFailure: 'continue' },
        { id: 'hold', at: 'T+20m', owner: 'sre', action: { pause: { pipeline: 'live' } } },
        { id: 'unhold', after: 'hold', delay: '1m', owner: 'sre', action: { resume: { pipeline: 'live' } } },
      ],
      after: [{ id: 'sign-off', at: 'T+40m', owner: 'lead', action: { check: {} }, needsAck: true, timeout: '5m', onFailure: 'page' }],
    });
    let now = T0 - 61 * MIN;
    const k = keeper(() => now);
    const round = async (f = facts()) => expect(await k.round(input(f), leadership.fence, leadership.lost)).toBe('ok');
    const store = new EtcdRunbookStore(etcd, prefix);
    const intents = new EtcdIntentStore(etcd, prefix);

    await round();
    expect((await records('night')).size).toBe(0); // nothing due yet
    now = T0 - 60 * MIN;
    await round();
    expect((await records('night')).get('standbys')).toMatchObject({ status: 'done', by: 'controller', checkpoint: 'passed', startedAt: now, endedAt: now });

    now = T0 - 30 * MIN;
    failHooks = 1; // the webhook fails once: the bounded retry gets it through
    await round();
    expect((await intents.freezes()).map((f) => [f.tier, f.event])).toEqual([['P0', 'night']]);
    now += 1000;
    await round(); // `tell` is planned at freeze's end: due now
    const r1 = await records('night');
    expect(r1.get('freeze')).toMatchObject({ status: 'done', result: 'froze: P0' });
    expect(r1.get('tell')).toMatchObject({ status: 'done', result: 'notified oncall (2 attempt(s))' });
    expect(hooks.map((h) => h.key)).toEqual(['night/tell/notify']);

    // caps-on needs an ack: due at T, it waits for one.
    now = T0 + MIN;
    await round();
    expect((await records('night')).get('caps-on')).toBeUndefined();
    expect(await store.ack('night', 'caps-on', { by: 'erin', at: now })).toBe(true);
    expect(await store.ack('night', 'caps-on', { by: 'bob', at: now })).toBe(false);
    await round();
    expect((await records('night')).get('caps-on')).toMatchObject({ status: 'done', by: 'erin', ackedBy: 'erin' });
    const override = (await new EtcdCapStore(etcd, prefix).overrides()).get('live');
    expect(override).toMatchObject({ recordsPerSecond: 500, by: 'erin', until: T0 + 120 * MIN });

    // A checkpoint that does not hold yet keeps the step running, saying why; it passes once the state is right.
    now = T0 + 10 * MIN;
    await round();
    expect((await records('night')).get('lag-ok')).toMatchObject({ status: 'running', acted: true, result: 'checked; checkpoint waits: live: consumer lag 500 record(s), not below 100' });
    now = T0 + 11 * MIN;
    await round(facts({ lagRecords: new Map([['live', 40]]) }));
    expect((await records('night')).get('lag-ok')).toMatchObject({ status: 'done', checkpoint: 'passed' });

    // A deposed leader (its fence gone) can begin nothing.
    now = T0 + 20 * MIN;
    const stale = { key: leadership.fence.key, createRevision: '1' };
    expect(await k.round(input(facts()), stale, new AbortController().signal)).toBe('fenced');
    expect((await records('night')).get('hold')).toBeUndefined();
    await round();
    expect((await intents.pauses()).map((p) => p.pipeline)).toEqual(['live']);
    now = T0 + 21 * MIN;
    await round();
    expect((await records('night')).get('unhold')).toMatchObject({ status: 'done', result: 'resumed live' });
    expect(await intents.pauses()).toEqual([]);

    // No ack for sign-off within its 5 minutes: it fails and pages; the runbook then ends.
    now = T0 + 46 * MIN;
    await round();
    const last = (await records('night')).get('sign-off');
    expect(last).toMatchObject({ status: 'failed' });
    expect(last?.result).toMatch(/^timed out: no ack within 5m of its planned time; paged oncall \(1 attempt\(s\)\)$/);
    expect(hooks.map((h) => h.key)).toEqual(['night/tell/notify', 'night/sign-off/page']);
    expect(hooks[1]!.body).toMatchObject({ kind: 'page', step: 'sign-off' });
    now += 1000;
    await round();
    const ended = await store.get('night');
    expect(ended?.ended).toMatchObject({ outcome: 'finished', summary: '7 done, 1 failed' });
    // Every step ran once: one webhook per notify/page, nothing more after the end.
    await round();
    expect(hooks).toHaveLength(2);
  });

  it('outside the change window, with no override, a switch step fails saying how to proceed', async () => {
    await start('switchy', {
      during: [{ id: 'away', at: 'T+1m', owner: 'sre', action: { switchover: { pipeline: 'live', to: 'standby' } }, timeout: '30m' }],
    });
    // At T+1m (12:01 UTC) the P0 window (00:00-08:00) is shut: without an override the step fails, saying how to proceed.
    const now = T0 + 2 * MIN;
    const k = keeper(() => now);
    await k.round(input(facts()), leadership.fence, leadership.lost);
    const r = (await records('switchy')).get('away');
    expect(r?.status).toBe('failed');
    expect(r?.result).toMatch(/^it is 12:02 in UTC, outside the change window 00:00-08:00 UTC; add an overrideWindow step for P0 before this one$/);
  });

  it('with an override the switch is asked for once, naming it; a refusal fails the step; a second leader asks for nothing again', async () => {
    await start('override', {
      during: [
        { id: 'ok-late', at: 'T', owner: 'lead', action: { overrideWindow: { tiers: ['P0'], reason: 'fail back tonight' } }, needsAck: false },
        { id: 'away', after: 'ok-late', owner: 'sre', action: { switchover: { pipeline: 'live', to: 'standby' } }, timeout: '30m' },
        { id: 'back', after: 'away', owner: 'sre', action: { switchback: { pipeline: 'live' } }, timeout: '30m', onFailure: 'continue' },
      ],
    });
    const now = T0 + MIN;
    const intents = new EtcdIntentStore(etcd, prefix);
    const first = keeper(() => now);
    const withIntents = async () => ({ ...input(facts()), intents: await intents.read() });
    await first.round(await withIntents(), leadership.fence, leadership.lost);
    await first.round(await withIntents(), leadership.fence, leadership.lost);
    const asked = (await intents.switchovers()).filter((i) => i.id.startsWith('rb-override-'));
    expect(asked.map((i) => [i.id, i.to, i.emergency, i.runbook])).toEqual([['rb-override-away', 'standby', false, 'override']]);
    expect(asked[0]!.reason).toBe('runbook override step away (owner sre)');
    expect(asked[0]!.windowCleared).toMatch(/^change window of P0 overridden by controller until .*: fail back tonight/);
    expect((await records('override')).get('away')).toMatchObject({ status: 'running', result: 'asked for rb-override-away (to standby)', asked: { requested: true } });

    // Another leader (a new keeper) carries it on: it does not ask again.
    const second = keeper(() => now);
    await second.round(await withIntents(), leadership.fence, leadership.lost);
    expect((await intents.switchovers()).filter((i) => i.id.startsWith('rb-override-'))).toHaveLength(1);

    // The controller refuses it (say the standby is down): the step fails with that reason, and the runbook aborts (onFailure abort).
    await intents.updateSwitchover({ ...asked[0]!, refused: 'target chain standby@room-b cannot serve: DOWN', refusedAt: now });
    await second.round(await withIntents(), leadership.fence, leadership.lost);
    expect((await records('override')).get('away')).toMatchObject({ status: 'failed', result: 'switch rb-override-away refused: target chain standby@room-b cannot serve: DOWN; cancelled rb-override-away' });
    await second.round(await withIntents(), leadership.fence, leadership.lost);
    const rb = await new EtcdRunbookStore(etcd, prefix).get('override');
    expect(rb?.ended?.outcome).toBe('aborted');
    expect((await records('override')).get('back')).toBeUndefined();
    // The override ended with the runbook.
    expect((await intents.windowOverrides()).filter((o) => o.event === 'override')).toEqual([]);
  });

  it('a switch step that times out takes back the switch it asked for, so it cannot run after the step failed', async () => {
    await start('slow', {
      during: [{ id: 'drill', at: 'T-6h', owner: 'sre', action: { drill: { pipeline: 'live', hold: '2m' } }, timeout: '5m', onFailure: 'continue' }],
    }, false);
    let now = T0 - 6 * 60 * MIN; // 06:00 UTC: inside the window
    const intents = new EtcdIntentStore(etcd, prefix);
    const k = keeper(() => now);
    await k.round(input(facts()), leadership.fence, leadership.lost);
    expect((await intents.switchovers()).filter((i) => i.id.startsWith('rb-slow-')).map((i) => [i.id, i.after ?? null, i.holdMs ?? null])).toEqual([
      ['rb-slow-drill-1', null, null],
      ['rb-slow-drill-2', 'rb-slow-drill-1', 120_000],
    ]);
    // No leader carries them out here: five minutes later the step times out and both legs are withdrawn.
    now += 6 * MIN;
    await k.round(input(facts()), leadership.fence, leadership.lost);
    const r = (await records('slow')).get('drill');
    expect(r?.status).toBe('failed');
    expect(r?.result).toMatch(/^timed out: not finished within 5m of its planned time \(asked for rb-slow-drill-1 \(to standby\), then rb-slow-drill-2 \(to primary\)\); cancelled rb-slow-drill-1, rb-slow-drill-2$/);
    expect((await intents.switchovers()).filter((i) => i.id.startsWith('rb-slow-'))).toEqual([]);
  });

  it('a leader that named the switches in the record but died before asking: its successor asks once; one that died after asking: its successor does not ask again', async () => {
    await start('handover', {
      during: [
        { id: 'one', at: 'T-6h', owner: 'sre', action: { switchover: { pipeline: 'live', to: 'standby' } }, timeout: '30m' },
        { id: 'two', at: 'T-6h', owner: 'sre', action: { switchback: { pipeline: 'live' } }, timeout: '30m' },
      ],
    }, false);
    const now = T0 - 6 * 60 * MIN + MIN; // 06:01 UTC: inside the window
    const store = new EtcdRunbookStore(etcd, prefix);
    const intents = new EtcdIntentStore(etcd, prefix);
    const intent = (id: string, to: string) => ({ id, pipeline: 'live', to, at: now, reason: 'r', by: 'controller', emergency: false, createdAt: now, runbook: 'handover', windowCleared: 'inside' });
    // "one": named, never asked (the leader died in between). "two": named and asked, not yet marked requested.
    expect(await store.putStep(leadership.fence, 'handover', 'one', { status: 'running', startedAt: now, by: 'controller', asked: { intents: [intent('rb-handover-one', 'standby')], requested: false } }, undefined)).toMatchObject({ kind: 'written' });
    expect(await store.putStep(leadership.fence, 'handover', 'two', { status: 'running', startedAt: now, by: 'controller', asked: { intents: [intent('rb-handover-two', 'primary')], requested: false } }, undefined)).toMatchObject({ kind: 'written' });
    await intents.addSwitchovers([intent('rb-handover-two', 'primary')]);
    const k = keeper(() => now);
    await k.round(input(facts()), leadership.fence, leadership.lost);
    const mine = (await intents.switchovers()).filter((i) => i.id.startsWith('rb-handover-')).map((i) => i.id).sort();
    expect(mine).toEqual(['rb-handover-one', 'rb-handover-two']); // each once
    const r = await records('handover');
    expect(r.get('one')).toMatchObject({ status: 'running', asked: { requested: true }, result: 'asked for rb-handover-one (to standby)' });
    expect(r.get('two')).toMatchObject({ status: 'running', asked: { requested: true } });
    await k.round(input(facts()), leadership.fence, leadership.lost);
    expect((await intents.switchovers()).filter((i) => i.id.startsWith('rb-handover-'))).toHaveLength(2);
  });

  it('an operator abort stops every step not begun; skips are recorded with who and why', async () => {
    await start('stopped', {
      during: [
        { id: 'a', at: 'T', owner: 'sre', action: { check: {} } },
        { id: 'b', at: 'T+1m', owner: 'sre', action: { check: {} } },
        { id: 'c', at: 'T+2m', owner: 'sre', action: { check: {} } },
      ],
    }, false);
    const store = new EtcdRunbookStore(etcd, prefix);
    let now = T0;
    const k = keeper(() => now);
    await store.skip('stopped', 'b', { by: 'erin', at: now, reason: 'not tonight' });
    await k.round(input(facts()), leadership.fence, leadership.lost);
    expect((await records('stopped')).get('b')).toMatchObject({ status: 'skipped', by: 'erin', result: 'skipped by erin: not tonight' });
    expect(await store.abort('stopped', { by: 'lee', at: now, reason: 'show cancelled' })).toBe(true);
    now = T0 + 3 * MIN;
    await k.round(input(facts()), leadership.fence, leadership.lost);
    expect((await records('stopped')).get('c')).toBeUndefined();
    expect((await store.get('stopped'))?.ended).toMatchObject({ outcome: 'aborted' });
    expect((await store.get('stopped'))?.ended?.summary).toMatch(/aborted by lee: show cancelled/);
  });
});
