// The compiled model the core reasons about. Files on disk are validated and defaulted into these
// types once, at the edge (src/config); nothing inside the core ever sees raw YAML.

export const TIERS = ['P0', 'P1', 'P2', 'P3'] as const;
export type TierName = (typeof TIERS)[number];

import type { ChangeWindows } from './change-window.js';
import type { DataBudget } from './data-budget.js';
import type { Component } from './health.js';
import type { Baseline } from './caps.js';

export type FailoverMode = 'automatic' | 'manual' | 'none';
export type StandbyMode = 'hot' | 'warm' | 'none';

export interface TierPolicy {
  readonly tier: TierName;
  readonly failover: FailoverMode;
  readonly failback: FailoverMode;
  /** How often every room is probed. */
  readonly probeIntervalMs: number;
  /** A probe that has not answered by then counts as failed. Must be below the interval. */
  readonly probeTimeoutMs: number;
  /**
   * After a client's push signal about a room (its SDK saw a connection fail), the observers
   * probe every this many ms for a while, and this tier counts those probes at this spacing: a
   * dead room is convicted by `fallAfter` probes this far apart instead of a probe interval
   * apart. Absent or 0: signals do not speed this tier's detection (ADR 0018).
   */
  readonly signalIntervalMs?: number;
  /** Consecutive bad observations before a room counts as DOWN. */
  readonly fallAfter: number;
  /** Consecutive good observations before a DOWN or UNKNOWN room counts as OK again. */
  readonly riseAfter: number;
  /** An observation older than this no longer counts: the room becomes UNKNOWN. */
  readonly staleAfterMs: number;
  /** No automatic switch of a pipeline sooner than this after its previous switch. */
  readonly minDwellMs: number;
  /**
   * When a consumer moves rooms it restarts from (last processed event time - margin): records
   * in that window may be processed twice; nothing older than the watermark is skipped.
   */
  readonly duplicateMarginMs: number;
  /** How the standby chain runs: hot (consuming, ready), warm (deployed, idle) or none. */
  readonly standby: StandbyMode;
  /**
   * Routes name the failover target's room, and SDK consumers keep a paused consumer joined to
   * the group there, so a flip is a seek and a resume, not a group join (issue 19). Absent: off.
   */
  readonly joinStandby?: boolean;
  /** Components whose failure (by quorum) makes this tier fail over on its own. */
  readonly failoverOn: readonly Component[];
  /** Observers in this many distinct rooms (a witness counts as one) must agree a chain is DOWN. */
  readonly observersRequired: number;
  /** No more automatic switches of one pipeline than this within any hour. */
  readonly maxSwitchesPerHour: number;
  /** What the tier promises: failure to serving again, in ms. Reported against, not enforced. */
  readonly rtoObjectiveMs: number;
  readonly dataBudget: DataBudget & { readonly maxWaitMs: number; readonly onUnknown?: 'refuse' | 'allow' };
  /** Who copies what a lossy switch left in the old room, once it is back (ADR 0009). */
  readonly backfill?: 'automatic' | 'manual';
  /** When planned changes (releases, manual switchovers, automatic failback) are allowed. */
  readonly changeWindows: ChangeWindows;
  /** Under resource shortage, tiers are shed in ascending order; 0 = never shed. */
  readonly shedOrder: number;
  /** The fraction of a stress-tested baseline enforced as the source cap. */
  readonly capHeadroom: number;
  /** A baseline measured longer ago than this is refused (its cap is not applied). */
  readonly baselineMaxAgeMs: number;
  /** After a flood, a capped source's lag should drain within this: a longer recovery ETA raises an alert. */
  readonly recoveryObjectiveMs: number;
  /** How this tier's stream jobs are judged. */
  readonly streamJobs: StreamJobLimits;
  /** Where the policy came from, for messages. */
  readonly source: string;
}

export type ChainRole = 'primary' | 'standby' | 'fallback';

export interface KafkaEndpoint {
  readonly brokers: readonly string[];
}

export interface OlapEndpoint {
  /** HTTP interface of the room's ClickHouse, e.g. http://clickhouse-a:8123 */
  readonly url: string;
  /** A cheap query that exercises the serving path; its latency is part of health. */
  readonly healthQuery: string;
  readonly healthQueryTimeoutMs: number;
  readonly slowQueryMs: number;
  readonly maxReplicaDelaySec: number;
  readonly maxQueueSize: number;
}

export interface Room {
  readonly name: string;
  readonly kafka: KafkaEndpoint;
  /** What the room's stream jobs take in all, records/s; when the pipelines served there need more, low tiers are shed. */
  readonly capacity?: { readonly recordsPerSecond: number };
  readonly olap?: OlapEndpoint;
  /** The room's Flink REST API, when its chains run stream jobs. */
  readonly flink?: {
    readonly url: string;
    readonly concurrency: number;
    /** Warm standby jobs: how to start each (jar path resolved, entry class, arguments). */
    readonly launch?: Readonly<Record<string, { readonly jarFile: string; readonly entryClass: string; readonly args: readonly string[] }>>;
    /** Where a warm standby's jobs are stopped with a savepoint. */
    readonly savepointDir?: string;
  };
}

export interface Chain {
  readonly name: string;
  readonly room: string;
  readonly role: ChainRole;
  /** Stream jobs of this chain (subjects of 'stream' observations). */
  readonly jobs: readonly string[];
  /**
   * The Kafka client id this chain's own consumer (its stream job's source, which does not embed
   * the SDK) reads with: while the chain serves, its cap is enforced as a broker quota on it.
   */
  readonly quotaClientId?: string;
  /** That consumer's group, whose committed offsets show how fast it reads (to correct its quota). */
  readonly quotaGroupId?: string;
  /** Kubernetes workloads that follow the chain (scaled, resumed, suspended by a switch). */
  readonly kubernetes?: ChainWorkloads;
}

