// Paces each partition a consumer reads to its share of the pipeline's cap (core/caps.ts).
//
// One token bucket per partition, refilled at its share (splitCap over every partition of the
// pipeline's topics in the serving room, topic then partition order). Each delivered record takes
// a token. When a partition's bucket runs dry, the partition is paused through kafkajs and a
// timer resumes it when the bucket holds a quantum again: no busy loop, no sleep per record.
//
// Why no record is skipped or read twice: the pause is asked for while kafkajs delivers a record
// and that call returns normally, so kafkajs marks that record processed and then stops the batch
// (it checks for a pause after each record). The rest of the batch is dropped unprocessed and,
// after the resume, fetched again from the first record not processed. Nothing is ever thrown to
// kafkajs for pacing: a throw would also stop every other partition's fetch and count towards the
// consumer's retries (kafkajs restarts the whole consumer once they run out).
// A record delivered while its partition is held (kafkajs had fetched it before a pause) is
// processed like any other, and its token is taken as debt: the bucket goes below zero and the
// partition waits that much longer, so the rate over time still holds.

import { splitCap, type CapRecord } from '../core/caps.js';
import { silentLogger, type Logger } from '../ports/logger.js';
import { noSdkMetrics, type SdkMetrics } from '../ports/sdk-metrics.js';
import { TokenBucket, type MonotonicMs } from './token-bucket.js';

export interface TopicPartition {
  readonly topic: string;
  readonly partition: number;
}

/** Stops and restarts fetching one partition of the running consumer. */
export interface PartitionSwitch {
  pause(tp: TopicPartition): void;
  resume(tp: TopicPartition): void;
}

export interface PacerTimers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export interface RatePacingOptions {
  /** Most a partition reads at once after waiting, in ms of its share (default 250). */
  readonly burstMs?: number;
  /** A paused partition resumes once its bucket holds this many ms of its share (default 50, at least 1 record). */
  readonly quantumMs?: number;
}

export interface RatePacerOptions extends RatePacingOptions {
  readonly pipeline: string;
  readonly now?: MonotonicMs;
  readonly timers?: PacerTimers;
  readonly metrics?: SdkMetrics;
  readonly logger?: Logger;
}

/** What the pacer applies now. */
export interface PacerStatus {
  /** The cap applied (undefined: uncapped). */
  readonly cap: Pick<CapRecord, 'epoch' | 'room' | 'recordsPerSecond' | 'paused'> | undefined;
  /** When it was applied (epoch ms). */
  readonly appliedAt: number | undefined;
  readonly partitions: number;
  readonly pausedPartitions: number;
  /** Time partitions spent paused by the pacer, summed over partitions (pauses still running not included). */
  readonly throttledMs: number;
}

interface Lane {
  readonly tp: TopicPartition;
  /** Replaced once, when the lane first gets its share (so that it starts holding one quantum). */
  bucket: TokenBucket;
  /** Records a second for this partition (its part of the cap). */
  share: number;
  /** Tokens the bucket must hold before a held partition resumes. */
  quantum: number;
  held: boolean;
  heldSince: number;
  resume: (() => void) | undefined;
  timer: unknown;
}

const realTimers: PacerTimers = {
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (h) => clearTimeout(h as NodeJS.Timeout),
};

export class RatePacer {
  private cap: CapRecord | undefined;
  private appliedAt: number | undefined;
  /** topic -> partition -> lane. */
  private lanes = new Map<string, Lane[]>();
  private order: Lane[] = [];
  private control: PartitionSwitch | undefined;
  private held = 0;
  private throttledMs = 0;
  private readonly now: MonotonicMs;
  private readonly timers: PacerTimers;
  private readonly metrics: SdkMetrics;
  private readonly log: Logger;
  private readonly burstMs: number;
  private readonly quantumMs: number;

  constructor(private readonly opts: RatePacerOptions) {
    this.now = opts.now ?? performance.now.bind(performance);
    this.timers = opts.timers ?? realTimers;
    this.metrics = opts.metrics ?? noSdkMetrics;
    this.log = opts.logger ?? silentLogger;
    this.burstMs = positive(opts.burstMs ?? 250, 'burstMs');
    this.quantumMs = Math.min(this.burstMs, positive(opts.quantumMs ?? 50, 'quantumMs'));
  }

  /**
   * The consumer now reads `partitions` (every partition of the pipeline's topics in the serving
   * room, topic then partition order) through `control`, which must work from now on.
   */
  attach(partitions: readonly TopicPartition[], control: PartitionSwitch): void {
    this.detach();
    this.control = control;
    for (const tp of partitions) this.addLane(tp);
    this.apply();
  }

  /** The consumer is gone (moving rooms, stopping): forget its partitions and timers. */
  detach(): void {
    for (const lane of this.order) {
      this.timers.clear(lane.timer);
      if (lane.held) this.throttledMs += this.endHold(lane);
    }
    this.lanes = new Map();
    this.order = [];
    this.control = undefined;
    this.held = 0;
    this.metrics.pacedPartitionsPaused?.(this.opts.pipeline, 0);
  }

  /** A new cap (undefined: uncapped); takes effect at once on every partition. */
  setCap(cap: CapRecord | undefined): void {
    this.cap = cap;
    this.appliedAt = Date.now();
    this.metrics.cap?.(this.opts.pipeline, cap ? cap.recordsPerSecond : null, cap?.paused ?? false);
    this.apply();
  }

