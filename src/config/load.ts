// Reads the topology file and the tier policies, validates them (schema, then cross-field rules)
// and compiles them into the core's model. All or nothing: any problem rejects the whole set,
// with the file, the path inside it and the reason, before anything is applied.

import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import type { Chain, Pipeline, Room, TierName, TierPolicy, Topology } from '../core/model.js';
import { isValidTimeZone, parseClock, type ChangeWindow } from '../core/change-window.js';
import { baselineSchema, policySchema, topologySchema, type PolicyFile, type TopologyFile } from './schema.js';
import type { Baseline } from '../core/caps.js';
import type { ServerAccess } from '../ports/server-access.js';
import type { KafkaAccess } from '../ports/kafka-access.js';
import { SecretFile, WatchedFile } from '../adapters/system/secret-file.js';

export interface ConfigProblem {
  readonly file: string;
  /** Dotted path inside the file ("pipelines.live-dashboard.tier"), or "" for the whole file. */
  readonly path: string;
  readonly reason: string;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly ConfigProblem[]) {
    super(problems.map((p) => `${p.file}: ${p.path || '(file)'}: ${p.reason}`).join('\n'));
  }
}

export interface EtcdSettings {
  readonly endpoints: readonly string[];
  readonly prefix: string;
  readonly leaseTtlSeconds: number;
  /** PEM contents, read at load. */
  readonly tls?: { readonly ca?: Buffer; readonly cert?: Buffer; readonly key?: Buffer };
  /** Where those came from (absolute paths): the controller restarts when one changes. */
  readonly tlsFiles?: readonly string[];
  /** Read at load from the file or variable the topology names; never printed. */
  readonly auth?: { readonly username: string; readonly password: string };
}

/** Why a file could not be read, in a few words (not found, not readable, empty, ...). */
export function readFailure(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code === 'ENOENT' ? 'not found' : e.code === 'EACCES' ? 'not readable (permission denied)' : e.code === 'EMPTY' ? 'empty' : e.message;
}

/**
 * A secret file, read once now so that a missing, unreadable or blank one is a problem naming
 * the field (never the value), then read again whenever it changes (SecretFile).
 */
export function checkedSecretFile(file: string, path: string, at: string, problems: ConfigProblem[], what = ''): SecretFile {
  const secret = new SecretFile(at);
  try {
    secret.read();
  } catch (err) {
    problems.push({ file, path, reason: `${what}${at}: ${readFailure(err)}` });
  }
  return secret;
}

/**
 * A secret read now (problems name the field) and then again whenever its file changes, so a
 * rotated password takes effect on the next use without a restart. From a variable: fixed.
 */
function rereadSecret(file: string, path: string, ref: { readonly file: string } | { readonly env: string }, problems: ConfigProblem[]): () => string {
  if ('env' in ref) {
    const value = process.env[ref.env] ?? '';
    if (!value) problems.push({ file, path: `${path}.env`, reason: `environment variable ${ref.env} is not set or empty` });
    return () => value;
  }
  const secret = checkedSecretFile(file, `${path}.file`, isAbsolute(ref.file) ? ref.file : resolve(dirname(file), ref.file), problems);
  return () => secret.read();
}

/** A file (a CA, a certificate, a key) read now and then again whenever it changes; undefined if it cannot be read now. */
function rereadFile(file: string, path: string, given: string, problems: ConfigProblem[]): (() => Buffer) | undefined {
  const watched = new WatchedFile(isAbsolute(given) ? given : resolve(dirname(file), given));
  try {
    watched.read();
  } catch (err) {
    problems.push({ file, path, reason: `${watched.path}: ${readFailure(err)}` });
    return undefined;
  }
  return () => watched.read();
}

/**
 * A client's TLS files (CA, certificate, key) as the topology names them under `at`: each read
 * now (problems name the field) and again whenever it changes, with the absolute paths.
 */
function tlsFiles(file: string, at: string, tls: { readonly caFile?: string | undefined; readonly certFile?: string | undefined; readonly keyFile?: string | undefined }, problems: ConfigProblem[]) {
  if (!tls.certFile !== !tls.keyFile) problems.push({ file, path: tls.certFile ? `${at}.keyFile` : `${at}.certFile`, reason: 'a client certificate needs both certFile and keyFile' });
  const read: Partial<Record<'ca' | 'cert' | 'key', () => Buffer>> = {};
  const paths: string[] = [];
  for (const [field, key] of [['caFile', 'ca'], ['certFile', 'cert'], ['keyFile', 'key']] as const) {
    const given = tls[field];
    if (given === undefined) continue;
    paths.push(isAbsolute(given) ? given : resolve(dirname(file), given));
    read[key] = rereadFile(file, `${at}.${field}`, given, problems);
  }
  return { read, paths };
}

/**
 * Each room's OLAP credentials and CA, by the OLAP url: read now (problems name the field), and
 * again on each request after their files change (the fields are getters).
 */
