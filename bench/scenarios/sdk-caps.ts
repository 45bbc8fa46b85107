// Source caps in the SDK consumer (issue 15), shared by bench:caps and test/integration/sdk-caps:
// a pipeline of its own in room-a (topic, route and cap in etcd under a prefix of its own), a
// producer that floods it, and an SDK consumer paced to the cap. Every loop and wait is bounded.

import type { Etcd3 } from 'etcd3';
import type { Producer } from 'kafkajs';
import type { CapRecord } from '../../src/core/caps.js';
import type { Route } from '../../src/core/model.js';
import { createEtcdClient } from '../../src/adapters/etcd/client.js';
import { createKafka } from '../../src/adapters/kafka/kafka-client.js';
import { silentLogger } from '../../src/ports/logger.js';
import { createRoutedConsumer, type RoutedConsumer } from '../../src/sdk/routed-consumer.js';
import { TokenBucket } from '../../src/sdk/token-bucket.js';
import { LOCAL, randomId, waitFor } from '../support/local-stack.js';
import { median } from '../stats.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ROOM = 'room-a';

/** One pipeline of its own: topic in room-a, route epoch 1, and its cap key. */
export class CapStack {
  readonly id = randomId();
  readonly prefix = `/switchyard-caps-${this.id}`;
  readonly pipeline = `caps-${this.id}`;
  readonly topic = `caps-${this.id}`;
  readonly group = `caps-group-${this.id}`;
  readonly etcd: Etcd3 = createEtcdClient({ endpoints: [LOCAL.etcd] });
  private capEpoch = 0;

  constructor(readonly partitions = 3) {}

  async setUp(): Promise<void> {
    const admin = createKafka({ clientId: 'caps-admin', brokers: [...LOCAL.rooms[ROOM].brokers], log: silentLogger }).admin();
    await admin.connect();
    try {
      await admin.createTopics({ topics: [{ topic: this.topic, numPartitions: this.partitions, replicationFactor: 1 }], waitForLeaders: true });
    } finally {
      await admin.disconnect();
    }
    const route: Route = {
      pipeline: this.pipeline,
      chain: 'primary',
      room: ROOM,
      epoch: 1,
      since: Date.now(),
      reason: 'caps scenario',
      kafka: { brokers: [...LOCAL.rooms[ROOM].brokers], topics: [this.topic] },
      consumerGroup: this.group,
      history: [],
    };
    await this.etcd.put(`${this.prefix}/routes/${this.pipeline}`).value(JSON.stringify(route)).exec();
  }

  /** Writes a cap as the leader would (without the fence: the scenario owns its prefix); returns its epoch. */
  async putCap(recordsPerSecond: number, paused = false, room: string = ROOM): Promise<number> {
    const cap: CapRecord = {
      pipeline: this.pipeline,
      epoch: ++this.capEpoch,
      room,
      recordsPerSecond,
      paused,
      origin: paused ? 'shed' : 'override',
      reason: paused ? 'shed by the caps scenario' : `set to ${recordsPerSecond}/s by the caps scenario`,
      since: Date.now(),
    };
    await this.etcd.put(`${this.prefix}/caps/${this.pipeline}`).value(JSON.stringify(cap)).exec();
    return cap.epoch;
  }

  async removeCap(): Promise<void> {
    await this.etcd.delete().key(`${this.prefix}/caps/${this.pipeline}`).exec();
  }

  async tearDown(): Promise<void> {
    await this.etcd.delete().prefix(this.prefix).exec().catch(() => undefined);
    this.etcd.close();
  }
}

/** An SDK consumer on the stack that records when it processed each value, and how often. */
export function pacedConsumer(stack: CapStack) {
  const at: number[] = [];
  const counts = new Map<number, number>();
  const consumer: RoutedConsumer = createRoutedConsumer({
    pipeline: stack.pipeline,
    etcd: { endpoints: [LOCAL.etcd], prefix: stack.prefix },
    marginMs: 1000,
    fromBeginning: true,
    eachMessage: async (m) => {
      at.push(Date.now());
      const n = Number(m.value!.toString());
      counts.set(n, (counts.get(n) ?? 0) + 1);
    },
  });
  return {
    consumer,
    /** Processing times (epoch ms), in order. */
    at,
    counts,
    /** Records processed in [from, to). */
    between(from: number, to: number): number {
      return countBetween(at, from, to);
    },
    async start() {
      await consumer.start();
      await waitFor('the consumer to serve room-a with its partitions paced', 30_000, () => consumer.status().servingRoom === ROOM && consumer.status().pacing.partitions === stack.partitions);
    },
  };
}

