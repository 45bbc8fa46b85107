// The composition root: the only place that reads the environment and flags and builds adapters.

import type { OperatorKubeconfig } from './adapters/kubernetes/who-am-i.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { RealIdentity } from './core/switchover.js';
import { homedir, hostname } from 'node:os';
import type { Etcd3 } from 'etcd3';
import { baselineFollower, checkedSecretFile, ConfigError, policyFollower, loadConfig, observerSiteProblem, type ConfigProblem, type LoadedConfig } from './config/load.js';
import { createEtcdClient, etcdKeys } from './adapters/etcd/client.js';
import { FlinkJobProbe, type WatchedJob } from './adapters/flink/flink-job-probe.js';
import { FlinkJobControl } from './adapters/flink/flink-job-control.js';
import { EtcdSavepointStore } from './adapters/etcd/savepoint-store.js';
import { createJobStarter, createJobStopper } from './executor/job-starter.js';
import { EtcdLeaderLock } from './adapters/etcd/leader-lock.js';
import { EtcdRouteStore } from './adapters/etcd/route-store.js';
import { EtcdRunbookStore } from './adapters/etcd/runbook-store.js';
import { WebhookNotifier } from './adapters/system/webhook-notifier.js';
import { RunbookKeeper } from './controller/runbook-keeper.js';
import { ClusterReporter } from './controller/cluster-reporter.js';
import { lazyActuator, lazyClusterState, type KubeAccess, type ServiceActuator } from './adapters/kubernetes/lazy.js';
import { EtcdObservationStore } from './adapters/etcd/observation-store.js';
import { EtcdSignalStore } from './adapters/etcd/signal-store.js';
import { EtcdJournalStore } from './adapters/etcd/journal-store.js';
import { EtcdIntentStore } from './adapters/etcd/intent-store.js';
import { userInfo } from 'node:os';
import { EtcdWatermarkStore } from './adapters/etcd/watermark-store.js';
import { KafkaGroupInspector } from './adapters/kafka/group-inspector.js';
import { KafkaPositionReader } from './adapters/kafka/position-reader.js';
import { PositionTracker } from './controller/position-tracker.js';
import { LagTracker } from './controller/lag-tracker.js';
import { BackfillReconciler } from './controller/backfill-reconciler.js';
import { BackfillRunner } from './executor/backfill.js';
import { EtcdBackfillStore } from './adapters/etcd/backfill-store.js';
import { KafkaRecordCopier } from './adapters/kafka/record-copier.js';
import { KafkaGroupOffsetReader } from './adapters/kafka/group-offsets.js';
import { EtcdPositionStore } from './adapters/etcd/position-store.js';
import type { RoomSample } from './core/data-estimate.js';
import { EtcdConsumerRegistry } from './adapters/etcd/consumer-registry.js';
import { SwitchRunner, type FaultPause, type SwitchRunnerDeps } from './executor/switch-runner.js';
import { SWITCH_STEPS, type SwitchStep } from './core/journal.js';
import type { QueryRoute, Topology } from './core/model.js';
import { Counter } from 'prom-client';
import { SecretFile } from './adapters/system/secret-file.js';
import { createWorkloadPreparer, createWorkloadReleaser } from './executor/workloads.js';
import { KafkaHealthProbe } from './adapters/kafka/kafka-health-probe.js';
import { ClickHouseHealthProbe, olapRequest } from './adapters/clickhouse/clickhouse-health-probe.js';
import { createPinoLogger } from './adapters/system/pino-logger.js';
import { createPromMetrics, type PromMetrics } from './adapters/system/prom-metrics.js';
import { systemClock } from './adapters/system/system-clock.js';
import { Controller } from './controller/controller.js';
import { CapKeeper } from './controller/cap-keeper.js';
import { KafkaClientQuotas } from './adapters/kafka/client-quotas.js';
import { EtcdCapStore } from './adapters/etcd/cap-store.js';
import type { CapRecord } from './core/caps.js';
import { Executor } from './executor/executor.js';
import type { Logger } from './ports/logger.js';
import { kafkaAccessFor } from './ports/kafka-access.js';
import type { HealthProbe } from './ports/health-probe.js';
import type { RouteStore } from './ports/route-store.js';
import type { LeaderLock } from './ports/leader-lock.js';
import type { ControllerMetrics } from './ports/metrics.js';

