import type { CommandModule } from 'yargs';
import { estimatedLoss, estimateFromPositions, failoverTarget, readLag, readPositions } from '../data-estimate.js';
import { loadConfig, type LoadedConfig } from '../../config/load.js';
import { buildProbes, buildStore, createLogger } from '../../composition.js';
import { EtcdRunbookStore } from '../../adapters/etcd/runbook-store.js';
import type { FreezeIntent, WindowOverride } from '../../ports/intent-store.js';
import { runbookExport } from '../runbook-view.js';
import { EtcdIntentStore } from '../../adapters/etcd/intent-store.js';
import { EtcdJournalStore } from '../../adapters/etcd/journal-store.js';
import { EtcdConsumerRegistry } from '../../adapters/etcd/consumer-registry.js';
import type { ConsumerPresence } from '../../ports/consumer-registry.js';
import { nextStep, type SwitchRecord } from '../../core/journal.js';
import type { Observation } from '../../core/health.js';
import { refusedHint, type SwitchoverIntent } from '../../core/switchover.js';
import { intentsOf, type PauseIntent } from '../../ports/intent-store.js';
import { observeAll, worstVertex, type HealthProbe, type StreamJobReading } from '../../ports/health-probe.js';
import { stringify } from 'yaml';
import { EtcdObservationStore } from '../../adapters/etcd/observation-store.js';
import type { ObservationStore } from '../../ports/observation-store.js';
import { decide, INITIAL_STATE, type PipelineVerdict } from '../../core/decide.js';
import { adviceText, observerSummary, type ObserverSeen } from '../advice.js';
import { EXIT, fail, outputOption, printData, table, type OutputFormat } from '../output.js';
import { EtcdCapStore } from '../../adapters/etcd/cap-store.js';
import type { CapVerdict } from '../../core/caps.js';
import { age, describeLeader } from '../time.js';

interface Args {
  config: string;
  policies?: string;
  output: OutputFormat;
  'probe-timeout': number;
  watch: boolean;
  interval: number;
}

export interface PipelineStatus {
  readonly pipeline: string;
  readonly tier: string;
  readonly chain: string | null;
  readonly room: string | null;
  readonly epoch: number | null;
  readonly since: string | null;
  /** Why the route is where it is. */
  readonly reason: string | null;
  readonly paused: Omit<PauseIntent, 'pipeline'> | null;
  /** A switch under way: its journal id and the step it is at. */
  readonly switching: { readonly id: string; readonly kind: string; readonly to: string; readonly step: string } | null;
  readonly lastSwitch: SwitchRecord | null;
  readonly pendingSwitchovers: readonly SwitchoverIntent[];
  /** Live SDK consumer instances (presence keys), and how many read under the route's epoch. */
  readonly consumers: { readonly live: number; readonly onRouteEpoch: number } | null;
  /** Consumer lag in the active room, and what a failover now would lose (from the rooms' positions). */
  readonly data: { readonly lagRecords: number | null; readonly lagMs: number | null; readonly failoverLossRecords: number | null; readonly failoverNow: string } | null;
  /** The source cap in force and the leader's recovery ETA (null: uncapped, or no leader has published). */
  readonly cap: {
    readonly rule: CapVerdict['rule'];
    readonly recordsPerSecond: number | null;
    readonly inbound: number | null;
    readonly lag: number | null;
    readonly eta: CapVerdict['eta'] | null;
    readonly alert: boolean;
    readonly reason: string;
  } | null;
  /**
   * The leader's view, judged again here from every observer's published observations: held for
   * lack of observer quorum, with the command an operator can run and its risk. Null when not held.
   */
  readonly held: { readonly reason: string; readonly command: string; readonly risk: string } | null;
}

