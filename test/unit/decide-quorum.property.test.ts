import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decide, INITIAL_STATE, type Decision } from '../../src/core/decide.js';
import type { HealthStatus, Observation } from '../../src/core/health.js';
import type { Route } from '../../src/core/model.js';
import { NO_INTENTS, type Intents } from '../../src/core/safety.js';
import { routeOn, testPipeline, testPolicy, testTopology } from '../support/model.js';

const ROOMS = ['room-a', 'room-b', 'room-c'] as const;
const OBSERVERS = [
  ['obs-a', 'room-a'],
  ['obs-b', 'room-b'],
  ['obs-w', 'witness'],
] as const;
const policy = testPolicy({ failoverOn: ['kafka'], observersRequired: 2, fallAfter: 3, riseAfter: 2, minDwellMs: 5000, maxSwitchesPerHour: 1000, staleAfterMs: 10_000 });
const topology = testTopology(
  [testPipeline('live', {}, [
    { name: 'primary', room: 'room-a', role: 'primary', jobs: [] },
    { name: 'standby', room: 'room-b', role: 'standby', jobs: [] },
    { name: 'core-only', room: 'room-c', role: 'fallback', jobs: [] },
  ])],
  [policy],
);

const status = fc.constantFrom<HealthStatus>('OK', 'OK', 'DEGRADED', 'DOWN', 'DOWN', 'UNKNOWN');
/** One tick: each observer's view of each room (or silence, as null). */
const tick = fc.array(fc.array(fc.option(status, { nil: null, freq: 6 }), { minLength: 3, maxLength: 3 }), { minLength: 3, maxLength: 3 });
const ticks = fc.array(tick, { minLength: 5, maxLength: 60 });

interface Sim {
  decisions: Decision[];
  switches: { at: number; from: Route; to: Route; oracleDownRooms: number }[];
  routes: Route[];
}

/** An independent, minimal model of one observer's debounce (no staleness: every run is short). */
class Reference {
  private s = new Map<string, { status: 'OK' | 'DOWN' | 'UNKNOWN'; bad: number; good: number }>();
  see(observer: string, room: string, st: HealthStatus): void {
    const k = `${observer}/${room}`;
    const v = this.s.get(k) ?? { status: 'UNKNOWN' as const, bad: 0, good: 0 };
    const bad = st === 'DOWN' || st === 'UNKNOWN';
    const next = bad ? { ...v, bad: v.bad + 1, good: 0 } : { ...v, good: v.good + 1, bad: 0 };
    if (bad && next.bad >= policy.fallAfter) next.status = 'DOWN';
    if (!bad && (v.status === 'OK' || next.good >= policy.riseAfter)) next.status = 'OK';
    this.s.set(k, next);
  }
  downRooms(room: string): number {
    return new Set(OBSERVERS.filter(([o]) => this.s.get(`${o}/${room}`)?.status === 'DOWN').map(([, r]) => r)).size;
  }
}

function simulate(seq: (HealthStatus | null)[][][], intents: Intents = NO_INTENTS): Sim {
  let state = INITIAL_STATE;
  let route = routeOn(topology, 'live', 'primary', 1, 0);
  const sim: Sim = { decisions: [], switches: [], routes: [] };
  const ref = new Reference();
  let now = 100_000;
  for (const t of seq) {
    now += 250;
    const observations: Observation[] = [];
    OBSERVERS.forEach(([observer, observerRoom], oi) => {
      ROOMS.forEach((room, ri) => {
        const st = t[oi]![ri];
        if (st === null || st === undefined) return;
        observations.push({ room, component: 'kafka', observer, observerRoom, at: now, status: st, reason: st });
        ref.see(observer, room, st);
      });
    });
    const d = decide(topology, state, { now, observations, routes: new Map([['live', route]]), intents });
    state = d.next;
    sim.decisions.push(d);
    for (const a of d.actions) {
      if (a.kind !== 'switch-route') continue;
      sim.switches.push({ at: now, from: route, to: a.route, oracleDownRooms: ref.downRooms(route.room) });
      route = a.route; // what a successful executor would store
    }
    sim.routes.push(route);
  }
  return sim;
}

describe('decide: properties over random observation sequences (3 observers, quorum 2)', () => {
  it('the route always names one of the pipeline\'s chains: never zero serving chains', () => {
    fc.assert(
      fc.property(ticks, (seq) => {
        const chains = new Set(topology.pipelines.get('live')!.chains.map((c) => c.name));
        for (const r of simulate(seq).routes) expect(chains.has(r.chain)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('no automatic switch without observers in 2 rooms seeing the active chain DOWN', () => {
    fc.assert(
      fc.property(ticks, (seq) => {
        for (const s of simulate(seq).switches) expect(s.oracleDownRooms).toBeGreaterThanOrEqual(2);
      }),
      { numRuns: 300 },
    );
  });

  it('no switch inside the min dwell, epochs rise by one per switch', () => {
    fc.assert(
      fc.property(ticks, (seq) => {
        const { switches } = simulate(seq);
        for (let i = 0; i < switches.length; i++) {
          expect(switches[i]!.to.epoch).toBe(switches[i]!.from.epoch + 1);
          if (i > 0) expect(switches[i]!.at - switches[i - 1]!.at).toBeGreaterThanOrEqual(policy.minDwellMs);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('a paused pipeline never changes', () => {
    fc.assert(
      fc.property(ticks, fc.boolean(), (seq, all) => {
        const intents = all ? { ...NO_INTENTS, pausedAll: true } : { ...NO_INTENTS, paused: new Set(['live']) };
        const sim = simulate(seq, intents);
        expect(sim.decisions.every((d) => d.actions.length === 0 && d.verdicts[0]!.state === 'PAUSED')).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('equal inputs give equal outputs', () => {
    fc.assert(
      fc.property(ticks, (seq) => {
        expect(simulate(seq)).toEqual(simulate(seq));
      }),
      { numRuns: 100 },
    );
  });

  it('the generator does produce switches (the properties above are not vacuous)', () => {
    let switched = 0;
    fc.assert(
      fc.property(ticks, (seq) => {
        switched += simulate(seq).switches.length;
      }),
      { numRuns: 200, seed: 42 },
    );
    expect(switched).toBeGreaterThan(5);
  });
});