function olapAccess(file: string, rooms: TopologyFile['rooms'], problems: ConfigProblem[]): Map<string, ServerAccess> {
  const out = new Map<string, ServerAccess>();
  for (const [room, r] of Object.entries(rooms)) {
    const o = r.olap;
    if (!o || (!o.user && !o.password && !o.caFile)) continue;
    const at = `rooms.${room}.olap`;
    const https = o.url.startsWith('https://');
    if (o.password && !https) problems.push({ file, path: `${at}.password`, reason: `a password must not cross the network in clear: ${o.url} is http://, use https://` });
    if (o.caFile && !https) problems.push({ file, path: `${at}.caFile`, reason: `a CA is for an https:// url; ${o.url} is http://` });
    const password = o.password ? rereadSecret(file, `${at}.password`, o.password, problems) : undefined;
    const ca = o.caFile ? rereadFile(file, `${at}.caFile`, o.caFile, problems) : undefined;
    const user = o.user ?? 'default';
    // Keyed by the url as the topology's Room holds it (no trailing slash), as the SDK keys its own.
    // Getters, defined rather than spread (a spread would read them once, here).
    const access: ServerAccess = {};
    if (o.user || password) Object.defineProperty(access, 'auth', { enumerable: true, get: () => ({ user, password: password?.() ?? '' }) });
    if (ca) Object.defineProperty(access, 'ca', { enumerable: true, get: ca });
    out.set(o.url.replace(/\/$/, ''), access);
  }
  return out;
}

/**
 * Each room's Kafka TLS and SASL, by broker address: read now (problems name the field), then
 * re-read whenever a file changes, so a rotated certificate or password takes effect on the next
 * connection without a restart.
 */
function kafkaAccess(file: string, rooms: TopologyFile['rooms'], problems: ConfigProblem[]): Map<string, () => KafkaAccess> {
  const out = new Map<string, () => KafkaAccess>();
  for (const [room, r] of Object.entries(rooms)) {
    const { tls, sasl } = r.kafka;
    if (!tls && !sasl) continue;
    const at = `rooms.${room}.kafka`;
    if (sasl && !tls) problems.push({ file, path: `${at}.sasl`, reason: 'SASL needs tls: a password (or a SCRAM exchange) must not cross the network in clear' });
    const files = tls ? tlsFiles(file, `${at}.tls`, tls, problems).read : {};
    const password = sasl ? rereadSecret(file, `${at}.sasl.password`, sasl.password, problems) : () => '';
    const current = (): KafkaAccess => ({
      ...(tls && { tls: { ...(files.ca && { ca: files.ca() }), ...(files.cert && { cert: files.cert() }), ...(files.key && { key: files.key() }) } }),
      ...(sasl && { sasl: { mechanism: sasl.mechanism, username: sasl.username, password: password() } }),
    });
    for (const b of r.kafka.brokers) out.set(b, current);
  }
  return out;
}

/** etcd's TLS material and credentials, read now; problems name the field. */
function etcdAccess(file: string, etcd: TopologyFile['etcd'], problems: ConfigProblem[]): Pick<EtcdSettings, 'tls' | 'tlsFiles' | 'auth'> {
  const out: { tls?: EtcdSettings['tls']; tlsFiles?: string[]; auth?: EtcdSettings['auth'] } = {};
  const https = etcd.endpoints.every((e) => e.startsWith('https://'));
  if (etcd.tls) {
    if (!https) problems.push({ file, path: 'etcd.tls', reason: 'TLS settings need https:// endpoints (every one of etcd.endpoints)' });
    // Read once: etcd3 builds its TLS channel at start (a change restarts the controller).
    const { read, paths } = tlsFiles(file, 'etcd.tls', etcd.tls, problems);
    out.tls = { ...(read.ca && { ca: read.ca() }), ...(read.cert && { cert: read.cert() }), ...(read.key && { key: read.key() }) };
    out.tlsFiles = paths;
  }
  if (etcd.auth) {
    if (!https) problems.push({ file, path: 'etcd.auth', reason: 'a password must not cross the network in clear: use https:// endpoints (and etcd.tls)' });
    // A getter: etcd3 asks for the password whenever it fetches a token (after etcd dropped the
    // old one, e.g. on a password change), so a rotated file is used then, without a restart.
    const password = rereadSecret(file, 'etcd.auth.password', etcd.auth.password, problems);
    out.auth = { username: etcd.auth.username, get password() { return password(); } };
  }
  return out;
}

export interface ControllerSettings {
  readonly observer: string | undefined;
  readonly room: string | undefined;
  readonly httpPort: number;
  readonly verifyTimeoutMs: number;
  readonly kubernetes: { readonly server?: string; readonly tokenFile?: string; readonly caFile?: string; readonly namespace?: string } | undefined;
}