interface StatusReport {
  readonly at: string;
  readonly rooms: readonly { room: string; component: string; status: string; reason: string; latencyMs: number | null }[];
  readonly leader: { readonly id: string; readonly since: string | null; readonly ageMs: number | null; readonly leaseRemainingMs: number | null } | null;
  readonly storeError: string | null;
  /** Controller replicas publishing observations, by site, and the rooms or witness sites nobody reports from. */
  readonly observers: readonly ObserverSeen[];
  readonly silentSites: readonly string[];
  /** Each stream job a chain names, as its room's Flink reports it now. */
  readonly jobs: readonly StreamJobReading[];
  readonly pipelines: readonly PipelineStatus[];
  /** Change freezes and window overrides in force (runbook steps set them). */
  readonly freezes: readonly FreezeIntent[];
  readonly windowOverrides: readonly WindowOverride[];
  /** Runbooks started and not ended: how far each is, and what waits for a person. */
  readonly runbooks: readonly { readonly event: string; readonly done: number; readonly steps: number; readonly waitingAck: readonly string[]; readonly running: readonly string[]; readonly failed: readonly string[]; readonly aborted: string | null }[];
}

/** One look at everything: the rooms probed from here, and what etcd says about the rest. */
async function collect(config: LoadedConfig, probes: readonly HealthProbe[], store: ReturnType<typeof buildStore>, observationStore: ObservationStore): Promise<StatusReport> {
  const { prefix } = config.etcd;
  const intents = new EtcdIntentStore(store.etcd, prefix);
  const journals = new EtcdJournalStore(store.etcd, prefix);
  const registry = new EtcdConsumerRegistry(store.etcd, prefix);
  const names = [...config.topology.pipelines.keys()];
  let storeError: string | null = null;
  const fromStore = (async () => {
    try {
      const [routes, leader, pauses, switchovers, running, last, consumers, published, capPlan, freezes, windowOverrides, runbooks] = await Promise.all([
        store.routes.list(),
        store.lock('cli', createLogger('silent')).leaderInfo(),
        intents.pauses(),
        intents.switchovers(),
        journals.list(),
        Promise.all(names.map((p) => journals.history(p, 1).then((r) => r[0]))),
        Promise.all(names.map((p) => registry.live(p))),
        observationStore.readAll(),
        new EtcdCapStore(store.etcd, prefix).readPlan(),
        intents.freezes(),
        intents.windowOverrides(),
        new EtcdRunbookStore(store.etcd, prefix).list(),
      ]);
      return { routes, leader, pauses, switchovers, running, last, consumers, published, capPlan, freezes, windowOverrides, runbooks };
    } catch (err) {
      storeError = (err as Error).message;
      return undefined;
    }
  })();
  const [observations, s, positions] = await Promise.all([
    observeAll(probes),
    fromStore,
    readPositions(config, store, [...config.topology.rooms.keys()]).catch(() => undefined),
  ]);
  const data = new Map<string, PipelineStatus['data']>();
  for (const p of config.topology.pipelines.values()) {
    const r = s?.routes.get(p.name)?.route;
    const target = r && failoverTarget(p, r);
    if (!r || !positions) continue;
    const lag = await readLag(config, positions, p, r);
    const estimate = target ? estimateFromPositions(config, positions, p, r, target).estimate : undefined;
    const loss = estimate && estimatedLoss(estimate);
    data.set(p.name, {
      lagRecords: lag?.records ?? null,
      lagMs: lag?.timeLagMs ?? null,
      failoverLossRecords: loss ?? null,
      failoverNow: !estimate ? 'no failover target' : estimate.kind === 'unknown' ? `unknown: ${estimate.reason}` : loss === 0 ? 'no loss' : `${loss} record(s) lost`,
    });
  }
  const now = Date.now();
  const published = s?.published.observations ?? [];
  const confirmedAt = s?.published.confirmedAt ?? new Map<string, number>();
  const { observers, silentSites } = observerSummary(published, config.topology, now, confirmedAt);
  // Judged as the leader would, from what every observer published (not from this CLI's probes).
  const verdicts = s && published.length > 0
    ? decide(config.topology, INITIAL_STATE, { now, observations: published, confirmedAt, routes: new Map(names.map((p) => [p, s.routes.get(p)?.route])), intents: intentsOf(s.pauses) }).verdicts
    : [];
  const pauseOf = (p: string) => s?.pauses.find((x) => x.pipeline === p) ?? s?.pauses.find((x) => x.pipeline === undefined);
  const pipelines = [...config.topology.pipelines.values()].map((p, i): PipelineStatus => {
    const r = s?.routes.get(p.name)?.route;
    const j = s?.running.get(p.name)?.journal;
    const pause = pauseOf(p.name);
    return {
      pipeline: p.name,
      tier: p.tier,
      chain: r?.chain ?? null,
      room: r?.room ?? null,
      epoch: r?.epoch ?? null,
      since: r ? new Date(r.since).toISOString() : null,
      reason: r?.reason ?? null,
      paused: pause ? { by: pause.by, reason: pause.reason, at: pause.at } : null,
      switching: j && j.status === 'running' ? { id: j.id, kind: j.kind, to: `${j.to.chain}@${j.to.room}`, step: nextStep(j) ?? 'record' } : null,
      lastSwitch: s?.last[i] ?? null,
      pendingSwitchovers: s?.switchovers.filter((x) => x.pipeline === p.name) ?? [],
      consumers: s ? countConsumers(s.consumers[i] ?? [], r?.epoch) : null,
      data: data.get(p.name) ?? null,
      held: heldOf(verdicts.find((v) => v.pipeline === p.name)),
      cap: capOf(s?.capPlan?.verdicts.find((v) => v.pipeline === p.name)),
    };
  });
  const l = s?.leader;
  const leader = l
    ? { id: l.id, since: l.since === undefined ? null : new Date(l.since).toISOString(), ageMs: l.since === undefined ? null : now - l.since, leaseRemainingMs: l.leaseRemainingMs ?? null }
    : null;
  return {
    at: new Date(now).toISOString(),
    rooms: observations.map((o: Observation) => ({ room: o.room, component: o.component, status: o.status, reason: o.reason, latencyMs: o.latencyMs ?? null })),
    leader,
    storeError,
    observers,
    silentSites,
    jobs: probes.flatMap((p) => p.jobReadings?.() ?? []),
    pipelines,
    freezes: s?.freezes ?? [],
    windowOverrides: (s?.windowOverrides ?? []).filter((o) => o.until > now),
    runbooks: (s?.runbooks ?? [])
      .filter((rb) => !rb.ended)
      .map((rb) => {
        const x = runbookExport(rb, now);
        const ids = (state: string) => x.steps.filter((st) => st.state === state).map((st) => st.id);
        return { event: x.event, done: ids('done').length, steps: x.steps.length, waitingAck: ids('waiting-ack'), running: ids('running'), failed: ids('failed'), aborted: x.aborted };
      }),
  };
}

