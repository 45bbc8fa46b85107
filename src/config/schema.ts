// File formats, as users write them. Strict objects: an unknown field is a typo until proven
// otherwise, and a typo in a failover policy must not pass silently.

import { z } from 'zod';
import { TIERS } from '../core/model.js';
import { COMPONENTS } from '../core/health.js';
import { KAFKA_SASL_MECHANISMS } from '../ports/kafka-access.js';

const name = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'must be a lowercase DNS label (a-z, 0-9, -)');
/** A Kubernetes object name (a DNS subdomain: labels joined by dots, at most 253 characters). */
const objectName = z
  .string()
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, 'must be a Kubernetes object name (lowercase a-z, 0-9, - and .)');
/**
 * A secret's source: a file (a mounted Secret) or an environment variable, by name. Never the
 * value itself: a committed topology file must not hold credentials.
 */
const secretRef = z
  .union([z.strictObject({ file: z.string().min(1) }), z.strictObject({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name') })], {
    error: 'must be { file: <path> } or { env: <VARIABLE> }: a secret is never written into the topology',
  })
  .describe('a secret: { file: path } or { env: VARIABLE }');
/** TLS files of a client: the CA that signed `signed`, and a client certificate with its key. */
const tlsFiles = (signed: string, whenCert: string) =>
  z.strictObject({
    caFile: z.string().min(1).optional().describe(`PEM CA that signed ${signed} (default: the system's)`),
    certFile: z.string().min(1).optional().describe(`PEM client certificate, ${whenCert}`),
    keyFile: z.string().min(1).optional().describe('PEM key of that certificate'),
  });
const hostPort = z.string().regex(/^[^\s:]+:\d{1,5}$/, 'must be host:port');
const positiveMs = z.number().int().positive();
const mode = z.enum(['automatic', 'manual', 'none']);

const clockRange = z.string().regex(/^([01]\d|2[0-4]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d$/, 'must be HH:MM-HH:MM, e.g. 00:00-08:00');

export const policySchema = z.strictObject({
  tier: z.enum(TIERS),
  description: z.string().optional(),
  failover: mode.describe('automatic: the controller fails over on its own; manual: only an operator; none: never'),
  failback: mode.default('manual').describe('how the pipeline returns to its primary chain once that is healthy'),
  standby: z.enum(['hot', 'warm', 'none']).default('hot'),
  standbyConsumer: z
    .enum(['joined', 'none'])
    .optional()
    .describe('joined: SDK consumers keep a paused member joined to the group in the failover room, so a flip is a seek and a resume (default for hot standby); none: they join when they move'),
  failoverOn: z.array(z.enum(COMPONENTS)).min(1).default(['kafka', 'stream', 'olap']).describe('components whose failure triggers an automatic failover'),
  probe: z.strictObject({
    intervalMs: positiveMs.min(50),
    timeoutMs: positiveMs,
    signalIntervalMs: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe('after an SDK client reports trouble with a room, probe it this often and count those probes at this spacing (default intervalMs / 5, at least 20 ms; 0: signals do not speed this tier up)'),
  }),
  fallAfter: z.number().int().min(1).max(100),
  riseAfter: z.number().int().min(1).max(100),
  staleAfterMs: positiveMs,
  observersRequired: z.number().int().min(1).max(9).default(1).describe('observers in this many distinct rooms must agree a chain is DOWN'),
  minDwellMs: z.number().int().min(0),
  maxSwitchesPerHour: z.number().int().min(1).default(3),
  rtoObjectiveMs: positiveMs.default(60_000),
  duplicateMarginMs: z.number().int().min(0),
  dataBudget: z
    .strictObject({
      maxLossMs: z.number().int().min(0),
      maxDuplicateMs: z.number().int().min(0),
      maxWaitMs: z.number().int().min(0).default(10_000),
      onUnknown: z
        .enum(['refuse', 'allow'])
        .default('refuse')
        .describe('when the loss cannot be estimated (a stale or missing position sample): refuse (wait up to maxWaitMs, then refuse) or allow the switch'),
    })
    .default({ maxLossMs: 0, maxDuplicateMs: 60_000, maxWaitMs: 10_000, onUnknown: 'refuse' }),
  changeWindows: z
    .strictObject({
      timeZone: z.string().min(1),
      windows: z.array(clockRange),
    })
    .default({ timeZone: 'UTC', windows: ['00:00-24:00'] }),
  backfill: z
    .enum(['automatic', 'manual'])
    .default('manual')
    .describe('records a lossy switch left in the old room: copied by the leader once that room is healthy again (automatic), or by `switchyard backfill` (manual)'),
  shedOrder: z.number().int().min(0).max(9).default(0).describe('tiers are shed in ascending order under shortage; 0 = never'),
  capHeadroom: z.number().gt(0).max(1).default(0.8).describe('fraction of the stress-tested baseline enforced as the source cap'),
  baselineMaxAgeDays: z.number().int().min(1).max(3650).default(90).describe('a stress-test baseline older than this is refused: its cap is not applied'),
  recoveryObjectiveMs: positiveMs.default(600_000).describe('after a flood, a capped source\'s lag should drain within this; a longer recovery ETA raises an alert'),
  streamJobs: z
    .strictObject({
      maxCheckpointAgeMs: positiveMs.default(60_000).describe('a job whose newest completed checkpoint is older is DOWN (over half: DEGRADED)'),
      maxRestarts: z.number().int().min(0).default(3).describe('more restarts than this within restartWindowMs is a crash loop: DOWN'),
      restartWindowMs: positiveMs.default(300_000),
      maxFailedCheckpoints: z.number().int().min(0).default(5).describe('more failed checkpoints than this within restartWindowMs: DEGRADED'),
    })
    .default({ maxCheckpointAgeMs: 60_000, maxRestarts: 3, restartWindowMs: 300_000, maxFailedCheckpoints: 5 })
    .describe('how the stream jobs of this tier\'s chains are judged (Flink REST)'),
});
export type PolicyFile = z.infer<typeof policySchema>;

const roomSchema = z.strictObject({
  kafka: z.strictObject({
    brokers: z.array(hostPort).min(1),
    tls: tlsFiles('the brokers\' certificates', 'for brokers that require one (ssl.client.auth=required)').optional().describe('TLS to the brokers (an SSL or SASL_SSL listener); paths relative to this file'),
    sasl: z
      .strictObject({
        mechanism: z.enum(KAFKA_SASL_MECHANISMS),
        username: z.string().min(1),
        password: secretRef,
      })
      .optional()
      .describe('SASL user for probes, admin calls, quotas and backfill (needs tls: a password never crosses the network in clear)'),
  }),
  capacity: z
    .strictObject({ recordsPerSecond: z.number().int().positive() })
    .optional()
    .describe('what the room\'s stream jobs take in all (records/s, e.g. from a room-wide stress test): when the pipelines served there need more, low tiers are shed'),
  /** The room's Flink cluster (REST API): needed when a chain in the room names stream jobs. */
  flink: z
    .strictObject({
      url: z.url(),
      /** How many REST requests one probe keeps in flight at most. */
      concurrency: z.number().int().min(1).max(64).default(8),
      /**
       * How to start a job of this room that runs as a warm standby (stopped until a failover
       * starts it from its newest savepoint): by job name, the jar (relative to this file), its
       * entry class and its arguments.
       */
      launch: z
        .record(z.string().min(1), z.strictObject({ jar: z.string().min(1), entryClass: z.string().min(1), args: z.array(z.string()).default([]) }))
        .optional(),
      /** Where a warm standby's jobs are stopped with a savepoint when the pipeline leaves them (a URL the cluster can write, e.g. file:///var/flink/savepoints). */
      savepointDir: z.string().min(1).optional(),
    })
    .optional(),
  olap: z
    .strictObject({
      url: z.url(),
      healthQuery: z.string().min(1).default('SELECT 1'),
      healthQueryTimeoutMs: positiveMs.default(1000),
      slowQueryMs: positiveMs.default(500),
      maxReplicaDelaySec: z.number().int().min(0).default(30),
      maxQueueSize: z.number().int().min(0).default(100),
      user: z.string().min(1).optional().describe('ClickHouse user for probes and the verify step (default: none sent, the server\'s default user)'),
      password: secretRef.optional().describe('that user\'s password, from a file or an environment variable (needs an https:// url)'),
      caFile: z.string().min(1).optional().describe('PEM CA that signed the server\'s certificate, for an https:// url it does not chain to a system CA'),
    })
    .optional(),
});

const chainSchema = z.strictObject({
  room: name,
  role: z.enum(['primary', 'standby', 'fallback']),
  jobs: z.array(z.string().min(1)).default([]),
  quotaClientId: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,249}$/, 'must be a Kafka client id (letters, digits, . _ -)')
    .optional()
    .describe('the client id of this chain\'s own consumer that does not embed the SDK (a Flink job\'s Kafka source): while the chain serves, the cap is set on it as a broker quota (consumer_byte_rate)'),
  quotaGroupId: z
    .string()
    .min(1)
    .optional()
    .describe('that consumer\'s group id: its committed offsets show how fast it reads, and the quota is corrected until it reads at the cap'),
  kubernetes: z
    .strictObject({
      deployments: z
        .array(
          z.strictObject({
            namespace: name,
            name: objectName,
            replicas: z.number().int().min(0).describe('replicas while the chain serves: set before any route flips to it'),
            idleReplicas: z.number().int().min(0).optional().describe('replicas once a switch has left the chain (after verify); absent: left as they are'),
          }),
        )
        .default([])
        .describe('Deployments scaled with the chain, e.g. a standby query service scaled up before routes flip'),
      flinkDeployments: z
        .array(
          z.strictObject({
            namespace: name,
            name: objectName,
            whenLeft: z.enum(['suspend', 'keep']).default('keep').describe('suspend: spec.job.state suspended once a switch has left the chain (after verify); keep: left running'),
          }),
        )
        .default([])
        .describe('Flink Kubernetes operator FlinkDeployments (flink.apache.org/v1beta1): spec.job.state running before routes flip to the chain'),
    })
    .optional()
    .describe('Kubernetes workloads that follow the chain: each change is fenced by the route epoch and journaled in the switch steps start-jobs and stop-jobs'),
});

const pipelineSchema = z.strictObject({
  tier: z.string(),
  topics: z.array(z.string().min(1)).min(1),
  consumerGroup: z.string().min(1),
  chains: z.record(name, chainSchema),
  /** A Kubernetes Service whose selector follows the active chain (optional). */
  service: z
    .strictObject({
      namespace: name,
      name,
      selectorKey: z.string().min(1).default('switchyard.io/chain'),
    })
    .optional(),
});

export const topologySchema = z.strictObject({
  controller: z
    .strictObject({
      observer: name.optional(),
      room: name.optional(),
      httpPort: z.number().int().min(0).max(65535).default(8787),
      verifyTimeoutMs: z.number().int().min(0).default(10_000).describe('how long a switch waits for a consumer to acknowledge the new route'),
      kubernetes: z
        .strictObject({
          /** API server URL; omit to use the in-cluster service account. */
          server: z.url().optional(),
          tokenFile: z.string().min(1).optional(),
          /** The API server's CA (PEM), when its certificate is not signed by a CA the system trusts. */
          caFile: z.string().min(1).optional(),
          /**
           * Where the leader keeps SwitchyardPipeline objects, its Lease and Events (default:
           * $SWITCHYARD_NAMESPACE, set by the chart; neither: not kept).
           */
          namespace: z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'must be a namespace name').optional(),
        })
        .optional(),
    })
    .default({ httpPort: 8787, verifyTimeoutMs: 10_000 }),
  etcd: z.strictObject({
    endpoints: z.array(z.url()).min(1),
    prefix: z.string().regex(/^\/[^\s]*[^/]$/, 'must start with / and not end with /').default('/switchyard'),
    leaseTtlSeconds: z.number().int().min(2).max(60).default(5),
    tls: tlsFiles('etcd\'s certificate', 'where etcd checks client certificates (--client-cert-auth)').optional().describe('TLS to etcd (https:// endpoints); paths relative to this file'),
    auth: z
      .strictObject({ username: z.string().min(1), password: secretRef })
      .optional()
      .describe('etcd user and password (etcd auth enabled); the password from a file or an environment variable, never inline'),
  }),
  /** A directory (or one file) of tier policies, relative to this file. */
  policies: z.string().min(1).default('policies'),
  /** Where runbook notify steps post (issue 16): a webhook URL by name. */
  notifications: z
    .strictObject({ webhooks: z.record(z.string().regex(/^[a-z0-9-]{1,63}$/, 'must be a short name (a-z, 0-9, -)'), z.url()).default({}) })
    .default({ webhooks: {} })
    .describe('where runbook notify steps post: webhook URLs by name'),
  /** A directory of stress-test baselines (one file per pipeline and room), relative to this file; absent: no caps. */
  baselines: z.string().min(1).default('baselines'),
  rooms: z.record(name, roomSchema).refine((r) => Object.keys(r).length > 0, 'must name at least one room'),
  /**
   * Sites that run a witness replica and nothing else (no Kafka or OLAP of their own), so that a
   * room going dark together with its own replica still leaves observers in two places to agree.
   */
  witnesses: z.array(name).default([]).describe('sites outside the rooms that run a witness controller replica (a replica\'s --room must be a room or one of these)'),
  pipelines: z.record(name, pipelineSchema),
});
export type TopologyFile = z.infer<typeof topologySchema>;