export interface LoadedConfig {
  readonly file: string;
  readonly topology: Topology;
  readonly etcd: EtcdSettings;
  readonly controller: ControllerSettings;
  /** What is valid but works against a promise (see sizingWarnings); logged at start, printed by policy validate. */
  readonly warnings: readonly string[];
  /** Where the stress-test baselines are read from (may not exist: no caps). */
  readonly baselinesDir: string;
  /** Where the tier policies were read from (a directory or one file). */
  readonly policiesPath: string;
  /** Runbook notify steps' webhooks, by name. */
  readonly webhooks: ReadonlyMap<string, string>;
  /**
   * How to authenticate to each room's OLAP server, by its url, read at load: credentials go to
   * the server they belong to and nowhere else. Kept out of the topology, which is stored, shown
   * and logged; never printed.
   */
  readonly olapAccess: ReadonlyMap<string, ServerAccess>;
  /**
   * Each room's Kafka TLS and SASL, by broker address (host:port): resolved on each new connection,
   * so rotated files are re-read. Never printed.
   */
  readonly kafkaAccess: ReadonlyMap<string, () => KafkaAccess>;
}

/** Time a new leader needs after its election to decide and flip (measured: 0.4-0.7 s); a margin. */
const TAKEOVER_FLIP_MS = 1000;

/**
 * Valid settings that cannot keep a tier's promise. A leader that dies together with its room is
 * replaced only once its lease runs out, so a tier that fails over on its own cannot be serving
 * again sooner than the lease TTL plus a flip (ADR 0010).
 */
export function sizingWarnings(topology: Topology, leaseTtlSeconds: number): string[] {
  const used = [...topology.policies.values()].filter((p) => [...topology.pipelines.values()].some((x) => x.tier === p.tier));
  // The TTL must also exceed 2 x every used tier's probe timeout (an error otherwise): name that tier when it is in the way.
  const slowest = used.reduce<TierPolicy | undefined>((m, p) => (m === undefined || p.probeTimeoutMs > m.probeTimeoutMs ? p : m), undefined);
  const out: string[] = [];
  for (const policy of used) {
    if (policy.failover !== 'automatic') continue;
    const worst = leaseTtlSeconds * 1000 + TAKEOVER_FLIP_MS;
    if (worst <= policy.rtoObjectiveMs) continue;
    const fit = Math.max(2, Math.floor((policy.rtoObjectiveMs - TAKEOVER_FLIP_MS) / 1000));
    const blocked = slowest && fit * 1000 <= 2 * slowest.probeTimeoutMs ? ` (tier ${slowest.tier}'s probe.timeoutMs ${slowest.probeTimeoutMs} needs a TTL above ${(2 * slowest.probeTimeoutMs) / 1000} s: shorten it too)` : '';
    out.push(
      `etcd.leaseTtlSeconds ${leaseTtlSeconds} s: when the leader dies with its room, tier ${policy.tier} serves again only after its lease runs out plus a flip ` +
        `(about ${worst} ms), past its RTO objective of ${policy.rtoObjectiveMs} ms; lower the TTL to ${fit} s or less${blocked}`,
    );
  }
  return out;
}

/** Configuration files are small: anything bigger is a mistake (or an attack on the parser). */
const MAX_CONFIG_BYTES = 1024 * 1024;

function readText(file: string): string {
  try {
    const st = statSync(file);
    if (st.isDirectory()) throw new ConfigError([{ file, path: '', reason: 'is a directory, not a file' }]);
    if (!st.isFile()) throw new ConfigError([{ file, path: '', reason: 'is not a regular file (a device, pipe or socket?)' }]);
    if (st.size > MAX_CONFIG_BYTES) throw new ConfigError([{ file, path: '', reason: `is ${st.size} bytes; configuration files are limited to ${MAX_CONFIG_BYTES}` }]);
    return readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'file not found' : code === 'EACCES' ? 'not readable (permission denied)' : `cannot read: ${(err as Error).message}`;
    throw new ConfigError([{ file, path: '', reason }]);
  }
}

/** Reads a YAML configuration file (size-bounded, aliases bounded), or a ConfigError naming where it breaks. */
export function parseConfigYaml(file: string): unknown {
  return parseYaml(file);
}

function parseYaml(file: string): unknown {
  const doc = parseDocument(readText(file), { prettyErrors: true, uniqueKeys: true });
  const first = doc.errors[0];
  if (first) {
    // Later syntax errors are usually echoes of the first one: report that one, precisely.
    const pos = first.linePos?.[0];
    const message = first.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    throw new ConfigError([{ file, path: pos ? `line ${pos.line} column ${pos.col}` : '', reason: `invalid YAML: ${message}` }]);
  }
  try {
    // Aliases expand: a few lines can name a billion nodes. yaml refuses past maxAliasCount.
    return doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new ConfigError([{ file, path: '', reason: `invalid YAML: ${(err as Error).message.split('\n')[0]}` }]);
  }
}

