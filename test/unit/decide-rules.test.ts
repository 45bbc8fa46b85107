import { describe, expect, it } from 'vitest';
import { decide, INITIAL_STATE, type ControllerState, type Decision, type TickInput } from '../../src/core/decide.js';
import type { Observation } from '../../src/core/health.js';
import type { Route, TierPolicy, Topology } from '../../src/core/model.js';
import { NO_INTENTS, type Intents } from '../../src/core/safety.js';
import { obs, routeOn, testPipeline, testPolicy, testTopology } from '../support/model.js';

const STEP = 250;

/** Runs ticks; each tick every listed observer reports every listed room. */
function run(
  topology: Topology,
  route: Route | undefined,
  ticks: { [room: string]: Observation['status'] }[],
  opts: { observers?: [string, string][]; intents?: Intents; start?: number; estimates?: TickInput['estimates']; state?: ControllerState } = {},
): { last: Decision; all: Decision[]; state: ControllerState; now: number } {
  const observers = opts.observers ?? [['obs-1', 'room-c']];
  let state = opts.state ?? INITIAL_STATE;
  let now = opts.start ?? 1_000_000;
  const all: Decision[] = [];
  for (const tick of ticks) {
    now += STEP;
    const observations: Observation[] = [];
    for (const [observer, observerRoom] of observers) {
      for (const [room, status] of Object.entries(tick)) observations.push(obs(room, status, now, { observer, observerRoom }));
    }
    const d = decide(topology, state, {
      now,
      observations,
      routes: new Map([['live', route]]),
      ...(opts.intents && { intents: opts.intents }),
      ...(opts.estimates && { estimates: opts.estimates }),
    });
    state = d.next;
    all.push(d);
  }
  return { last: all[all.length - 1]!, all, state, now };
}

const healthy = { 'room-a': 'OK', 'room-b': 'OK' } as const;
const aDown = { 'room-a': 'DOWN', 'room-b': 'OK' } as const;
const times = <T>(n: number, x: T): T[] => Array.from({ length: n }, () => x);

function setup(policy: Partial<TierPolicy> = {}) {
  const topology = testTopology([testPipeline('live')], [testPolicy({ failoverOn: ['kafka'], ...policy })]);
  return { topology, route: routeOn(topology, 'live', 'primary', 1, 0) };
}