export interface CommonFlags {
  readonly config: string;
  readonly policies?: string;
  readonly logLevel?: string;
}

/** Who is acting, for the record: --operator, else $SWITCHYARD_OPERATOR, else the OS user. */
/** The operator's time zone: $SWITCHYARD_TZ, else $TZ, else the system's. */
export function operatorZone(): string {
  const z = process.env['SWITCHYARD_TZ'] ?? process.env['TZ'];
  if (z) {
    try {
      new Intl.DateTimeFormat('en-GB', { timeZone: z });
      return z;
    } catch {
      // an unknown zone: fall back to the system's
    }
  }
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}

export function operatorName(flag: string | undefined): string {
  return flag || process.env['SWITCHYARD_OPERATOR'] || osUser();
}

/**
 * Who asks for a switch: the name given (--operator, $SWITCHYARD_OPERATOR, else the OS user) and
 * the real identity beside it (the OS user, and the Kubernetes user the operator's kubeconfig
 * authenticates as, where they have one; at most 1.5 s to ask the API server).
 */
export async function operatorIdentity(flag: string | undefined): Promise<{ readonly by: string; readonly identity: RealIdentity }> {
  // client-node is loaded only for an operator who has a kubeconfig (docs/perf/scale.md).
  const where = operatorKubeconfig();
  const kube = where && (await (await import('./adapters/kubernetes/who-am-i.js')).kubernetesUser(where));
  return { by: operatorName(flag), identity: { os: osUser(), ...(kube && { kube }) } };
}

/** Where kubectl would look: $KUBECONFIG (its first file), ~/.kube/config, or the Pod's own credentials. */
function operatorKubeconfig(): OperatorKubeconfig | undefined {
  const listed = process.env['KUBECONFIG']?.split(':').find(Boolean);
  if (listed) return { file: listed };
  const home = join(homedir(), '.kube', 'config');
  if (existsSync(home)) return { file: home };
  return process.env['KUBERNETES_SERVICE_HOST'] && existsSync('/var/run/secrets/kubernetes.io/serviceaccount/token') ? { inCluster: true } : undefined;
}

export function defaultObserverId(): string {
  return process.env['SWITCHYARD_OBSERVER'] ?? `${hostname()}-${process.pid}`;
}

export function createLogger(level: string | undefined, fields: Record<string, unknown> = {}): Logger {
  return createPinoLogger(level ?? process.env['SWITCHYARD_LOG_LEVEL'] ?? 'info', fields);
}

/**
 * One Kafka probe per room, covering the topics of every pipeline with a chain in that room, and
 * one ClickHouse probe per room that has OLAP.
 */
export function buildProbes(config: LoadedConfig, observer: string, observerRoom: string, log: Logger, timeoutOverrideMs?: number): HealthProbe[] {
  const { topology } = config;
  const probeTimeout = Math.min(...[...topology.policies.values()].map((p) => p.probeTimeoutMs));
  const olap = [...topology.rooms.values()].flatMap((room) =>
    room.olap ? [new ClickHouseHealthProbe({ ...room.olap, room: room.name, observer, observerRoom, timeoutMs: timeoutOverrideMs ?? probeTimeout, clock: systemClock, ...(config.olapAccess.get(room.olap.url) && { access: config.olapAccess.get(room.olap.url)! }) })] : [],
  );
  const flink = buildFlinkProbes(config, observer, observerRoom, log, timeoutOverrideMs);
  return [...olap, ...flink, ...[...topology.rooms.values()].map((room) => {
    const pipelines = [...topology.pipelines.values()].filter((p) => p.chains.some((c) => c.room === room.name));
    const topics = [...new Set(pipelines.flatMap((p) => p.topics))].sort();
    const timeouts = pipelines.map((p) => topology.policies.get(p.tier)?.probeTimeoutMs ?? 1000);
    return new KafkaHealthProbe({
      room: room.name,
      brokers: room.kafka.brokers,
      topics,
      observer,
      observerRoom,
      timeoutMs: timeoutOverrideMs ?? (timeouts.length > 0 ? Math.min(...timeouts) : 1000),
      clock: systemClock,
      log: log.child({ component: 'probe', room: room.name }),
      access: config.kafkaAccess,
    });
  })];
}

