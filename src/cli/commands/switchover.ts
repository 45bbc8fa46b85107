import { randomUUID } from 'node:crypto';
import type { CommandModule } from 'yargs';
import { estimateFromCli } from '../data-estimate.js';
import { describeEstimate } from '../../core/data-estimate.js';
import { loadConfig } from '../../config/load.js';
import { buildStore, createLogger, operatorIdentity, operatorZone } from '../../composition.js';
import { EtcdIntentStore } from '../../adapters/etcd/intent-store.js';
import { EtcdJournalStore } from '../../adapters/etcd/journal-store.js';
import { refusedHint, whoAsked, type SwitchoverIntent } from '../../core/switchover.js';
import { checkManualSwitch, isRefusal, waitForSwitch } from '../switch-intent.js';
import { parseAt, stamp } from '../time.js';
import { confirmed, EXIT, fail, outputOption, printData, table, unknownPipeline, type OutputFormat } from '../output.js';

interface Args {
  config: string;
  pipeline?: string;
  to?: string;
  at?: string;
  'dry-run': boolean;
  yes: boolean;
  reason?: string;
  emergency: boolean;
  operator?: string;
  list: boolean;
  cancel?: string;
  wait: number;
  output: OutputFormat;
}

const describeState = (i: SwitchoverIntent) => (i.refused ? `refused: ${i.refused} (${refusedHint(i, Date.now())})` : i.after ? `after ${i.after}` : 'pending');