describe('decide: issue 3 rules', () => {
  it('fails over after fallAfter bad probes, naming rooms, observers and numbers', () => {
    const { topology, route } = setup();
    const { last, all } = run(topology, route, [...times(2, healthy), ...times(3, aDown)]);
    expect(all.slice(0, 4).every((d) => d.actions.length === 0)).toBe(true);
    expect(last.verdicts[0]).toMatchObject({ state: 'FAILING_OVER', rule: 'failover' });
    const action = last.actions[0]!;
    expect(action.kind).toBe('switch-route');
    expect(action.route).toMatchObject({ chain: 'standby', room: 'room-b', epoch: 2 });
    expect(action.route.history).toHaveLength(1);
    expect(action.reason).toContain('from primary@room-a to standby@room-b');
    expect(action.reason).toContain('DOWN per 1/1 observer room(s)');
    expect(action.reason).toContain('3 failed probes in a row, fall after 3');
    expect(action.kind).toBe('switch-route');
    if (action.kind === 'switch-route') expect(action.detectedAfterMs).toBe(2 * STEP);
  });

  it('no automatic switch without observer quorum: fail static, and says why', () => {
    const { topology, route } = setup({ observersRequired: 2 });
    const observers: [string, string][] = [['obs-a', 'room-a'], ['obs-b', 'room-b']];
    // obs-a sees room-a DOWN; obs-b (in room-b) sees it OK: only one room votes DOWN.
    let state = run(topology, route, times(2, healthy), { observers }).state;
    let now = 1_000_000 + 2 * STEP;
    for (let i = 0; i < 4; i++) {
      now += STEP;
      const d = decide(topology, state, {
        now,
        observations: [
          obs('room-a', 'DOWN', now, { observer: 'obs-a', observerRoom: 'room-a' }),
          obs('room-a', 'OK', now, { observer: 'obs-b', observerRoom: 'room-b' }),
          obs('room-b', 'OK', now, { observer: 'obs-a', observerRoom: 'room-a' }),
          obs('room-b', 'OK', now, { observer: 'obs-b', observerRoom: 'room-b' }),
        ],
        routes: new Map([['live', route]]),
      });
      state = d.next;
      expect(d.actions).toEqual([]);
      if (i === 3) {
        expect(d.verdicts[0]).toMatchObject({ state: 'FAIL_STATIC', rule: 'no-quorum' });
        expect(d.verdicts[0]!.reason).toContain('DOWN per 1 observer room(s), short of the 2 required');
        // The hold says how a person who knows better switches anyway, and what that risks.
        expect(d.verdicts[0]!.advice?.command).toBe('switchyard switchover live --to standby --emergency --reason "room-a confirmed down" --yes');
        expect(d.verdicts[0]!.advice?.risk).toMatch(/^if room-a is in fact alive and only cut off from some observers/);
      }
    }
    // Both observer rooms agree: now it fails over.
    const agreed = run(topology, route, times(3, aDown), { observers, state, start: now });
    expect(agreed.last.actions[0]?.kind).toBe('switch-route');
  });

  it('a paused pipeline never changes, and a global pause stops everything', () => {
    const { topology, route } = setup();
    for (const intents of [{ ...NO_INTENTS, paused: new Set(['live']) }, { ...NO_INTENTS, pausedAll: true }]) {
      const { all, last } = run(topology, route, [...times(2, healthy), ...times(5, aDown)], { intents });
      expect(all.every((d) => d.actions.length === 0)).toBe(true);
      expect(last.verdicts[0]).toMatchObject({ state: 'PAUSED', rule: 'paused' });
    }
    // Not even the first route is written while paused.
    const { last } = run(topology, undefined, [healthy], { intents: { ...NO_INTENTS, pausedAll: true } });
    expect(last.actions).toEqual([]);
  });

  it('the gating switch blocks automatic failover', () => {
    const { topology, route } = setup();
    const { last } = run(topology, route, [...times(2, healthy), ...times(3, aDown)], { intents: { ...NO_INTENTS, automaticGateClosed: true } });
    expect(last.actions).toEqual([]);
    expect(last.verdicts[0]!.rule).toBe('gate-closed');
  });

  it('max switches per hour holds a flapping pipeline in place', () => {
    const { topology } = setup({ minDwellMs: 0, maxSwitchesPerHour: 2 });
    const start = 1_000_000;
    const route = routeOn(topology, 'live', 'primary', 3, start - 10_000, [start - 20_000, start - 10_000]);
    const { last } = run(topology, route, [...times(2, healthy), ...times(3, aDown)], { start });
    expect(last.actions).toEqual([]);
    expect(last.verdicts[0]!.rule).toBe('max-switches');
    expect(last.verdicts[0]!.reason).toContain('2 switches in the last hour already (max 2 per hour)');
  });

  it('data budget: waits while the standby lags, then refuses', () => {
    const { topology, route } = setup({ dataBudget: { maxLossMs: 0, maxDuplicateMs: 10_000, maxWaitMs: 500 } });
    const estimates = new Map([['live', [{ topic: 't', partition: 0, unreplicatedMs: 800, replayMs: 2000 }]]]);
    const { all } = run(topology, route, [...times(2, healthy), ...times(6, aDown)], { estimates });
    const rules = all.map((d) => d.verdicts[0]!.rule);
    expect(rules).toContain('data-budget-retry');
    expect(rules.slice(-2)).toEqual(['data-budget-stop', 'data-budget-stop']);
    expect(all.every((d) => d.actions.length === 0)).toBe(true);
  });

  it('both serving chains down: the fallback chain takes over; none healthy: the route stays', () => {
    const withFallback = testTopology(
      [testPipeline('live', {}, [
        { name: 'primary', room: 'room-a', role: 'primary', jobs: [] },
        { name: 'standby', room: 'room-b', role: 'standby', jobs: [] },
        { name: 'core-only', room: 'room-c', role: 'fallback', jobs: [] },
      ])],
      [testPolicy({ failoverOn: ['kafka'] })],
    );
    const route = routeOn(withFallback, 'live', 'primary');
    const bothDown = { 'room-a': 'DOWN', 'room-b': 'DOWN', 'room-c': 'OK' } as const;
    const { last } = run(withFallback, route, [...times(2, { ...healthy, 'room-c': 'OK' }), ...times(3, bothDown)]);
    expect(last.actions[0]?.route).toMatchObject({ chain: 'core-only', room: 'room-c' });

    const { topology } = setup();
    const none = run(topology, routeOn(topology, 'live', 'primary'), [...times(2, healthy), ...times(3, { 'room-a': 'DOWN', 'room-b': 'DOWN' })]);
    expect(none.last.actions).toEqual([]);
    expect(none.last.verdicts[0]!.rule).toBe('no-healthy-standby');
    expect(none.last.verdicts[0]!.reason).toContain('keeping the route');
  });

  it('automatic failback only when the tier says so, after dwell, inside the change window', () => {
    const { topology } = setup({ failback: 'automatic', minDwellMs: 1000 });
    const onStandby = routeOn(topology, 'live', 'standby', 2, 1_000_000);
    const early = run(topology, onStandby, times(3, healthy));
    expect(early.last.verdicts[0]!.rule).toBe('failback-waiting');
    const later = run(topology, onStandby, times(8, healthy));
    expect(later.last.actions[0]?.route).toMatchObject({ chain: 'primary', epoch: 3 });
    expect(later.last.verdicts[0]).toMatchObject({ state: 'FAILING_BACK', rule: 'failback' });

    const closed = setup({ failback: 'automatic', minDwellMs: 0, changeWindows: { timeZone: 'UTC', windows: [{ fromMinute: 0, toMinute: 1 }] } });
    const outside = run(closed.topology, routeOn(closed.topology, 'live', 'standby', 2, 0), times(4, healthy), { start: Date.UTC(2026, 0, 1, 12) });
    expect(outside.last.actions).toEqual([]);
    expect(outside.last.verdicts[0]!.reason).toContain('outside the change window 00:00-00:01 UTC');

    const manual = setup();
    expect(run(manual.topology, routeOn(manual.topology, 'live', 'standby', 2, 0), times(4, healthy)).last.actions).toEqual([]);
  });

  it('a tier that does not fail over automatically says so', () => {
    const { topology, route } = setup({ failover: 'manual' });
    const { last } = run(topology, route, [...times(2, healthy), ...times(3, aDown)]);
    expect(last.actions).toEqual([]);
    expect(last.verdicts[0]!.reason).toContain('fails over manually');
  });

  it('stream jobs count for chains that name them, when the tier fails over on them', () => {
    const topology = testTopology(
      [testPipeline('live', {}, [
        { name: 'primary', room: 'room-a', role: 'primary', jobs: ['agg-a'] },
        { name: 'standby', room: 'room-b', role: 'standby', jobs: ['agg-b'] },
      ])],
      [testPolicy({ failoverOn: ['kafka', 'stream'] })],
    );
    const route = routeOn(topology, 'live', 'primary');
    let state = INITIAL_STATE;
    let last: Decision | undefined;
    for (let i = 1; i <= 5; i++) {
      const now = 1_000_000 + i * STEP;
      const jobA = i <= 2 ? 'OK' : 'DOWN';
      last = decide(topology, state, {
        now,
        observations: [
          obs('room-a', 'OK', now),
          obs('room-b', 'OK', now),
          obs('room-a', jobA, now, { component: 'stream', subject: 'agg-a' }),
          obs('room-b', 'OK', now, { component: 'stream', subject: 'agg-b' }),
        ],
        routes: new Map([['live', route]]),
      });
      state = last.next;
    }
    expect(last!.actions[0]?.route.chain).toBe('standby');
    expect(last!.actions[0]?.reason).toContain('room-a stream agg-a is DOWN');
  });
});

