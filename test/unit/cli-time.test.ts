import { describe, expect, it } from 'vitest';
import { parseAt, parseDuration } from '../../src/cli/time.js';
import { numericProblem } from '../../src/cli/numeric.js';

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

describe('numeric options are checked at the door (exit 2)', () => {
  it('rejects what is not a number, not whole where it must be, or out of range, naming the option', () => {
    expect(numericProblem('wait', 30)).toBe('');
    expect(numericProblem('wait', -1)).toBe('--wait must be between 0 and 86400 seconds, got -1');
    expect(numericProblem('interval', Number.NaN)).toBe('--interval must be a number of seconds, got NaN');
    expect(numericProblem('probe-timeout', 1e99)).toBe('--probe-timeout must be between 1 and 60000 milliseconds, got 1e+99');
    expect(numericProblem('http-port', 80.5)).toBe('--http-port must be a whole number, got 80.5');
    expect(numericProblem('timeout', undefined)).toBe('');
    expect(numericProblem('not-numeric', 'x')).toBe('');
  });
});

describe('times for people: UTC everywhere, plus the operator\'s zone when it is not UTC', () => {
  it('stamps', async () => {
    const { stamp } = await import('../../src/cli/time.js');
    const t = Date.parse('2026-11-26T03:00:05Z');
    expect(stamp(t, 'UTC')).toBe('2026-11-26 03:00:05 UTC');
    expect(stamp(t, 'Asia/Shanghai')).toBe('2026-11-26 03:00:05 UTC (26 Nov, 11:00 Asia/Shanghai)');
    expect(stamp(t, 'America/Los_Angeles')).toBe('2026-11-26 03:00:05 UTC (25 Nov, 19:00 America/Los_Angeles)');
    expect(stamp(Number.NaN, 'UTC')).toBe('-');
  });

  it('change windows in another zone are shown in UTC too, for that day', async () => {
    const { describeWindows } = await import('../../src/core/change-window.js');
    const now = Date.parse('2026-11-26T03:00:00Z');
    expect(describeWindows({ timeZone: 'Asia/Shanghai', windows: [{ fromMinute: 0, toMinute: 480 }] }, now)).toBe('00:00-08:00 Asia/Shanghai = 16:00-24:00 UTC');
    expect(describeWindows({ timeZone: 'Asia/Kolkata', windows: [{ fromMinute: 0, toMinute: 480 }] }, now)).toBe('00:00-08:00 Asia/Kolkata = 18:30-02:30 UTC');
    expect(describeWindows({ timeZone: 'UTC', windows: [{ fromMinute: 0, toMinute: 480 }] }, now)).toBe('00:00-08:00 UTC');
  });
});
