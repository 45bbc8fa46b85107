// One SDK consumer as bench:scale runs it, in the bench's own process or in a consumer worker:
// each record's sequence number goes to `onRecord`, with the room it came from.

import { createRoutedConsumer, type FlipReport, type RoutedConsumer } from '../../src/sdk/routed-consumer.js';

export interface ScaleConsumerSpec {
  readonly pipeline: string;
  readonly clientId: string;
  readonly etcd: string;
  readonly prefix: string;
  readonly marginMs: number;
}

export function scaleConsumer(spec: ScaleConsumerSpec, onRecord: (seq: number, room: string) => void, onFlip: (report: FlipReport) => void): RoutedConsumer {
  return createRoutedConsumer({
    pipeline: spec.pipeline,
    clientId: spec.clientId,
    etcd: { endpoints: [spec.etcd], prefix: spec.prefix },
    marginMs: spec.marginMs,
    fromBeginning: true,
    eachMessage: async (msg) => onRecord(Number(JSON.parse(msg.value!.toString()).seq), msg.room),
    onFlip,
  });
}