/** One pass criterion of a stress test: its limit and what was measured at the baseline rate. */
const criterion = (limit: z.ZodNumber, what: string) => z.strictObject({ limit, measured: z.number().min(0) }).describe(what);

/**
 * A stress-test baseline: the largest inbound rate a pipeline's job took in one room while every
 * criterion passed. Written by `switchyard stress`, or by hand from a stress test run elsewhere.
 */
export const baselineSchema = z.strictObject({
  pipeline: name,
  room: name,
  job: z.string().min(1).optional().describe('the stream job that was stress-tested'),
  ratePerSecond: z.number().positive().describe('records/s the job took while every criterion passed'),
  tasks: z.number().int().min(1).default(1).describe('the source parallelism it was measured at (the cap is split over the tasks)'),
  meanRecordBytes: z.number().positive().optional().describe('mean size of one record in the log, bytes (batch framing included): turns the cap into a broker quota\'s byte rate'),
  measuredAt: z.iso.datetime({ offset: true }).describe('when the stress test ran (ISO 8601 with a zone)'),
  measuredBy: z.string().min(1).describe('who ran it'),
  criteria: z.strictObject({
    inputLatencyMs: criterion(z.number().positive(), 'input read latency in ms: passes when measured <= limit'),
    backpressureRatio: criterion(z.number().min(0).max(0.1), 'the highest back-pressure ratio of any vertex: none means at most Flink\'s "ok" level, 0.1'),
    cpuRatio: criterion(z.number().gt(0).max(0.6), 'CPU used over CPU available: at most 60 %'),
    results: z.strictObject({ expected: z.number().int().min(0), measured: z.number().int().min(0) }).describe('output records: passes when equal to the expected count'),
  }),
  steps: z
    .array(z.strictObject({ ratePerSecond: z.number().positive(), inputLatencyMs: z.number().min(0), backpressureRatio: z.number().min(0), cpuRatio: z.number().min(0), resultsOk: z.boolean() }))
    .default([])
    .describe('every step the stress test ran, as evidence'),
});
export type BaselineFile = z.infer<typeof baselineSchema>;