  status(): PacerStatus {
    const c = this.cap;
    return {
      cap: c && { epoch: c.epoch, room: c.room, recordsPerSecond: c.recordsPerSecond, paused: c.paused },
      appliedAt: this.appliedAt,
      partitions: this.order.length,
      pausedPartitions: this.held,
      throttledMs: this.throttledMs,
    };
  }

  /**
   * One record of `topic`/`partition` delivered: takes its token. When none is left for the next,
   * pauses the partition with `pause` (kafkajs' eachMessage pause: it returns the resume) and
   * schedules the resume. The record itself is processed either way.
   */
  pace(topic: string, partition: number, pause: () => () => void): void {
    if (!this.cap || !this.control) return;
    const lane = this.lanes.get(topic)?.[partition] ?? this.addLane({ topic, partition }, true);
    if (lane.bucket.take() >= 1 && !lane.held) return;
    if (!lane.held) this.startHold(lane);
    lane.resume = pause();
    this.schedule(lane);
  }

  private addLane(tp: TopicPartition, late = false): Lane {
    let byPartition = this.lanes.get(tp.topic);
    if (!byPartition) this.lanes.set(tp.topic, (byPartition = []));
    const lane: Lane = { tp, bucket: new TokenBucket({ ratePerSecond: 0, burst: 1, initial: 0, now: this.now }), share: -1, quantum: 1, held: false, heldSince: 0, resume: undefined, timer: undefined };
    byPartition[tp.partition] = lane;
    this.order.push(lane);
    if (late) {
      // A partition the metadata did not list (the topic grew): split the cap again over all.
      this.log.warn('record from a partition not in the topic metadata; splitting the cap over it too', { topic: tp.topic, partition: tp.partition });
      this.apply();
    }
    return lane;
  }

  /** Gives every partition its share of the cap now, and pauses or resumes it to match. */
  private apply(): void {
    const cap = this.cap;
    if (!this.control) return;
    if (!cap) {
      for (const lane of this.order) this.release(lane);
      return;
    }
    // Whole shares that add up to the cap (splitCap); a cap smaller than the partition count would
    // give some partitions 0 and starve them, so then each gets an equal fraction instead.
    const total = cap.paused ? 0 : cap.recordsPerSecond;
    const shares = total > 0 && total < this.order.length ? this.order.map(() => total / this.order.length) : splitCap(total, this.order.length);
    this.order.forEach((lane, i) => {
      const share = shares[i] ?? 0;
      const burst = Math.max(1, (share * this.burstMs) / 1000);
      lane.quantum = Math.max(1, Math.min(burst, (share * this.quantumMs) / 1000));
      // A new partition starts with one quantum, not a full burst: the first 10 s window after a
      // start or a move must not read more than the cap.
      if (lane.share < 0) lane.bucket = new TokenBucket({ ratePerSecond: share, burst, initial: share > 0 ? lane.quantum : 0, now: this.now });
      else lane.bucket.setRate(share, burst);
      lane.share = share;
      if (share === 0 && !lane.held) {
        // Shed: this partition reads nothing.
        const control = this.control!;
        this.startHold(lane);
        control.pause(lane.tp);
        lane.resume = () => control.resume(lane.tp);
      }
      if (lane.held) this.schedule(lane);
    });
  }

  /** Resumes a held partition when its bucket will hold a quantum (never, at a rate of 0). */
  private schedule(lane: Lane): void {
    this.timers.clear(lane.timer);
    lane.timer = undefined;
    // A share of 0 reads nothing, whatever the bucket still holds, until the cap changes.
    if (lane.share === 0) return;
    const ms = lane.bucket.msUntil(lane.quantum);
    if (ms === 0) this.release(lane);
    else if (Number.isFinite(ms)) lane.timer = this.timers.set(() => this.onTimer(lane), Math.ceil(ms));
  }

  private onTimer(lane: Lane): void {
    lane.timer = undefined;
    // The rate may have changed since the timer was set: check, and wait again if need be.
    if (lane.held) this.schedule(lane);
  }

  private startHold(lane: Lane): void {
    lane.held = true;
    lane.heldSince = this.now();
    this.held++;
    this.metrics.pacedPartitionsPaused?.(this.opts.pipeline, this.held);
  }

  /** Ends a hold's bookkeeping; returns how long it lasted. */
  private endHold(lane: Lane): number {
    lane.held = false;
    this.held--;
    const ms = Math.max(0, this.now() - lane.heldSince);
    this.metrics.throttled?.(this.opts.pipeline, ms);
    this.metrics.pacedPartitionsPaused?.(this.opts.pipeline, this.held);
    return ms;
  }

  private release(lane: Lane): void {
    this.timers.clear(lane.timer);
    lane.timer = undefined;
    if (!lane.held) return;
    this.throttledMs += this.endHold(lane);
    const resume = lane.resume;
    lane.resume = undefined;
    try {
      resume?.();
    } catch (err) {
      // The consumer stopped under us (a move or close detaches next): nothing left to resume.
      this.log.debug('could not resume a paced partition', { topic: lane.tp.topic, partition: lane.tp.partition, error: (err as Error).message });
    }
  }
}

function positive(v: number, name: string): number {
  if (!Number.isFinite(v) || v <= 0) throw new RangeError(`${name} must be a positive number of milliseconds (was ${v})`);
  return v;
}
