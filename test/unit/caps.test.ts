import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { capOf, recoveryEta, splitCap } from '../../src/core/caps.js';
import { capProblem } from '../../src/core/stored.js';

describe('cap arithmetic', () => {
  it('is the baseline times the headroom, in whole records per second', () => {
    expect(capOf(12_000, 0.8)).toBe(9600);
    expect(capOf(999, 0.5)).toBe(499);
  });

  it('splits 10,000/s over 4 tasks as 2,500 each (the source material\'s example)', () => {
    expect(splitCap(10_000, 4)).toEqual([2500, 2500, 2500, 2500]);
    expect(splitCap(10_001, 4)).toEqual([2501, 2500, 2500, 2500]);
    expect(splitCap(3, 4)).toEqual([1, 1, 1, 0]);
  });

  it('splits into shares that sum to the cap exactly and differ by at most one', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000_000 }), fc.integer({ min: 1, max: 512 }), (total, parts) => {
        const shares = splitCap(total, parts);
        expect(shares).toHaveLength(parts);
        expect(shares.reduce((a, b) => a + b, 0)).toBe(total);
        expect(Math.max(...shares) - Math.min(...shares)).toBeLessThanOrEqual(1);
      }),
    );
  });

  it('gives the recovery ETA as lag / (cap - inbound), or says it is not recovering', () => {
    expect(recoveryEta(60_000, 10_000, 4000)).toEqual({ kind: 'recovering', etaMs: 10_000 });
    expect(recoveryEta(0, 10_000, 12_000)).toEqual({ kind: 'caught-up' });
    expect(recoveryEta(5, 10_000, 10_000)).toMatchObject({ kind: 'not-recovering' });
  });

  it('refuses a stored cap of the wrong shape, naming the field', () => {
    const ok = { pipeline: 'p', room: 'room-a', epoch: 1, since: 1, recordsPerSecond: 100, paused: false, origin: 'baseline', reason: 'r' };
    expect(capProblem(ok)).toBe('');
    expect(capProblem({ ...ok, recordsPerSecond: -1 })).toMatch(/^recordsPerSecond is -1/);
    expect(capProblem({ ...ok, origin: 'magic' })).toMatch(/^origin/);
  });
});
