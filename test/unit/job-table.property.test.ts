import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { arbitrate, worstOf, type Arbitrated, type ObserverView } from '../../src/core/arbitration.js';
import { chainVerdict, componentVerdict, decide, INITIAL_STATE, type ControllerState } from '../../src/core/decide.js';
import { foldObservation, UNKNOWN_HEALTH, withStaleness, type ComponentHealth, type HealthStatus, type Observation } from '../../src/core/health.js';
import { jobView, type JobTable } from '../../src/core/job-table.js';
import { routeOn, testPipeline, testPolicy, testTopology } from '../support/model.js';

// The job table (src/core/job-table.ts) keeps stream jobs' views in flat arrays and folds a good
// probe of a job already up without foldObservation. Here it is checked against the plain model it
// replaced: per job and observer, foldObservation over the observations in time order (one per
// probe interval), then arbitrate() over the observers' views, worst part first for the chain.

const policy = testPolicy({ failoverOn: ['kafka', 'stream'], observersRequired: 2, fallAfter: 2, riseAfter: 3, staleAfterMs: 1000, probeIntervalMs: 250 });
const JOBS = ['agg-a', 'join-a', 'agg-b'] as const;
const topology = testTopology(
  [
    testPipeline('live', {}, [
      { name: 'primary', room: 'room-a', role: 'primary', jobs: ['agg-a', 'join-a'] },
      { name: 'standby', room: 'room-b', role: 'standby', jobs: ['agg-b'] },
    ]),
  ],
  [policy],
);
const chains = topology.pipelines.get('live')!.chains;
const roomOf = (job: string) => (job.endsWith('-a') ? 'room-a' : 'room-b');
const OBSERVERS = [
  ['obs-a', 'room-a'],
  ['obs-b', 'room-b'],
  ['obs-w', 'witness'],
] as const;
/** An observer that reports every job running for a while, then goes away (a replica restarted under a new id). */
const GONE = ['obs-gone', 'room-g'] as const;
/** An observer that probes Kafka only (no Flink endpoint to reach): Kafka can have more rooms up than a job. */
const KAFKA_ONLY = ['obs-k', 'witness-2'] as const;
const routes = new Map([['live', routeOn(topology, 'live', 'primary')]]);

const status = fc.constantFrom<HealthStatus>('OK', 'OK', 'OK', 'DEGRADED', 'DOWN', 'DOWN', 'UNKNOWN');
/** One observation's fate: silent, or a status, with an offset from the tick's time (a repeat, a too-soon probe). */
const report = fc.option(fc.record({ status, reason: fc.constantFrom('running', 'job is FAILED', 'backpressure high'), offset: fc.constantFrom(0, 0, 0, -250, 100) }), { nil: null, freq: 5 });
/** One tick: the gap since the last (sometimes long enough to go stale), and each observer's report of each job. */
/** Per observer: a confirmation read this tick (ADR 0019), as an offset from the tick's time, or none. */
const confirm = fc.array(fc.option(fc.constantFrom(-1000, -1200, -2500, 0), { nil: null, freq: 2 }), { minLength: OBSERVERS.length, maxLength: OBSERVERS.length });
const rough = fc.record({
  gap: fc.constantFrom(250, 250, 250, 100, 1500, 4000),
  confirm,
  reports: fc.array(fc.array(report, { minLength: JOBS.length, maxLength: JOBS.length }), { minLength: OBSERVERS.length, maxLength: OBSERVERS.length }),
  kafka: fc.array(fc.option(fc.constantFrom<HealthStatus>('OK', 'OK', 'DOWN'), { nil: null, freq: 4 }), { minLength: OBSERVERS.length + 1, maxLength: OBSERVERS.length + 1 }),
});
/** A calm tick: every observer sees every job running (the steady state the table takes a shortcut for). */
const calm = fc.record({
  gap: fc.constant(250),
  confirm,
  reports: fc.constant(OBSERVERS.map(() => JOBS.map(() => ({ status: 'OK' as HealthStatus, reason: 'running', offset: 0 })))),
  kafka: fc.array(fc.option(fc.constantFrom<HealthStatus>('OK', 'OK', 'DOWN'), { nil: null, freq: 4 }), { minLength: OBSERVERS.length + 1, maxLength: OBSERVERS.length + 1 }),
});
/** Runs of calm ticks between rough ones, so that both the steady state and its ends are reached. */
const tick = fc.oneof({ arbitrary: rough, weight: 1 }, { arbitrary: calm, weight: 3 });

