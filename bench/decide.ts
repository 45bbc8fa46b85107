// npm run bench:decide -- [--pipelines N] [--rooms N] [--ticks N] [--jobs-per-chain N]
// Times one decide() tick over every pipeline: observations from one observer per room (Kafka and
// OLAP per room, and each chain's stream jobs), all folded, arbitrated and judged. Prints a table,
// then ONE JSON line as the last line; its median_ms is the tick with stream jobs (target: <= 20 ms
// at 10,000 pipelines x 3 rooms x 2 jobs per chain).

import { performance } from 'node:perf_hooks';
import { decide, INITIAL_STATE, type ControllerState } from '../src/core/decide.js';
import type { Observation } from '../src/core/health.js';
import { routeFor, type Pipeline, type Room, type Topology } from '../src/core/model.js';
import { flag, median, percentile } from './stats.js';
import { benchPolicy } from './support/policy.js';

const argv = process.argv.slice(2);
const pipelines = flag(argv, 'pipelines', 10_000);
const roomCount = flag(argv, 'rooms', 3);
const ticks = flag(argv, 'ticks', 60);
const jobsPerChain = flag(argv, 'jobs-per-chain', 2);

const warmup = 10;

const policy = benchPolicy('P0', {
  failover: 'automatic', failback: 'manual', standby: 'hot', failoverOn: ['kafka', 'stream', 'olap'], fallAfter: 3, riseAfter: 5, observersRequired: 2,
  minDwellMs: 60_000, rtoObjectiveMs: 5000, duplicateMarginMs: 2000, capHeadroom: 0.8,
  dataBudget: { maxLossMs: 0, maxDuplicateMs: 10_000, maxWaitMs: 10_000 },
});
const roomNames = Array.from({ length: roomCount }, (_, i) => `room-${i}`);
const rooms = new Map<string, Room>(roomNames.map((name, i) => [name, { name, kafka: { brokers: [`127.0.0.1:${19092 + i}`] } }]));
function buildTopology(withJobs: boolean): { topology: Topology; routes: Map<string, ReturnType<typeof routeFor>> } {
  const pipelineMap = new Map<string, Pipeline>();
  for (let i = 0; i < pipelines; i++) {
    const name = `pipeline-${i}`;
    pipelineMap.set(name, {
      name, tier: 'P0', topics: [`topic-${i}`], consumerGroup: `group-${i}`,
      chains: [
        { name: 'primary', room: roomNames[i % roomCount]!, role: 'primary', jobs: withJobs ? Array.from({ length: jobsPerChain }, (_, j) => `job-${i}-a${j}`) : [] },
        { name: 'standby', room: roomNames[(i + 1) % roomCount]!, role: 'standby', jobs: withJobs ? Array.from({ length: jobsPerChain }, (_, j) => `job-${i}-b${j}`) : [] },
      ],
    });
  }
  const topology: Topology = { rooms, pipelines: pipelineMap, policies: new Map([['P0', policy]]) };
  return { topology, routes: new Map([...pipelineMap.values()].map((p) => [p.name, routeFor(topology, p, p.chains[0]!, 1, 0, 'bench')])) };
}

function observationsAt(topology: Topology, at: number, withJobs: boolean): Observation[] {
  const out: Observation[] = [];
  for (const observerRoom of roomNames) {
    const observer = `observer-${observerRoom}`;
    for (const room of roomNames) {
      for (const component of ['kafka', 'olap'] as const) out.push({ room, component, observer, observerRoom, at, status: 'OK', reason: 'ok' });
    }
    if (withJobs) {
      for (const p of topology.pipelines.values()) {
        for (const c of p.chains) for (const job of c.jobs) out.push({ room: c.room, component: 'stream', subject: job, observer, observerRoom, at, status: 'OK', reason: 'running' });
      }
    }
  }
  return out;
}

interface Run {
  readonly observations: number;
  readonly median: number;
  readonly p95: number;
  readonly max: number;
  readonly actions: number;
}

function run(withJobs: boolean): Run {
  const { topology, routes } = buildTopology(withJobs);
  let state: ControllerState = INITIAL_STATE;
  const times: number[] = [];
  let actions = 0;
  let observations = 0;
  for (let t = 0; t < warmup + ticks; t++) {
    const now = 1_000_000 + t * 250;
    const obs = observationsAt(topology, now, withJobs);
    observations = obs.length;
    const started = performance.now();
    const d = decide(topology, state, { now, observations: obs, routes });
    const ms = performance.now() - started;
    state = d.next;
    actions += d.actions.length;
    if (t >= warmup) times.push(ms);
  }
  const r = (x: number) => Number(x.toFixed(2));
  return { observations, median: r(median(times)), p95: r(percentile(times, 95)), max: r(Math.max(...times)), actions };
}

// Room level: pipelines whose chains are Kafka + OLAP (no stream-job subjects); every observer
// probes Kafka and OLAP of every room each tick (the controller's own loop). With jobs: every
// chain also names a stream job, observed by every observer every tick.
const roomLevel = run(false);
const withJobs = run(true);
console.log('workload                      pipelines  rooms  observations/tick  median_ms  p95_ms  max_ms');
for (const [name, r] of [['room-level (no jobs)', roomLevel], [`+ ${jobsPerChain} job(s) per chain`, withJobs]] as const) {
  console.log(`${name.padEnd(29)} ${String(pipelines).padStart(9)}  ${String(roomCount).padStart(5)}  ${String(r.observations).padStart(17)}  ${String(r.median).padStart(9)}  ${String(r.p95).padStart(6)}  ${String(r.max).padStart(6)}`);
}
console.log(`(${ticks} ticks each after ${warmup} warm-up ticks; p95 of ${ticks} samples)`);
console.log(
  JSON.stringify({
    bench: 'decide',
    pipelines,
    rooms: roomCount,
    observers: roomCount,
    jobs_per_chain: jobsPerChain,
    ticks,
    observations_per_tick: withJobs.observations,
    median_ms: withJobs.median,
    ...(ticks >= 20 ? { p95_ms: withJobs.p95 } : { max_ms: withJobs.max }),
    target_median_ms: 20,
    room_level: { observations_per_tick: roomLevel.observations, median_ms: roomLevel.median },
    actions: roomLevel.actions + withJobs.actions,
  }),
);
