// What the dual producer stamps on every record, and how a consumer uses it.
//
// - `sy-p`: the producer instance's id; `sy-s`: its sequence number, rising by one per record.
//   Each room receives one producer's records in sequence order (the producer keeps one ordered
//   queue per room), so a record whose sequence is not above the last one processed from that
//   producer on that partition was processed already: the consumer drops it. This is the
//   documented de-duplication key.
// - The Kafka timestamp is the producer's position clock: the record's event time, but never
//   below the last one this producer wrote on that partition, so that seeking by time in another
//   room finds a producer's records in order even when event times go back. When the two differ,
//   `sy-et` carries the event time, and the consumer hands that to the application.

export const HEADER_PRODUCER = 'sy-p';
export const HEADER_SEQUENCE = 'sy-s';
export const HEADER_EVENT_TIME = 'sy-et';

export interface RecordId {
  readonly producer: string;
  readonly sequence: number;
}

function text(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (Buffer.isBuffer(v)) return v.toString();
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return text(v[0]);
  return undefined;
}

export function recordIdOf(headers: Record<string, unknown> | undefined): RecordId | undefined {
  const producer = text(headers?.[HEADER_PRODUCER]);
  const sequence = Number(text(headers?.[HEADER_SEQUENCE]));
  if (!producer || !Number.isSafeInteger(sequence)) return undefined;
  return { producer, sequence };
}

/** The application's event time: `sy-et` when the producer set it, else the Kafka timestamp. */
export function eventTimeOf(headers: Record<string, unknown> | undefined, kafkaTimestamp: number): number {
  const raw = text(headers?.[HEADER_EVENT_TIME]);
  const et = raw === undefined ? Number.NaN : Number(raw);
  return Number.isFinite(et) ? et : kafkaTimestamp;
}

/**
 * Per partition, the highest sequence processed from each producer, and that record's timestamp.
 * Bounded: past `maxProducers` per partition, the producer heard from longest ago is forgotten
 * (its late duplicates would then be processed again, within the replay margin).
 */
export class Deduplicator {
  private readonly seen = new Map<string, Map<string, { sequence: number; stamp: number }>>();

  constructor(private readonly maxProducers = 1024) {}

  /** True if this record was processed already (and so must be dropped). */
  isDuplicate(topic: string, partition: number, id: RecordId | undefined): boolean {
    if (!id) return false;
    const last = this.seen.get(`${topic}/${partition}`)?.get(id.producer);
    return last !== undefined && id.sequence <= last.sequence;
  }

  /** Records that this record (with this Kafka timestamp) was processed. */
  processed(topic: string, partition: number, id: RecordId | undefined, stamp: number): void {
    if (!id) return;
    const key = `${topic}/${partition}`;
    let producers = this.seen.get(key);
    if (!producers) this.seen.set(key, (producers = new Map()));
    const last = producers.get(id.producer);
    // Re-inserting keeps the map in order of last use, so the first key is the stalest.
    producers.delete(id.producer);
    producers.set(id.producer, last && last.sequence > id.sequence ? last : { sequence: id.sequence, stamp });
    if (producers.size > this.maxProducers) producers.delete(producers.keys().next().value as string);
  }

  /**
   * Per partition, the oldest "last processed" timestamp among producers whose last record lies
   * within `windowMs` of the partition's watermark. A producer's later records carry later
   * timestamps (the producer keeps them monotonic), so restarting another room from here cannot
   * skip a record of a producer that was late in the old room by up to `windowMs`.
   */
  laggards(topic: string, watermarks: ReadonlyMap<number, number>, windowMs: number): Map<number, number> {
    const out = new Map<number, number>();
    for (const [partition, wm] of watermarks) {
      const producers = this.seen.get(`${topic}/${partition}`);
      if (!producers) continue;
      let oldest = wm;
      for (const { stamp } of producers.values()) if (stamp >= wm - windowMs && stamp < oldest) oldest = stamp;
      if (oldest < wm) out.set(partition, oldest);
    }
    return out;
  }
}