/**
 * One Flink probe per room whose chains name stream jobs, watching those jobs with the limits of
 * the tier that runs each. Its REST requests get at least a second: a busy JobManager answers
 * slower than a broker, and a probe never holds a tick up anyway.
 */
export function buildFlinkProbes(config: LoadedConfig, observer: string, observerRoom: string, log: Logger, timeoutOverrideMs?: number): FlinkJobProbe[] {
  const { topology } = config;
  return [...topology.rooms.values()].flatMap((room) => {
    if (!room.flink) return [];
    const jobs: WatchedJob[] = [];
    const timeouts: number[] = [];
    const intervals: number[] = [];
    for (const p of topology.pipelines.values()) {
      const policy = topology.policies.get(p.tier);
      if (!policy) continue;
      for (const c of p.chains) {
        if (c.room !== room.name) continue;
        timeouts.push(policy.probeTimeoutMs);
        intervals.push(policy.probeIntervalMs);
        const s = policy.streamJobs;
        for (const name of c.jobs) jobs.push({ name, limits: { maxCheckpointAgeMs: s.maxCheckpointAgeMs, maxRestartsInWindow: s.maxRestarts, restartWindowMs: s.restartWindowMs, maxFailedCheckpointsInWindow: s.maxFailedCheckpoints } });
      }
    }
    if (jobs.length === 0) return [];
    return [
      new FlinkJobProbe({
        room: room.name,
        url: room.flink.url,
        jobs,
        observer,
        observerRoom,
        timeoutMs: timeoutOverrideMs ?? Math.max(1000, ...timeouts),
        // Within the tick: the fastest tier's probe interval bounds how long a tick waits.
        waitMs: Math.floor(0.6 * Math.min(...intervals)),
        concurrency: room.flink.concurrency,
        clock: systemClock,
        log: log.child({ component: 'flink-probe', room: room.name }),
      }),
    ];
  });
}

/** Samples every room's replication positions for the pipeline topics it holds (data estimate). */
export function buildPositionTracker(config: LoadedConfig, log: Logger, publish?: (rooms: RoomSample[][]) => Promise<void>): PositionTracker {
  const { topology } = config;
  const rooms = new Map<string, { reader: KafkaPositionReader; topics: string[] }>();
  for (const room of topology.rooms.values()) {
    const pipelines = [...topology.pipelines.values()].filter((p) => p.chains.some((c) => c.room === room.name));
    const topics = [...new Set(pipelines.flatMap((p) => p.topics))].sort();
    rooms.set(room.name, { reader: new KafkaPositionReader(room.name, room.kafka.brokers, log.child({ component: 'positions', room: room.name }), Date.now, config.kafkaAccess), topics });
  }
  const timeoutMs = Math.min(...[...topology.policies.values()].map((p) => p.probeTimeoutMs));
  return new PositionTracker({ rooms, timeoutMs, log: log.child({ component: 'positions' }), ...(publish && { publish }) });
}

export interface StoreHandles {
  readonly etcd: Etcd3;
  readonly routes: RouteStore;
  readonly lock: (id: string, log: Logger) => LeaderLock;
}

export function buildStore(config: LoadedConfig): StoreHandles {
  const etcd = createEtcdClient({ endpoints: config.etcd.endpoints, ...(config.etcd.tls && { tls: config.etcd.tls }), ...(config.etcd.auth && { auth: config.etcd.auth }) });
  return {
    etcd,
    routes: new EtcdRouteStore(etcd, config.etcd.prefix),
    lock: (id, log) => new EtcdLeaderLock(etcd, config.etcd.prefix, id, config.etcd.leaseTtlSeconds, log),
  };
}