function capOf(v: CapVerdict | undefined): PipelineStatus['cap'] {
  if (!v) return null;
  return { rule: v.rule, recordsPerSecond: v.cap ?? null, inbound: v.inbound ?? null, lag: v.lag ?? null, eta: v.eta ?? null, alert: v.alert, reason: v.reason };
}

function heldOf(v: PipelineVerdict | undefined): PipelineStatus['held'] {
  return v?.rule === 'no-quorum' && v.advice ? { reason: v.reason, command: v.advice.command, risk: v.advice.risk } : null;
}

export function countConsumers(live: readonly ConsumerPresence[], epoch: number | undefined): PipelineStatus['consumers'] {
  const serving = (c: ConsumerPresence) => c.servingEpoch ?? (c.state === 'consuming' ? c.epoch : undefined);
  return { live: live.length, onRouteEpoch: epoch === undefined ? 0 : live.filter((c) => serving(c) === epoch).length };
}

export function notes(p: PipelineStatus, now: number): string {
  const out: string[] = [];
  if (p.switching) out.push(`SWITCHING (${p.switching.kind}) to ${p.switching.to}: at step ${p.switching.step}`);
  if (p.paused) out.push(`PAUSED by ${p.paused.by} ${age(now - p.paused.at)} ago${p.paused.reason ? `: ${p.paused.reason}` : ''}`);
  for (const i of p.pendingSwitchovers) {
    const when = i.refused ? `REFUSED: ${i.refused} (${refusedHint(i, now)})` : i.after ? `after ${i.after}` : i.at > now ? `in ${age(i.at - now)}` : 'due';
    out.push(`switchover ${i.id} to ${i.to} ${when}`);
  }
  if (p.consumers && p.consumers.live > 0) out.push(`consumers: ${p.consumers.live} live (${p.consumers.onRouteEpoch} on epoch ${p.epoch ?? '-'})`);
  if (p.data?.lagRecords) out.push(`lag ${p.data.lagRecords} record(s)${p.data.lagMs !== null ? ` (${age(p.data.lagMs)})` : ''}`);
  if (p.data && p.data.failoverNow !== 'no loss' && p.data.failoverNow !== 'no failover target') out.push(`failover now: ${p.data.failoverNow}`);
  return out.join('; ') || '-';
}

