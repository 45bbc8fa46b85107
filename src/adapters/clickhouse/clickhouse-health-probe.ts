import type CircuitBreaker from 'opossum';
import type { HealthStatus, Observation } from '../../core/health.js';
import { evaluateOlap, parseReplicasStatus, type OlapThresholds, type ReplicaSample } from '../../core/olap-rules.js';
import type { Clock } from '../../ports/clock.js';
import type { HealthProbe } from '../../ports/health-probe.js';
import { isOpenBreaker, probeBreaker, type ProbeVerdict as Verdict } from '../probe-breaker.js';
import type { ServerAccess } from '../../ports/server-access.js';
import { basicAuthHeader, httpText, type HttpRequestOptions } from '../system/http-request.js';

/** A request to a ClickHouse HTTP interface with the room's credentials and CA. */
export async function olapRequest(url: string, access: ServerAccess | undefined, opts: Omit<HttpRequestOptions, 'headers' | 'ca'>): Promise<{ readonly status: number; readonly text: string }> {
  if (access?.auth && !url.startsWith('https://')) throw new Error(`refusing to send a password to ${new URL(url).origin}: it is not https://`);
  return httpText(url, { ...opts, headers: basicAuthHeader(access?.auth), ...(access?.ca && { ca: access.ca }) });
}

export interface ClickHouseProbeOptions extends OlapThresholds {
  readonly room: string;
  /** HTTP interface, e.g. http://127.0.0.1:8123 */
  readonly url: string;
  readonly healthQuery: string;
  readonly observer: string;
  readonly observerRoom: string;
  /** The whole probe settles within this. */
  readonly timeoutMs: number;
  readonly clock: Clock;
  /** The user and password (basic auth) and the CA of an https:// server, where it needs them. */
  readonly access?: ServerAccess;
}

/**
 * A room's ClickHouse over HTTP: /ping, /replicas_status (judged by its body: servers before
 * 20.3 answer 200 even when lagging), system.replicas, and the latency of a health query.
 * Behind an opossum breaker; every request is aborted at its deadline.
 */
export class ClickHouseHealthProbe implements HealthProbe {
  readonly room: string;
  private readonly breaker: CircuitBreaker<[], Verdict>;

  constructor(private readonly opts: ClickHouseProbeOptions) {
    this.room = opts.room;
    this.breaker = probeBreaker(() => this.check(), opts.timeoutMs);
  }

  private get(path: string, body: string | undefined, timeoutMs: number): Promise<{ status: number; text: string }> {
    return olapRequest(`${this.opts.url}${path}`, this.opts.access, { ...(body !== undefined && { method: 'POST' as const, body }), timeoutMs });
  }

  private async check(): Promise<Verdict & { replicaDelaySec?: number }> {
    const budget = this.opts.timeoutMs;
    const ping = await this.get('/ping', undefined, budget);
    if (ping.status !== 200 || ping.text.trim() !== 'Ok.') return { status: 'DOWN', reason: `ping answered ${ping.status} ${ping.text.trim().slice(0, 80)}` };
    // The health query gets part of the budget, so that a slow one ends as DEGRADED, not a timeout.
    const queryTimeout = Math.min(this.opts.healthQueryTimeoutMs, Math.floor(budget * 0.6));
    const started = this.opts.clock.now();
    const [status, replicas, healthQueryMs] = await Promise.all([
      this.get('/replicas_status', undefined, budget).then((r) => parseReplicasStatus(r.status, r.text)),
      this.get(
        '/',
        'SELECT database, table, absolute_delay, is_readonly, queue_size, active_replicas, total_replicas FROM system.replicas FORMAT JSON',
        budget,
      ).then((r) => (JSON.parse(r.text) as { data: Record<string, string | number>[] }).data),
      this.get('/', this.opts.healthQuery, queryTimeout).then(
        (r) => (r.status === 200 ? this.opts.clock.now() - started : undefined),
        () => undefined,
      ),
    ]);
    const samples: ReplicaSample[] = replicas.map((r) => ({
      table: `${r['database']}.${r['table']}`,
      absoluteDelaySec: Number(r['absolute_delay']),
      isReadonly: Number(r['is_readonly']) === 1,
      queueSize: Number(r['queue_size']),
      activeReplicas: Number(r['active_replicas']),
      totalReplicas: Number(r['total_replicas']),
    }));
    const verdict = evaluateOlap({ at: this.opts.clock.now(), ping: true, replicas: samples, healthQueryMs }, { ...this.opts, healthQueryTimeoutMs: queryTimeout });
    const lagging = status.ok ? [] : [`replicas_status: ${status.delays.map((d) => `${d.table} ${d.absoluteDelaySec}s`).join(', ') || 'not Ok.'}`];
    const reasons = [...verdict.reasons.filter((r) => verdict.status !== 'OK' || lagging.length === 0), ...lagging];
    const replicaDelaySec = Math.max(0, ...samples.map((r) => r.absoluteDelaySec).filter((d) => Number.isFinite(d)), ...status.delays.map((d) => d.absoluteDelaySec));
    return { status: lagging.length > 0 && verdict.status === 'OK' ? 'DEGRADED' : verdict.status, reason: reasons.join('; '), replicaDelaySec };
  }

  async probe(): Promise<Observation> {
    const started = this.opts.clock.now();
    const observe = (status: HealthStatus, reason: string, replicaDelaySec?: number): Observation => {
      const at = this.opts.clock.now();
      return { room: this.opts.room, component: 'olap', observer: this.opts.observer, observerRoom: this.opts.observerRoom, at, status, reason, latencyMs: at - started, ...(replicaDelaySec !== undefined && { replicaDelaySec }) };
    };
    try {
      const v = (await this.breaker.fire()) as Verdict & { replicaDelaySec?: number };
      return observe(v.status, v.reason, v.replicaDelaySec);
    } catch (err) {
      const e = err as Error & { code?: string; cause?: { code?: string } };
      if (isOpenBreaker(e)) return observe('DOWN', 'circuit open after repeated probe failures');
      if (e.code === 'ETIMEDOUT' || e.name === 'TimeoutError') return observe('DOWN', `no answer within ${this.opts.timeoutMs} ms`);
      return observe('DOWN', `unreachable: ${e.cause?.code ?? e.message}`);
    }
  }

  async close(): Promise<void> {
    this.breaker.shutdown();
  }
}
