// The compiled model the core reasons about. Files on disk are validated and defaulted into these
// types once, at the edge (src/config); nothing inside the core ever sees raw YAML.

export const TIERS = ['P0', 'P1', 'P2', 'P3'] as const;
export type TierName = (typeof TIERS)[number];

export type FailoverMode = 'automatic' | 'manual' | 'none';

export interface TierPolicy {
  readonly tier: TierName;
  readonly failover: FailoverMode;
  readonly failback: FailoverMode;
  /** How often every room is probed. */
  readonly probeIntervalMs: number;
  /** A probe that has not answered by then counts as failed. Must be below the interval. */
  readonly probeTimeoutMs: number;
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
  /** Where the policy came from, for messages. */
  readonly source: string;
}

export type ChainRole = 'primary' | 'standby' | 'fallback';

export interface KafkaEndpoint {
  readonly brokers: readonly string[];
}

export interface Room {
  readonly name: string;
  readonly kafka: KafkaEndpoint;
}

export interface Chain {
  readonly name: string;
  readonly room: string;
  readonly role: ChainRole;
}

export interface Pipeline {
  readonly name: string;
  readonly tier: TierName;
  readonly topics: readonly string[];
  readonly consumerGroup: string;
  readonly chains: readonly Chain[];
}

export interface Topology {
  readonly rooms: ReadonlyMap<string, Room>;
  readonly pipelines: ReadonlyMap<string, Pipeline>;
  readonly policies: ReadonlyMap<TierName, TierPolicy>;
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
}

export function chainOf(pipeline: Pipeline, name: string): Chain | undefined {
  return pipeline.chains.find((c) => c.name === name);
}

export function primaryChain(pipeline: Pipeline): Chain {
  const chain = pipeline.chains.find((c) => c.role === 'primary');
  // compile() guarantees exactly one primary chain per pipeline.
  if (!chain) throw new Error(`pipeline ${pipeline.name} has no primary chain`);
  return chain;
}

export function routeFor(
  topology: Topology,
  pipeline: Pipeline,
  chain: Chain,
  epoch: number,
  since: number,
  reason: string,
): Route {
  const room = topology.rooms.get(chain.room);
  if (!room) throw new Error(`chain ${pipeline.name}/${chain.name} names unknown room ${chain.room}`);
  return {
    pipeline: pipeline.name,
    chain: chain.name,
    room: room.name,
    epoch,
    since,
    reason,
    kafka: { brokers: [...room.kafka.brokers], topics: [...pipeline.topics] },
    consumerGroup: pipeline.consumerGroup,
  };
}
