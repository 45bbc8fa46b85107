import { describe, expect, it } from 'vitest';
import { planRunbook, type Runbook, type RunbookState, type RunbookStep, type StepRecord } from '../../src/core/runbook.js';

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
