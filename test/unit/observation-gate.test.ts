import { describe, expect, it } from 'vitest';
import { ObservationGate } from '../../src/controller/controller.js';
import { confirmedAt, foldObservation, UNKNOWN_HEALTH, withStaleness, type HealthStatus, type Observation } from '../../src/core/health.js';

// staleAfterMs 2,000 at a 250 ms interval: heartbeat 1,000 ms; riseAfter 3.
const obs = (at: number, status: HealthStatus = 'OK', extra: Partial<Observation> = {}): Observation => ({ room: 'room-a', component: 'kafka', observer: 'o1', observerRoom: 'room-a', at, status, reason: '', ...extra });

/** Runs ticks every 250 ms from `from`, each with one observation of `status(at)`; returns the ticks that published. */
function run(gate: ObservationGate, from: number, ticks: number, status: (at: number) => HealthStatus = () => 'OK', extra: (at: number) => Partial<Observation> = () => ({})): number[] {
  const out: number[] = [];
  let recent: Observation[] = [];
  for (let i = 0; i < ticks; i++) {
    const at = from + i * 250;
    const now = [obs(at, status(at), extra(at))];
    recent = [...recent, ...now].slice(-32);
    if (gate.due(recent, now, at)) {
      gate.published(recent, at);
      out.push(at);
    }
  }
  return out;
}

describe('ObservationGate: an idle observer does not publish every tick', () => {
  it('all OK: publishes the first tick, then at most heartbeat apart (staleAfterMs / 2), never more often', () => {
    const published = run(new ObservationGate(1000, 250, 3), 0, 40);
    expect(published[0]).toBe(0);
    for (let i = 1; i < published.length; i++) expect(published[i]! - published[i - 1]!).toBe(1000);
    expect(published.length).toBe(10);
  });

  it('a DOWN observation is published at once, and every tick while the window holds anything not OK, plus riseAfter ticks', () => {
    const gate = new ObservationGate(1000, 250, 3);
    // DOWN from 5,000 to 6,000 ms; the window of 32 then holds it for 32 ticks (8 s).
    const published = run(gate, 0, 80, (at) => (at >= 5000 && at <= 6000 ? 'DOWN' : 'OK'));
    for (let at = 5000; at <= 6000 + 31 * 250 + 3 * 250; at += 250) expect(published).toContain(at);
    // Then back to the heartbeat.
    const after = published.filter((at) => at > 6000 + 35 * 250);
    for (let i = 1; i < after.length; i++) expect(after[i]! - after[i - 1]!).toBe(1000);
  });

  it('hurried probes (a client signal) publish every tick, OK or not', () => {
    const published = run(new ObservationGate(1000, 250, 3), 0, 20, () => 'OK', (at) => (at >= 2000 ? { hurried: true } : {}));
    for (let at = 2000; at < 5000; at += 250) expect(published).toContain(at);
  });

  it('a component seen for the first time is published at once', () => {
    const gate = new ObservationGate(1000, 250, 3);
    run(gate, 0, 4);
    const olap = obs(1000, 'OK', { component: 'olap' });
    expect(gate.due([obs(1000), olap], [obs(1000), olap], 1000)).toBe(true);
  });

  it('a publish that failed is not recorded: the next tick tries again', () => {
    const gate = new ObservationGate(1000, 250, 3);
    expect(gate.due([obs(0)], [obs(0)], 0)).toBe(true);
    // Not published (etcd failed): still due.
    expect(gate.due([obs(0), obs(250)], [obs(250)], 250)).toBe(true);
  });

  it('staleAfterMs of 2 x interval (the smallest allowed): publishes every tick', () => {
    expect(run(new ObservationGate(250, 250, 3), 0, 20)).toHaveLength(20);
  });
});

