import type { Argv, CommandModule } from 'yargs';
import { loadBaselines, loadConfig, type LoadedConfig } from '../../config/load.js';
import { buildStore, operatorName, operatorZone } from '../../composition.js';
import { EtcdRouteStore } from '../../adapters/etcd/route-store.js';
import { EtcdCapStore } from '../../adapters/etcd/cap-store.js';
import { EtcdPositionStore } from '../../adapters/etcd/position-store.js';
import { inboundRate, INBOUND_WINDOW_MS, planCaps, sameCap, shedOf, splitCap, type CapRecord, type CapVerdict, type DesiredCap } from '../../core/caps.js';
import type { RoomSample } from '../../core/data-estimate.js';
import type { Route } from '../../core/model.js';
import type { StoredRoute } from '../../ports/route-store.js';
import { withStore } from '../with-store.js';
import { EXIT, fail, outputOption, printData, table, unknownPipeline, type OutputFormat } from '../output.js';
import { parseAt, stamp } from '../time.js';

interface CommonArgs {
  config: string;
  pipeline?: string;
  output: OutputFormat;
}

function common<T>(y: Argv<T>): Argv<T & CommonArgs> {
  return y
    .positional('pipeline', { type: 'string', describe: 'Only this pipeline' })
    .option('config', { alias: 'c', type: 'string', demandOption: true, describe: 'Topology file (YAML)' })
    .option('output', outputOption) as unknown as Argv<T & CommonArgs>;
}

/** "4 x 2,500" or "2,501 + 3 x 2,500": a cap as the tasks of its baseline share it. */
function perTask(cap: number | undefined, tasks: number | undefined): string {
  if (cap === undefined || tasks === undefined) return '-';
  const shares = splitCap(cap, tasks);
  const big = shares.filter((s) => s === shares[0]).length;
  return big === shares.length ? `${tasks} x ${shares[0]}` : `${big} x ${shares[0]} + ${shares.length - big} x ${shares.at(-1)}`;
}

const rate = (r: CapRecord | DesiredCap | undefined): string => (!r || r.origin === 'uncapped' ? 'uncapped' : r.paused ? 'shed (0)' : `${r.recordsPerSecond}/s`);

function eta(v: CapVerdict | undefined): string {
  if (!v?.eta) return '-';
  if (v.eta.kind === 'caught-up') return 'caught up';
  if (v.eta.kind === 'not-recovering') return 'not recovering';
  return `${Math.round(v.eta.etaMs / 1000)}s${v.alert ? ' (over objective)' : ''}`;
}

interface Current {
  readonly routes: Map<string, StoredRoute<Route>>;
  readonly caps: Map<string, StoredRoute<CapRecord>>;
  readonly overrides: Awaited<ReturnType<EtcdCapStore['overrides']>>;
  readonly published: Awaited<ReturnType<EtcdCapStore['readPlan']>>;
  readonly histories: Map<string, RoomSample[]>;
}

async function readCurrent(config: LoadedConfig, etcd: ReturnType<typeof buildStore>['etcd'], routes: ReturnType<typeof buildStore>['routes']): Promise<Current> {
  const capStore = new EtcdCapStore(etcd, config.etcd.prefix);
  const [r, caps, overrides, published, histories] = await Promise.all([
    routes.list(),
    new EtcdRouteStore<CapRecord>(etcd, config.etcd.prefix, 'caps').list(),
    capStore.overrides(),
    capStore.readPlan(),
    new EtcdPositionStore(etcd, config.etcd.prefix).readAll(),
  ]);
  return { routes: r, caps, overrides, published, histories };
}

