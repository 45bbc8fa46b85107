// The data estimate as the CLI makes it: from the positions the observers published (the last
// samples of a room that has died), a fresh sample of every room it can reach now, and the
// consumers' watermarks. Printed before `failover --force` acts, and by `plan`.

import type { LoadedConfig } from '../config/load.js';
import type { StoreHandles } from '../composition.js';
import { EtcdPositionStore } from '../adapters/etcd/position-store.js';
import { EtcdWatermarkStore } from '../adapters/etcd/watermark-store.js';
import { KafkaPositionReader } from '../adapters/kafka/position-reader.js';
import { appendSample, estimateSwitch, type DataEstimate, type RoomSample } from '../core/data-estimate.js';
import type { Pipeline, Route } from '../core/model.js';
import { silentLogger } from '../ports/logger.js';

export interface CliEstimate {
  readonly estimate: DataEstimate;
  /** One line per room: where its sample came from and how old it is. */
  readonly sources: readonly string[];
}

export async function estimateFromCli(config: LoadedConfig, store: StoreHandles, pipeline: Pipeline, route: Route, targetRoom: string): Promise<CliEstimate> {
  const [published, watermarks] = await Promise.all([new EtcdPositionStore(store.etcd, config.etcd.prefix).readAll(), new EtcdWatermarkStore(store.etcd, config.etcd.prefix).readAll()]);
  const histories = new Map<string, RoomSample[]>();
  const sources: string[] = [];
  for (const room of [...new Set([route.room, targetRoom])]) {
    let history = published.get(room) ?? [];
    const brokers = config.topology.rooms.get(room)?.kafka.brokers ?? [];
    const reader = new KafkaPositionReader(room, brokers, silentLogger);
    try {
      const fresh = await reader.read(pipeline.topics, 1500);
      history = appendSample(history, fresh, 300_000);
      sources.push(`${room}: sampled now from here`);
    } catch (err) {
      const last = history.at(-1);
      sources.push(last ? `${room}: does not answer here (${(err as Error).message}); last published sample ${Math.round((Date.now() - last.at) / 1000)} s old` : `${room}: does not answer here, and no observer published a sample`);
    } finally {
      await reader.close();
    }
    histories.set(room, history);
  }
  const now = Date.now();
  const active = histories.get(route.room) ?? [];
  const activeLast = active.at(-1);
  const policy = config.topology.policies.get(pipeline.tier);
  // A room that does not answer now is judged by its last sample (its age is in `sources`).
  const activeAnswers = sources[0]?.endsWith('sampled now from here') ?? false;
  const estimate = estimateSwitch({
    topics: pipeline.topics,
    activeHistory: active,
    activeRoom: route.room,
    target: histories.get(targetRoom)?.at(-1),
    targetRoom,
    watermarks: watermarks.get(pipeline.consumerGroup) ?? new Map(),
    marginMs: policy?.duplicateMarginMs ?? 0,
    now,
    maxAgeMs: 5000,
    ...(!activeAnswers && activeLast && { activeFailingSince: activeLast.at }),
  });
  return { estimate, sources };
}

/** Loss in records, or undefined when unknown. */
export function estimatedLoss(e: DataEstimate): number | undefined {
  return e.kind === 'known' ? e.partitions.reduce((n, p) => n + (p.unreplicatedRecords ?? 0), 0) : undefined;
}