function lastSwitch(r: SwitchRecord | null, now: number): string {
  if (!r) return 'none';
  const rto = r.rtoMs === undefined ? '' : `, RTO ${r.rtoMs}ms`;
  return `${r.kind} ${age(now - r.decidedAt)} ago by ${r.requestedBy}, ${r.outcome}${rto}`;
}

function render(report: StatusReport, config: string): string {
  const now = Date.parse(report.at);
  const rooms = table(['ROOM', 'COMPONENT', 'STATUS', 'LATENCY', 'REASON'], report.rooms.map((o) => [o.room, o.component, o.status, `${o.latencyMs ?? 0}ms`, o.reason]));
  const leader = report.storeError ? `unknown (etcd unreachable: ${report.storeError})` : report.leader ? describeLeader(report.leader) : 'none (no controller leads: nothing automatic happens)';
  const pipelines = table(
    ['PIPELINE', 'TIER', 'ACTIVE', 'EPOCH', 'SINCE', 'LAST SWITCH', 'NOTES'],
    report.pipelines.map((p) => [
      p.pipeline,
      p.tier,
      p.chain ? `${p.chain}@${p.room}` : '-',
      p.epoch === null ? '-' : String(p.epoch),
      p.since ? `${age(now - Date.parse(p.since))} ago` : 'no route yet',
      lastSwitch(p.lastSwitch, now),
      notes(p, now),
    ]),
  );
  const who = report.observers.map((o) => `${o.observer}@${o.site} (${age(o.ageMs)} ago)`).join(', ') || 'none publishing';
  const silent = report.silentSites.length > 0 ? `; nobody reporting from ${report.silentSites.join(', ')}` : '';
  const held = report.pipelines.filter((p) => p.held);
  const advice = held.length > 0 ? `\n${adviceText(held.map((p) => ({ pipeline: p.pipeline, advice: p.held })), config)}` : '';
  const jobs =
    report.jobs.length === 0
      ? ''
      : `\n${table(
          ['ROOM', 'JOB', 'STATE', 'RESTARTS', 'CHECKPOINT AGE', 'BACKPRESSURE', 'SLOTS FREE'],
          report.jobs.map((j) => {
            const worst = worstVertex(j.backpressure);
            return [j.room, j.job, j.state, j.restarts === undefined ? '-' : String(j.restarts), j.checkpointAgeMs === undefined ? '-' : age(j.checkpointAgeMs), worst ? `${worst.level} ${worst.ratio.toFixed(2)} (${worst.vertex})` : '-', j.freeSlots === undefined ? '-' : `${j.freeSlots} (${j.taskManagers ?? '?'} TM)`];
          }),
        )}\n`;
  const capped = report.pipelines.filter((p) => p.cap);
  const caps =
    capped.length === 0
      ? ''
      : `\n${table(
          ['PIPELINE', 'CAP', 'INBOUND', 'LAG', 'RECOVERY', 'WHY'],
          capped.map((p) => {
            const c = p.cap!;
            const eta = !c.eta ? '-' : c.eta.kind === 'caught-up' ? 'caught up' : c.eta.kind === 'not-recovering' ? 'NOT RECOVERING' : `${Math.round(c.eta.etaMs / 1000)}s`;
            return [p.pipeline, c.rule === 'shed' ? 'SHED' : c.recordsPerSecond === null ? 'uncapped' : `${c.recordsPerSecond}/s`, c.inbound === null ? '-' : `${Math.round(c.inbound)}/s`, c.lag === null ? '-' : String(c.lag), c.alert ? `${eta} (ALERT)` : eta, c.reason];
          }),
        )}\n`;
  const holds = [
    ...report.freezes.map((f) => `FROZEN ${f.tier} by ${f.by}${f.event ? ` (runbook ${f.event})` : ''} ${age(now - f.at)} ago: ${f.reason}`),
    ...report.windowOverrides.map((o) => `change window of ${o.tier} OVERRIDDEN by ${o.by} for ${age(o.until - now)} more: ${o.reason}`),
    ...report.runbooks.map(
      (r) =>
        `runbook ${r.event}: ${r.done}/${r.steps} done${r.running.length ? `; running ${r.running.join(', ')}` : ''}${r.waitingAck.length ? `; WAITS FOR ACK: ${r.waitingAck.join(', ')} (switchyard runbook ack ${r.event} <step>)` : ''}${r.failed.length ? `; FAILED: ${r.failed.join(', ')}` : ''}${r.aborted ? `; ABORTED: ${r.aborted}` : ''}`,
    ),
  ];
  const holdLines = holds.length > 0 ? `\n${holds.join('\n')}\n` : '';
  return `${rooms}\n${jobs}\nleader: ${leader}\nobservers: ${who}${silent}\n${holdLines}\n${pipelines}\n${caps}${advice}`;
}

