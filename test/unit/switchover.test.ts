import { describe, expect, it } from 'vitest';
import { decide, INITIAL_STATE, type ControllerState } from '../../src/core/decide.js';
import { defaultTarget, planSwitchover, type SwitchoverIntent } from '../../src/core/switchover.js';
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

  it('switches to a healthy target inside the change window, naming who and why', () => {
    const p = planSwitchover(topology, healthy, route, intent(), NOW);
    expect(p.kind).toBe('switch');
    if (p.kind === 'switch') {
      expect(p.action.route).toMatchObject({ chain: 'standby', room: 'room-b', epoch: 2 });
      expect(p.action.reason).toBe('manual switchover of live from primary@room-a to standby@room-b by bob: drain');
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
    expect((refused as { reason: string }).reason).toBe('it is 12:00 in UTC, outside the change window 00:00-08:00 UTC; a switchover of tier P0 needs --emergency and a reason');
    const urgent = planSwitchover(topology, late, route, intent({ at: LATE, emergency: true, reason: 'power' }), LATE);
    expect(urgent.kind === 'switch' && urgent.action.reason).toBe('manual switchover of live from primary@room-a to standby@room-b by bob (emergency, outside the change window 00:00-08:00 UTC): power');
  });

  it('the default target is the primary, or the standby when on the primary', () => {
    expect(defaultTarget(topology, 'live', 'primary')).toBe('standby');
    expect(defaultTarget(topology, 'live', 'standby')).toBe('primary');
    expect(defaultTarget(topology, 'nope', undefined)).toBeUndefined();
  });
});
