import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline/promises';
import type { CommandModule } from 'yargs';
import { loadConfig } from '../../config/load.js';
import { buildStore, operatorName } from '../../composition.js';
import { EtcdIntentStore } from '../../adapters/etcd/intent-store.js';
import { EtcdJournalStore } from '../../adapters/etcd/journal-store.js';
import { describeWindows, outsideChangeWindow } from '../../core/change-window.js';
import { defaultTarget, type SwitchoverIntent } from '../../core/switchover.js';
import { EXIT, fail, table, unknownPipeline, type OutputFormat } from '../output.js';

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

/** "2026-11-23T01:00:00Z", or relative "+10m", "+30s", "+2h". */
export function parseAt(text: string, now: number): number | undefined {
  const rel = /^\+(\d+)(s|m|h)$/.exec(text);
  if (rel) return now + Number(rel[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[rel[2] as 's' | 'm' | 'h'];
  const t = Date.parse(text);
  return Number.isNaN(t) ? undefined : t;
}

export const switchoverCommand: CommandModule<object, Args> = {
  command: 'switchover [pipeline]',
  describe: 'Move a pipeline to another chain on purpose (now or at a time); the leader carries it out, journaled',
  builder: (y) =>
    y
      .positional('pipeline', { type: 'string', describe: 'The pipeline to move' })
      .option('config', { alias: 'c', type: 'string', demandOption: true, describe: 'Topology file (YAML)' })
      .option('to', { type: 'string', describe: 'Target chain (default: the primary, or the standby when on the primary)' })
      .option('at', { type: 'string', describe: 'Not before this time: ISO 8601, or +30s / +10m / +2h' })
      .option('dry-run', { type: 'boolean', default: false, describe: 'Show the plan; record nothing' })
      .option('yes', { alias: 'y', type: 'boolean', default: false, describe: 'Do not ask for confirmation' })
      .option('reason', { type: 'string', describe: 'Why, for the record (required with --emergency)' })
      .option('emergency', { type: 'boolean', default: false, describe: 'Allowed outside the tier\'s change window' })
      .option('operator', { type: 'string', describe: 'Who (default: $SWITCHYARD_OPERATOR or the OS user)' })
      .option('list', { type: 'boolean', default: false, describe: 'List pending (scheduled or refused) switchovers' })
      .option('cancel', { type: 'string', describe: 'Cancel a pending switchover by id' })
      .option('wait', { type: 'number', default: 30, describe: 'Seconds to wait for an immediate switchover to finish (0 = do not wait)' })
      .option('output', { alias: 'o', choices: ['table', 'json'] as const, default: 'table' as OutputFormat })
      .example('$0 switchover live-dashboard --to standby -c topology.yaml --reason "drain room-a" --yes', 'Move now and wait for the result')
      .example('$0 switchover live-dashboard --at +2h -c topology.yaml --yes', 'Schedule it; see it with --list, drop it with --cancel <id>')
      .example('$0 switchover live-dashboard --emergency --reason "room-a power" -c topology.yaml --yes', 'Outside the change window')
      .epilogue(
        'Records an intent in etcd; the leader checks the target chain is healthy and the change window (unless --emergency), then runs the journaled switch. ' +
          'Exit codes: 0 done or scheduled, 1 refused or did not finish in time, 2 bad arguments, 3 etcd unreachable.',
      ),
  handler: async (args) => {
    const config = loadConfig(args.config);
    const store = buildStore(config);
    const intents = new EtcdIntentStore(store.etcd, config.etcd.prefix);
    try {
      if (args.list) {
        const pending = await intents.switchovers();
        if (args.output === 'json') process.stdout.write(JSON.stringify(pending, null, 2) + '\n');
        else if (pending.length === 0) process.stdout.write('no pending switchovers\n');
        else process.stdout.write(table(['ID', 'PIPELINE', 'TO', 'AT', 'BY', 'STATE', 'REASON'], pending.map((i) => [i.id, i.pipeline, i.to, new Date(i.at).toISOString(), i.by, i.refused ? `refused: ${i.refused}` : 'pending', i.reason])) + '\n');
        return;
      }
      if (args.cancel) {
        if (await intents.removeSwitchover(args.cancel)) process.stdout.write(`cancelled ${args.cancel}\n`);
        else fail(EXIT.FAILURE, `no pending switchover ${args.cancel} (see --list)`);
        return;
      }
      const pipeline = args.pipeline && config.topology.pipelines.get(args.pipeline);
      if (!args.pipeline) return fail(EXIT.USAGE, 'name the pipeline to switch over (or use --list / --cancel)');
      if (!pipeline) return fail(EXIT.USAGE, unknownPipeline(args.pipeline, config.topology.pipelines.keys()));
      const now = Date.now();
      const route = (await store.routes.get(pipeline.name))?.route;
      const to = args.to ?? defaultTarget(config.topology, pipeline.name, route?.chain);
      const chain = pipeline.chains.find((c) => c.name === to);
      if (!to || !chain) return fail(EXIT.USAGE, `pipeline ${pipeline.name} has no chain '${to ?? ''}' (chains: ${pipeline.chains.map((c) => c.name).join(', ')})`);
      if (route?.chain === to) return fail(EXIT.USAGE, `${pipeline.name} already runs on ${to}@${chain.room}`);
      const at = args.at ? parseAt(args.at, now) : now;
      if (at === undefined) return fail(EXIT.USAGE, `--at '${args.at}' is neither an ISO time nor +Ns/+Nm/+Nh`);
      if (args.emergency && !args.reason) return fail(EXIT.USAGE, '--emergency needs --reason');
      const policy = config.topology.policies.get(pipeline.tier)!;
      const outside = outsideChangeWindow(at, policy.changeWindows);
      if (outside && !args.emergency) {
        return fail(EXIT.USAGE, `${outside}; tier ${pipeline.tier} changes only in ${describeWindows(policy.changeWindows)} — pass --emergency --reason "..." to proceed`);
      }
      const intent: SwitchoverIntent = {
        id: `so-${randomUUID().slice(0, 8)}`,
        pipeline: pipeline.name,
        to,
        at,
        reason: args.reason ?? '',
        by: operatorName(args.operator),
        emergency: args.emergency,
        createdAt: now,
      };
      const plan = `switchover ${pipeline.name}: ${route ? `${route.chain}@${route.room} (epoch ${route.epoch})` : 'no route yet'} -> ${to}@${chain.room}` +
        `${at > now ? ` at ${new Date(at).toISOString()}` : ' now'}, by ${intent.by}${args.emergency ? ', EMERGENCY' : ''}${intent.reason ? `: ${intent.reason}` : ''}`;
      process.stdout.write(`${plan}\n`);
      if (args['dry-run']) return;
      if (!args.yes) {
        if (!process.stdin.isTTY) return fail(EXIT.USAGE, 'no terminal to confirm on: add --yes');
        const rl = createInterface({ input: process.stdin, output: process.stdout });
        const answer = await rl.question('Proceed? [y/N] ');
        rl.close();
        if (!/^y(es)?$/i.test(answer.trim())) return fail(EXIT.FAILURE, 'not confirmed; nothing recorded');
      }
      await intents.addSwitchover(intent);
      process.stdout.write(`recorded ${intent.id}\n`);
      if (at > now || args.wait <= 0) return;
      // Wait for the leader: the intent disappears when the switch starts, then history shows it.
      const deadline = Date.now() + args.wait * 1000;
      const journals = new EtcdJournalStore(store.etcd, config.etcd.prefix);
      while (Date.now() < deadline) {
        const mine = (await intents.switchovers()).find((i) => i.id === intent.id);
        if (mine?.refused) return fail(EXIT.FAILURE, `refused by the leader: ${mine.refused}`);
        const done = (await journals.history(pipeline.name)).find((r) => r.kind === 'switchover' && r.decidedAt >= now && r.toChain === to);
        if (done) {
          process.stdout.write(`done: ${done.id} ${done.fromChain}@${done.fromRoom} -> ${done.toChain}@${done.toRoom}, route flipped ${done.flipMs} ms after the decision, ${done.outcome}\n`);
          return;
        }
        await new Promise((r) => setTimeout(r, 250));
      }
      fail(EXIT.FAILURE, `not finished within ${args.wait} s (is a controller leading? see switchyard status); the intent stays recorded as ${intent.id}`);
    } catch (err) {
      fail(EXIT.UNAVAILABLE, `etcd unreachable: ${(err as Error).message}`);
    } finally {
      store.etcd.close();
    }
  },
};