function validate<T>(schema: z.ZodType<T>, file: string, data: unknown): T {
  const result = schema.safeParse(data ?? {});
  if (result.success) return result.data;
  throw new ConfigError(
    result.error.issues.map((i) => {
      // A bad map key (a pipeline or room name) comes back as "Invalid key in record": say why.
      const inner = i.code === 'invalid_key' ? i.issues[0]?.message : undefined;
      return { file, path: i.path.map(String).join('.'), reason: inner ? `invalid name: ${inner}` : i.message };
    }),
  );
}

function policyFiles(path: string): string[] {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new ConfigError([{ file: path, path: '', reason: 'policy directory or file not found' }]);
  }
  if (!st.isDirectory()) return [path];
  let names: string[];
  try {
    names = readdirSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError([{ file: path, path: '', reason: `policy directory not readable${code === 'EACCES' ? ' (permission denied)' : `: ${(err as Error).message}`}` }]);
  }
  return yamlFiles(path, names);
}

/** The *.yaml / *.yml files among `names` (a directory's listing), sorted, as paths under `dir`. */
export function yamlFiles(dir: string, names: readonly string[] = readdirSync(dir)): string[] {
  return names
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => join(dir, f));
}

function compilePolicy(file: string, p: PolicyFile, problems: ConfigProblem[]): TierPolicy {
  if (p.probe.timeoutMs >= p.probe.intervalMs) {
    problems.push({ file, path: 'probe.timeoutMs', reason: `must be below probe.intervalMs (${p.probe.intervalMs} ms), got ${p.probe.timeoutMs}` });
  }
  const signalIntervalMs = p.probe.signalIntervalMs ?? Math.max(20, Math.round(p.probe.intervalMs / 5));
  if (signalIntervalMs !== 0 && (signalIntervalMs < 20 || signalIntervalMs > p.probe.intervalMs)) {
    problems.push({ file, path: 'probe.signalIntervalMs', reason: `must be 0 (off) or from 20 ms to probe.intervalMs (${p.probe.intervalMs} ms), got ${signalIntervalMs}` });
  }
  if (p.staleAfterMs < p.probe.intervalMs * 2) {
    problems.push({ file, path: 'staleAfterMs', reason: `must be at least 2 x probe.intervalMs (${p.probe.intervalMs * 2} ms), got ${p.staleAfterMs}` });
  }
  if (!isValidTimeZone(p.changeWindows.timeZone)) {
    problems.push({ file, path: 'changeWindows.timeZone', reason: `unknown time zone '${p.changeWindows.timeZone}' (use an IANA name such as Asia/Shanghai or UTC)` });
  }
  const windows: ChangeWindow[] = p.changeWindows.windows.map((w, i) => {
    const [from, to] = w.split('-') as [string, string];
    const fromMinute = parseClock(from);
    const toMinute = parseClock(to);
    if (fromMinute === undefined || toMinute === undefined || fromMinute === toMinute || fromMinute === 24 * 60) {
      problems.push({ file, path: `changeWindows.windows.${i}`, reason: `'${w}' is not a window: times must be 00:00-24:00 and differ` });
    }
    return { fromMinute: fromMinute ?? 0, toMinute: toMinute ?? 0 };
  });
  if ((p.tier === 'P0' || p.tier === 'P1') && p.shedOrder !== 0) {
    problems.push({ file, path: 'shedOrder', reason: `tier ${p.tier} is never shed (only P2 and P3 are): set 0, got ${p.shedOrder}` });
  }
  if (p.failover === 'automatic' && p.standby === 'none') {
    problems.push({ file, path: 'failover', reason: 'automatic failover needs a standby chain, but standby is none' });
  }
  if (p.dataBudget.maxDuplicateMs < p.duplicateMarginMs) {
    problems.push({
      file,
      path: 'dataBudget.maxDuplicateMs',
      reason: `must be at least duplicateMarginMs (${p.duplicateMarginMs}): every switch replays that much`,
    });
  }
  return {
    tier: p.tier,
    failover: p.failover,
    failback: p.failback,
    standby: p.standby,
    ...((p.standbyConsumer ?? (p.standby === 'hot' ? 'joined' : 'none')) === 'joined' && { joinStandby: true }),
    failoverOn: p.failoverOn,
    observersRequired: p.observersRequired,
    maxSwitchesPerHour: p.maxSwitchesPerHour,
    rtoObjectiveMs: p.rtoObjectiveMs,
    dataBudget: p.dataBudget,
    backfill: p.backfill,
    changeWindows: { timeZone: p.changeWindows.timeZone, windows },
    shedOrder: p.shedOrder,
    capHeadroom: p.capHeadroom,
    baselineMaxAgeMs: p.baselineMaxAgeDays * 86_400_000,
    recoveryObjectiveMs: p.recoveryObjectiveMs,
    streamJobs: p.streamJobs,
    probeIntervalMs: p.probe.intervalMs,
    probeTimeoutMs: p.probe.timeoutMs,
    ...(signalIntervalMs > 0 && { signalIntervalMs }),
    fallAfter: p.fallAfter,
    riseAfter: p.riseAfter,
    staleAfterMs: p.staleAfterMs,
    minDwellMs: p.minDwellMs,
    duplicateMarginMs: p.duplicateMarginMs,
    source: file,
  };
}

