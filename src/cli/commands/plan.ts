import type { CommandModule } from 'yargs';
import { loadConfig } from '../../config/load.js';
import { buildProbes, buildStore, createLogger } from '../../composition.js';
import { EtcdObservationStore } from '../../adapters/etcd/observation-store.js';
import { systemClock } from '../../adapters/system/system-clock.js';
import { decide, INITIAL_STATE } from '../../core/decide.js';
import type { Observation } from '../../core/health.js';
import { observeAll } from '../../ports/health-probe.js';
import { adviceText } from '../advice.js';
import { EXIT, outputOption, printData, table, type OutputFormat } from '../output.js';
import { EtcdIntentStore } from '../../adapters/etcd/intent-store.js';
import { EtcdCapStore } from '../../adapters/etcd/cap-store.js';
import type { PublishedCapPlan } from '../../ports/cap-store.js';
import type { Intents } from '../../core/safety.js';
import { describeEstimate, type DataEstimate } from '../../core/data-estimate.js';
import { estimateFromPositions, failoverTarget, readLag, readPositions } from '../data-estimate.js';

interface Args {
  config: string;
  policies?: string;
  output: OutputFormat;
  probe: boolean;
}

/** For a pipeline off its primary whose tier fails back by hand: the condition and the command. */
function comeBackHint(config: ReturnType<typeof loadConfig>, name: string, route: { chain: string } | undefined, configPath: string): string | null {
  const pipeline = config.topology.pipelines.get(name);
  const policy = pipeline && config.topology.policies.get(pipeline.tier);
  const primary = pipeline?.chains.find((c) => c.role === 'primary');
  if (!route || !pipeline || !policy || !primary || route.chain === primary.name || policy.failback !== 'manual') return null;
  return `once ${primary.name}@${primary.room} is healthy again (status shows its room OK), run: switchyard switchover ${name} --to ${primary.name} -c ${configPath} --reason "failback"`;
}