describe('decide: probes hurried by a client signal (issue 19, ADR 0018)', () => {
  /** Room-a's Kafka DOWN `n` times, `gap` ms apart, from two observers in two rooms, after one healthy tick. */
  function burst(policy: Partial<TierPolicy>, n: number, gap: number, hurried: boolean, extra: Partial<Observation> = {}) {
    const topology = testTopology([testPipeline('live')], [testPolicy({ failoverOn: ['kafka'], observersRequired: 2, ...policy })]);
    const route = routeOn(topology, 'live', 'primary', 1, 0);
    const observers: [string, string][] = [['obs-b', 'room-b'], ['obs-w', 'witness']];
    let state = INITIAL_STATE;
    let now = 1_000_000;
    const tick = (status: Observation['status'], extra: Partial<Observation>) => {
      const observations = observers.flatMap(([observer, observerRoom]) => [
        obs('room-a', status, now, { observer, observerRoom, ...extra }),
        obs('room-b', 'OK', now, { observer, observerRoom }),
      ]);
      const d = decide(topology, state, { now, observations, routes: new Map([['live', route]]) });
      state = d.next;
      return d;
    };
    tick('OK', {});
    now += STEP;
    const decisions: Decision[] = [];
    for (let i = 0; i < n; i++) {
      decisions.push(tick('DOWN', { ...(hurried && { hurried: true }), ...extra }));
      now += gap;
    }
    return decisions;
  }

  it('a tier with signalIntervalMs convicts a room on fallAfter hurried probes that far apart', () => {
    const d = burst({ signalIntervalMs: 50 }, 3, 50, true);
    expect(d.slice(0, 2).every((x) => x.actions.length === 0)).toBe(true);
    const action = d[2]!.actions[0]!;
    expect(action.route).toMatchObject({ chain: 'standby', room: 'room-b' });
    // Still the quorum: both observer rooms said DOWN three times.
    expect(action.reason).toContain('DOWN per 2/2 observer room(s)');
    expect(action.kind).toBe('switch-route');
    if (action.kind === 'switch-route') expect(action.detectedAfterMs).toBe(100);
  });

  it('the same probes, not hurried, count at the probe interval: no conviction in 100 ms', () => {
    const d = burst({ signalIntervalMs: 50 }, 3, 50, false);
    expect(d.every((x) => x.actions.length === 0)).toBe(true);
  });

  it('carried answers (a probe still in flight, an open breaker) never count at the hurried spacing', () => {
    expect(burst({ signalIntervalMs: 50 }, 3, 50, true, { carried: true }).every((x) => x.actions.length === 0)).toBe(true);
  });

  it('a tier without signalIntervalMs samples hurried probes at its own cadence', () => {
    expect(burst({}, 3, 50, true).every((x) => x.actions.length === 0)).toBe(true);
    // ... and still convicts on probes a whole interval apart.
    expect(burst({}, 3, STEP, true)[2]!.actions).toHaveLength(1);
  });
});