export interface ControllerFlags extends CommonFlags {
  readonly observer?: string;
  readonly room?: string;
  readonly httpPort?: number;
  readonly httpHost?: string;
  /** Accept an http:// Kubernetes API server (tests only). */
  readonly insecureKube?: boolean;
  /** A file holding the bearer token for /metrics and /status. */
  readonly httpTokenFile?: string;
}

export interface BuiltController {
  readonly config: LoadedConfig;
  readonly controller: Controller;
  readonly metrics: PromMetrics;
  readonly httpPort: number;
  /** Where /healthz, /readyz and /metrics listen: the flag, $SWITCHYARD_HTTP_HOST, or loopback. */
  readonly httpHost: string;
  /** The bearer token /metrics and /status require, as it is now (absent: open). */
  readonly httpToken?: () => string;
  /** After an etcd TLS file changes, the controller stops within a random delay of up to this ($SWITCHYARD_CERT_RESTART_JITTER_MS, 15 s). */
  readonly certRestartJitterMs: number;
  readonly log: Logger;
  close(): void;
}

/**
 * Fault injection for fault tests: SWITCHYARD_FAULT_PAUSE_AFTER_STEP=<step>:<ms>[:before-save]
 * makes this replica pause after saving that switch step (or just before saving it). Refused
 * for an unknown step.
 */
function faultPause(): FaultPause | undefined {
  const raw = process.env['SWITCHYARD_FAULT_PAUSE_AFTER_STEP'];
  if (!raw) return undefined;
  const refuse = (reason: string) => new ConfigError([{ file: '(environment)', path: 'SWITCHYARD_FAULT_PAUSE_AFTER_STEP', reason }]);
  // A hook that freezes the leader mid-switch must never be live by accident in production.
  if (process.env['SWITCHYARD_TEST_HOOKS'] !== '1') {
    throw refuse('a test hook (it pauses the leader in the middle of a switch): refused unless SWITCHYARD_TEST_HOOKS=1 is set too, which only the test suite does; unset it');
  }
  const [step, ms, when = 'after-save'] = raw.split(':');
  if (!SWITCH_STEPS.includes(step as SwitchStep) || !Number.isFinite(Number(ms)) || (when !== 'after-save' && when !== 'before-save')) {
    throw refuse(`must be <step>:<ms>[:before-save] with step one of ${SWITCH_STEPS.join(', ')}; got '${raw}'`);
  }
  return { step: step as SwitchStep, ms: Number(ms), when };
}

/**
 * The bearer token /metrics and /status require: --http-token-file or $SWITCHYARD_HTTP_TOKEN_FILE,
 * read once now (a missing or empty file is refused, exit 2) and again whenever it changes.
 */
function httpTokenFile(flag: string | undefined): SecretFile | undefined {
  const path = flag ?? process.env['SWITCHYARD_HTTP_TOKEN_FILE'];
  if (!path) return undefined;
  return requiredSecretFile(path, flag !== undefined ? '(command line)' : '(environment)', flag !== undefined ? '--http-token-file' : 'SWITCHYARD_HTTP_TOKEN_FILE');
}

/**
 * A secret file, read once now so that a missing, unreadable or empty one is a configuration
 * error naming where it was given (exit 2, no stack); read again whenever it changes.
 */
function requiredSecretFile(path: string, file: string, field: string, what = ''): SecretFile {
  const problems: ConfigProblem[] = [];
  const secret = checkedSecretFile(file, field, path, problems, what);
  if (problems.length > 0) throw new ConfigError(problems);
  return secret;
}

/**
 * An http:// API server would get the token in clear and be trusted unverified: refused (exit 2)
 * unless the operator says --insecure-kube (a test API server).
 */
export function checkKubeServer(config: LoadedConfig, insecureKube = false): void {
  const server = config.controller.kubernetes?.server;
  if (server?.startsWith('http://') && !insecureKube) {
    throw new ConfigError([{ file: config.file, path: 'controller.kubernetes.server', reason: `${server} is plain HTTP: the token would travel in clear and any answer be trusted; use https:// (pass --insecure-kube only for a test API server)` }]);
  }
}