describe('ObservationGate with confirmations (ADR 0019): no heartbeat write', () => {
  it('all OK: publishes the first tick only', () => {
    expect(run(new ObservationGate(Infinity, 250, 3), 0, 400)).toEqual([0]);
  });

  it('still publishes a change at once, and every tick while anything is not OK', () => {
    const published = run(new ObservationGate(Infinity, 250, 3), 0, 80, (at) => (at >= 5000 && at <= 6000 ? 'DOWN' : 'OK'));
    expect(published[0]).toBe(0);
    for (let at = 5000; at <= 6000 + 31 * 250 + 3 * 250; at += 250) expect(published).toContain(at);
    expect(published.filter((at) => at > 0 && at < 5000)).toEqual([]);
  });

  it('forget (the lease was lost): the next tick publishes again', () => {
    const gate = new ObservationGate(Infinity, 250, 3);
    run(gate, 0, 10);
    expect(gate.due([obs(2500)], [obs(2500)], 2500)).toBe(false);
    gate.forget();
    expect(gate.due([obs(2750)], [obs(2750)], 2750)).toBe(true);
  });
});

describe('confirmedAt: what a renewed lease proves about a publication', () => {
  const th = { fallAfter: 3, riseAfter: 3, staleAfterMs: 2000 };
  const published = [obs(750), obs(1000), obs(1250), obs(1000, 'OK', { component: 'olap' }), obs(1250, 'OK', { room: 'room-b', hurried: true })];

  it('a renewal newer than an all-OK publication confirms it then', () => {
    expect(confirmedAt(published, 9000)).toBe(9000);
  });

  it('confirms nothing holding a not-OK or carried observation, nor when the renewal is not newer', () => {
    expect(confirmedAt([obs(1000), obs(1250, 'DOWN')], 9000)).toBeUndefined();
    expect(confirmedAt([obs(1000, 'DEGRADED')], 9000)).toBeUndefined();
    expect(confirmedAt([obs(1000), obs(500, 'OK', { carried: true })], 9000)).toBeUndefined();
    expect(confirmedAt(published, 1250)).toBeUndefined();
    expect(confirmedAt([], 9000)).toBeUndefined();
  });

  it('keeps a quiet observer\'s OK views fresh, lets a stalled one go stale, and never freshens a view that is not OK', () => {
    const fold = (list: readonly Observation[]) => list.filter((o) => o.room === 'room-a' && o.component === 'kafka').reduce((h, o) => foldObservation(h, o, th), UNKNOWN_HEALTH);
    const h = fold(published);
    // Renewed a second ago (the leader reads at 9,000): OK.
    expect(withStaleness(h, 9000, th, 8000).status).toBe('OK');
    // Not renewed for 2.5 s (a stalled tick loop): UNKNOWN, as with no confirmation at all.
    expect(withStaleness(h, 9000, th, 6500).status).toBe('UNKNOWN');
    expect(withStaleness(h, 9000, th).status).toBe('UNKNOWN');
    const down = fold([...published, obs(1500, 'DOWN'), obs(1750, 'DOWN'), obs(2000, 'DOWN')]);
    expect(down.status).toBe('DOWN');
    expect(withStaleness(down, 9000, th, 8000).status).toBe('UNKNOWN');
  });

  it('is not a probe: it adds nothing to a streak, and a DOWN right after it (on another clock) still counts', () => {
    const h = fold3([obs(1000), obs(1250), obs(1500)]);
    const good = h.goodStreak;
    // Confirmed at 1,700 by a reader whose clock runs 500 ms ahead; the observer's next probes say DOWN at 1,750, 2,000, 2,250.
    expect(withStaleness(h, 1900, th, 1700)).toEqual(h);
    const after = fold3([obs(1750, 'DOWN'), obs(2000, 'DOWN'), obs(2250, 'DOWN')], h);
    expect(h.goodStreak).toBe(good);
    expect(after.status).toBe('DOWN');
    expect(after.firstBadAt).toBe(1750);
  });
});

function fold3(list: readonly Observation[], from = UNKNOWN_HEALTH) {
  return list.reduce((h, o) => foldObservation(h, o, { fallAfter: 3, riseAfter: 3, staleAfterMs: 2000 }), from);
}
