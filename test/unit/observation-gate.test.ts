import { describe, expect, it } from 'vitest';
import { ObservationGate } from '../../src/controller/controller.js';
import type { HealthStatus, Observation } from '../../src/core/health.js';

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
