import { describe, expect, it } from 'vitest';
import { PIPELINE_EVENTS, PIPELINE_STATES, TRANSITIONS, stateOfRole, transition, type PipelineEvent, type PipelineState } from '../../src/core/state-machine.js';

// The whole table, written out: every (state, event) pair and where it leads, or '-' for "not allowed".
const EXPECTED: Record<PipelineState, Partial<Record<PipelineEvent, PipelineState>>> = {
  UNROUTED: { 'route-missing': 'PRIMARY_ACTIVE', paused: 'PAUSED', 'no-quorum': 'FAIL_STATIC' },
  PRIMARY_ACTIVE: { 'active-healthy': 'PRIMARY_ACTIVE', 'fail-to-standby': 'FAILING_OVER', 'fail-to-fallback': 'FAILING_OVER', paused: 'PAUSED', 'no-quorum': 'FAIL_STATIC' },
  FAILING_OVER: { 'switch-written': 'STANDBY_ACTIVE', paused: 'PAUSED', 'no-quorum': 'FAIL_STATIC' },
  STANDBY_ACTIVE: {
    'active-healthy': 'STANDBY_ACTIVE',
    'fail-to-primary': 'FAILING_BACK',
    'fail-to-standby': 'FAILING_OVER',
    'fail-to-fallback': 'FAILING_OVER',
    'primary-recovered': 'FAILING_BACK',
    paused: 'PAUSED',
    'no-quorum': 'FAIL_STATIC',
  },
  FAILING_BACK: { 'switch-written': 'PRIMARY_ACTIVE', paused: 'PAUSED', 'no-quorum': 'FAIL_STATIC' },
  FALLBACK_ACTIVE: { 'active-healthy': 'FALLBACK_ACTIVE', 'fail-to-primary': 'FAILING_BACK', 'fail-to-standby': 'FAILING_OVER', 'primary-recovered': 'FAILING_BACK', paused: 'PAUSED', 'no-quorum': 'FAIL_STATIC' },
  PAUSED: { paused: 'PAUSED' },
  FAIL_STATIC: { 'no-quorum': 'FAIL_STATIC', paused: 'PAUSED' },
};

describe('pipeline state machine', () => {
  for (const state of PIPELINE_STATES) {
    for (const event of PIPELINE_EVENTS) {
      const want = EXPECTED[state][event];
      it(`${state} + ${event} -> ${want ?? 'not allowed'}`, () => {
        expect(transition(state, event)).toBe(want);
      });
    }
  }

  it('a paused pipeline leaves PAUSED by nothing automatic', () => {
    const exits = PIPELINE_EVENTS.map((e) => transition('PAUSED', e)).filter((s) => s !== undefined && s !== 'PAUSED');
    expect(exits).toEqual([]);
  });

  it('fail static is left by nothing automatic but a pause', () => {
    const exits = PIPELINE_EVENTS.map((e) => transition('FAIL_STATIC', e)).filter((s) => s !== undefined && s !== 'FAIL_STATIC');
    expect(exits).toEqual(['PAUSED']);
  });

  it('the table lists every state', () => {
    expect(Object.keys(TRANSITIONS).sort()).toEqual([...PIPELINE_STATES].sort());
  });

  it('a stored route implies the steady state of its chain role', () => {
    expect(stateOfRole(undefined)).toBe('UNROUTED');
    expect(stateOfRole('primary')).toBe('PRIMARY_ACTIVE');
    expect(stateOfRole('standby')).toBe('STANDBY_ACTIVE');
    expect(stateOfRole('fallback')).toBe('FALLBACK_ACTIVE');
  });
});