/** The plain model: a view per job and observer, folded one observation at a time. */
class Reference {
  readonly views = new Map<string, Map<string, ComponentHealth>>();
  /** Observers in the order they first reported a job (the table's order). */
  readonly order: string[] = [];
  /** Per observer: its newest confirmation (what decide keeps). */
  readonly confirmed = new Map<string, number>();
  fold(o: Observation): void {
    if (!this.order.includes(o.observer)) this.order.push(o.observer);
    const views = this.views.get(o.subject!) ?? new Map<string, ComponentHealth>();
    this.views.set(o.subject!, views);
    const before = views.get(o.observer) ?? UNKNOWN_HEALTH;
    if (o.at <= before.lastAt) return;
    if (before.lastAt !== 0 && o.at - before.lastAt < policy.probeIntervalMs * 0.9) return;
    views.set(o.observer, foldObservation(before, o, policy));
  }
  verdict(job: string, now: number): Arbitrated {
    const list: ObserverView[] = [];
    for (const observer of this.order) {
      const h = this.views.get(job)?.get(observer);
      if (h) list.push({ observer, observerRoom: [...OBSERVERS, GONE].find(([o]) => o === observer)![1], health: withStaleness(h, now, policy, this.confirmed.get(observer)) });
    }
    return arbitrate(list, policy.observersRequired, `${roomOf(job)} stream ${job}`);
  }
}

const shape = (a: Arbitrated) => ({ status: a.status, reason: a.reason, firstBadAt: a.firstBadAt, upRooms: a.upRooms, downRooms: a.downRooms });

/** A deep copy of every view a table holds, to see that a later tick leaves it alone. */
function snapshot(table: JobTable | undefined): unknown {
  if (!table) return undefined;
  return table.observers.map((o) => JOBS.map((j) => jobView(table, o, j)));
}

describe('stream jobs in the flat job table', () => {
  it('fold and judge as foldObservation and arbitrate do (with staleness read through confirmations), and never change an earlier tick\'s table', () => {
    fc.assert(
      fc.property(fc.array(tick, { minLength: 1, maxLength: 40 }), fc.integer({ min: 0, max: 40 }), (ticks, goneAfter) => {
        let state: ControllerState = INITIAL_STATE;
        const ref = new Reference();
        let now = 1_000_000;
        for (const [index, t] of ticks.entries()) {
          now += t.gap;
          const observations: Observation[] = [];
          [...OBSERVERS, KAFKA_ONLY].forEach(([observer, observerRoom], i) => {
            const kafka = t.kafka[i];
            if (kafka) observations.push({ room: 'room-a', component: 'kafka', observer, observerRoom, at: now, status: kafka, reason: 'kafka' });
          });
          if (index < goneAfter) {
            for (const job of JOBS) observations.push({ room: roomOf(job), component: 'stream', subject: job, observer: GONE[0], observerRoom: GONE[1], at: now, status: 'OK', reason: 'running (gone soon)' });
          }
          OBSERVERS.forEach(([observer, observerRoom], i) => {
            JOBS.forEach((job, j) => {
              const r = t.reports[i]![j];
              if (r) observations.push({ room: roomOf(job), component: 'stream', subject: job, observer, observerRoom, at: now + r.offset, status: r.status, reason: r.reason });
            });
          });
          const sorted = [...observations].sort((a, b) => a.at - b.at);
          for (const o of sorted) if (o.component === 'stream') ref.fold(o);
          const confirmedAt = new Map<string, number>();
          OBSERVERS.forEach(([observer], i) => {
            const c = t.confirm[i];
            if (c === null || c === undefined) return;
            confirmedAt.set(observer, now + c);
            if (now + c > (ref.confirmed.get(observer) ?? -Infinity)) ref.confirmed.set(observer, now + c);
          });

          const before = state.health.get('P0')?.jobs;
          const frozen = snapshot(before);
          state = decide(topology, state, { now, observations, routes, confirmedAt }).next;
          expect(snapshot(before)).toEqual(frozen);

          const table = state.health.get('P0')?.jobs;
          for (const job of JOBS) {
            for (const [observer] of OBSERVERS) expect(table && jobView(table, observer, job)).toEqual(ref.views.get(job)?.get(observer));
            const named = chains.find((c) => c.jobs.includes(job))!;
            expect(shape(componentVerdict(state, policy, named.room, 'stream', now, job))).toEqual(shape(ref.verdict(job, now)));
          }
          for (const chain of chains) {
            const parts = [componentVerdict(state, policy, chain.room, 'kafka', now), ...chain.jobs.map((j) => ref.verdict(j, now))];
            expect(shape(chainVerdict(state, policy, chain, now))).toEqual(shape(worstOf(parts)));
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
