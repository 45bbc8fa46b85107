import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { capOf, inboundRate, planCaps, quotaCorrection, recoveryEta, sameCap, SETTLED_DEADBAND, splitCap, type Baseline } from '../../src/core/caps.js';
import type { Topology } from '../../src/core/model.js';
import { testPipeline, testPolicy, testTopology } from '../support/model.js';
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

describe('planCaps', () => {
  const day = 86_400_000;
  const now = Date.parse('2026-11-26T00:00:00Z');
  const baseline = (pipeline: string, room: string, rate: number, over: Partial<Baseline> = {}): Baseline => ({
    file: `baselines/${pipeline}.${room}.yaml`,
    pipeline,
    room,
    ratePerSecond: rate,
    tasks: 4,
    measuredAt: now - 10 * day,
    measuredBy: 'alice',
    criteria: {
      inputLatencyMs: { limit: 1000, measured: 200 },
      backpressureRatio: { limit: 0.1, measured: 0 },
      cpuRatio: { limit: 0.6, measured: 0.4 },
      results: { expected: 1000, measured: 1000 },
    },
    ...over,
  });
  const policies = [
    testPolicy({ tier: 'P0', shedOrder: 0, capHeadroom: 0.8, recoveryObjectiveMs: 60_000 }),
    testPolicy({ tier: 'P2', shedOrder: 2, capHeadroom: 1 }),
    testPolicy({ tier: 'P3', shedOrder: 1, capHeadroom: 1 }),
  ];
  const pipelines = [testPipeline('p0', { tier: 'P0' }), testPipeline('p2', { tier: 'P2' }), testPipeline('p3', { tier: 'P3' })];
  function topo(baselines: Baseline[], capacity?: number): Topology {
    const t = testTopology(pipelines, policies);
    const rooms = new Map([...t.rooms].map(([n, r]) => [n, capacity !== undefined && n === 'room-b' ? { ...r, capacity: { recordsPerSecond: capacity } } : r]));
    const by = new Map<string, Map<string, Baseline>>();
    for (const b of baselines) by.set(b.pipeline, new Map([...(by.get(b.pipeline) ?? []), [b.room, b]]));
    return { ...t, rooms, baselines: by };
  }
  const on = (room: string) => new Map(pipelines.map((p) => [p.name, { room }]));
  const inRoom = (shed: ReadonlySet<string>, room = 'room-b') => new Map([...shed].map((p) => [p, room]));

  it('caps at the serving room\'s own baseline times the headroom (after a failover, the standby room\'s)', () => {
    const t = topo([baseline('p0', 'room-a', 10_000), baseline('p0', 'room-b', 6000)]);
    expect(planCaps(t, { now, routes: on('room-a') }).caps.get('p0')).toMatchObject({ room: 'room-a', recordsPerSecond: 8000, paused: false, origin: 'baseline' });
    expect(planCaps(t, { now, routes: on('room-b') }).caps.get('p0')).toMatchObject({ room: 'room-b', recordsPerSecond: 4800 });
  });

  it('refuses a stale baseline and one whose criteria did not pass, and says why', () => {
    const stale = topo([baseline('p0', 'room-a', 10_000, { measuredAt: now - 91 * day })]);
    const v = planCaps(stale, { now, routes: on('room-a') });
    expect(v.caps.has('p0')).toBe(false);
    expect(v.verdicts.find((x) => x.pipeline === 'p0')).toMatchObject({ rule: 'baseline-refused', reason: expect.stringMatching(/91 days ago, older than the tier allows \(90 days\)/) });
    const failed = topo([baseline('p0', 'room-a', 10_000, { criteria: { ...baseline('x', 'y', 1).criteria, cpuRatio: { limit: 0.6, measured: 0.7 } } })]);
    expect(planCaps(failed, { now, routes: on('room-a') }).verdicts.find((x) => x.pipeline === 'p0')!.reason).toMatch(/CPU 0.7 is over its limit 0.6/);
  });

  it('applies an override until it expires', () => {
    const t = topo([baseline('p0', 'room-a', 10_000)]);
    const overrides = new Map([['p0', { pipeline: 'p0', recordsPerSecond: 500, reason: 'event day', by: 'bob', at: now - 1000, until: now + 1000 }]]);
    expect(planCaps(t, { now, routes: on('room-a'), overrides }).caps.get('p0')).toMatchObject({ recordsPerSecond: 500, origin: 'override' });
    expect(planCaps(t, { now: now + 1000, routes: on('room-a'), overrides }).caps.get('p0')).toMatchObject({ recordsPerSecond: 8000, origin: 'baseline' });
  });

  it('sheds P3 before P2, never P0, and resumes them (last shed first) once the room has room with a margin', () => {
    const t = topo([], 10_000);
    const inbound = (p0: number) => new Map([['p0', p0], ['p2', 3000], ['p3', 3000]]);
    // 6000 + 3000 + 3000 = 12,000 > 10,000: shedding P3 (order 1) is enough.
    const a = planCaps(t, { now, routes: on('room-b'), inbound: inbound(6000) });
    expect([...a.shed]).toEqual(['p3']);
    expect(a.caps.get('p3')).toMatchObject({ paused: true, recordsPerSecond: 0, origin: 'shed' });
    // P0 alone now takes 9000: P2 goes too; P0 never does, even at 11,000.
    const b = planCaps(t, { now, routes: on('room-b'), inbound: inbound(9000), shed: inRoom(a.shed) });
    expect([...b.shed].sort()).toEqual(['p2', 'p3']);
    const c = planCaps(t, { now, routes: on('room-b'), inbound: inbound(11_000), shed: inRoom(b.shed) });
    expect(c.shed.has('p0')).toBe(false);
    // At 3000 with both shed: P2 back (6000 <= 9000), then P3 (9000 <= 9000).
    const d = planCaps(t, { now, routes: on('room-b'), inbound: inbound(3000), shed: inRoom(c.shed) });
    expect(d.shed.size).toBe(0);
    expect(d.steps).toEqual([expect.stringMatching(/^resumed p2/), expect.stringMatching(/^resumed p3/)]);
    // Just under capacity but above the margin: a shed tier stays shed (no flapping).
    const e = planCaps(t, { now, routes: on('room-b'), inbound: inbound(3500), shed: inRoom(new Set(['p3'])) });
    expect([...e.shed]).toEqual(['p3']);
  });

  it('a pipeline shed in another room counts as not shed where it is served now, and sheds nothing with it', () => {
    const t = topo([], 10_000);
    const inbound = new Map([['p0', 5000], ['p2', 1000], ['p3', 1000]]);
    // p3 was shed in room-a; in room-b (7,000 of 10,000) nothing needs shedding.
    const r = planCaps(t, { now, routes: on('room-b'), inbound, shed: new Map([['p3', 'room-a']]) });
    expect(r.shed.size).toBe(0);
  });

  it('counts a capped pipeline as taking its cap, not its flood', () => {
    // p0 is capped at 8,000 in room-b and flooded at 20,000/s: its job takes 8,000; with p2 and p3 at 1,000: 10,000, no shedding.
    const t = topo([baseline('p0', 'room-b', 10_000)], 10_000);
    const r = planCaps(t, { now, routes: on('room-b'), inbound: new Map([['p0', 20_000], ['p2', 1000], ['p3', 1000]]) });
    expect(r.shed.size).toBe(0);
  });

  it('gives each capped pipeline its recovery ETA and alerts past the tier\'s objective', () => {
    const t = topo([baseline('p0', 'room-a', 10_000)]);
    const ok = planCaps(t, { now, routes: on('room-a'), inbound: new Map([['p0', 4000]]), lag: new Map([['p0', 200_000]]) }).verdicts.find((v) => v.pipeline === 'p0')!;
    expect(ok).toMatchObject({ eta: { kind: 'recovering', etaMs: 50_000 }, alert: false });
    const slow = planCaps(t, { now, routes: on('room-a'), inbound: new Map([['p0', 7000]]), lag: new Map([['p0', 200_000]]) }).verdicts.find((v) => v.pipeline === 'p0')!;
    expect(slow).toMatchObject({ eta: { kind: 'recovering', etaMs: 200_000 }, alert: true });
    const stuck = planCaps(t, { now, routes: on('room-a'), inbound: new Map([['p0', 9000]]), lag: new Map([['p0', 10]]) }).verdicts.find((v) => v.pipeline === 'p0')!;
    expect(stuck).toMatchObject({ eta: { kind: 'not-recovering' }, alert: true });
  });
});

