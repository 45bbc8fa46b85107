// The data estimate as the CLI makes it: from the positions the observers published (the last
// samples of a room that has died), a fresh sample of every room it can reach now, and the
// consumers' watermarks. Printed before `failover --force` acts, and by `plan`.

import type { LoadedConfig } from '../config/load.js';
import type { StoreHandles } from '../composition.js';
import { EtcdPositionStore } from '../adapters/etcd/position-store.js';
import { EtcdWatermarkStore } from '../adapters/etcd/watermark-store.js';
import { KafkaPositionReader } from '../adapters/kafka/position-reader.js';
import { appendSample, estimateSwitch, timeLagMs, type DataEstimate, type RoomSample } from '../core/data-estimate.js';
import { KafkaGroupOffsetReader } from '../adapters/kafka/group-offsets.js';
import { failoverTargetOf, type Pipeline, type Route } from '../core/model.js';
import { silentLogger } from '../ports/logger.js';

export interface CliEstimate {
  readonly estimate: DataEstimate;
  /** One line per room: where its sample came from and how old it is. */
  readonly sources: readonly string[];
}

/** What the CLI knows of the rooms' positions: published histories plus a sample taken now. */
export interface CliPositions {
  readonly histories: ReadonlyMap<string, readonly RoomSample[]>;
  /** Rooms that answered a sample from here just now. */
  readonly answering: ReadonlySet<string>;
  readonly sources: ReadonlyMap<string, string>;
  readonly watermarks: ReadonlyMap<string, ReadonlyMap<string, ReadonlyMap<number, number>>>;
}

export async function readPositions(config: LoadedConfig, store: StoreHandles, rooms: readonly string[]): Promise<CliPositions> {
  const [published, watermarks] = await Promise.all([new EtcdPositionStore(store.etcd, config.etcd.prefix).readAll(), new EtcdWatermarkStore(store.etcd, config.etcd.prefix).readAll()]);
  const histories = new Map<string, RoomSample[]>();
  const answering = new Set<string>();
  const sources = new Map<string, string>();
  await Promise.all(
    [...new Set(rooms)].map(async (room) => {
      let history = published.get(room) ?? [];
      const topics = [...new Set([...config.topology.pipelines.values()].filter((p) => p.chains.some((c) => c.room === room)).flatMap((p) => p.topics))];
      const reader = new KafkaPositionReader(room, config.topology.rooms.get(room)?.kafka.brokers ?? [], silentLogger, Date.now, config.kafkaAccess);
      try {
        history = appendSample(history, await reader.read(topics, 1500), 300_000);
        answering.add(room);
        sources.set(room, `${room}: sampled now from here`);
      } catch (err) {
        const last = history.at(-1);
        sources.set(
          room,
          last
            ? `${room}: does not answer here (${(err as Error).message}); last published sample ${Math.round((Date.now() - last.at) / 1000)} s old (observers publish a room's positions when its log ends move)`
            : `${room}: does not answer here, and no observer published a sample`,
        );
      } finally {
        await reader.close();
      }
      histories.set(room, history);
    }),
  );
  return { histories, answering, sources, watermarks };
}

/** What switching `pipeline` from its route's room to `targetRoom` now would lose. */
export function estimateFromPositions(config: LoadedConfig, positions: CliPositions, pipeline: Pipeline, route: Route, targetRoom: string): CliEstimate {
  const now = Date.now();
  const active = positions.histories.get(route.room) ?? [];
  const activeLast = active.at(-1);
  const policy = config.topology.policies.get(pipeline.tier);
  const estimate = estimateSwitch({
    topics: pipeline.topics,
    activeHistory: active,
    activeRoom: route.room,
    target: positions.histories.get(targetRoom)?.at(-1),
    targetRoom,
    watermarks: positions.watermarks.get(pipeline.consumerGroup) ?? new Map(),
    marginMs: policy?.duplicateMarginMs ?? 0,
    now,
    maxAgeMs: 5000,
    // A room that does not answer now is judged by its last sample (its age is in the sources).
    ...(!positions.answering.has(route.room) && activeLast && { activeFailingSince: activeLast.at }),
  });
  const sources = [...new Set([route.room, targetRoom])].map((r) => positions.sources.get(r) ?? `${r}: no sample`);
  return { estimate, sources };
}

export async function estimateFromCli(config: LoadedConfig, store: StoreHandles, pipeline: Pipeline, route: Route, targetRoom: string): Promise<CliEstimate> {
  return estimateFromPositions(config, await readPositions(config, store, [route.room, targetRoom]), pipeline, route, targetRoom);
}

/** Loss in records, or undefined when unknown. */
export function estimatedLoss(e: DataEstimate): number | undefined {
  return e.kind === 'known' ? e.partitions.reduce((n, p) => n + (p.unreplicatedRecords ?? 0), 0) : undefined;
}

/** The failover target of a route: the standby when on the primary, else the primary. */
export function failoverTarget(pipeline: Pipeline, route: Route): string | undefined {
  return failoverTargetOf(pipeline, route.chain)?.room;
}

/** A point reading of a pipeline's consumer lag in the room its route names (records, and time when the samples reach back). */
export async function readLag(config: LoadedConfig, positions: CliPositions, pipeline: Pipeline, route: Route): Promise<{ records: number; timeLagMs?: number } | undefined> {
  const history = positions.histories.get(route.room) ?? [];
  const ends = history.at(-1);
  if (!ends || !positions.answering.has(route.room)) return undefined;
  const reader = new KafkaGroupOffsetReader(route.room, config.topology.rooms.get(route.room)?.kafka.brokers ?? [], silentLogger, undefined, config.kafkaAccess);
  try {
    const committed = (await reader.read([{ group: pipeline.consumerGroup, topics: pipeline.topics }], 2000)).get(pipeline.consumerGroup);
    if (!committed) return undefined;
    let records = 0;
    let time: number | undefined;
    for (const e of ends.partitions) {
      const offset = committed.get(e.topic)?.get(e.partition) ?? -1;
      if (offset < 0 || !pipeline.topics.includes(e.topic)) continue;
      records += Math.max(0, e.logEnd - offset);
      const t = timeLagMs(history, e.topic, e.partition, offset);
      if (t !== undefined) time = Math.max(time ?? 0, t);
    }
    return { records, ...(time !== undefined && { timeLagMs: time }) };
  } catch {
    return undefined;
  } finally {
    await reader.close();
  }
}