describe('decide: confirmations keep a quiet observer fresh (ADR 0019)', () => {
  it('with no new observation for 5 s, the rooms stay OK while their observer is confirmed, and go UNKNOWN (stale) when it is not', () => {
    const { topology, route } = setup();
    const { state, now } = run(topology, route, times(4, healthy));
    const later = now + 5000;
    const input = { now: later, observations: [], routes: new Map([['live', route]]) };
    const confirmed = decide(topology, state, { ...input, confirmedAt: new Map([['obs-1', later - 1000]]) });
    expect(confirmed.verdicts[0]!.reason).toContain('room-a kafka is OK');
    const silent = decide(topology, state, input);
    expect(silent.verdicts[0]!.reason).toContain('room-a kafka is UNKNOWN');
    expect(silent.verdicts[0]!.reason).toContain('stale after 2000 ms');
    // The confirmation is kept in the state for the next tick, not folded as a probe.
    expect(confirmed.next.confirmedAt.get('obs-1')).toBe(later - 1000);
  });

  it('a confirmation is no probe: a DOWN just after it, on a clock behind the reader\'s, still convicts in fallAfter probes', () => {
    const { topology, route } = setup();
    const { state, now } = run(topology, route, times(4, healthy));
    // Read with a confirmation 200 ms in the future of the observer's clock.
    let s = decide(topology, state, { now: now + 300, observations: [], routes: new Map([['live', route]]), confirmedAt: new Map([['obs-1', now + 500]]) }).next;
    let last: Decision | undefined;
    for (let i = 1; i <= 3; i++) {
      const at = now + i * STEP;
      last = decide(topology, s, { now: at + 300, observations: [obs('room-a', 'DOWN', at, { observer: 'obs-1', observerRoom: 'room-c' }), obs('room-b', 'OK', at, { observer: 'obs-1', observerRoom: 'room-c' })], routes: new Map([['live', route]]) });
      s = last.next;
    }
    expect(last!.verdicts[0]).toMatchObject({ state: 'FAILING_OVER', rule: 'failover' });
  });
});