/** The Kubernetes API access the topology gives (controller.kubernetes): a server and token, or in-cluster. */
function kubeAccessOf(config: LoadedConfig, insecureKube = false): KubeAccess | undefined {
  const k = config.controller.kubernetes;
  if (!k) return undefined;
  checkKubeServer(config, insecureKube);
  if (k.server) {
    const token = k.tokenFile ? requiredSecretFile(k.tokenFile, config.file, 'controller.kubernetes.tokenFile', 'token file ') : undefined;
    return { server: k.server, ...(token !== undefined && { token }), ...(k.caFile && { caFile: k.caFile }) };
  }
  return { inCluster: true };
}

/** The leader's Kubernetes view (SwitchyardPipeline status, Events, Lease), when a namespace is given. */
function buildClusterReporter(config: LoadedConfig, observer: string, log: Logger, insecureKube: boolean): ClusterReporter | undefined {
  const namespace = config.controller.kubernetes?.namespace ?? process.env['SWITCHYARD_NAMESPACE'];
  const access = kubeAccessOf(config, insecureKube);
  if (!access || !namespace) return undefined;
  return new ClusterReporter({ state: lazyClusterState(access, namespace, observer), topology: config.topology, observer, leaseSeconds: config.etcd.leaseTtlSeconds, clock: systemClock, log: log.child({ component: 'kubernetes' }) });
}

/**
 * The Service actuator, when the topology asks for one: (pipeline, chain, route epoch) -> a note
 * of what it did. A patch refused because the Service carries this epoch or a later one is a
 * note, not a failure (a later switch owns the Service); a 409 or a timeout fails the step, which
 * the next tick retries from a fresh read.
 */
function buildServicePointer(config: LoadedConfig, actuator: ServiceActuator | undefined, log: Logger): SwitchRunnerDeps['pointService'] {
  const topology: Topology = config.topology;
  if (!actuator || ![...topology.pipelines.values()].some((p) => p.service)) return undefined;
  return async (pipeline, chain, epoch) => {
    const svc = topology.pipelines.get(pipeline)?.service;
    if (!svc) return undefined;
    const name = `service ${svc.namespace}/${svc.name}`;
    const outcome = await actuator.point({ namespace: svc.namespace, name: svc.name }, { [svc.selectorKey]: chain }, epoch);
    switch (outcome.kind) {
      case 'patched':
        return `${name} selector ${svc.selectorKey}=${chain} at route epoch ${epoch}`;
      case 'already':
        return `${name} already selects ${svc.selectorKey}=${chain} at route epoch ${epoch}`;
      case 'refused':
        log.warn('service not patched: it carries this route epoch or a later one', { pipeline, service: name, epoch, reason: outcome.reason });
        return `${name} not patched: ${outcome.reason}`;
    }
  };
}