export const planCommand: CommandModule<object, Args> = {
  command: 'plan',
  describe: 'Show what the controller would decide now for every pipeline, and why (changes nothing)',
  builder: (y) =>
    y
      .option('config', { alias: 'c', type: 'string', demandOption: true, describe: 'Topology file (YAML)' })
      .option('policies', { type: 'string', describe: 'Tier policy directory or file' })
      .option('output', outputOption)
      .option('probe', { type: 'boolean', default: false, describe: 'Probe the rooms from here instead of using the observers\' published observations' })
      .example('$0 plan -c examples/local-two-rooms.yaml', 'Each pipeline: state, rule, planned action and the reason')
      .example('$0 plan -c examples/local-two-rooms.yaml --probe -o yaml', 'Judge from fresh probes made here, as YAML')
      .epilogue(
        'Uses the observations the running controllers publish in etcd (every observer\'s recent probes), so the verdict is the leader\'s. ' +
          'Below the table: what a failover of each pipeline would lose now (records only its room holds that no consumer processed), from a sample of each room taken here or, for a room that does not answer, the observers\' last published one. ' +
          'With none published, or with --probe, it probes every room itself for fallAfter/riseAfter rounds first. ' +
          'Exit codes: 0 no action planned, 1 an action is planned, 2 bad configuration, 3 etcd unreachable.',
      ),
  handler: async (args) => {
    const config = loadConfig(args.config, args.policies);
    const store = buildStore(config);
    const observationsStore = new EtcdObservationStore(store.etcd, config.etcd.prefix, config.etcd.leaseTtlSeconds);
    try {
      let routes;
      let observations: Observation[] = [];
      let confirmedAt: ReadonlyMap<string, number> = new Map();
      let intents: Intents;
      let capPlan: PublishedCapPlan | undefined;
      try {
        let read;
        [routes, read, intents, capPlan] = await Promise.all([
          store.routes.list(),
          args.probe ? Promise.resolve({ observations: [], confirmedAt: new Map<string, number>() }) : observationsStore.readAll(),
          new EtcdIntentStore(store.etcd, config.etcd.prefix).read(),
          new EtcdCapStore(store.etcd, config.etcd.prefix).readPlan(),
        ]);
        ({ observations, confirmedAt } = read);
      } catch (err) {
        process.stderr.write(`switchyard: etcd unreachable: ${(err as Error).message}\n`);
        process.exitCode = EXIT.UNAVAILABLE;
        return;
      }
      let source = `published by ${new Set(observations.map((o) => o.observer)).size} observer(s)`;
      if (observations.length === 0) {
        const policies = [...config.topology.policies.values()];
        const rounds = Math.max(...policies.map((p) => Math.max(p.fallAfter, p.riseAfter)));
        const interval = Math.min(...policies.map((p) => p.probeIntervalMs));
        const probes = buildProbes(config, 'plan-cli', 'cli', createLogger('silent'));
        try {
          for (let i = 0; i < rounds; i++) {
            const started = Date.now();
            observations.push(...(await observeAll(probes)));
            await systemClock.sleep(Math.max(0, interval - (Date.now() - started)));
          }
        } finally {
          await Promise.all(probes.map((p) => p.close()));
        }
        source = `probed from here, ${rounds} rounds (one observer: a tier needing more will fail static)`;
      }
      // What a failover of each routed pipeline would lose now: fed to the decision, and shown.
      const data = new Map<string, DataEstimate>();
      const lag = new Map<string, { records: number; timeLagMs?: number }>();
      const positions = await readPositions(config, store, [...config.topology.rooms.keys()]).catch(() => undefined);
      for (const pipeline of config.topology.pipelines.values()) {
        const route = routes.get(pipeline.name)?.route;
        const target = route && failoverTarget(pipeline, route);
        if (route && target && positions) data.set(pipeline.name, estimateFromPositions(config, positions, pipeline, route, target).estimate);
        const l = route && positions ? await readLag(config, positions, pipeline, route) : undefined;
        if (l) lag.set(pipeline.name, l);
      }
      const decision = decide(config.topology, INITIAL_STATE, {
        now: Date.now(),
        observations,
        confirmedAt,
        routes: new Map([...config.topology.pipelines.keys()].map((p) => [p, routes.get(p)?.route])),
        intents,
        ...(positions && { estimates: new Map([...data].map(([p, e]) => [p, e.kind === 'known' ? e.partitions : e.reason])) }),
      });
      const rows = decision.verdicts.map((v) => {
        const action = decision.actions.find((a) => a.route.pipeline === v.pipeline);
        const estimate = data.get(v.pipeline);
        return {
          ...v,
          action: action ? `${action.kind} -> ${action.route.chain}@${action.route.room} (epoch ${action.route.epoch})` : null,
          data: estimate ? describeEstimate(estimate) : null,
          estimate: estimate ?? null,
          lag: lag.get(v.pipeline) ?? null,
          comeBack: comeBackHint(config, v.pipeline, routes.get(v.pipeline)?.route, args.config),
          // The leader's cap for the pipeline and its recovery ETA (null: uncapped or not published).
          cap: capPlan?.verdicts.find((c) => c.pipeline === v.pipeline) ?? null,
        };
      });
      if (!printData(args.output, { observations: source, verdicts: rows })) {
        process.stdout.write(`observations: ${source}\n\n`);
        // Reasons can be long: the table keeps a line per pipeline, -o json has every word.
        const short = (t: string) => (t.length > 160 ? `${t.slice(0, 157)}...` : t);
        process.stdout.write(table(['PIPELINE', 'STATE', 'RULE', 'ACTION', 'REASON'], rows.map((r) => [r.pipeline, r.state, r.rule, r.action ?? '-', short(r.reason)])) + '\n');
        const back = rows.filter((r) => r.comeBack).map((r) => `  ${r.pipeline}: ${r.comeBack}`);
        if (back.length > 0) process.stdout.write(`\nnot on the primary, and failback is manual:\n${back.join('\n')}\n`);
        const held = rows.filter((r) => r.advice);
        if (held.length > 0) process.stdout.write(`\n${adviceText(held, args.config)}`);
        const lines = rows
          .filter((r) => r.data || r.lag)
          .map((r) => `  ${r.pipeline}: ${r.data ?? 'no estimate'}${r.lag ? `; consumers ${r.lag.records} record(s) behind${r.lag.timeLagMs !== undefined ? ` (${r.lag.timeLagMs} ms)` : ''}` : ''}`);
        if (lines.length > 0) process.stdout.write(`\nif it failed over now:\n${lines.join('\n')}\n`);
        // The leader's source caps and recovery ETAs (switchyard caps show has the whole table).
        const caps = rows.filter((r) => r.cap && r.cap.rule !== 'uncapped').map((r) => `  ${r.pipeline}: ${r.cap!.reason}${r.cap!.alert ? ' [ALERT]' : ''}`);
        if (caps.length > 0) process.stdout.write(`\nsource caps:\n${caps.join('\n')}\n`);
      }
      process.exitCode = decision.actions.length > 0 ? EXIT.FAILURE : EXIT.OK;
    } finally {
      await observationsStore.close();
      store.etcd.close();
    }
  },
};

