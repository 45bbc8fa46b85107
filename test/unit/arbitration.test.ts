import { describe, expect, it } from 'vitest';
import { arbitrate, canServe, worstOf, type ObserverView } from '../../src/core/arbitration.js';
import { health } from '../support/model.js';

const view = (observer: string, observerRoom: string, status: 'OK' | 'DEGRADED' | 'DOWN' | 'UNKNOWN', firstBadAt?: number): ObserverView => ({
  observer,
  observerRoom,
  health: health(status, { firstBadAt, since: 5 }),
});

describe('arbitration between observers', () => {
  it('DOWN needs observers in the required number of distinct rooms', () => {
    const a = arbitrate([view('o-a', 'room-a', 'DOWN', 100), view('o-b', 'room-b', 'DOWN', 120)], 2, 'room-a kafka');
    expect(a.status).toBe('DOWN');
    expect(a.reason).toContain('DOWN per 2/2 observer room(s)');
    expect(a.firstBadAt).toBe(100);
  });

  it('two observers in the same room vote once: short of quorum is SUSPECT', () => {
    const a = arbitrate([view('o-1', 'room-b', 'DOWN'), view('o-2', 'room-b', 'DOWN'), view('o-3', 'room-a', 'OK')], 2, 'room-a kafka');
    expect(a.status).toBe('SUSPECT');
    expect(a.reason).toContain('short of the 2 required');
    expect(a.reason).toContain('o-3@room-a: OK');
  });

  it('one observer suffices when the tier requires one', () => {
    expect(arbitrate([view('o', 'room-c', 'DOWN')], 1, 'x').status).toBe('DOWN');
  });

  it('nobody DOWN: the best view wins; no fresh view at all is UNKNOWN', () => {
    expect(arbitrate([view('a', 'r1', 'DEGRADED'), view('b', 'r2', 'OK')], 2, 'x').status).toBe('OK');
    expect(arbitrate([view('a', 'r1', 'DEGRADED'), view('b', 'r2', 'UNKNOWN')], 2, 'x').status).toBe('DEGRADED');
    expect(arbitrate([view('a', 'r1', 'UNKNOWN')], 2, 'x').status).toBe('UNKNOWN');
    const none = arbitrate([], 2, 'room-b olap');
    expect(none).toMatchObject({ status: 'UNKNOWN', reason: 'room-b olap: no observer has reported' });
  });

  it('a target serves on a strict majority of observer rooms: a cut-off observer cannot veto', () => {
    // o-a is cut off and sees room-b DOWN; o-b and the witness see it OK.
    const target = arbitrate([view('o-a', 'room-a', 'DOWN'), view('o-b', 'room-b', 'OK'), view('o-w', 'witness', 'OK')], 2, 'room-b kafka');
    expect(target.status).toBe('SUSPECT');
    expect(canServe(target)).toBe(true);
    const tie = arbitrate([view('o-a', 'room-a', 'DOWN'), view('o-b', 'room-b', 'OK')], 2, 'room-b kafka');
    expect(canServe(tie)).toBe(false);
    expect(canServe(arbitrate([view('o', 'r', 'DOWN')], 1, 'x'))).toBe(false);
    expect(canServe(arbitrate([], 1, 'x'))).toBe(false);
  });

  it('a chain is as healthy as its weakest component', () => {
    const ok = arbitrate([view('a', 'r1', 'OK')], 1, 'kafka');
    const down = arbitrate([view('a', 'r1', 'DOWN')], 1, 'stream job-1');
    const suspect = arbitrate([view('a', 'r1', 'DOWN'), view('b', 'r2', 'OK')], 2, 'olap');
    expect(worstOf([ok, suspect, down]).reason).toContain('stream job-1');
    expect(worstOf([ok, suspect]).status).toBe('SUSPECT');
    expect(worstOf([]).status).toBe('UNKNOWN');
  });
});