/** The journaled switch runner, as the controller and `switchyard failover --force` both use it. */
export function buildSwitchRunner(
  config: LoadedConfig,
  store: StoreHandles,
  journals: EtcdJournalStore,
  observer: string,
  log: Logger,
  metrics: ControllerMetrics,
  opts: { readonly pause?: FaultPause; readonly insecureKube?: boolean } = {},
): SwitchRunner {
  const pause = opts.pause;
  const access = kubeAccessOf(config, opts.insecureKube);
  const actuator = access && lazyActuator(access);
  const pointService = buildServicePointer(config, actuator, log.child({ component: 'service-selector' }));
  const workloads = actuator && [...config.topology.pipelines.values()].some((p) => p.chains.some((c) => c.kubernetes)) ? { topology: config.topology, actuator, log: log.child({ component: 'workloads' }) } : undefined;
  const jobs = {
    topology: config.topology,
    control: (_room: string, url: string) => new FlinkJobControl({ url, timeoutMs: 30_000 }),
    savepoints: new EtcdSavepointStore(store.etcd, config.etcd.prefix),
    observer,
    log: log.child({ component: 'stream-jobs' }),
  };
  const startJobs = createJobStarter(jobs);
  const stopJobs = createJobStopper(jobs);
  return new SwitchRunner({
    ...(pointService && { pointService }),
    // Before the flip each call gets 1.5 s: a failover waits on the Kubernetes API at most that long.
    ...(workloads && access && { prepareWorkloads: createWorkloadPreparer({ ...workloads, actuator: lazyActuator(access, 1500) }), releaseWorkloads: createWorkloadReleaser(workloads) }),
    startJobs,
    stopJobs,
    journals,
    routes: store.routes,
    queryRoutes: new EtcdRouteStore<QueryRoute>(store.etcd, config.etcd.prefix, 'query-routes'),
    olapAnswers: (url) =>
      olapRequest(`${url}/?query=SELECT%201`, config.olapAccess.get(url), { timeoutMs: 1000 }).then(
        (r) => r.status === 200,
        () => false,
      ),
    watermarks: new EtcdWatermarkStore(store.etcd, config.etcd.prefix),
    consumers: new EtcdConsumerRegistry(store.etcd, config.etcd.prefix),
    groups: new KafkaGroupInspector(log.child({ component: 'fence' }), config.kafkaAccess),
    observer,
    verifyTimeoutMs: config.controller.verifyTimeoutMs,
    clock: systemClock,
    log: log.child({ component: 'switch-runner' }),
    metrics,
    ...(pause && { faultPause: pause }),
  });
}