function countBetween(sorted: readonly number[], from: number, to: number): number {
  const lower = (x: number) => {
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (sorted[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  return lower(to) - lower(from);
}

/** A producer writing values 0, 1, 2, ... round-robin over the partitions, at a steady rate. */
export class Flood {
  private producer: Producer | undefined;
  /** Values acknowledged by the broker (all below `next`). */
  acked = 0;
  private next = 0;

  constructor(private readonly stack: CapStack) {}

  async connect(): Promise<void> {
    this.producer = createKafka({ clientId: 'caps-flood', brokers: [...LOCAL.rooms[ROOM].brokers], log: silentLogger }).producer();
    await this.producer.connect();
  }

  /** Writes `n` records at once (a backlog). */
  async burst(n: number): Promise<void> {
    for (let sent = 0; sent < n; sent += 1000) await this.send(Math.min(1000, n - sent));
  }

  /** Writes at `ratePerSecond` for `ms`, in small batches every 20 ms, catching up after a slow send. */
  async run(ratePerSecond: number, ms: number): Promise<void> {
    const t0 = Date.now();
    let sent = 0;
    while (Date.now() - t0 < ms) {
      const due = Math.floor(((Date.now() - t0) / 1000) * ratePerSecond) - sent;
      if (due > 0) {
        await this.send(due);
        sent += due;
      }
      await sleep(20);
    }
  }

  private async send(n: number): Promise<void> {
    const first = this.next;
    this.next += n;
    const messages = Array.from({ length: n }, (_, i) => ({ value: String(first + i), partition: (first + i) % this.stack.partitions }));
    await this.producer!.send({ topic: this.stack.topic, acks: -1, messages });
    this.acked += n;
  }

  get written(): number {
    return this.next;
  }

  async close(): Promise<void> {
    await this.producer?.disconnect().catch(() => undefined);
  }
}

export type CapRig = { readonly stack: CapStack; readonly consumer: ReturnType<typeof pacedConsumer>; readonly flood: Flood };

/** A stack, its paced consumer (not started) and a connected producer for `fn`; all torn down after. */
export async function withCapRig<T>(partitions: number, fn: (rig: CapRig) => Promise<T>): Promise<T> {
  const stack = new CapStack(partitions);
  await stack.setUp();
  const consumer = pacedConsumer(stack);
  const flood = new Flood(stack);
  try {
    await flood.connect();
    return await fn({ stack, consumer, flood });
  } finally {
    await flood.close();
    await consumer.consumer.close();
    await stack.tearDown();
  }
}

export interface CapErrorResult {
  /** Worst sliding 10 s window (1 s steps) while flooded: |consumed rate - cap| / cap, percent. */
  readonly cap_error_pct: number;
  /** Each window's signed error, percent. */
  readonly windows: readonly number[];
  readonly produced: number;
  readonly missing: number;
  readonly duplicates: number;
}

/**
 * Floods the pipeline at `floodFactor` x `cap` for `floodMs` with the consumer capped; measures the
 * consumed rate over every 10 s window of the flood; then removes the cap and drains, and counts
 * records never or twice processed.
 */
export async function measureCapError(opts: { cap?: number; floodFactor?: number; floodMs?: number; windowMs?: number; partitions?: number } = {}): Promise<CapErrorResult> {
  const cap = opts.cap ?? 600;
  const floodMs = opts.floodMs ?? 30_000;
  const windowMs = opts.windowMs ?? 10_000;
  return withCapRig(opts.partitions ?? 3, async ({ stack, consumer: c, flood }) => {
    await stack.putCap(cap);
    await c.start();
    await waitFor('the cap to be applied', 10_000, () => c.consumer.status().pacing.cap?.recordsPerSecond === cap);
    const floodStart = Date.now();
    await flood.run(cap * (opts.floodFactor ?? 3), floodMs);
    const floodEnd = Date.now();
    // Windows start at the first record processed after the flood began: the consumer then has a
    // backlog for the whole flood (it reads at most a third of what is written).
    const first = c.at.find((t) => t >= floodStart) ?? floodStart;
    const windows: number[] = [];
    for (let from = first; from + windowMs <= floodEnd; from += 1000) {
      const rate = (c.between(from, from + windowMs) * 1000) / windowMs;
      windows.push(((rate - cap) / cap) * 100);
    }
    await stack.removeCap();
    const produced = flood.written;
    await waitFor('the consumer to drain every record once the cap is removed', 120_000, () => c.counts.size >= produced, 200);
    await sleep(1000);
    let missing = 0;
    let duplicates = 0;
    for (let v = 0; v < produced; v++) {
      const n = c.counts.get(v) ?? 0;
      if (n === 0) missing++;
      if (n > 1) duplicates += n - 1;
    }
    return { cap_error_pct: Math.max(...windows.map(Math.abs)), windows, produced, missing, duplicates };
  });
}

export interface ReactResult {
  /** Median time from a cap's put to the consumer applying it (its pacer reports the new epoch). */
  readonly react_ms: number;
  readonly react_max_ms: number;
  /** Median time from the put until the consumed rate (over the trailing 250 ms) is past halfway to the new cap. */
  readonly rate_react_ms: number;
  readonly rate_react_max_ms: number;
}

/**
 * With a backlog to read, switches the cap between `low` and `high` `runs` times, 2 s apart, and
 * times each change: put -> applied, and put -> consumed rate changed.
 */
export async function measureReact(opts: { runs?: number; low?: number; high?: number; holdMs?: number } = {}): Promise<ReactResult> {
  const runs = opts.runs ?? 6;
  const low = opts.low ?? 300;
  const high = opts.high ?? 900;
  const holdMs = opts.holdMs ?? 2000;
  return withCapRig(3, async ({ stack, consumer: c, flood }) => {
    // Enough backlog that the consumer never runs dry at the high cap.
    await flood.burst(Math.ceil(high * (holdMs / 1000) * (runs + 2)));
    await stack.putCap(low);
    await c.start();
    await sleep(holdMs);
    const applied: number[] = [];
    const rateChanged: number[] = [];
    let from = low;
    for (let i = 0; i < runs; i++) {
      const to = from === low ? high : low;
      const putAt = Date.now();
      const epoch = await stack.putCap(to);
      const seen = await waitFor(`cap epoch ${epoch} applied`, 5000, () => (c.consumer.status().pacing.cap?.epoch === epoch ? Date.now() : undefined), 1);
      applied.push(seen - putAt);
      await sleep(holdMs);
      rateChanged.push(rateChangeAfter(c.at, putAt, from, to, holdMs));
      from = to;
    }
    return { react_ms: median(applied), react_max_ms: Math.max(...applied), rate_react_ms: median(rateChanged), rate_react_max_ms: Math.max(...rateChanged) };
  });
}

/** Ms after `putAt` when the rate over the trailing 250 ms is first past halfway from `from` to `to` (Infinity: never within `withinMs`). */
export function rateChangeAfter(at: readonly number[], putAt: number, from: number, to: number, withinMs: number): number {
  const trailing = 250;
  const halfway = (from + to) / 2;
  for (let t = putAt; t <= putAt + withinMs; t += 10) {
    const rate = (countBetween(at, t - trailing, t) * 1000) / trailing;
    if (to > from ? rate > halfway : rate < halfway) return t - putAt;
  }
  return Number.POSITIVE_INFINITY;
}

/**
 * The bucket's take, the pacer's per-record cost: median ns over `batches` batches of `perBatch`
 * `tryTake` calls on a bucket that always has tokens (a refused take costs the same clock read).
 */
export function acquireNs(opts: { batches?: number; perBatch?: number } = {}): { acquire_ns_p50: number } {
  const batches = opts.batches ?? 300;
  const perBatch = opts.perBatch ?? 5000;
  const bucket = new TokenBucket({ ratePerSecond: 1e12, burst: 1e12 });
  let taken = 0;
  for (let i = 0; i < 50_000; i++) if (bucket.tryTake()) taken++;
  const perCall: number[] = [];
  for (let b = 0; b < batches; b++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < perBatch; i++) if (bucket.tryTake()) taken++;
    perCall.push(Number(process.hrtime.bigint() - t0) / perBatch);
  }
  if (taken !== 50_000 + batches * perBatch) throw new Error(`the bucket refused ${50_000 + batches * perBatch - taken} takes; the measurement is off`);
  return { acquire_ns_p50: Math.round(median(perCall) * 10) / 10 };
}