/** Loads every policy file under `path` (a directory or one file). */
export function loadPolicies(path: string): Map<TierName, TierPolicy> {
  const problems: ConfigProblem[] = [];
  const policies = new Map<TierName, TierPolicy>();
  const files = policyFiles(path);
  if (files.length === 0) throw new ConfigError([{ file: path, path: '', reason: 'no policy files (*.yaml) found' }]);
  for (const file of files) {
    let parsed: PolicyFile;
    try {
      parsed = validate(policySchema, file, parseYaml(file));
    } catch (err) {
      if (err instanceof ConfigError) {
        problems.push(...err.problems);
        continue;
      }
      throw err;
    }
    const other = policies.get(parsed.tier);
    if (other) {
      problems.push({ file, path: 'tier', reason: `tier ${parsed.tier} is already defined in ${other.source}` });
      continue;
    }
    policies.set(parsed.tier, compilePolicy(file, parsed, problems));
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return policies;
}

function compileTopology(
  file: string,
  t: TopologyFile,
  policies: Map<TierName, TierPolicy>,
  problems: ConfigProblem[],
): Topology {
  const rooms = new Map<string, Room>();
  for (const [name, r] of Object.entries(t.rooms)) {
    rooms.set(name, {
      name,
      kafka: { brokers: r.kafka.brokers },
      ...(r.capacity && { capacity: r.capacity }),
      // Credentials stay out of the topology (LoadedConfig.olapAccess).
      ...(r.olap && { olap: { url: r.olap.url.replace(/\/$/, ''), healthQuery: r.olap.healthQuery, healthQueryTimeoutMs: r.olap.healthQueryTimeoutMs, slowQueryMs: r.olap.slowQueryMs, maxReplicaDelaySec: r.olap.maxReplicaDelaySec, maxQueueSize: r.olap.maxQueueSize } }),
      ...(r.flink && {
        flink: {
          url: r.flink.url.replace(/\/$/, ''),
          concurrency: r.flink.concurrency,
          ...(r.flink.savepointDir && { savepointDir: r.flink.savepointDir }),
          ...(r.flink.launch && {
            launch: Object.fromEntries(Object.entries(r.flink.launch).map(([job, l]) => [job, { jarFile: isAbsolute(l.jar) ? l.jar : resolve(dirname(file), l.jar), entryClass: l.entryClass, args: l.args }])),
          }),
        },
      }),
    });
  }

  checkRoomsMeaning(file, t, problems);

  const pipelines = new Map<string, Pipeline>();
  // A stream job belongs to one chain: its health is judged once, by name.
  const jobOwners = new Map<string, string>();
  // Kubernetes objects a switch changes, by "Kind namespace/name": where each is named first. One
  // owner per object: each is fenced by its pipeline's route epoch, which another pipeline's
  // epochs would contradict.
  const objectOwners = new Map<string, string>();
  const claim = (kind: string, ref: { namespace: string; name: string }, path: string) => {
    const key = `${kind} ${ref.namespace}/${ref.name}`;
    const owner = objectOwners.get(key);
    if (owner) problems.push({ file, path, reason: `${key} is also named by ${owner}: an object follows one pipeline's chain` });
    else objectOwners.set(key, path);
  };
  for (const [name, p] of Object.entries(t.pipelines)) {
    const at = `pipelines.${name}`;
    if (!policies.has(p.tier as TierName)) {
      const known = [...policies.keys()].sort().join(', ') || 'none';
      problems.push({ file, path: `${at}.tier`, reason: `unknown tier '${p.tier}' (policies define: ${known})` });
    }
    const chains: Chain[] = [];
    for (const [chainName, c] of Object.entries(p.chains)) {
      if (!rooms.has(c.room)) {
        problems.push({ file, path: `${at}.chains.${chainName}.room`, reason: `unknown room '${c.room}' (rooms: ${[...rooms.keys()].join(', ')})` });
      }
      chains.push({
        name: chainName,
        room: c.room,
        role: c.role,
        jobs: c.jobs,
        ...(c.quotaClientId && { quotaClientId: c.quotaClientId }),
        ...(c.quotaGroupId && { quotaGroupId: c.quotaGroupId }),
        ...(c.kubernetes && { kubernetes: c.kubernetes }),
      });
      if (c.kubernetes && (c.kubernetes.deployments.length > 0 || c.kubernetes.flinkDeployments.length > 0) && !t.controller.kubernetes) {
        problems.push({ file, path: `${at}.chains.${chainName}.kubernetes`, reason: 'Kubernetes workloads that follow the chain need controller.kubernetes (server, or {} for in-cluster)' });
      }
      c.kubernetes?.deployments.forEach((d, i) => claim('Deployment', d, `${at}.chains.${chainName}.kubernetes.deployments.${i}`));
      c.kubernetes?.flinkDeployments.forEach((f, i) => claim('FlinkDeployment', f, `${at}.chains.${chainName}.kubernetes.flinkDeployments.${i}`));
      if (c.jobs.length > 0 && rooms.has(c.room) && !rooms.get(c.room)!.flink) {
        problems.push({ file, path: `${at}.chains.${chainName}.jobs`, reason: `names stream jobs (${c.jobs.join(', ')}), but room '${c.room}' has no flink endpoint (rooms.${c.room}.flink.url)` });
      }
      for (const [j, job] of c.jobs.entries()) {
        const owner = jobOwners.get(job);
        if (owner && owner !== `${name}.${chainName}`) problems.push({ file, path: `${at}.chains.${chainName}.jobs.${j}`, reason: `job '${job}' is also named by ${owner}: a job runs one chain` });
        jobOwners.set(job, `${name}.${chainName}`);
      }
    }
    const policy = policies.get(p.tier as TierName);
    if (policy && policy.failover !== 'none' && !chains.some((c) => c.role !== 'primary')) {
      problems.push({ file, path: `${at}.chains`, reason: `tier ${p.tier} fails over ${policy.failover === 'automatic' ? 'automatically' : 'manually'}, so the pipeline needs a standby or fallback chain` });
    }
    // A warm standby's jobs are stopped until a failover starts them (switch step start-jobs):
    // the controller must know how, or the chain could never serve.
    if (policy?.standby === 'warm') {
      for (const c of chains) {
        if (c.role === 'primary') continue;
        const launch = rooms.get(c.room)?.flink?.launch ?? {};
        for (const [j, job] of c.jobs.entries()) {
          const how = launch[job];
          if (!how) {
            problems.push({ file, path: `${at}.chains.${c.name}.jobs.${j}`, reason: `tier ${p.tier} keeps its standby warm (${policy.source}), so job '${job}' is started on failover: say how in rooms.${c.room}.flink.launch.${job} (jar, entryClass, args)` });
          } else if (!existsSync(how.jarFile)) {
            problems.push({ file, path: `rooms.${c.room}.flink.launch.${job}.jar`, reason: `jar not found: ${how.jarFile}` });
          }
        }
        if (c.jobs.length > 0 && !rooms.get(c.room)?.flink?.savepointDir) {
          problems.push({ file, path: `rooms.${c.room}.flink.savepointDir`, reason: `tier ${p.tier}'s warm standby jobs in ${c.room} are stopped with a savepoint when the pipeline leaves them: say where (a URL the cluster can write)` });
        }
      }
    }
    const primaryRoom = chains.find((c) => c.role === 'primary')?.room;
    for (const c of chains) {
      // A standby in the primary's room fails with it: no failover would save anything.
      if (c.role !== 'primary' && c.room === primaryRoom) {
        problems.push({ file, path: `${at}.chains.${c.name}.room`, reason: `the ${c.role} chain is in the primary's room '${c.room}': it would fail together with it` });
      }
    }
    const primaries = chains.filter((c) => c.role === 'primary').length;
    if (primaries !== 1) {
      problems.push({ file, path: `${at}.chains`, reason: `must have exactly one chain with role primary, found ${primaries}` });
    }
    if (p.service) claim('Service', p.service, `${at}.service`);
    if (p.service && !t.controller.kubernetes) {
      problems.push({ file, path: `${at}.service`, reason: 'a Service to point at the active chain needs controller.kubernetes (server, or {} for in-cluster)' });
    }
    pipelines.set(name, { name, tier: p.tier as TierName, topics: p.topics, consumerGroup: p.consumerGroup, chains, ...(p.service && { service: p.service }) });
  }

  t.witnesses.forEach((w, i) => {
    if (rooms.has(w)) problems.push({ file, path: `witnesses.${i}`, reason: `'${w}' is a room: a witness must be a site apart from every room` });
    if (t.witnesses.indexOf(w) !== i) problems.push({ file, path: `witnesses.${i}`, reason: `'${w}' is listed twice` });
  });
  const unknownSite = t.controller.room === undefined ? '' : observerSiteProblem(t.controller.room, [...rooms.keys()], t.witnesses);
  if (unknownSite) problems.push({ file, path: 'controller.room', reason: unknownSite });
  const usedTiers = new Set([...pipelines.values()].map((p) => p.tier));
  for (const policy of policies.values()) {
    if (!usedTiers.has(policy.tier)) continue;
    // A leader must notice it lost its lease well before a probe could hang past it.
    if (t.etcd.leaseTtlSeconds * 1000 <= 2 * policy.probeTimeoutMs) {
      problems.push({
        file,
        path: 'etcd.leaseTtlSeconds',
        reason: `must exceed 2 x probe.timeoutMs of tier ${policy.tier} (${2 * policy.probeTimeoutMs} ms, from ${policy.source})`,
      });
    }
  }
  return { rooms, pipelines, policies, witnesses: t.witnesses };
}

/** Reads one baseline file: its shape, then its meaning against the topology (pipeline, room). */
export function loadBaseline(file: string, topology?: Topology): Baseline {
  const b = validate(baselineSchema, file, parseYaml(file));
  const problems: ConfigProblem[] = [];
  if (topology) {
    const p = topology.pipelines.get(b.pipeline);
    if (!p) problems.push({ file, path: 'pipeline', reason: `unknown pipeline '${b.pipeline}' (pipelines: ${[...topology.pipelines.keys()].join(', ')})` });
    else if (!p.chains.some((c) => c.room === b.room)) {
      problems.push({ file, path: 'room', reason: `pipeline ${b.pipeline} has no chain in room '${b.room}' (its rooms: ${[...new Set(p.chains.map((c) => c.room))].join(', ')})` });
    }
    if (p && b.job && !p.chains.some((c) => c.room === b.room && c.jobs.includes(b.job!))) {
      problems.push({ file, path: 'job', reason: `job '${b.job}' is not a job of ${b.pipeline}'s chain in ${b.room}` });
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    file,
    pipeline: b.pipeline,
    room: b.room,
    ...(b.job && { job: b.job }),
    ratePerSecond: b.ratePerSecond,
    tasks: b.tasks,
    ...(b.meanRecordBytes !== undefined && { meanRecordBytes: b.meanRecordBytes }),
    measuredAt: Date.parse(b.measuredAt),
    measuredBy: b.measuredBy,
    criteria: b.criteria,
  };
}

/**
 * Every baseline file (*.yaml) in `dir`, by pipeline then room; an absent directory means none.
 * Strict by default (any problem rejects the set: `baseline validate`). Given `skip`, a file with a
 * problem is left out and told to it instead: caps are advisory, and a stray file must not stop a
 * controller or the CLI from starting (that pipeline is then uncapped in that room).
 */
export function loadBaselines(dir: string, topology: Topology, skip?: (problem: ConfigProblem) => void): Map<string, Map<string, Baseline>> {
  const out = new Map<string, Map<string, Baseline>>();
  let files: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new ConfigError([{ file: dir, path: '', reason: 'baselines must be a directory of baseline files' }]);
    files = yamlFiles(dir);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return out;
    throw new ConfigError([{ file: dir, path: '', reason: `baseline directory not readable: ${(err as Error).message}` }]);
  }
  const problems: ConfigProblem[] = [];
  for (const file of files) {
    try {
      const b = loadBaseline(file, topology);
      const byRoom = out.get(b.pipeline) ?? new Map<string, Baseline>();
      const other = byRoom.get(b.room);
      if (other) {
        problems.push({ file, path: 'room', reason: `${b.pipeline} in ${b.room} already has a baseline in ${other.file}: keep one per pipeline and room` });
        continue;
      }
      byRoom.set(b.room, b);
      out.set(b.pipeline, byRoom);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(...err.problems);
    }
  }
  if (problems.length > 0 && !skip) throw new ConfigError(problems);
  for (const p of problems) skip?.(p);
  return out;
}

/**
 * Why `site` cannot be where a controller replica runs, or "": it must be a room or a witness. A
 * typo ("rom-a") would otherwise count as a room of its own and fake an observer quorum.
 */
export function observerSiteProblem(site: string, rooms: readonly string[], witnesses: readonly string[]): string {
  if (rooms.includes(site) || witnesses.includes(site)) return '';
  return `unknown room or witness site '${site}' (rooms: ${rooms.join(', ')}; witnesses: ${witnesses.length > 0 ? witnesses.join(', ') : 'none declared'})`;
}

/** Broker addresses "host:port", with the port in range. */
function badBroker(address: string): string {
  const m = /^(.+):(\d+)$/.exec(address);
  if (!m) return `'${address}' is not host:port`;
  const port = Number(m[2]);
  return port >= 1 && port <= 65535 ? '' : `port ${port} of '${address}' is out of range (1-65535)`;
}

/** What the schema cannot see: rooms that are not really apart, addresses that cannot work. */
function checkRoomsMeaning(file: string, t: TopologyFile, problems: ConfigProblem[]): void {
  /** An endpoint the controller speaks HTTP to: a URL, with scheme http or https. */
  const httpUrl = (url: string, path: string) => {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      problems.push({ file, path, reason: `'${url}' is not a URL` });
      return;
    }
    const scheme = parsed.protocol;
    if (scheme !== 'http:' && scheme !== 'https:') problems.push({ file, path, reason: `scheme '${scheme}' is not http or https` });
    // URLs are stored, shown and logged (routes, journals, status): never with credentials in them.
    if (parsed.username || parsed.password) problems.push({ file, path, reason: 'a URL must not carry a user or password (it would be stored and shown with them): use the user and password fields' });
  };
  const owner = new Map<string, string>();
  for (const [name, r] of Object.entries(t.rooms)) {
    r.kafka.brokers.forEach((b, i) => {
      const bad = badBroker(b);
      if (bad) problems.push({ file, path: `rooms.${name}.kafka.brokers.${i}`, reason: bad });
      const other = owner.get(b);
      if (other !== undefined && other !== name) problems.push({ file, path: `rooms.${name}.kafka.brokers.${i}`, reason: `broker '${b}' is also room '${other}''s: two rooms sharing a broker are one failure domain` });
      owner.set(b, name);
    });
    if (r.olap) httpUrl(r.olap.url, `rooms.${name}.olap.url`);
    if (r.flink) httpUrl(r.flink.url, `rooms.${name}.flink.url`);
  }
  t.etcd.endpoints.forEach((e, i) => httpUrl(e, `etcd.endpoints.${i}`));
}

