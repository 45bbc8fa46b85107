import { describe, expect, it } from 'vitest';
import { abortReason, checkpoint, checkProblem, eventTime, NO_INPUTS, planRunbook, realTime, withInputs, type Runbook, type RunbookFacts, type RunbookState, type RunbookStep, type StepRecord } from '../../src/core/runbook.js';
import { operatorInputProblem, runbookActionProblem, startedRunbookProblem, stepRecordProblem } from '../../src/core/stored.js';

const T0 = Date.parse('2026-12-31T20:00:00Z');
const M = 60_000;
function step(id: string, over: Partial<RunbookStep> = {}): RunbookStep {
  return { id, phase: 'before', when: { kind: 'at', offsetMs: 0 }, owner: 'sre', action: { kind: 'check' }, needsAck: false, checks: [], timeoutMs: 10 * M, onFailure: 'continue', ...over };
}
const book = (steps: RunbookStep[]): Runbook => ({ file: 'live-event.yaml', event: 'new-year', t0: T0, timeZone: 'Asia/Shanghai', steps });
const at = (id: string, offsetMs: number, over: Partial<RunbookStep> = {}) => step(id, { when: { kind: 'at', offsetMs }, ...over });
const states = (entries: [string, StepRecord][]): RunbookState => new Map(entries);

describe('the runbook scheduler', () => {
  const rb = book([
    at('freeze', -2 * 60 * M, { action: { kind: 'freeze', tiers: ['P0', 'P1'] } }),
    at('caps', -30 * M, { needsAck: true, action: { kind: 'cap', pipeline: 'live', recordsPerSecond: 8000 } }),
    at('go', 0, { phase: 'during' }),
    step('inspect', { phase: 'after', when: { kind: 'after', step: 'go', delayMs: 30 * M } }),
  ]);

  it('steps come due at T0 + their offset, in timeline order; later ones are scheduled', () => {
    const p = planRunbook(rb, new Map(), T0 - 2 * 60 * M + 1000);
    expect(p.due.map((v) => v.step.id)).toEqual(['freeze']);
    expect(p.steps.find((v) => v.step.id === 'caps')).toMatchObject({ state: 'scheduled', plannedAt: T0 - 30 * M });
    expect(p.steps.find((v) => v.step.id === 'inspect')).toMatchObject({ state: 'blocked', reason: 'waits for step go to end' });
  });

  it('a step that needs an ack waits for it, then is due; past its timeout it times out', () => {
    const s = states([['freeze', { status: 'done', endedAt: T0 - 119 * M }]]);
    expect(planRunbook(rb, s, T0 - 29 * M).steps.find((v) => v.step.id === 'caps')).toMatchObject({ state: 'waiting-ack', reason: expect.stringContaining('switchyard runbook ack new-year caps') });
    const acked = new Map([...s, ['caps', { status: 'acked', ackedAt: T0 - 29 * M, ackedBy: 'alice' } as StepRecord]]);
    expect(planRunbook(rb, acked, T0 - 29 * M).due.map((v) => v.step.id)).toEqual(['caps']);
    const late = planRunbook(rb, s, T0 - 19 * M);
    expect(late.timedOut.map((v) => v.step.id)).toEqual(['caps']);
    expect(late.due.map((v) => v.step.id)).toEqual([]);
  });

  it("an after-step is planned from its predecessor's actual end, not its plan", () => {
    const s = states([
      ['freeze', { status: 'done', endedAt: T0 - 119 * M }],
      ['caps', { status: 'done', endedAt: T0 - 28 * M }],
      ['go', { status: 'done', endedAt: T0 + 5 * M }],
    ]);
    const p = planRunbook(rb, s, T0 + 36 * M);
    expect(p.steps.find((v) => v.step.id === 'inspect')).toMatchObject({ plannedAt: T0 + 35 * M, state: 'due' });
  });

  it('a failed step that says abort stops everything after it; the runbook ends once nothing runs', () => {
    const abortBook = book([at('a', 0, { onFailure: 'abort' }), at('b', M)]);
    const p = planRunbook(abortBook, states([['a', { status: 'failed', endedAt: T0 + 1000, result: 'check failed: lag 9000 > 1000' }]]), T0 + 2 * M);
    expect(p.aborted).toBe('step a failed and says abort: check failed: lag 9000 > 1000');
    expect(p.due).toEqual([]);
    expect(p.steps.find((v) => v.step.id === 'b')).toMatchObject({ state: 'blocked' });
    expect(p.finished).toBe(true);
  });

  it('a failed step that says continue does not stop the others; the runbook is finished when every step ended', () => {
    const b = book([at('a', 0), at('b', M)]);
    const p = planRunbook(b, states([['a', { status: 'failed', endedAt: T0 + 1000 }]]), T0 + 2 * M);
    expect(p.aborted).toBeUndefined();
    expect(p.due.map((v) => v.step.id)).toEqual(['b']);
    expect(p.finished).toBe(false);
    expect(planRunbook(b, states([['a', { status: 'failed' }], ['b', { status: 'done' }]]), T0 + 3 * M).finished).toBe(true);
  });

  it('a step already running or ended is never due again (each step runs once)', () => {
    const b = book([at('a', 0)]);
    expect(planRunbook(b, states([['a', { status: 'running', startedAt: T0 }]]), T0 + 1000).due).toEqual([]);
    expect(planRunbook(b, states([['a', { status: 'done', endedAt: T0 }]]), T0 + 1000).due).toEqual([]);
  });
});