const show: CommandModule<object, CommonArgs> = {
  command: 'show [pipeline]',
  describe: 'The caps in force (as the leader stored them), with the leader\'s inbound rate, lag and recovery ETA',
  builder: (y) =>
    common(y)
      .example('$0 caps show -c examples/local-two-rooms.yaml', 'Every pipeline\'s cap, per task, and its recovery ETA')
      .epilogue('CAP is what the source may read in all; PER TASK splits it over the tasks of the baseline (shares add up to the cap exactly; an SDK consumer splits it over the partitions it reads). Exit codes: 0, 1 a recovery ETA past its tier\'s objective (or not recovering), 2 unknown pipeline, 3 etcd unreachable.'),
  handler: (args) =>
    withStore(args.config, args.pipeline, async (config, store) => {
      const now = Date.now();
      const cur = await readCurrent(config, store.etcd, store.routes);
      const names = [...config.topology.pipelines.keys()].filter((p) => !args.pipeline || p === args.pipeline);
      const rows = names.map((name) => {
        const c = cur.caps.get(name)?.route;
        const v = cur.published?.verdicts.find((x) => x.pipeline === name);
        const tasks = c ? config.topology.baselines?.get(name)?.get(c.room)?.tasks : undefined;
        const o = cur.overrides.get(name);
        return { pipeline: name, room: c?.room ?? cur.routes.get(name)?.route.room ?? null, cap: c && c.origin !== 'uncapped' ? c.recordsPerSecond : null, paused: c?.paused ?? false, origin: c?.origin ?? 'uncapped', perTask: c && c.origin !== 'uncapped' && !c.paused && tasks ? splitCap(c.recordsPerSecond, tasks) : null, perTaskText: perTask(c && c.origin !== 'uncapped' && !c.paused ? c.recordsPerSecond : undefined, tasks), epoch: c?.epoch ?? null, since: c?.since ?? null, reason: c?.reason ?? 'no cap stored', override: o ?? null, inbound: v?.inbound ?? null, lag: v?.lag ?? null, eta: v?.eta ?? null, alert: v?.alert ?? false, record: c, verdict: v };
      });
      if (printData(args.output, { at: now, leaderPlanAt: cur.published?.at ?? null, caps: rows.map(({ record: _r, verdict: _v, perTaskText: _t, ...rest }) => rest) })) return;
      const zone = operatorZone();
      process.stdout.write(
        table(
          ['PIPELINE', 'ROOM', 'CAP', 'PER TASK', 'ORIGIN', 'INBOUND', 'LAG', 'ETA', 'SINCE', 'REASON'],
          rows.map((r) => [r.pipeline, r.room ?? '-', rate(r.record), r.perTaskText, r.origin, r.inbound === null ? '-' : `${Math.round(r.inbound)}/s`, r.lag === null ? '-' : String(r.lag), eta(r.verdict), r.since === null ? '-' : stamp(r.since, zone), r.override ? `${r.reason} (override until ${r.override.until === undefined ? 'removed' : stamp(r.override.until, zone)})` : r.reason]),
        ) + '\n',
      );
      if (!cur.published) process.stdout.write('(no leader has published a cap plan yet: INBOUND, LAG and ETA are unknown)\n');
      if (rows.some((r) => r.alert)) process.exitCode = EXIT.FAILURE;
    }),
};

interface PlanArgs extends CommonArgs {
  'dry-run': boolean;
  timeout: number;
}

/** The caps the files on disk give now, against what is stored: the leader converges on these. */
async function planned(config: LoadedConfig, cur: Current, only?: string) {
  const now = Date.now();
  const routes = new Map([...config.topology.pipelines.keys()].map((p) => [p, cur.routes.get(p)?.route]));
  const inbound = new Map<string, number>();
  const lag = new Map<string, number>();
  for (const [name, route] of routes) {
    const p = config.topology.pipelines.get(name)!;
    const r = route && inboundRate(cur.histories.get(route.room) ?? [], p.topics, INBOUND_WINDOW_MS);
    if (r !== undefined && r !== null) inbound.set(name, r);
    const l = cur.published?.verdicts.find((v) => v.pipeline === name)?.lag;
    if (l !== undefined) lag.set(name, l);
  }
  const shed = shedOf([...cur.caps.values()].map((c) => c.route));
  const baselines = loadBaselines(config.baselinesDir, config.topology);
  const plan = planCaps({ ...config.topology, baselines }, { now, routes, overrides: cur.overrides, inbound, lag, shed });
  return [...routes.keys()]
    .filter((name) => (!only || name === only) && routes.get(name))
    .map((name) => {
      const before = cur.caps.get(name)?.route;
      const after = plan.caps.get(name);
      const verdict = plan.verdicts.find((v) => v.pipeline === name)!;
      const tasks = after ? baselines.get(name)?.get(after.room)?.tasks : undefined;
      return { pipeline: name, before, after, verdict, tasks, changes: !sameCap(before, after), steps: plan.steps };
    });
}

