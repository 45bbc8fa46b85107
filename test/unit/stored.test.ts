import { describe, expect, it } from 'vitest';
import { journalProblem, observationProblem, pauseProblem, routeProblem, intentProblem } from '../../src/core/stored.js';
import { decide, INITIAL_STATE } from '../../src/core/decide.js';
import { refusedHint, REFUSED_INTENT_TTL_MS, type SwitchoverIntent } from '../../src/core/switchover.js';
import { obs, routeOn, testPipeline, testPolicy, testTopology } from '../support/model.js';

const topology = testTopology([testPipeline('live'), testPipeline('other')]);
const route = routeOn(topology, 'live', 'primary', 3, 1_000, [900]);
const intent: SwitchoverIntent = { id: 'sw-1', pipeline: 'live', to: 'standby', at: 2_000, createdAt: 1_000, reason: 'drain', by: 'ops', emergency: false };

describe('stored values: each check names the field, the value and what it should be', () => {
  it('a route written by the controller passes; broken ones say why', () => {
    expect(routeProblem(route)).toBe('');
    expect(routeProblem({ ...route, epoch: 0 })).toBe('epoch is 0, not a whole number of at least 1');
    expect(routeProblem({ ...route, since: 'yesterday' })).toBe('since is "yesterday", not a time');
    expect(routeProblem({ ...route, kafka: { brokers: [], topics: [] } })).toBe('kafka.brokers is [], not a list of host:port');
    expect(routeProblem([route])).toMatch(/^not a route object/);
    expect(routeProblem({ ...route, standby: { room: 'room-b', brokers: ['b:9092'] } })).toBe('');
    expect(routeProblem({ ...route, standby: { room: 'room-b', brokers: [] } })).toBe('standby is {"room":"room-b","brokers":[]}, not { room, brokers }');
  });

  it('a journal must have both routes and its steps in order', () => {
    const journal = { id: 'j', pipeline: 'live', kind: 'failover', from: route, to: { ...route, epoch: 4 }, reason: 'r', requestedBy: 'o', createdAt: 1, detectedAfterMs: 0, status: 'running', steps: [{ step: 'intent', at: 1, ms: 0, by: 'o', note: '' }] };
    expect(journalProblem(journal)).toBe('');
    expect(journalProblem({ ...journal, to: undefined })).toBe('to: not a route object (missing)');
    expect(journalProblem({ ...journal, steps: [{ ...journal.steps[0], step: 'gate' }] })).toMatch(/^steps\.0\.step is "gate", out of order/);
    // One written before start-jobs existed (intent, gate, fence-old) is still in order.
    const older = ['intent', 'gate', 'fence-old'].map((step) => ({ ...journal.steps[0], step }));
    expect(journalProblem({ ...journal, steps: older })).toBe('');
    expect(journalProblem({ ...journal, steps: [...older, { ...journal.steps[0], step: 'gate' }] })).toMatch(/^steps\.3\.step is "gate", out of order/);
    expect(journalProblem({ ...journal, status: 'stuck' })).toBe('status is "stuck", not running or done');
  });

  it('an intent must be sane in every field (the poison intent of issue 13 is refused)', () => {
    expect(intentProblem(intent)).toBe('');
    expect(intentProblem({ ...intent, holdMs: 9_999_999_999 * 3_600_000 })).toBe('holdMs is 35999999996400000, not a hold of at most 8 days');
    expect(intentProblem({ ...intent, at: 1e300 })).toBe('at is 1e+300, not a time');
    expect(intentProblem({ ...intent, emergency: 'yes' })).toBe('emergency is "yes", not true or false');
    expect(intentProblem({ ...intent, unreadable: 'not JSON: Unexpected token' })).toBe('not JSON: Unexpected token');
    expect(intentProblem({ ...intent, drill: { id: 'd' } })).toBe('drill is {"id":"d"}, not { id, leg, legs }');
  });

  it('pauses and observations', () => {
    expect(pauseProblem({ pipeline: 'live', by: 'o', reason: '', at: 1 })).toBe('');
    expect(pauseProblem({ by: 'o', reason: '', at: 'now' })).toBe('at is "now", not a time');
    expect(observationProblem(obs('room-a', 'OK', 1))).toBe('');
    expect(observationProblem({ ...obs('room-a', 'OK', 1), status: 'FINE' })).toBe('status is "FINE", not OK|DEGRADED|DOWN|UNKNOWN');
  });
});