describe('a started runbook: its clock, the operators\' inputs, checkpoints', () => {
  it('a rehearsal clock runs the event from its origin at its speed; the real time of an event moment is its inverse', () => {
    const r = { realOrigin: 1_000_000, eventOrigin: T0 - 4 * 60 * M, speed: 200 };
    expect(eventTime(r, r.realOrigin)).toBe(T0 - 4 * 60 * M);
    expect(eventTime(r, r.realOrigin + 18_000)).toBe(T0 - 3 * 60 * M); // 18 s real = 1 h of event
    expect(realTime(r, T0)).toBe(r.realOrigin + 72_000);
    expect(realTime(r, eventTime(r, 1_234_567))).toBeCloseTo(1_234_567, 6);
    expect(eventTime(undefined, 42)).toBe(42);
    expect(realTime(undefined, 42)).toBe(42);
  });

  it('an ack makes a pending step acked; a skip ends one not started; neither touches a step already begun', () => {
    const s = states([['go', { status: 'running', startedAt: T0 }]]);
    const inputs = {
      acks: new Map([['caps', { by: 'erin', at: T0 - 40 * M }], ['go', { by: 'bob', at: T0 }]]),
      skips: new Map([['inspect', { by: 'lee', at: T0 - M, reason: 'not tonight' }], ['go', { by: 'lee', at: T0 }]]),
    };
    const out = withInputs(s, inputs);
    expect(out.get('caps')).toEqual({ status: 'acked', ackedAt: T0 - 40 * M, ackedBy: 'erin' });
    expect(out.get('inspect')).toEqual({ status: 'skipped', endedAt: T0 - M, by: 'lee', result: 'skipped by lee: not tonight' });
    expect(out.get('go')).toEqual({ status: 'running', startedAt: T0 });
    expect(abortReason(NO_INPUTS)).toBeUndefined();
    expect(abortReason({ ...NO_INPUTS, abort: { by: 'lee', at: T0, reason: 'show cancelled' } })).toBe('aborted by lee: show cancelled');
  });

  it('an operator abort blocks every step not begun, and the runbook is finished once none runs', () => {
    const rb = book([at('a', 0), at('b', M), at('c', 2 * M)]);
    const s = states([['a', { status: 'running', startedAt: T0 }]]);
    const p = planRunbook(rb, s, T0 + 3 * M, 'aborted by lee: show cancelled');
    expect(p.due).toEqual([]);
    expect(p.steps.map((v) => v.state)).toEqual(['running', 'blocked', 'blocked']);
    expect(p.finished).toBe(false); // a is still running
    expect(planRunbook(rb, states([['a', { status: 'done', endedAt: T0 }]]), T0 + 3 * M, 'aborted').finished).toBe(true);
  });

  const facts: RunbookFacts = {
    lagRecords: new Map([['live', 120]]),
    standbyGapMs: new Map([['live', 2500]]),
    p0Standbys: [
      { pipeline: 'live', chain: 'standby', room: 'room-b', status: 'OK', reason: 'ok' },
      { pipeline: 'orders', chain: 'standby', room: 'room-b', status: 'DOWN', reason: 'kafka refused' },
    ],
    olapDelaySec: new Map([['room-a', 4]]),
    switchesInProgress: ['orders'],
  };

  it('each check reads the published state and says why it does not hold, with the numbers; unknown is not a pass', () => {
    expect(checkProblem({ kind: 'lag-below', pipeline: 'live', records: 200 }, facts)).toBe('');
    expect(checkProblem({ kind: 'lag-below', pipeline: 'live', records: 120 }, facts)).toBe('live: consumer lag 120 record(s), not below 120');
    expect(checkProblem({ kind: 'lag-below', pipeline: 'other', records: 10 }, facts)).toBe('other: consumer lag unknown (no lag sample yet)');
    expect(checkProblem({ kind: 'standby-gap-below', pipeline: 'live', ms: 2000 }, facts)).toBe('live: standby 2500 ms behind, not below 2000 ms');
    expect(checkProblem({ kind: 'standby-gap-below', pipeline: 'other', ms: 2000 }, facts)).toMatch(/unknown/);
    expect(checkProblem({ kind: 'p0-standbys-healthy' }, facts)).toBe('orders: standby standby@room-b is DOWN (kafka refused)');
    expect(checkProblem({ kind: 'olap-replica-delay-below', room: 'room-a', seconds: 5 }, facts)).toBe('');
    expect(checkProblem({ kind: 'olap-replica-delay-below', room: 'room-b', seconds: 5 }, facts)).toBe('room-b: no OLAP replica delay reading');
    expect(checkProblem({ kind: 'no-switch-in-progress' }, facts)).toBe('switch under way for orders');
    expect(checkpoint([], facts)).toEqual({ passed: true, outcome: 'no checks' });
    expect(checkpoint([{ kind: 'lag-below', pipeline: 'live', records: 200 }, { kind: 'olap-replica-delay-below', room: 'room-a', seconds: 5 }], facts)).toEqual({ passed: true, outcome: '2 check(s) passed' });
    expect(checkpoint([{ kind: 'lag-below', pipeline: 'live', records: 200 }, { kind: 'no-switch-in-progress' }], facts)).toEqual({ passed: false, outcome: 'switch under way for orders' });
  });
});

