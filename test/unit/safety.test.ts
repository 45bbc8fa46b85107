import { describe, expect, it } from 'vitest';
import { dataBudgetGate } from '../../src/core/data-budget.js';
import { dwellRule, gateRule, NO_INTENTS, pausedRule, rateRule } from '../../src/core/safety.js';
import { describeWindows, localMinuteOfDay, outsideChangeWindow, parseClock } from '../../src/core/change-window.js';
import { routeOn, testPolicy, testTopology } from '../support/model.js';

const topology = testTopology();
const policy = testPolicy({ minDwellMs: 60_000, maxSwitchesPerHour: 3 });

describe('safety rules', () => {
  it('pause: per pipeline and global', () => {
    expect(pausedRule('live', NO_INTENTS)).toBe('');
    expect(pausedRule('live', { ...NO_INTENTS, paused: new Set(['live']) })).toContain('live is paused');
    expect(pausedRule('other', { ...NO_INTENTS, paused: new Set(['live']) })).toBe('');
    expect(pausedRule('live', { ...NO_INTENTS, pausedAll: true })).toContain('every pipeline is paused');
  });

  it('the gating switch blocks automatic switches', () => {
    expect(gateRule(NO_INTENTS)).toBe('');
    expect(gateRule({ ...NO_INTENTS, automaticGateClosed: true })).toContain('gate is closed');
  });

  it('min dwell counts from the last switch, not from the first route', () => {
    expect(dwellRule(routeOn(topology, 'live', 'primary', 1, 1000), policy, 2000)).toBe('');
    expect(dwellRule(routeOn(topology, 'live', 'standby', 2, 1000), policy, 2000)).toBe('the last switch was 1000 ms ago (min dwell 60000 ms)');
    expect(dwellRule(routeOn(topology, 'live', 'standby', 2, 1000), policy, 61_000)).toBe('');
  });

  it('at most maxSwitchesPerHour switches in any hour', () => {
    const now = 10 * 3_600_000;
    const recent = [now - 3_000_000, now - 2_000_000, now - 1_000_000];
    expect(rateRule(routeOn(topology, 'live', 'standby', 4, now - 1_000_000, recent), policy, now)).toBe('3 switches in the last hour already (max 3 per hour)');
    const older = [now - 4_000_000, now - 2_000_000, now - 1_000_000];
    expect(rateRule(routeOn(topology, 'live', 'standby', 4, now - 1_000_000, older), policy, now)).toBe('');
  });
});

describe('data-budget gate', () => {
  const budget = { maxLossMs: 0, maxDuplicateMs: 5000 };
  const base = { budget, forced: false, waitedMs: 0, maxWaitMs: 10_000 };
  const est = (unreplicatedMs: number, replayMs: number, partition = 0) => ({ topic: 't', partition, unreplicatedMs, replayMs });

  it('ok within budget, naming the numbers', () => {
    const a = dataBudgetGate({ ...base, estimates: [est(0, 2000), est(0, 3000, 1)] });
    expect(a).toEqual({ kind: 'ok', reason: 'within the data budget: estimated loss 0 ms (budget 0), duplicates 3000 ms (budget 5000)' });
  });

  it('a lossy switch waits for the standby, then stops; forcing passes', () => {
    const lossy = [est(0, 1000), est(1500, 1000, 2)];
    const wait = dataBudgetGate({ ...base, estimates: lossy });
    expect(wait.kind).toBe('retry');
    expect(wait.reason).toContain('estimated loss 1500 ms on t/2 exceeds the budget 0 ms');
    expect(dataBudgetGate({ ...base, estimates: lossy, waitedMs: 10_000 }).kind).toBe('stop');
    const forced = dataBudgetGate({ ...base, estimates: lossy, forced: true });
    expect(forced.kind).toBe('ok');
    expect(forced.reason).toContain('forced past the data budget');
  });

  it('too many duplicates cannot improve by waiting: stop at once', () => {
    const a = dataBudgetGate({ ...base, estimates: [est(0, 9000)] });
    expect(a.kind).toBe('stop');
    expect(a.reason).toContain('duplicate window 9000 ms on t/0 exceeds the budget 5000 ms');
  });

  it('no estimate: ok, and says so', () => {
    expect(dataBudgetGate({ ...base, estimates: undefined })).toEqual({ kind: 'ok', reason: 'no data estimate available; the budget cannot be checked' });
  });
});

describe('change windows', () => {
  // 2026-11-22T01:30:00Z is 09:30 in Asia/Shanghai (UTC+8).
  const t = Date.UTC(2026, 10, 22, 1, 30);
  const core = { timeZone: 'Asia/Shanghai', windows: [{ fromMinute: 0, toMinute: 480 }] };

  it('reads the local time in the policy time zone', () => {
    expect(localMinuteOfDay(t, 'Asia/Shanghai')).toBe(9 * 60 + 30);
    expect(localMinuteOfDay(t, 'UTC')).toBe(90);
  });

  it('outside 00:00-08:00 Shanghai at 09:30 local, inside at 07:59', () => {
    expect(outsideChangeWindow(t, core)).toBe('it is 09:30 in Asia/Shanghai (01:30 UTC), outside the change window 00:00-08:00 Asia/Shanghai = 16:00-24:00 UTC');
    expect(outsideChangeWindow(Date.UTC(2026, 10, 21, 23, 59), core)).toBe('');
  });

  it('windows may cross midnight; the end is exclusive', () => {
    const night = { timeZone: 'UTC', windows: [{ fromMinute: 22 * 60, toMinute: 2 * 60 }] };
    expect(outsideChangeWindow(Date.UTC(2026, 0, 1, 23, 0), night)).toBe('');
    expect(outsideChangeWindow(Date.UTC(2026, 0, 1, 1, 59), night)).toBe('');
    expect(outsideChangeWindow(Date.UTC(2026, 0, 1, 2, 0), night)).not.toBe('');
    expect(describeWindows(night)).toBe('22:00-02:00 UTC');
  });

  it('parses clock times', () => {
    expect(parseClock('00:00')).toBe(0);
    expect(parseClock('24:00')).toBe(1440);
    expect(parseClock('24:01')).toBeUndefined();
    expect(parseClock('7:00')).toBeUndefined();
  });
});