function exitCode(report: StatusReport): number {
  if (report.storeError) return EXIT.UNAVAILABLE;
  return report.rooms.some((o) => o.status !== 'OK') ? EXIT.FAILURE : EXIT.OK;
}

export const statusCommand: CommandModule<object, Args> = {
  command: 'status',
  describe: 'Show each room\'s health (probed now), the leader, and every pipeline\'s route, last switch and holds',
  builder: (y) =>
    y
      .option('config', { alias: 'c', type: 'string', demandOption: true, describe: 'Topology file (YAML)' })
      .option('policies', { type: 'string', describe: 'Tier policy directory or file' })
      .option('output', outputOption)
      .option('probe-timeout', { type: 'number', default: 1500, describe: 'Milliseconds to wait for each room' })
      .option('watch', { alias: 'w', type: 'boolean', default: false, describe: 'Keep refreshing until Ctrl-C (json: one object per line)' })
      .option('interval', { type: 'number', default: 2, describe: 'Seconds between refreshes with --watch' })
      .example('$0 status -c examples/local-two-rooms.yaml', 'Rooms, leader and pipelines as tables')
      .example('$0 status -c examples/local-two-rooms.yaml -o json | jq .pipelines', 'The same as JSON')
      .example('$0 status -c examples/local-two-rooms.yaml --watch', 'Refresh every 2 s during an incident')
      .epilogue(
        'Probes the rooms itself, so it works while no controller runs. NOTES shows live SDK consumers (and how many read under the current epoch), a switch under way, a pause, scheduled or refused switchovers, consumer lag, and what a failover now would lose when it would lose anything. ' +
          'Exit codes: 0 all rooms OK, 1 some room not OK, 2 bad configuration, 3 etcd unreachable (with --watch: of the last refresh).',
      ),
  handler: async (args) => {
    if (!(args.interval > 0)) return fail(EXIT.USAGE, `--interval must be a positive number of seconds, got ${args.interval}`);
    const config = loadConfig(args.config, args.policies);
    const probes = buildProbes(config, 'cli', 'cli', createLogger('silent'), args['probe-timeout']);
    const store = buildStore(config);
    const observationStore = new EtcdObservationStore(store.etcd, config.etcd.prefix, config.etcd.leaseTtlSeconds);
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      for (;;) {
        const report = await collect(config, probes, store, observationStore);
        process.exitCode = exitCode(report);
        if (!args.watch) {
          if (!printData(args.output, report)) process.stdout.write(render(report, args.config));
          return;
        }
        if (args.output === 'json') process.stdout.write(JSON.stringify(report) + '\n');
        else if (args.output === 'yaml') process.stdout.write(`---\n${stringify(report)}`);
        else {
          const head = `every ${args.interval}s, ${report.at}; Ctrl-C to stop\n\n`;
          process.stdout.write((process.stdout.isTTY ? '\x1b[2J\x1b[H' : '\n') + head + render(report, args.config));
        }
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, args.interval * 1000);
          stop.signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
        });
        if (stop.signal.aborted) return;
      }
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await Promise.all(probes.map((p) => p.close()));
      await observationStore.close();
      store.etcd.close();
    }
  },
};