function printPlan(args: PlanArgs, rows: Awaited<ReturnType<typeof planned>>, note: string): void {
  const data = rows.map((r) => ({
    pipeline: r.pipeline,
    before: r.before && r.before.origin !== 'uncapped' ? { room: r.before.room, recordsPerSecond: r.before.recordsPerSecond, paused: r.before.paused, origin: r.before.origin } : null,
    after: r.after ? { room: r.after.room, recordsPerSecond: r.after.recordsPerSecond, paused: r.after.paused, origin: r.after.origin, perTask: r.tasks ? splitCap(r.after.recordsPerSecond, r.tasks) : null } : null,
    changes: r.changes,
    reason: r.verdict.reason,
  }));
  if (printData(args.output, { pipelines: data, shedding: rows[0]?.steps ?? [], note })) return;
  process.stdout.write(
    table(
      ['PIPELINE', 'BEFORE', 'AFTER', 'PER TASK', 'CHANGE', 'WHY'],
      rows.map((r) => [r.pipeline, rate(r.before), rate(r.after), perTask(r.after && !r.after.paused ? r.after.recordsPerSecond : undefined, r.tasks), r.changes ? 'yes' : '-', r.verdict.reason]),
    ) + '\n',
  );
  for (const s of rows[0]?.steps ?? []) process.stdout.write(`shedding: ${s}\n`);
  process.stdout.write(`${note}\n`);
}

function planBuilder(y: Argv): Argv<PlanArgs> {
  return common(y)
    .option('dry-run', { type: 'boolean', default: true, describe: 'Only show the change (default); --no-dry-run waits until the leader has applied it' })
    .option('timeout', { type: 'number', default: 10, describe: 'With --no-dry-run: how long to wait for the leader, seconds' }) as unknown as Argv<PlanArgs>;
}

const plan: CommandModule<object, PlanArgs> = {
  command: 'plan [pipeline]',
  describe: 'What the baselines, policies and overrides give now, before and after, per pipeline and task',
  builder: (y) =>
    planBuilder(y)
      .example('$0 caps plan -c examples/local-two-rooms.yaml', 'Before and after for every routed pipeline')
      .epilogue('Computed here from the files on disk and the routes, overrides and rates in etcd. Exit codes: 0, 2 bad files or unknown pipeline, 3 etcd unreachable.'),
  handler: (args) =>
    withStore(args.config, args.pipeline, async (config, store) => {
      const rows = await planned(config, await readCurrent(config, store.etcd, store.routes), args.pipeline);
      printPlan(args, rows, 'plan only: the leader applies caps on its own within a second of a change');
    }),
};

const apply: CommandModule<object, PlanArgs> = {
  command: 'apply [pipeline]',
  describe: 'Show the cap changes (dry run, the default), or wait until the leader has applied them',
  builder: (y) =>
    planBuilder(y)
      .example('$0 caps apply -c examples/local-two-rooms.yaml', 'Dry run: before and after per pipeline and task')
      .example('$0 caps apply -c examples/local-two-rooms.yaml --no-dry-run', 'Wait until the stored caps are the planned ones')
      .epilogue(
        'Caps are written by the leader only, fenced like routes: it re-reads the baselines when a file changes and applies the plan within a second. ' +
          '--no-dry-run waits for that and exits 1 if the stored caps still differ after --timeout (is a controller leading?). Exit codes: 0, 1 not applied in time, 2 bad files, 3 etcd unreachable.',
      ),
  handler: (args) =>
    withStore(args.config, args.pipeline, async (config, store) => {
      let rows = await planned(config, await readCurrent(config, store.etcd, store.routes), args.pipeline);
      if (args['dry-run']) return printPlan(args, rows, `dry run: nothing changed (${rows.filter((r) => r.changes).length} to change; --no-dry-run waits for the leader to apply them)`);
      const deadline = Date.now() + args.timeout * 1000;
      while (rows.some((r) => r.changes) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 250));
        rows = await planned(config, await readCurrent(config, store.etcd, store.routes), args.pipeline);
      }
      const left = rows.filter((r) => r.changes).length;
      printPlan(args, rows, left === 0 ? 'applied: the stored caps are the planned ones' : `not applied after ${args.timeout} s: ${left} cap(s) still differ (is a controller leading?)`);
      if (left > 0) process.exitCode = EXIT.FAILURE;
    }),
};

interface SetArgs {
  config: string;
  pipeline: string;
  rate: string;
  reason?: string;
  until?: string;
  operator?: string;
}