/**
 * Loads a topology file and the policies it points at (or `policiesOverride`). Throws ConfigError
 * listing every problem found; returns only a fully valid, compiled configuration.
 */
export function loadConfig(topologyPath: string, policiesOverride?: string): LoadedConfig {
  const file = resolve(topologyPath);
  const raw = validate(topologySchema, file, parseYaml(file));
  const policiesPath = policiesOverride
    ? resolve(policiesOverride)
    : isAbsolute(raw.policies)
      ? raw.policies
      : resolve(dirname(file), raw.policies);
  try {
    statSync(policiesPath);
  } catch {
    throw new ConfigError([{ file, path: 'policies', reason: `policy directory or file not found: ${policiesPath}` }]);
  }
  const policies = loadPolicies(policiesPath);
  const problems: ConfigProblem[] = [];
  const compiled = compileTopology(file, raw, policies, problems);
  const access = etcdAccess(file, raw.etcd, problems);
  const olap = olapAccess(file, raw.rooms, problems);
  const kafka = kafkaAccess(file, raw.rooms, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  const baselinesDir = isAbsolute(raw.baselines) ? raw.baselines : resolve(dirname(file), raw.baselines);
  const skipped: string[] = [];
  const baselines = loadBaselines(baselinesDir, compiled, (p) => skipped.push(`baseline ${p.file}: ${p.path || '(file)'}: ${p.reason}; left out (the pipeline is uncapped in that room until it is fixed)`));
  const topology: Topology = { ...compiled, baselines };
  return {
    file,
    topology,
    etcd: { endpoints: raw.etcd.endpoints, prefix: raw.etcd.prefix, leaseTtlSeconds: raw.etcd.leaseTtlSeconds, ...access },
    controller: { observer: raw.controller.observer, room: raw.controller.room, httpPort: raw.controller.httpPort, verifyTimeoutMs: raw.controller.verifyTimeoutMs, kubernetes: raw.controller.kubernetes },
    warnings: [...sizingWarnings(topology, raw.etcd.leaseTtlSeconds), ...skipped],
    baselinesDir,
    policiesPath,
    webhooks: new Map(Object.entries(raw.notifications.webhooks)),
    olapAccess: olap,
    kafkaAccess: kafka,
  };
}

/**
 * The baselines as they are on disk, re-read whenever a file in the directory is added, removed or
 * changed (checked at most once a second). A file that does not load is left out and told to
 * `onProblem` once per change: a typo in one baseline must not stop the others' caps.
 */
export function baselineFollower(dir: string, topology: Topology, onProblem: (message: string) => void): () => ReadonlyMap<string, ReadonlyMap<string, Baseline>> {
  return follower(dir, topology.baselines ?? new Map(), () => loadBaselines(dir, topology, (p) => onProblem(`${p.file}: ${p.path || '(file)'}: ${p.reason}`)), onProblem);
}

/**
 * The tier policies as they are on disk, re-read like the baselines: what the caps use of them
 * (capHeadroom, baselineMaxAgeDays, recoveryObjectiveMs, shedOrder) takes effect without a
 * restart. Switching rules are not re-read here: they change with a restart, replica by replica.
 */
export function policyFollower(path: string, loaded: ReadonlyMap<TierName, TierPolicy>, onProblem: (message: string) => void): () => ReadonlyMap<TierName, TierPolicy> {
  return follower(path, loaded, () => loadPolicies(path), onProblem);
}

/** A value loaded from files under `path`, loaded again when a *.yaml there changes (checked at most once a second). */
function follower<T>(path: string, initial: T, load: () => T, onProblem: (message: string) => void): () => T {
  let current = initial;
  let checkedAt = 0;
  const signatureNow = (): string => {
    try {
      const files = statSync(path).isDirectory() ? yamlFiles(path) : [path];
      return files
        .map((f) => {
          const st = statSync(f);
          return `${f}:${st.mtimeMs}:${st.size}`;
        })
        .join('|');
    } catch {
      return '';
    }
  };
  let signature = signatureNow();
  return () => {
    const now = Date.now();
    if (now - checkedAt < 1000) return current;
    checkedAt = now;
    const next = signatureNow();
    if (next === signature) return current;
    signature = next;
    try {
      current = load();
    } catch (err) {
      onProblem(err instanceof Error ? err.message : String(err));
    }
    return current;
  };
}