describe('inboundRate', () => {
  const sample = (at: number, a0: number, a1: number) => ({ room: 'room-a', at, partitions: [{ topic: 'a', partition: 0, logEnd: a0 }, { topic: 'a', partition: 1, logEnd: a1 }, { topic: 'other', partition: 0, logEnd: at }] });
  it('is the growth of the topics\' log ends over the window, per second', () => {
    const h = [sample(0, 0, 0), sample(5000, 10_000, 5000), sample(10_000, 20_000, 10_000)];
    expect(inboundRate(h, ['a'], 5000)).toBe(3000);
    expect(inboundRate(h, ['a'], 10_000)).toBe(3000);
  });
  it('is unknown until the history reaches back a whole window, or when a log end went backwards', () => {
    expect(inboundRate([sample(0, 0, 0), sample(4000, 100, 100)], ['a'], 5000)).toBeUndefined();
    expect(inboundRate([sample(0, 500, 0), sample(5000, 100, 100)], ['a'], 5000)).toBeUndefined();
  });
});

describe('quotaCorrection', () => {
  const held = (rate: number, backlog = 10_000) => Array.from({ length: 12 }, (_, i) => ({ at: i * 1000, committed: rate * i, logEnd: rate * i + backlog }));
  it('moves the factor toward cap / rate while the consumer is held by its quota, at most 10 % a step', () => {
    // Half-way toward cap / rate: 6 % under -> +3 %.
    expect(quotaCorrection(1, 1000, held(940), 10_000).factor).toBeCloseTo(1 + (1000 / 940 - 1) / 2, 5);
    expect(quotaCorrection(1, 1000, held(500), 10_000).factor).toBeCloseTo(1.1, 5);
    expect(quotaCorrection(1.05, 1000, held(1100), 10_000).factor).toBeCloseTo(1.05 * (1 + (1000 / 1100 - 1) / 2), 5);
    // Within 2 % of the cap it stays.
    expect(quotaCorrection(1.05, 1000, held(985), 10_000).factor).toBe(1.05);
    // Once settled, a wider band: a 3.5 % swing is the throttle cycle, not a reason to move.
    expect(quotaCorrection(1.05, 1000, held(965), 10_000).factor).not.toBe(1.05);
    expect(quotaCorrection(1.05, 1000, held(965), 10_000, SETTLED_DEADBAND).factor).toBe(1.05);
    expect(quotaCorrection(1.05, 1000, held(950), 10_000, SETTLED_DEADBAND).factor).not.toBe(1.05);
  });
  it('reads the rate as the slope over the window, so commits that come in steps do not swing it', () => {
    // Commits every 2 s (nothing between), at 940/s in truth: the slope says ~940, not the end points' jitter.
    const stepped = Array.from({ length: 21 }, (_, i) => ({ at: i * 500, committed: 940 * Math.floor((i * 500) / 2000) * 2, logEnd: 1e9 }));
    expect(quotaCorrection(1, 1000, stepped, 10_000).rate).toBeGreaterThan(900);
    expect(quotaCorrection(1, 1000, stepped, 10_000).rate).toBeLessThan(980);
  });

  it('stays put without a whole window of backlog (a consumer short of input is not held by its quota), or of samples', () => {
    expect(quotaCorrection(1.02, 1000, held(600, 500), 10_000)).toMatchObject({ factor: 1.02 });
    expect(quotaCorrection(1.02, 1000, held(600).slice(0, 5), 10_000)).toMatchObject({ factor: 1.02 });
  });
  it('stays within [0.5, 2]', () => {
    expect(quotaCorrection(1.95, 1000, held(100), 10_000).factor).toBe(2);
    expect(quotaCorrection(0.52, 1000, held(5000), 10_000).factor).toBe(0.5);
  });
});