/** A Deployment scaled with its chain: `replicas` while it serves, `idleReplicas` once left (absent: left as is). */
export interface DeploymentScale {
  readonly namespace: string;
  readonly name: string;
  readonly replicas: number;
  readonly idleReplicas?: number;
}

/** A FlinkDeployment (Flink Kubernetes operator) resumed with its chain and, if `suspend`, suspended once left. */
export interface FlinkDeploymentRef {
  readonly namespace: string;
  readonly name: string;
  readonly whenLeft: 'suspend' | 'keep';
}

export interface ChainWorkloads {
  readonly deployments: readonly DeploymentScale[];
  readonly flinkDeployments: readonly FlinkDeploymentRef[];
}

export interface ServiceRef {
  readonly namespace: string;
  readonly name: string;
  /** Selector label set to the active chain's name. */
  readonly selectorKey: string;
}

export interface Pipeline {
  readonly name: string;
  readonly tier: TierName;
  readonly topics: readonly string[];
  readonly consumerGroup: string;
  readonly chains: readonly Chain[];
  readonly service?: ServiceRef;
}

export interface StreamJobLimits {
  readonly maxCheckpointAgeMs: number;
  readonly maxRestarts: number;
  readonly restartWindowMs: number;
  readonly maxFailedCheckpoints: number;
}

export interface Topology {
  readonly rooms: ReadonlyMap<string, Room>;
  readonly pipelines: ReadonlyMap<string, Pipeline>;
  readonly policies: ReadonlyMap<TierName, TierPolicy>;
  /** Sites that run only a witness controller replica: observers there vote as a room of their own. */
  readonly witnesses?: readonly string[];
  /** Stress-test baselines, by pipeline then room (see core/caps.ts). */
  readonly baselines?: ReadonlyMap<string, ReadonlyMap<string, Baseline>>;
}

/**
 * Which chain a pipeline's consumers use now. Stored in etcd, one key per pipeline; every change
 * raises the epoch by one and clients ignore any route older than the one they hold. The route
 * carries the endpoints the SDK needs so that an embedded client never reads the topology file.
 */
export interface Route {
  readonly pipeline: string;
  readonly chain: string;
  readonly room: string;
  readonly epoch: number;
  /** Epoch milliseconds when this route was decided. */
  readonly since: number;
  readonly reason: string;
  readonly kafka: { readonly brokers: readonly string[]; readonly topics: readonly string[] };
  readonly consumerGroup: string;
  /** Times (epoch ms) of this pipeline's switches within the last hour, oldest first. */
  readonly history: readonly number[];
  /** The active chain's OLAP endpoint, when its room has one. */
  readonly olap?: { readonly url: string };
  /**
   * Where a failover from here would go, for SDK consumers that keep a paused member joined
   * there (the tier's `standbyConsumer: joined`). Absent: nothing to pre-join.
   */
  readonly standby?: { readonly room: string; readonly brokers: readonly string[] };
}

/**
 * Where a pipeline's queries go now: its own key, flipped after the consumers (switch step
 * flip-queries), with the epoch of the switch that wrote it. SDK query routers watch it.
 */
export interface QueryRoute {
  readonly pipeline: string;
  readonly chain: string;
  readonly room: string;
  readonly epoch: number;
  readonly since: number;
  readonly url: string;
}

export function chainOf(pipeline: Pipeline, name: string): Chain | undefined {
  return pipeline.chains.find((c) => c.name === name);
}

/** Where a failover from `activeChain` would go: the standby from the primary, else the primary. */
export function failoverTargetOf(pipeline: Pipeline, activeChain: string): Chain | undefined {
  const role = chainOf(pipeline, activeChain)?.role === 'primary' ? 'standby' : 'primary';
  return pipeline.chains.find((c) => c.name !== activeChain && c.role === role);
}

export function primaryChain(pipeline: Pipeline): Chain {
  const chain = pipeline.chains.find((c) => c.role === 'primary');
  // compile() guarantees exactly one primary chain per pipeline.
  if (!chain) throw new Error(`pipeline ${pipeline.name} has no primary chain`);
  return chain;
}

export const HOUR_MS = 3_600_000;

export function routeFor(
  topology: Topology,
  pipeline: Pipeline,
  chain: Chain,
  epoch: number,
  since: number,
  reason: string,
  history: readonly number[] = [],
): Route {
  const room = topology.rooms.get(chain.room);
  if (!room) throw new Error(`chain ${pipeline.name}/${chain.name} names unknown room ${chain.room}`);
  const target = topology.policies.get(pipeline.tier)?.joinStandby ? failoverTargetOf(pipeline, chain.name) : undefined;
  const standbyRoom = target && target.room !== room.name ? topology.rooms.get(target.room) : undefined;
  return {
    pipeline: pipeline.name,
    chain: chain.name,
    room: room.name,
    epoch,
    since,
    reason,
    kafka: { brokers: [...room.kafka.brokers], topics: [...pipeline.topics] },
    consumerGroup: pipeline.consumerGroup,
    history: [...history],
    ...(room.olap && { olap: { url: room.olap.url } }),
    ...(standbyRoom && { standby: { room: standbyRoom.name, brokers: [...standbyRoom.kafka.brokers] } }),
  };
}

export function queryRouteOf(route: Route, since: number): QueryRoute | undefined {
  if (!route.olap) return undefined;
  return { pipeline: route.pipeline, chain: route.chain, room: route.room, epoch: route.epoch, since, url: route.olap.url };
}
