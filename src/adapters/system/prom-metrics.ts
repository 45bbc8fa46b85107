import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ArbitratedStatus } from '../../core/arbitration.js';
import type { ControllerMetrics } from '../../ports/metrics.js';
import type { CapMetrics } from '../../controller/cap-keeper.js';
import { worstVertex } from '../../ports/health-probe.js';

const HEALTH_VALUE: Record<ArbitratedStatus, number> = { OK: 0, DEGRADED: 1, DOWN: 2, UNKNOWN: 3, SUSPECT: 4 };

export interface PromMetrics extends ControllerMetrics, CapMetrics {
  readonly registry: Registry;
}

/** Prometheus metrics on a registry of its own (no global state). */
export function createPromMetrics(): PromMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'switchyard_process_' });
  const ticks = new Counter({ name: 'switchyard_ticks_total', help: 'Controller ticks by outcome', labelNames: ['outcome'], registers: [registry] });
  const decisions = new Counter({ name: 'switchyard_decisions_total', help: 'Leader verdicts other than healthy, by rule (failover, no-quorum, min-dwell, ...)', labelNames: ['rule'], registers: [registry] });
  const leader = new Gauge({ name: 'switchyard_leader', help: '1 while this replica is the leader', registers: [registry] });
  const ready = new Gauge({ name: 'switchyard_ready', help: '1 while the store is reachable', registers: [registry] });
  const health = new Gauge({
    name: 'switchyard_room_health',
    help: 'Arbitrated Kafka health of a room per tier: 0 OK, 1 DEGRADED, 2 DOWN, 3 UNKNOWN, 4 SUSPECT (DOWN short of quorum)',
    labelNames: ['tier', 'room'],
    registers: [registry],
  });
  const probeLatency = new Histogram({
    name: 'switchyard_probe_duration_seconds',
    help: 'Probe latency',
    labelNames: ['room'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [registry],
  });
  const probeFailures = new Counter({ name: 'switchyard_probe_failures_total', help: 'Probes that saw a room DOWN', labelNames: ['room'], registers: [registry] });
  const tickSeconds = new Histogram({
    name: 'switchyard_tick_seconds',
    help: 'Duration of one controller tick (probe, read, decide, act); compare with the probe interval',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const signals = new Counter({
    name: 'switchyard_client_signals_total',
    help: 'Push signals from SDK clients about a room (a failed connection), by whether they made this observer probe ahead of its cadence',
    labelNames: ['room', 'hurried'],
    registers: [registry],
  });
  const switches = new Counter({ name: 'switchyard_switches_total', help: 'Route switches written', labelNames: ['pipeline'], registers: [registry] });
  const detection = new Histogram({
    name: 'switchyard_detection_seconds',
    help: 'First failed probe to switch decision',
    buckets: [0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10],
    registers: [registry],
  });
  const routeWrite = new Histogram({ name: 'switchyard_route_write_seconds', help: 'Fenced route write latency', buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5], registers: [registry] });
  const steps = new Histogram({
    name: 'switchyard_switch_step_seconds',
    help: 'Duration of each journaled switch step',
    labelNames: ['step'],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10],
    registers: [registry],
  });
  const rto = new Histogram({ name: 'switchyard_rto_seconds', help: 'First failed probe to first record processed in the new chain (verified switches)', buckets: [0.5, 1, 1.5, 2, 3, 5, 10, 30, 60], registers: [registry] });
  const recorded = new Counter({ name: 'switchyard_switches_recorded_total', help: 'Switches finished and recorded, by kind and outcome', labelNames: ['kind', 'outcome'], registers: [registry] });
  const rejected = new Counter({ name: 'switchyard_writes_rejected_total', help: 'Route writes not applied', labelNames: ['reason'], registers: [registry] });
  const lagRecords = new Gauge({ name: 'switchyard_consumer_lag_records', help: 'Consumer group lag of a pipeline in its active room, records (all partitions)', labelNames: ['pipeline'], registers: [registry] });
  const lagSeconds = new Gauge({ name: 'switchyard_consumer_lag_seconds', help: 'Consumer group lag of a pipeline in time, worst partition', labelNames: ['pipeline'], registers: [registry] });
  const lossRecords = new Gauge({
    name: 'switchyard_failover_loss_estimate_records',
    help: 'Records a failover of the pipeline now would lose (neither in the target room nor processed); absent when unknown',
    labelNames: ['pipeline'],
    registers: [registry],
  });
  const gapSeconds = new Gauge({ name: 'switchyard_standby_gap_seconds', help: 'How far the failover target is behind the active room, beyond what consumers processed (worst partition)', labelNames: ['pipeline'], registers: [registry] });
  const jobLabels = ['room', 'job'];
  const jobRunning = new Gauge({ name: 'switchyard_stream_job_running', help: 'A stream job as its room\'s Flink reports it: 1 RUNNING, 0 any other state (missing or unreachable included)', labelNames: jobLabels, registers: [registry] });
  const jobRestarts = new Gauge({ name: 'switchyard_stream_job_restarts', help: 'Restarts of the job\'s current run (Flink numRestarts)', labelNames: jobLabels, registers: [registry] });
  const jobCheckpointAge = new Gauge({ name: 'switchyard_stream_job_checkpoint_age_seconds', help: 'Age of the job\'s newest completed checkpoint', labelNames: jobLabels, registers: [registry] });
  const jobBackpressure = new Gauge({ name: 'switchyard_stream_job_backpressure_ratio', help: 'Highest back-pressure ratio over the job\'s vertices (0..1)', labelNames: jobLabels, registers: [registry] });
  const setJob = (g: Gauge, labels: { room: string; job: string }, v: number | undefined) => (v === undefined ? g.remove(labels) : g.set(labels, v));
  const setOrDrop = (g: Gauge, pipeline: string, v: number | undefined) => (v === undefined ? g.remove({ pipeline }) : g.set({ pipeline }, v));
  const capRate = new Gauge({ name: 'switchyard_cap_records_per_second', help: 'The source cap in force for a pipeline in its serving room (absent: uncapped; 0 with switchyard_shed 1: shed)', labelNames: ['pipeline'], registers: [registry] });
  const shed = new Gauge({ name: 'switchyard_shed', help: '1 while a pipeline is shed (paused) because its room is short of capacity', labelNames: ['pipeline'], registers: [registry] });
  const eta = new Gauge({ name: 'switchyard_recovery_eta_seconds', help: 'Time for a capped pipeline\'s lag to drain: lag / (cap - inbound); absent when not recovering or not known', labelNames: ['pipeline'], registers: [registry] });
  const etaAlert = new Gauge({ name: 'switchyard_recovery_alert', help: '1 while a pipeline\'s recovery ETA is past its tier\'s recovery objective, or its lag is not draining at all', labelNames: ['pipeline'], registers: [registry] });
  const capWrites = new Counter({ name: 'switchyard_cap_writes_total', help: 'Fenced cap writes by outcome', labelNames: ['outcome'], registers: [registry] });
  return {
    registry,
    cap: (pipeline, rate, isShed) => {
      setOrDrop(capRate, pipeline, rate);
      shed.set({ pipeline }, isShed ? 1 : 0);
    },
    recovery: (pipeline, seconds, alert) => {
      setOrDrop(eta, pipeline, seconds);
      etaAlert.set({ pipeline }, alert ? 1 : 0);
    },
    capWrite: (outcome) => capWrites.inc({ outcome }),
    pipelineData: (pipeline, d) => {
      setOrDrop(lagRecords, pipeline, d.lagRecords);
      setOrDrop(lagSeconds, pipeline, d.lagSeconds);
      setOrDrop(lossRecords, pipeline, d.lossRecords);
      setOrDrop(gapSeconds, pipeline, d.standbyGapSeconds);
    },
    streamJob: (r) => {
      const labels = { room: r.room, job: r.job };
      jobRunning.set(labels, r.state === 'RUNNING' ? 1 : 0);
      setJob(jobRestarts, labels, r.restarts);
      setJob(jobCheckpointAge, labels, r.checkpointAgeMs === undefined ? undefined : r.checkpointAgeMs / 1000);
      setJob(jobBackpressure, labels, r.backpressure ? (worstVertex(r.backpressure)?.ratio ?? 0) : undefined);
    },
    tick: (outcome) => ticks.inc({ outcome }),
    decision: (rule) => decisions.inc({ rule }),
    tickDuration: (ms) => tickSeconds.observe(ms / 1000),
    signal: (room, hurried) => signals.inc({ room, hurried: String(hurried) }),
    leader: (is) => leader.set(is ? 1 : 0),
    ready: (is) => ready.set(is ? 1 : 0),
    roomHealth: (tier, room, status) => health.set({ tier, room }, HEALTH_VALUE[status]),
    probe: (room, ms, ok) => {
      probeLatency.observe({ room }, ms / 1000);
      if (!ok) probeFailures.inc({ room });
    },
    switched: (pipeline, detectedMs, writeMs) => {
      switches.inc({ pipeline });
      detection.observe(detectedMs / 1000);
      routeWrite.observe(writeMs / 1000);
    },
    writeRejected: (reason) => rejected.inc({ reason }),
    step: (step, ms) => steps.observe({ step }, ms / 1000),
    recorded: (r) => {
      recorded.inc({ kind: r.kind, outcome: r.outcome });
      if (r.rtoMs !== undefined) rto.observe(r.rtoMs / 1000);
    },
  };
}
