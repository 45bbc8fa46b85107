import { describe, expect, it } from 'vitest';
import { parseAt, parseDuration } from '../../src/cli/time.js';

const NOW = Date.parse('2026-11-23T00:00:00Z');

describe('times and durations as operators type them', () => {
  it('takes ISO 8601 times with an offset, and +N{s,m,h}, within the next week', () => {
    expect(parseAt('2026-11-23T01:00:00Z', NOW)).toBe(NOW + 3_600_000);
    expect(parseAt('2026-11-23T09:00:00+08:00', NOW)).toBe(NOW + 3_600_000);
    expect(parseAt('+10m', NOW)).toBe(NOW + 600_000);
    expect(parseAt('+2h', NOW)).toBe(NOW + 7_200_000);
  });

  it('refuses what would be read as some other time: bare numbers, words, no offset, the past, past a week', () => {
    for (const bad of ['1', 'March 5', '2026-11-23T01:00:00', '2026-11-23', '2026-11-22T00:00:00Z', '2026-12-23T00:00:00Z', '+9999h', '+10', 'now']) {
      expect(parseAt(bad, NOW), bad).toBeUndefined();
    }
  });

  it('durations: digits and a unit, at most a week', () => {
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('168h')).toBe(7 * 24 * 3_600_000);
    for (const bad of ['9999999999h', '169h', '-5s', '1.5h', '30', 's', '']) expect(parseDuration(bad), bad).toBeUndefined();
  });
});
