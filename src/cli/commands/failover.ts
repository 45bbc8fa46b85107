import type { CommandModule } from 'yargs';
import { loadConfig } from '../../config/load.js';
import { buildStore, buildSwitchRunner, checkKubeServer, createLogger, operatorIdentity } from '../../composition.js';
import { whoAsked } from '../../core/switchover.js';
import { EtcdJournalStore } from '../../adapters/etcd/journal-store.js';
import { routeFor } from '../../core/model.js';
import { noMetrics } from '../../ports/metrics.js';
import { confirmed, EXIT, fail, unknownPipeline } from '../output.js';
import { describeLeader } from '../time.js';
import { estimatedLoss, estimateFromCli } from '../data-estimate.js';
import { describeEstimate, gapOf } from '../../core/data-estimate.js';

interface Args {
  config: string;
  pipeline: string;
  to: string;
  force: boolean;
  'accept-loss': boolean;
  'ignore-leader': boolean;
  reason?: string;
  operator?: string;
  yes: boolean;
  timeout: number;
  'insecure-kube': boolean;
}

export const failoverCommand: CommandModule<object, Args> = {
  command: 'failover <pipeline>',
  describe: 'When no controller is alive: take leadership from here and run the switch yourself (fenced, journaled)',
  builder: (y) =>
    y
      .positional('pipeline', { type: 'string', demandOption: true, describe: 'The pipeline to move' })
      .option('config', { alias: 'c', type: 'string', demandOption: true, describe: 'Topology file (YAML)' })
      .option('to', { type: 'string', demandOption: true, describe: 'Target chain' })
      .option('force', { type: 'boolean', default: false, describe: 'Required: this bypasses the controller and the target health check' })
      .option('accept-loss', { type: 'boolean', default: false, describe: 'Go ahead although the estimate says records would be lost (or cannot say); recorded' })
      .option('ignore-leader', { type: 'boolean', default: false, describe: 'Even if a leader is alive: wait in line for leadership (until --timeout)' })
      .option('reason', { type: 'string', describe: 'Why, for the record (required)' })
      .option('operator', { type: 'string', describe: 'Who (default: $SWITCHYARD_OPERATOR or the OS user)' })
      .option('yes', { alias: 'y', type: 'boolean', default: false, describe: 'Do not ask for confirmation' })
      .option('timeout', { type: 'number', default: 30, describe: 'Seconds to get leadership and finish' })
      .option('insecure-kube', { type: 'boolean', default: false, describe: 'Accept an http:// Kubernetes API server (controller.kubernetes.server). Test API servers only' })
      .example('$0 failover live-dashboard --to standby --force -c examples/local-two-rooms.yaml --reason "controllers down, room-a dark" --yes', 'Move it by hand at 3 a.m.')
      .example('$0 failover live-dashboard --to standby --force --accept-loss -c examples/local-two-rooms.yaml --reason "room-a gone for good" --yes', 'Move it although the estimate says records would be lost')
      .epilogue(
        'Campaigns in the same election as the controllers, so its writes are fenced like theirs, and runs the same journaled steps (a running switch is resumed instead). ' +
          'Before acting it prints the data estimate: records that only the current room holds and no consumer has processed (from the observers\' last published samples of a room that no longer answers). ' +
          'A switch that would lose records, or whose loss cannot be estimated, needs --accept-loss, which is recorded. ' +
          'With a live leader it refuses and names it: use `switchyard switchover` then. Exit codes: 0 done, 1 refused or not finished, 2 bad arguments, 3 etcd unreachable.',
      ),
  handler: async (args) => {
    if (!args.force) return fail(EXIT.USAGE, 'failover bypasses the controller: add --force (or use switchover, which the leader carries out)');
    const config = loadConfig(args.config);
    checkKubeServer(config, args['insecure-kube']);
    const pipeline = config.topology.pipelines.get(args.pipeline);
    if (!pipeline) return fail(EXIT.USAGE, unknownPipeline(args.pipeline, config.topology.pipelines.keys()));
    const target = pipeline.chains.find((c) => c.name === args.to);
    if (!target) return fail(EXIT.USAGE, `pipeline ${pipeline.name} has no chain '${args.to}' (chains: ${pipeline.chains.map((c) => c.name).join(', ')})`);
    if (!args.reason?.trim()) return fail(EXIT.USAGE, 'say why with --reason "...": every switch is recorded with who asked and why');
    const { by, identity } = await operatorIdentity(args.operator);
    // The name given, with the real identity beside it where they differ: in the output and the record.
    const operator = whoAsked(by, identity);
    const log = createLogger('silent');
    const store = buildStore(config);
    const me = `cli-${by}-${process.pid}`;
    const lock = store.lock(me, log);
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(new Error(`no leadership within ${args.timeout} s`)), args.timeout * 1000);
    try {
      const leader = await lock.leaderInfo();
      if (leader && !args['ignore-leader']) {
        return fail(
          EXIT.FAILURE,
          `a live leader exists (${describeLeader({ ...leader, ...(leader.since !== undefined && { ageMs: Date.now() - leader.since }) })}): use switchyard switchover; ` +
            `if that controller is dead, its lease runs out by itself — retry then, or pass --ignore-leader to wait for leadership`,
        );
      }
      const route = (await store.routes.get(pipeline.name))?.route;
      if (!route) return fail(EXIT.FAILURE, `${pipeline.name} has no route yet`);
      if (route.chain === target.name) return fail(EXIT.USAGE, `${pipeline.name} already runs on ${target.name}@${target.room}`);
      process.stdout.write(`forced failover ${pipeline.name}: ${route.chain}@${route.room} (epoch ${route.epoch}) -> ${target.name}@${target.room}, by ${operator}\n`);
      const { estimate, sources } = await estimateFromCli(config, store, pipeline, route, target.room);
      const loss = estimatedLoss(estimate);
      process.stdout.write(`data: ${describeEstimate(estimate)}\n${sources.map((s) => `  ${s}\n`).join('')}`);
      if ((loss === undefined || loss > 0) && !args['accept-loss']) {
        return fail(EXIT.FAILURE, `${loss === undefined ? 'the loss cannot be estimated' : `this switch would lose about ${loss} record(s)`}: nothing done; add --accept-loss to switch anyway (recorded in history)`);
      }
      const gap = estimate.kind === 'known' ? gapOf(route.room, estimate.partitions) : undefined;
      const dataNote = `data: ${describeEstimate(estimate)}${loss === undefined || loss > 0 ? `; loss accepted by ${operator}` : ''}`;
      if (!(await confirmed(args.yes, 'nothing done'))) return;
      const leadership = await lock.campaign(deadline.signal);
      process.stdout.write(`leadership taken as ${me}\n`);
      const journals = new EtcdJournalStore(store.etcd, config.etcd.prefix);
      const runner = buildSwitchRunner(config, store, journals, me, log, noMetrics, { insecureKube: args['insecure-kube'] });
      const current = (await journals.list()).get(pipeline.name);
      const fresh = (await store.routes.get(pipeline.name))!.route;
      const reason = `forced failover of ${pipeline.name} from ${fresh.chain}@${fresh.room} to ${target.name}@${target.room} by ${operator}: ${args.reason || 'no reason given'}; ${dataNote}`;
      let result =
        current && current.journal.status === 'running'
          ? await runner.advance(leadership.fence, current, leadership.lost)
          : await runner.start(
              leadership.fence,
              { kind: 'switch-route', from: fresh, route: routeFor(config.topology, pipeline, target, fresh.epoch + 1, Date.now(), reason, [...fresh.history, Date.now()]), reason, detectedAfterMs: 0, ...(gap && { gap }) },
              'failover',
              current,
              leadership.lost,
              { by: operator },
            );
      while (result.kind === 'pending' && !deadline.signal.aborted) {
        await new Promise((r) => setTimeout(r, 250));
        const stored = (await journals.list()).get(pipeline.name)!;
        result = await runner.advance(leadership.fence, stored, leadership.lost);
      }
      if (result.kind === 'done') {
        const rec = (await journals.history(pipeline.name)).find((r) => r.id === result.journal.id);
        process.stdout.write(`done: ${result.journal.id} -> ${target.name}@${target.room}, ${rec?.outcome ?? 'recorded'}\n`);
      } else {
        fail(EXIT.FAILURE, `not finished: ${result.kind === 'retry' ? result.why : result.kind}; the journal keeps its progress for the next leader`);
      }
    } catch (err) {
      fail(deadline.signal.aborted ? EXIT.FAILURE : EXIT.UNAVAILABLE, (err as Error).message);
    } finally {
      clearTimeout(timer);
      await lock.resign().catch(() => undefined);
      store.etcd.close();
    }
  },
};