describe('decide contains bad stored data per pipeline', () => {
  it('a pipeline named invalid is held with the reason; the others are decided', () => {
    const d = decide(topology, INITIAL_STATE, { now: 10_000, observations: [obs('room-a', 'OK', 9_999)], routes: new Map([['live', route], ['other', undefined]]), invalid: new Map([['live', 'its stored route is not valid (epoch is 0)']]) });
    expect(d.verdicts.find((v) => v.pipeline === 'live')).toMatchObject({ rule: 'invalid-data', reason: 'holding live: its stored route is not valid (epoch is 0)' });
    expect(d.verdicts.find((v) => v.pipeline === 'other')?.rule).toBe('init');
    expect(d.actions.map((a) => a.route.pipeline)).toEqual(['other']);
  });

  it('a rule that throws on a value no check foresaw holds that pipeline only', () => {
    const poisoned = { ...route, since: -1_000_000, history: null } as unknown as typeof route;
    // room-a DOWN (3 bad probes), room-b OK: a failover is due, and its dwell rule reads the route's history.
    const observations = [9_000, 9_250, 9_500].flatMap((at) => [obs('room-a', 'DOWN', at), obs('room-b', 'OK', at)]);
    const d = decide(topology, INITIAL_STATE, { now: 10_000, observations, routes: new Map([['live', poisoned], ['other', undefined]]) });
    expect(d.verdicts.find((v) => v.pipeline === 'live')?.rule).toBe('invalid-data');
    expect(d.verdicts.find((v) => v.pipeline === 'live')?.reason).toMatch(/^holding live: a rule failed on its stored data: /);
    expect(d.verdicts.find((v) => v.pipeline === 'other')?.rule).toBe('init');
  });

  it('observations that are not observations are dropped, not folded', () => {
    const bad = { ...obs('room-a', 'DOWN', 9_000), at: 'soon' } as unknown as ReturnType<typeof obs>;
    expect(() => decide(topology, INITIAL_STATE, { now: 10_000, observations: [bad, obs('room-a', 'OK', 9_999)], routes: new Map([['live', route]]) })).not.toThrow();
  });
});

describe('a refused switchover says how to cancel it and when it goes by itself', () => {
  it(`names the cancel command and the expiry, ${REFUSED_INTENT_TTL_MS / 60_000} min after the refusal`, () => {
    const refusedAt = Date.parse('2026-11-26T03:00:00Z');
    expect(refusedHint({ ...intent, refused: 'window closed', refusedAt }, refusedAt + 10 * 60_000)).toBe('cancel it with `switchyard switchover --cancel sw-1`, or it is removed in 50 min (2026-11-26T04:00:00.000Z)');
  });
});

describe('routes name the failover room for a pre-joined standby member (issue 19)', () => {
  it("a tier with joinStandby writes the failover target's room and brokers; one without writes none", () => {
    const withStandby = testTopology([testPipeline('live')], [testPolicy({ joinStandby: true })]);
    const onPrimary = routeOn(withStandby, 'live', 'primary', 1, 0);
    expect(onPrimary.standby).toEqual({ room: 'room-b', brokers: [...withStandby.rooms.get('room-b')!.kafka.brokers] });
    expect(routeOn(withStandby, 'live', 'standby', 2, 0).standby?.room).toBe('room-a');
    expect(routeOn(testTopology([testPipeline('live')], [testPolicy()]), 'live', 'primary', 1, 0).standby).toBeUndefined();
  });
});
