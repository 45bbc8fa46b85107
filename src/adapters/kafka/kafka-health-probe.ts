import type CircuitBreaker from 'opossum';
import type { Admin } from 'kafkajs';
import type { HealthStatus, Observation } from '../../core/health.js';
import type { Clock } from '../../ports/clock.js';
import type { HealthProbe } from '../../ports/health-probe.js';
import { isOpenBreaker, probeBreaker, type ProbeVerdict as Verdict } from '../probe-breaker.js';
import type { Logger } from '../../ports/logger.js';
import { createKafka } from './kafka-client.js';
import { kafkaAccessFor, type KafkaAccessBook } from '../../ports/kafka-access.js';

export interface KafkaProbeOptions {
  readonly room: string;
  readonly brokers: readonly string[];
  /** Topics whose partitions must have a leader in this room. */
  readonly topics: readonly string[];
  readonly observer: string;
  /** The room this observer runs in (or its witness site). */
  readonly observerRoom: string;
  readonly timeoutMs: number;
  readonly clock: Clock;
  readonly log: Logger;
  /** TLS and SASL by broker, resolved on each new admin client. */
  readonly access?: KafkaAccessBook;
}

/**
 * A room's Kafka as seen by one admin client: brokers reachable, an active controller, and every
 * partition of the pipeline topics led by some broker.
 *
 * Each check runs behind an opossum breaker with the probe timeout. A check still hanging when
 * the next probe is due is not doubled: that probe reports DOWN at once.
 */
export class KafkaHealthProbe implements HealthProbe {
  readonly room: string;
  private admin: Admin | undefined;
  private readonly breaker: CircuitBreaker<[], Verdict>;
  private running = false;

  constructor(private readonly opts: KafkaProbeOptions) {
    this.room = opts.room;
    this.breaker = probeBreaker(() => this.check(), opts.timeoutMs);
  }

  private async connectedAdmin(): Promise<Admin> {
    if (this.admin) return this.admin;
    const admin = createKafka({
      clientId: `switchyard-probe-${this.opts.observer}-${this.opts.room}`,
      brokers: this.opts.brokers,
      log: this.opts.log,
      timeoutMs: this.opts.timeoutMs,
      retries: 0,
      quiet: true,
      access: () => kafkaAccessFor(this.opts.access, this.opts.brokers),
    }).admin();
    await admin.connect();
    this.admin = admin;
    return admin;
  }

  private async check(): Promise<Verdict> {
    this.running = true;
    try {
      const admin = await this.connectedAdmin();
      const cluster = await admin.describeCluster();
      if (cluster.brokers.length === 0) return { status: 'DOWN', reason: 'no brokers in cluster metadata' };
      if (cluster.controller === null || cluster.controller < 0) {
        return { status: 'DEGRADED', reason: `${cluster.brokers.length} broker(s) but no active controller` };
      }
      if (this.opts.topics.length === 0) return { status: 'OK', reason: `${cluster.brokers.length} broker(s), controller ${cluster.controller}` };
      const existing = new Set(await admin.listTopics());
      const missing = this.opts.topics.filter((t) => !existing.has(t));
      if (missing.length > 0) return { status: 'DEGRADED', reason: `topic(s) missing: ${missing.join(', ')}` };
      const md = await admin.fetchTopicMetadata({ topics: [...this.opts.topics] });
      let total = 0;
      const offline: string[] = [];
      const underReplicated: string[] = [];
      for (const t of md.topics) {
        for (const p of t.partitions) {
          total++;
          if (p.leader < 0) offline.push(`${t.name}/${p.partitionId}`);
          else if (p.isr.length < p.replicas.length) underReplicated.push(`${t.name}/${p.partitionId}`);
        }
      }
      if (offline.length === total) return { status: 'DOWN', reason: `all ${total} partitions offline` };
      if (offline.length > 0) return { status: 'DEGRADED', reason: `${offline.length}/${total} partitions offline: ${offline.slice(0, 5).join(', ')}` };
      if (underReplicated.length > 0) {
        return { status: 'DEGRADED', reason: `${underReplicated.length}/${total} partitions under-replicated: ${underReplicated.slice(0, 5).join(', ')}` };
      }
      return { status: 'OK', reason: `${cluster.brokers.length} broker(s), controller ${cluster.controller}, ${total} partitions led` };
    } catch (err) {
      await this.reset();
      throw err;
    } finally {
      this.running = false;
    }
  }

  private async reset(): Promise<void> {
    const admin = this.admin;
    this.admin = undefined;
    await admin?.disconnect().catch(() => undefined);
  }

  async probe(): Promise<Observation> {
    const started = this.opts.clock.now();
    const observe = (status: HealthStatus, reason: string, carried = false): Observation => {
      const at = this.opts.clock.now();
      return { room: this.opts.room, component: 'kafka', observer: this.opts.observer, observerRoom: this.opts.observerRoom, at, status, reason, latencyMs: at - started, ...(carried && { carried: true }) };
    };
    if (this.running) return observe('DOWN', 'previous probe still has no answer', true);
    try {
      const v = await this.breaker.fire();
      return observe(v.status, v.reason);
    } catch (err) {
      const e = err as Error & { code?: string };
      if (isOpenBreaker(e)) return observe('DOWN', 'circuit open after repeated probe failures', true);
      if (e.code === 'ETIMEDOUT') {
        void this.reset();
        return observe('DOWN', `no answer within ${this.opts.timeoutMs} ms`);
      }
      return observe('DOWN', `unreachable: ${e.message}`);
    }
  }

  async close(): Promise<void> {
    this.breaker.shutdown();
    await this.reset();
  }
}
