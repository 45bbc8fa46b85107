// Builders for the core's compiled model, for unit tests. Defaults follow policies/p0.yaml.
import type { ComponentHealth, Observation } from '../../src/core/health.js';
import { routeFor, type Chain, type Pipeline, type Route, type TierPolicy, type Topology } from '../../src/core/model.js';

export function testPolicy(over: Partial<TierPolicy> = {}): TierPolicy {
  return {
    tier: 'P0',
    failover: 'automatic',
    failback: 'manual',
    standby: 'hot',
    failoverOn: ['kafka', 'stream', 'olap'],
    probeIntervalMs: 250,
    probeTimeoutMs: 200,
    fallAfter: 3,
    riseAfter: 2,
    staleAfterMs: 2000,
    observersRequired: 1,
    minDwellMs: 60_000,
    maxSwitchesPerHour: 3,
    rtoObjectiveMs: 5000,
    duplicateMarginMs: 2000,
    dataBudget: { maxLossMs: 0, maxDuplicateMs: 10_000, maxWaitMs: 10_000 },
    changeWindows: { timeZone: 'UTC', windows: [{ fromMinute: 0, toMinute: 1440 }] },
    shedOrder: 0,
    capHeadroom: 0.8,
    baselineMaxAgeMs: 90 * 86_400_000,
    recoveryObjectiveMs: 600_000,
    streamJobs: { maxCheckpointAgeMs: 60_000, maxRestarts: 3, restartWindowMs: 300_000, maxFailedCheckpoints: 5 },
    source: 'test',
    ...over,
  };
}

export function testPipeline(name: string, over: Partial<Pipeline> = {}, chains?: Chain[]): Pipeline {
  return {
    name,
    tier: 'P0',
    topics: [`${name}-events`],
    consumerGroup: `${name}-group`,
    chains: chains ?? [
      { name: 'primary', room: 'room-a', role: 'primary', jobs: [] },
      { name: 'standby', room: 'room-b', role: 'standby', jobs: [] },
    ],
    ...over,
  };
}

export function testTopology(pipelines: Pipeline[] = [testPipeline('live')], policies: TierPolicy[] = [testPolicy()], rooms = ['room-a', 'room-b', 'room-c']): Topology {
  return {
    rooms: new Map(rooms.map((r, i) => [r, { name: r, kafka: { brokers: [`127.0.0.1:${19092 + i * 10000}`] } }])),
    pipelines: new Map(pipelines.map((p) => [p.name, p])),
    policies: new Map(policies.map((p) => [p.tier, p])),
  };
}

export function routeOn(topology: Topology, pipeline: string, chain: string, epoch = 1, since = 0, history: number[] = []): Route {
  const p = topology.pipelines.get(pipeline)!;
  return routeFor(topology, p, p.chains.find((c) => c.name === chain)!, epoch, since, 'test', history);
}

export function obs(room: string, status: Observation['status'], at: number, over: Partial<Observation> = {}): Observation {
  return { room, component: 'kafka', observer: 'obs-1', observerRoom: 'room-c', at, status, reason: `probe says ${status}`, ...over };
}

export function health(status: ComponentHealth['status'], over: Partial<ComponentHealth> = {}): ComponentHealth {
  return { status, reason: status.toLowerCase(), badStreak: 0, goodStreak: 0, since: 0, lastAt: 1, firstBadAt: undefined, ...over };
}
