import { describe, expect, it } from 'vitest';
import { decide, INITIAL_STATE, type ControllerState } from '../../src/core/decide.js';
import { defaultTarget, planSwitchover, predecessorOf, whoAsked, type SwitchoverIntent } from '../../src/core/switchover.js';
import { intentProblem } from '../../src/core/stored.js';
import { withStep, type SwitchJournal } from '../../src/core/journal.js';
import { intentsOf } from '../../src/ports/intent-store.js';
import { obs, routeOn, testPipeline, testPolicy, testTopology } from '../support/model.js';

const topology = testTopology([testPipeline('live')], [testPolicy({ failoverOn: ['kafka'], changeWindows: { timeZone: 'UTC', windows: [{ fromMinute: 0, toMinute: 480 }] } })]);
const NOW = Date.UTC(2026, 10, 22, 3, 0); // 03:00 UTC, inside 00:00-08:00
const LATE = Date.UTC(2026, 10, 22, 12, 0); // outside

function seen(statuses: Record<string, 'OK' | 'DOWN'>, at: number): ControllerState {
  let state = INITIAL_STATE;
  for (let i = 3; i >= 0; i--) {
    const t = at - i * 250;
    state = decide(topology, state, { now: t, observations: Object.entries(statuses).map(([room, s]) => obs(room, s, t)), routes: new Map() }).next;
  }
  return state;
}

const intent = (over: Partial<SwitchoverIntent> = {}): SwitchoverIntent => ({ id: 'so-1', pipeline: 'live', to: 'standby', at: NOW, reason: 'drain', by: 'bob', emergency: false, createdAt: NOW, ...over });
const route = routeOn(topology, 'live', 'primary', 1, 0);