describe('a started runbook as stored', () => {
  const started = { runbook: book([at('go', 0)]), startedBy: 'erin', startedAt: T0 - 60 * M };
  it('is accepted when its shape can be run, and refused naming the field otherwise', () => {
    expect(startedRunbookProblem(JSON.parse(JSON.stringify(started)))).toBe('');
    expect(startedRunbookProblem({ ...started, rehearsal: { realOrigin: 1, eventOrigin: 2, speed: 0 } })).toMatch(/^rehearsal is .*speed/);
    expect(startedRunbookProblem({ ...started, runbook: { ...started.runbook, t0: 'soon' } })).toBe('runbook.t0 is "soon", not a time');
    expect(startedRunbookProblem({ ...started, runbook: { ...started.runbook, steps: [{ ...at('go', 0), onFailure: 'shrug' }] } })).toBe('runbook.steps.0 (go): onFailure is "shrug", not abort|continue|page');
    expect(startedRunbookProblem({ ...started, runbook: { ...started.runbook, steps: [{ ...at('go', 0), when: { kind: 'after' } }] } })).toMatch(/^runbook.steps.0 \(go\): when is/);
    expect(stepRecordProblem({ status: 'done', endedAt: T0 })).toBe('');
    expect(stepRecordProblem({ status: 'finished' })).toMatch(/^status is "finished"/);
    expect(stepRecordProblem({ status: 'done', endedAt: 'later' })).toBe('endedAt is "later", not a time');
    expect(operatorInputProblem({ by: 'erin', at: T0 })).toBe('');
    expect(operatorInputProblem({ by: '', at: T0 })).toMatch(/^by is/);
  });
});

describe('review fixes', () => {
  it('a step skipped ahead of its time does not pull the steps after it forward', () => {
    const rb = book([at('drill', -2 * 60 * M), step('after-drill', { when: { kind: 'after', step: 'drill', delayMs: 10 * M } })]);
    const skipped = withInputs(new Map(), { acks: new Map(), skips: new Map([['drill', { by: 'lee', at: T0 - 6 * 60 * M, reason: 'done yesterday' }]]) });
    const p = planRunbook(rb, skipped, T0 - 5 * 60 * M);
    expect(p.steps.find((v) => v.step.id === 'after-drill')).toMatchObject({ state: 'scheduled', plannedAt: T0 - 2 * 60 * M + 10 * M });
    expect(p.due).toEqual([]);
  });

  it('a stored runbook with duplicate ids, a dangling after or an unknown zone is refused; an action is checked field by field', () => {
    const started = { runbook: book([at('go', 0)]), startedBy: 'erin', startedAt: T0 - 60 * M };
    expect(startedRunbookProblem({ ...started, runbook: { ...started.runbook, steps: [at('go', 0), at('go', M)] } })).toBe('runbook.steps: step ids are not unique');
    expect(startedRunbookProblem({ ...started, runbook: { ...started.runbook, steps: [step('x', { when: { kind: 'after', step: 'nope', delayMs: 0 } })] } })).toBe('runbook.steps.0 (x): when.step names no step of this runbook');
    expect(startedRunbookProblem({ ...started, runbook: { ...started.runbook, timeZone: 'Mars/Olympus' } })).toMatch(/^runbook.timeZone is "Mars\/Olympus", not an IANA time zone/);
    expect(runbookActionProblem({ kind: 'freeze', tiers: ['P0'] })).toBe('');
    expect(runbookActionProblem({ kind: 'freeze', tiers: 'P0' })).toBe('tiers is "P0", not a list of tiers');
    expect(runbookActionProblem({ kind: 'cap', pipeline: 'live', recordsPerSecond: -1 })).toBe('recordsPerSecond is -1, not a rate');
    expect(runbookActionProblem({ kind: 'launch-rockets' })).toBe('unknown action \'"launch-rockets"\'');
  });
});