const set: CommandModule<object, SetArgs> = {
  command: 'set <pipeline> <rate>',
  describe: 'A temporary cap for a pipeline\'s source (records/s, 0 pauses it), recorded with who and why, expiring on its own',
  builder: (y) =>
    y
      .positional('pipeline', { type: 'string', demandOption: true })
      .positional('rate', { type: 'string', demandOption: true, describe: 'Records per second in all (a whole number; 0 stops the source)' })
      .option('config', { alias: 'c', type: 'string', demandOption: true, describe: 'Topology file (YAML)' })
      .option('reason', { type: 'string', describe: 'Why (required)' })
      .option('until', { type: 'string', describe: 'When it expires: +30m, +2h, or an ISO time with offset (within a week); default: until `caps unset`' })
      .option('operator', { type: 'string', describe: 'Who (default: $SWITCHYARD_OPERATOR or the OS user)' })
      .example('$0 caps set live-dashboard 5000 --reason "event day: protect the job" --until +3h -c examples/local-two-rooms.yaml', 'Cap at 5,000/s for three hours')
      .epilogue('The leader applies it within a second (fenced) and records it in the cap history; it wins over the baseline until it expires or is unset. Exit codes: 0 recorded, 2 bad arguments, 3 etcd unreachable.') as unknown as Argv<SetArgs>,
  handler: async (args) => {
    const config = loadConfig(args.config);
    if (!config.topology.pipelines.has(args.pipeline)) return fail(EXIT.USAGE, unknownPipeline(args.pipeline, config.topology.pipelines.keys()));
    if (!/^\d{1,12}$/.test(args.rate)) return fail(EXIT.USAGE, `<rate> must be a whole number of records per second (0 or more), got '${args.rate}'`);
    if (!args.reason?.trim()) return fail(EXIT.USAGE, '--reason is required: say why, for the record');
    const now = Date.now();
    const until = args.until === undefined ? undefined : parseAt(args.until, now);
    if (args.until !== undefined && (until === undefined || until <= now)) return fail(EXIT.USAGE, `--until must be +30m, +2h or an ISO time with offset, in the next week, got '${args.until}'`);
    const store = buildStore(config);
    try {
      const by = operatorName(args.operator);
      await new EtcdCapStore(store.etcd, config.etcd.prefix).setOverride({ pipeline: args.pipeline, recordsPerSecond: Number(args.rate), reason: args.reason.trim(), by, at: now, ...(until !== undefined && { until }) });
      process.stdout.write(`capped ${args.pipeline} at ${args.rate}/s by ${by}${until === undefined ? ' until `caps unset`' : ` until ${stamp(until, operatorZone())}`}; the leader applies it within a second\n`);
    } catch (err) {
      fail(EXIT.UNAVAILABLE, `etcd unreachable: ${(err as Error).message}`);
    } finally {
      store.etcd.close();
    }
  },
};

const unset: CommandModule<object, { config: string; pipeline: string }> = {
  command: 'unset <pipeline>',
  describe: 'Remove a pipeline\'s override: its baseline cap applies again',
  builder: (y) =>
    y
      .positional('pipeline', { type: 'string', demandOption: true })
      .option('config', { alias: 'c', type: 'string', demandOption: true, describe: 'Topology file (YAML)' })
      .example('$0 caps unset live-dashboard -c examples/local-two-rooms.yaml', 'Back to the baseline cap') as unknown as Argv<{ config: string; pipeline: string }>,
  handler: async (args) => {
    const config = loadConfig(args.config);
    if (!config.topology.pipelines.has(args.pipeline)) return fail(EXIT.USAGE, unknownPipeline(args.pipeline, config.topology.pipelines.keys()));
    const store = buildStore(config);
    try {
      const had = await new EtcdCapStore(store.etcd, config.etcd.prefix).clearOverride(args.pipeline);
      process.stdout.write(had ? `removed the override of ${args.pipeline}; its baseline cap applies again within a second\n` : `${args.pipeline} had no override\n`);
    } catch (err) {
      fail(EXIT.UNAVAILABLE, `etcd unreachable: ${(err as Error).message}`);
    } finally {
      store.etcd.close();
    }
  },
};

export const capsCommand: CommandModule = {
  command: 'caps <command>',
  describe: 'Source rate caps from stress-test baselines: show, plan, apply, set and unset overrides',
  builder: (y: Argv) =>
    y
      .command(show)
      .command(plan)
      .command(apply)
      .command(set)
      .command(unset)
      .demandCommand(1, 'Name a caps command: show, plan, apply, set or unset.')
      .example('$0 caps show -c examples/local-two-rooms.yaml', 'The caps in force, per task, with inbound rate, lag and recovery ETA')
      .example('$0 caps set live-dashboard 5000 --reason "event day" --until +3h -c examples/local-two-rooms.yaml', 'A temporary cap that expires on its own')
      .epilogue('A cap is a pipeline\'s baseline in its serving room times its tier\'s capHeadroom, split over the baseline\'s tasks; after a failover the standby room\'s own baseline applies. Rooms short of capacity shed P3, then P2 (shedOrder), never P0/P1.'),
  handler: () => undefined,
};