describe('manual switchover plan', () => {
  const healthy = seen({ 'room-a': 'OK', 'room-b': 'OK' }, NOW);

  it('records the real identity beside a name that is not it: an --operator name cannot be borrowed silently', () => {
    const p = planSwitchover(topology, healthy, route, intent({ by: 'erin', identity: { os: 'mallory', kube: 'mallory@corp' } }), NOW);
    expect(p.kind === 'switch' && p.action.reason).toBe('manual switchover of live from primary@room-a to standby@room-b by erin (os user mallory, kubernetes user mallory@corp): drain');
    expect(whoAsked('erin', { os: 'erin' })).toBe('erin');
    expect(whoAsked('erin', { os: 'erin', kube: 'erin' })).toBe('erin');
    expect(whoAsked('erin', { os: 'root' })).toBe('erin (os user root)');
    expect(whoAsked('root', { os: 'root', kube: 'admin' })).toBe('root (kubernetes user admin)');
    expect(whoAsked('bob', undefined)).toBe('bob');
    expect(intentProblem(intent({ identity: { os: 'root' } }))).toBe('');
    expect(intentProblem({ ...intent(), identity: { kube: 'x' } })).toMatch(/identity/);
  });

  it('switches to a healthy target inside the change window, naming who and why', () => {
    const p = planSwitchover(topology, healthy, route, intent(), NOW);
    expect(p.kind).toBe('switch');
    if (p.kind === 'switch') {
      expect(p.action.route).toMatchObject({ chain: 'standby', room: 'room-b', epoch: 2 });
      expect(p.action.reason).toBe('manual switchover of live from primary@room-a to standby@room-b by bob: drain');
    }
  });

  it('refuses a stored intent no rule can reason about, instead of throwing every tick', () => {
    // What `drill --and-back --hold 9999999999h` used to record: a hold past the end of time.
    const poisoned = [
      intent({ holdMs: 9_999_999_999 * 3_600_000, after: 'so-0' }),
      intent({ at: Number.NaN }),
      intent({ at: 8.64e15 + 1 }),
      intent({ at: NOW + 30 * 24 * 3_600_000 }),
      intent({ holdMs: -5 }),
    ];
    for (const i of poisoned) {
      const p = planSwitchover(topology, healthy, route, i, NOW, { kind: 'done', endedAt: NOW } as never);
      expect(p.kind).toBe('refuse');
      expect(p.kind === 'refuse' && p.reason).toMatch(/^malformed intent: /);
    }
  });

  it('waits for its time, and says it is already done when the route is there', () => {
    expect(planSwitchover(topology, healthy, route, intent({ at: NOW + 60_000 }), NOW).kind).toBe('wait');
    expect(planSwitchover(topology, healthy, routeOn(topology, 'live', 'standby', 2, 0), intent(), NOW)).toEqual({ kind: 'done', reason: 'live already runs on standby@room-b' });
  });

  it('refuses an unhealthy target, an unknown chain, and (without --emergency) the wrong hour', () => {
    const bDown = seen({ 'room-a': 'OK', 'room-b': 'DOWN' }, NOW);
    expect(planSwitchover(topology, bDown, route, intent(), NOW)).toMatchObject({ kind: 'refuse' });
    expect((planSwitchover(topology, bDown, route, intent(), NOW) as { reason: string }).reason).toContain('target chain standby@room-b cannot serve');
    expect(planSwitchover(topology, healthy, route, intent({ to: 'nope' }), NOW)).toMatchObject({ kind: 'refuse', reason: 'pipeline live has no chain nope (chains: primary, standby)' });
    const late = seen({ 'room-a': 'OK', 'room-b': 'OK' }, LATE);
    const refused = planSwitchover(topology, late, route, intent({ at: LATE }), LATE);
    expect(refused).toMatchObject({ kind: 'refuse' });
    expect((refused as { reason: string }).reason).toBe("it is 12:00 in UTC, outside the change window 00:00-08:00 UTC; a switchover of tier P0 needs --emergency and a reason, or a runbook's overrideWindow step");
    const urgent = planSwitchover(topology, late, route, intent({ at: LATE, emergency: true, reason: 'power' }), LATE);
    expect(urgent.kind === 'switch' && urgent.action.reason).toBe('manual switchover of live from primary@room-a to standby@room-b by bob (emergency, outside the change window 00:00-08:00 UTC): power');
  });

  it('a frozen tier refuses planned switchovers, even inside the window; an emergency or an explicit window override lets one through, saying so', () => {
    const frozen = intentsOf([], [{ tier: 'P0', by: 'runbook', reason: 'gala night', at: NOW - 60_000 }]);
    const refused = planSwitchover(topology, healthy, route, intent(), NOW, undefined, frozen);
    expect(refused).toMatchObject({ kind: 'refuse' });
    expect((refused as { reason: string }).reason).toMatch(/^tier P0 is frozen by runbook since .*: gala night; a switchover of tier P0 needs --emergency/);
    const urgent = planSwitchover(topology, healthy, route, intent({ emergency: true }), NOW, undefined, frozen);
    expect(urgent.kind === 'switch' && urgent.action.reason).toMatch(/\(emergency, tier P0 is frozen by runbook/);
    // The runbook that set the freeze passes it (its own night); another runbook's switch does not.
    const byGala = intentsOf([], [{ tier: 'P0', by: 'runbook', reason: 'gala night', at: NOW - 60_000, event: 'gala' }]);
    expect(planSwitchover(topology, healthy, route, intent({ runbook: 'gala' }), NOW, undefined, byGala).kind).toBe('switch');
    expect(planSwitchover(topology, healthy, route, intent({ runbook: 'other' }), NOW, undefined, byGala).kind).toBe('refuse');
    // Outside the window and frozen, with an override in force: allowed, and the reason names the override.
    const late = seen({ 'room-a': 'OK', 'room-b': 'OK' }, LATE);
    const both = intentsOf([], [{ tier: 'P0', by: 'runbook', reason: 'gala night', at: NOW }], [{ tier: 'P0', by: 'lee', reason: 'fail back tonight', at: LATE - 1000, until: LATE + 60_000 }]);
    const allowed = planSwitchover(topology, late, route, intent({ at: LATE }), LATE, undefined, both);
    expect(allowed.kind === 'switch' && allowed.action.reason).toMatch(/change window of P0 overridden by lee until .*: fail back tonight/);
    // An override a runbook set lets through that runbook's switches only.
    const gala = intentsOf([], [], [{ tier: 'P0', by: 'lee', reason: 'gala', at: LATE - 1000, until: LATE + 60_000, event: 'gala' }]);
    expect(planSwitchover(topology, late, route, intent({ at: LATE, runbook: 'gala' }), LATE, undefined, gala).kind).toBe('switch');
    expect(planSwitchover(topology, late, route, intent({ at: LATE }), LATE, undefined, gala).kind).toBe('refuse');
    // A runbook's intent that says how it found the window open (at its event time) is not judged again.
    const cleared = planSwitchover(topology, late, route, intent({ at: LATE, runbook: 'gala', windowCleared: 'inside the change window of P0 at 2026-12-31T03:00:00.000Z' }), LATE);
    expect(cleared.kind === 'switch' && cleared.action.reason).toMatch(/\(inside the change window of P0 at 2026-12-31T03:00:00.000Z\): drain$/);
    // An override that has run out lets nothing through.
    expect(planSwitchover(topology, late, route, intent({ at: LATE }), LATE + 120_000, undefined, both).kind).toBe('refuse');
  });

  it('the default target is the primary, or the standby when on the primary', () => {
    expect(defaultTarget(topology, 'live', 'primary')).toBe('standby');
    expect(defaultTarget(topology, 'live', 'standby')).toBe('primary');
    expect(defaultTarget(topology, 'nope', undefined)).toBeUndefined();
  });
});

describe('drill legs: the way back waits for the way out', () => {
  const healthy = seen({ 'room-a': 'OK', 'room-b': 'OK' }, NOW);
  // The way out has not happened yet: the pipeline is still on the primary, the back leg's target.
  const back = intent({ id: 'dr-1-2', to: 'primary', after: 'dr-1-1', holdMs: 30_000, drill: { id: 'dr-1', leg: 2, legs: 2 } });

  it('waits while the leg it follows is pending, even though the pipeline already sits on its target', () => {
    expect(planSwitchover(topology, healthy, route, back, NOW, { kind: 'pending' })).toEqual({ kind: 'wait', reason: 'waits for dr-1-1 to finish' });
  });

  it('is refused when the leg it follows was refused, or did not run', () => {
    expect(planSwitchover(topology, healthy, route, back, NOW, { kind: 'refused', reason: 'room-b cannot serve' })).toEqual({
      kind: 'refuse',
      reason: 'follows dr-1-1, which was refused: room-b cannot serve',
    });
    expect(planSwitchover(topology, healthy, route, back, NOW, { kind: 'missing' })).toMatchObject({ kind: 'refuse', reason: expect.stringContaining('which did not run') });
    // Without a predecessor given, a leg that names one is refused rather than run blind.
    expect(planSwitchover(topology, healthy, route, back, NOW).kind).toBe('refuse');
  });

  it('holds after the way out finished, then goes back naming the drill and its leg', () => {
    const away = routeOn(topology, 'live', 'standby', 2, NOW - 10_000);
    const finished = { kind: 'finished', at: NOW - 10_000 } as const;
    expect(planSwitchover(topology, healthy, away, back, NOW, finished)).toEqual({ kind: 'wait', reason: `holds until ${new Date(NOW + 20_000).toISOString()}` });
    const later = seen({ 'room-a': 'OK', 'room-b': 'OK' }, NOW + 20_000);
    const p = planSwitchover(topology, later, away, back, NOW + 20_000, finished);
    expect(p.kind).toBe('switch');
    if (p.kind === 'switch') {
      expect(p.action.route).toMatchObject({ chain: 'primary', room: 'room-a', epoch: 3 });
      expect(p.action.reason).toBe('drill dr-1 (leg 2/2) of live from standby@room-b to primary@room-a by bob: drain');
    }
  });

  it('a way back still checks the change window and the target health', () => {
    const away = routeOn(topology, 'live', 'standby', 2, 0);
    const late = seen({ 'room-a': 'OK', 'room-b': 'OK' }, LATE);
    expect(planSwitchover(topology, late, away, { ...back, holdMs: 0 }, LATE, { kind: 'finished', at: LATE - 1 }).kind).toBe('refuse');
    const aDown = seen({ 'room-a': 'DOWN', 'room-b': 'OK' }, NOW);
    const refused = planSwitchover(topology, aDown, away, { ...back, holdMs: 0 }, NOW, { kind: 'finished', at: NOW - 1 });
    expect(refused).toMatchObject({ kind: 'refuse', reason: expect.stringContaining('target chain primary@room-a cannot serve') });
  });

  it('predecessorOf reads the intents first, then the pipeline\'s journal', () => {
    const out = intent({ id: 'dr-1-1' });
    expect(predecessorOf('dr-1-1', [out, back], undefined)).toEqual({ kind: 'pending' });
    expect(predecessorOf('dr-1-1', [{ ...out, refused: 'no' }, back], undefined)).toEqual({ kind: 'refused', reason: 'no' });
    const opened: SwitchJournal = {
      id: 'live-e2',
      pipeline: 'live',
      kind: 'drill',
      from: route,
      to: routeOn(topology, 'live', 'standby', 2, NOW),
      reason: 'drill',
      requestedBy: 'bob',
      request: 'dr-1-1',
      createdAt: NOW,
      detectedAfterMs: 0,
      steps: [],
      status: 'running',
    };
    let j = withStep(opened, { step: 'intent', at: NOW, ms: 0, by: 'ctl-a', note: '' });
    expect(predecessorOf('dr-1-1', [back], j)).toEqual({ kind: 'pending' });
    for (const [i, step] of (['gate', 'start-jobs', 'fence-old', 'place-offsets', 'flip-consumers', 'flip-queries', 'verify', 'stop-jobs', 'record'] as const).entries()) {
      j = withStep(j, { step, at: NOW + 100 * (i + 1), ms: 1, by: 'ctl-a', note: '' });
    }
    expect(predecessorOf('dr-1-1', [back], j)).toEqual({ kind: 'finished', at: NOW + 900 });
    expect(predecessorOf('dr-1-1', [back], { ...j, request: 'so-other' })).toEqual({ kind: 'missing' });
    expect(predecessorOf('dr-1-1', [back], undefined)).toEqual({ kind: 'missing' });
  });
});