export const switchoverCommand: CommandModule<object, Args> = {
  command: 'switchover [pipeline]',
  describe: 'Move a pipeline to another chain on purpose (now or at a time); the leader carries it out, journaled',
  builder: (y) =>
    y
      .positional('pipeline', { type: 'string', describe: 'The pipeline to move' })
      .option('config', { alias: 'c', type: 'string', demandOption: true, describe: 'Topology file (YAML)' })
      .option('to', { type: 'string', describe: 'Target chain (default: the primary, or the standby when on the primary)' })
      .option('at', { type: 'string', describe: 'Not before this time, within the next week: ISO 8601 with an offset (2026-11-23T01:00:00Z, ...+08:00), or +30s / +10m / +2h' })
      .option('dry-run', { type: 'boolean', default: false, describe: 'Show the plan; record nothing' })
      .option('yes', { alias: 'y', type: 'boolean', default: false, describe: 'Do not ask for confirmation' })
      .option('reason', { type: 'string', describe: 'Why, for the record (required, except with --dry-run)' })
      .option('emergency', { type: 'boolean', default: false, describe: 'Allowed outside the tier\'s change window' })
      .option('operator', { type: 'string', describe: 'Who (default: $SWITCHYARD_OPERATOR or the OS user)' })
      .option('list', { type: 'boolean', default: false, describe: 'List pending switchovers: scheduled, waiting (a drill\'s way back) or refused' })
      .option('cancel', { type: 'string', describe: 'Cancel a pending switchover by id (and any that waits for it)' })
      .option('wait', { type: 'number', default: 30, describe: 'Seconds to wait for an immediate switchover to finish (0 = do not wait)' })
      .option('output', outputOption)
      .example('$0 switchover live-dashboard --to standby -c examples/local-two-rooms.yaml --reason "drain room-a" --yes', 'Move now and wait for the result')
      .example('$0 switchover live-dashboard --at +2h -c examples/local-two-rooms.yaml --yes', 'Schedule it; see it with --list, drop it with --cancel <id>')
      .example('$0 switchover live-dashboard --dry-run -c examples/local-two-rooms.yaml', 'Show what would happen; record nothing')
      .example('$0 switchover live-dashboard --emergency --reason "room-a power" -c examples/local-two-rooms.yaml --yes', 'Outside the change window')
      .example('$0 switchover --list -c examples/local-two-rooms.yaml', 'What is scheduled or was refused')
      .epilogue(
        'Records an intent in etcd; the leader checks the target chain is healthy and the change window (unless --emergency), then runs the journaled switch. ' +
          'An immediate switchover with no controller leading is refused (use failover --force then). ' +
          'Exit codes: 0 done or scheduled, 1 refused, no leader, or did not finish in time, 2 bad arguments, 3 etcd unreachable.',
      ),
  handler: async (args) => {
    const config = loadConfig(args.config);
    const store = buildStore(config);
    const intents = new EtcdIntentStore(store.etcd, config.etcd.prefix);
    try {
      if (args.list) {
        const pending = await intents.switchovers();
        if (printData(args.output, pending)) return;
        if (pending.length === 0) process.stdout.write('no pending switchovers\n');
        const zone = operatorZone();
        if (pending.length > 0) process.stdout.write(table(['ID', 'PIPELINE', 'TO', 'AT', 'BY', 'STATE', 'REASON'], pending.map((i) => [i.id, i.pipeline, i.to, stamp(i.at, zone), whoAsked(i.by, i.identity), describeState(i), i.reason])) + '\n');
        return;
      }
      if (args.cancel) {
        const removed = await intents.cancelSwitchover(args.cancel);
        if (removed.length > 0) process.stdout.write(`cancelled ${removed.join(', ')}\n`);
        else fail(EXIT.FAILURE, `no pending switchover ${args.cancel} (see --list)`);
        return;
      }
      if (!args.pipeline) return fail(EXIT.USAGE, 'name the pipeline to switch over (or use --list / --cancel)');
      const now = Date.now();
      const at = args.at ? parseAt(args.at, now) : now;
      if (at === undefined) return fail(EXIT.USAGE, `--at '${args.at}' is neither an ISO 8601 time with an offset (2026-11-23T01:00:00Z) nor +Ns/+Nm/+Nh, within the next week`);
      // Before reading etcd: an unknown name is a usage error whatever the store says.
      if (!config.topology.pipelines.has(args.pipeline)) return fail(EXIT.USAGE, unknownPipeline(args.pipeline, config.topology.pipelines.keys()));
      const [stored, leader, wanted] = await Promise.all([store.routes.get(args.pipeline), store.lock('cli', createLogger('silent')).leaderInfo(), intents.read()]);
      const route = stored?.route;
      const checked = checkManualSwitch(config.topology, route, { pipeline: args.pipeline, to: args.to, at, emergency: args.emergency, reason: args.reason, requireReason: !args['dry-run'] }, wanted);
      if (isRefusal(checked)) return fail(checked.code, checked.message);
      const { pipeline, target } = checked;
      const intent: SwitchoverIntent = {
        id: `so-${randomUUID().slice(0, 8)}`,
        pipeline: pipeline.name,
        to: target.name,
        at,
        reason: args.reason ?? '',
        ...(await operatorIdentity(args.operator)),
        emergency: args.emergency,
        createdAt: now,
      };
      process.stdout.write(
        `switchover ${pipeline.name}: ${checked.route.chain}@${checked.route.room} (epoch ${checked.route.epoch}) -> ${target.name}@${target.room}` +
          `${at > now ? ` at ${stamp(at, operatorZone())}` : ' now'}, by ${whoAsked(intent.by, intent.identity)}${args.emergency ? ', EMERGENCY' : ''}${intent.reason ? `: ${intent.reason}` : ''}\n`,
      );
      if (!leader) {
        // Now means now: an intent nobody carries out would fire whenever a controller next leads.
        if (at <= now) return fail(EXIT.FAILURE, 'no controller leads, so nobody would carry it out; nothing recorded (start a controller, or use switchyard failover --force)');
        process.stderr.write('switchyard: warning: no controller leads now; the switchover runs only if one leads at that time\n');
      }
      if (args['dry-run']) {
        // What switching now would leave behind: records only the current room holds that no consumer processed.
        const { estimate, sources } = await estimateFromCli(config, store, pipeline, checked.route, target.room);
        process.stdout.write(`data: ${describeEstimate(estimate)}\n${sources.map((s) => `  ${s}\n`).join('')}dry run: nothing recorded\n`);
        return;
      }
      if (!(await confirmed(args.yes, 'nothing recorded'))) return;
      await intents.addSwitchovers([intent]);
      process.stdout.write(`recorded ${intent.id}\n`);
      if (at > now || args.wait <= 0) return;
      const journals = new EtcdJournalStore(store.etcd, config.etcd.prefix);
      const result = await waitForSwitch({ intents, journals }, pipeline.name, intent.id, args.wait * 1000);
      switch (result.kind) {
        case 'done': {
          const r = result.record;
          process.stdout.write(`done: ${r.id} ${r.fromChain}@${r.fromRoom} -> ${r.toChain}@${r.toRoom}, route flipped ${r.flipMs} ms after the decision, ${r.outcome}\n`);
          return;
        }
        case 'refused':
          return fail(EXIT.FAILURE, `refused by the leader: ${result.reason}\n${refusedHint({ ...intent, refusedAt: Date.now() }, Date.now())}`);
        case 'gone':
          return fail(EXIT.FAILURE, `${intent.id} was cancelled before it ran`);
        case 'timeout':
          return fail(
            EXIT.FAILURE,
            result.started
              ? `started but not finished within ${args.wait} s; the leader carries on (see switchyard history ${pipeline.name})`
              : `not started within ${args.wait} s (is a controller leading? see switchyard status); the intent stays recorded as ${intent.id}`,
          );
      }
    } catch (err) {
      fail(EXIT.UNAVAILABLE, `etcd unreachable: ${(err as Error).message}`);
    } finally {
      store.etcd.close();
    }
  },
};