describe('sameCap', () => {
  const stored = { pipeline: 'p', epoch: 3, room: 'room-a', recordsPerSecond: 800, paused: false, origin: 'baseline' as const, reason: 'r', since: 1 };
  it('is the same cap when room, rate, pause and origin agree, whatever the reason says', () => {
    expect(sameCap(stored, { pipeline: 'p', room: 'room-a', recordsPerSecond: 800, paused: false, origin: 'baseline', reason: 'other words' })).toBe(true);
    expect(sameCap(stored, { pipeline: 'p', room: 'room-b', recordsPerSecond: 800, paused: false, origin: 'baseline', reason: 'r' })).toBe(false);
    expect(sameCap(stored, { pipeline: 'p', room: 'room-a', recordsPerSecond: 0, paused: true, origin: 'shed', reason: 'r' })).toBe(false);
  });
  it('counts a missing record and an uncapped one alike', () => {
    expect(sameCap(undefined, undefined)).toBe(true);
    expect(sameCap({ ...stored, origin: 'uncapped' }, undefined)).toBe(true);
    expect(sameCap(undefined, { pipeline: 'p', room: 'room-a', recordsPerSecond: 0, paused: false, origin: 'uncapped', reason: 'r' })).toBe(true);
    expect(sameCap(stored, undefined)).toBe(false);
  });
});