export function buildController(flags: ControllerFlags): BuiltController {
  const config = loadConfig(flags.config, flags.policies);
  // Refusals of the whole setup come before anything connects.
  const pause = faultPause();
  checkKubeServer(config, flags.insecureKube === true);
  const httpHost = flags.httpHost ?? process.env['SWITCHYARD_HTTP_HOST'] ?? '127.0.0.1';
  const httpToken = httpTokenFile(flags.httpTokenFile);
  const observer = flags.observer ?? config.controller.observer ?? defaultObserverId();
  // Observers that do not say where they run all count as one room: quorum cannot be faked.
  const observerRoom = flags.room ?? process.env['SWITCHYARD_ROOM'] ?? config.controller.room ?? 'unassigned';
  const badSite = observerRoom === 'unassigned' ? '' : observerSiteProblem(observerRoom, [...config.topology.rooms.keys()], config.topology.witnesses ?? []);
  if (badSite) {
    const from = flags.room !== undefined ? '--room' : process.env['SWITCHYARD_ROOM'] !== undefined ? '$SWITCHYARD_ROOM' : 'controller.room';
    throw new ConfigError([{ file: config.file, path: from, reason: badSite }]);
  }
  const log = createLogger(flags.logLevel, { observer, observerRoom });
  for (const warning of config.warnings) log.warn('configuration works against a promise', { file: config.file, warning });
  const store = buildStore(config);
  const metrics = createPromMetrics();
  const journals = new EtcdJournalStore(store.etcd, config.etcd.prefix);
  const runner = buildSwitchRunner(config, store, journals, observer, log, metrics, { ...(pause && { pause }), insecureKube: flags.insecureKube === true });
  const loopErrors = new Counter({
    name: 'switchyard_loop_errors_total',
    help: 'Failures the control loop contained and retries on the next tick, by where: switch, switchover, init-route, routes, tick',
    labelNames: ['site'],
    registers: [metrics.registry],
  });
  const positions = buildPositionTracker(config, log, (rooms) => new EtcdPositionStore(store.etcd, config.etcd.prefix).publish(observer, rooms));
  const lag = new LagTracker({
    readers: new Map([...config.topology.rooms.values()].map((r) => [r.name, new KafkaGroupOffsetReader(r.name, r.kafka.brokers, log.child({ component: 'lag', room: r.name }), undefined, config.kafkaAccess)])),
    timeoutMs: 2000,
    log: log.child({ component: 'lag' }),
  });
  const quotas = new Map([...config.topology.rooms.values()].map((r) => [r.name, new KafkaClientQuotas({ brokers: r.kafka.brokers, timeoutMs: 2000, access: () => kafkaAccessFor(config.kafkaAccess, r.kafka.brokers) })]));
  const intents = new EtcdIntentStore(store.etcd, config.etcd.prefix);
  const capStore = new EtcdCapStore(store.etcd, config.etcd.prefix);
  const runbookSteps = new Counter({ name: 'switchyard_runbook_steps_total', help: 'Runbook steps that ended, by outcome: done, failed, skipped', labelNames: ['outcome'], registers: [metrics.registry] });
  const controller = new Controller({
    topology: config.topology,
    storeKeys: etcdKeys(config.etcd.prefix),
    observer,
    probes: buildProbes(config, observer, observerRoom, log),
    routes: store.routes,
    observationStore: new EtcdObservationStore(store.etcd, config.etcd.prefix, config.etcd.leaseTtlSeconds),
    signals: new EtcdSignalStore(store.etcd, config.etcd.prefix),
    lock: store.lock(observer, log.child({ component: 'leader-lock' })),
    executor: new Executor(store.routes, new EtcdRouteStore<QueryRoute>(store.etcd, config.etcd.prefix, 'query-routes'), systemClock, log.child({ component: 'executor' }), metrics),
    journals,
    runner,
    intents,
    clock: systemClock,
    log: log.child({ component: 'controller' }),
    metrics,
    countError: (site) => loopErrors.inc({ site }),
    positions,
    watermarks: new EtcdWatermarkStore(store.etcd, config.etcd.prefix),
    backfills: new BackfillReconciler({
      topology: config.topology,
      journals,
      store: new EtcdBackfillStore(store.etcd, config.etcd.prefix),
      runner: new BackfillRunner({
        copier: new KafkaRecordCopier(new Map([...config.topology.rooms.values()].map((r) => [r.name, r.kafka.brokers])), log.child({ component: 'backfill' }), undefined, config.kafkaAccess),
        store: new EtcdBackfillStore(store.etcd, config.etcd.prefix),
        log: log.child({ component: 'backfill' }),
      }),
      by: observer,
      log: log.child({ component: 'backfill' }),
    }),
    lag,
    caps: new CapKeeper({
      caps: new EtcdRouteStore<CapRecord>(store.etcd, config.etcd.prefix, 'caps'),
      store: capStore,
      baselines: baselineFollower(config.baselinesDir, config.topology, (message) => log.warn('baselines changed but do not load; the last good set stays in force', { problem: message })),
      policies: policyFollower(config.policiesPath, config.topology.policies, (message) => log.warn('policies changed but do not load; the caps keep the last good ones', { problem: message })),
      positions,
      lag,
      log: log.child({ component: 'caps' }),
      metrics,
      by: observer,
      quotas,
      groups: new Map([...config.topology.rooms.values()].map((r) => [r.name, new KafkaGroupOffsetReader(r.name, r.kafka.brokers, log.child({ component: 'caps', room: r.name }), undefined, config.kafkaAccess)])),
    }),
    cluster: buildClusterReporter(config, observer, log, flags.insecureKube === true),
    runbooks: new RunbookKeeper({
      store: new EtcdRunbookStore(store.etcd, config.etcd.prefix),
      intents,
      caps: capStore,
      journals,
      notifier: new WebhookNotifier(),
      webhooks: config.webhooks,
      topology: config.topology,
      clock: systemClock,
      log: log.child({ component: 'runbooks' }),
      countStep: (outcome) => runbookSteps.inc({ outcome }),
    }),
  });
  return {
    config,
    controller,
    metrics,
    httpPort: flags.httpPort ?? config.controller.httpPort,
    httpHost,
    ...(httpToken && { httpToken: () => httpToken.read() }),
    certRestartJitterMs: Number(process.env['SWITCHYARD_CERT_RESTART_JITTER_MS'] ?? 15_000),
    log,
    close: () => {
      for (const q of quotas.values()) void q.close().catch(() => undefined);
      store.etcd.close();
    },
  };
}
