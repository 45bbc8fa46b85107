import type { Argv, CommandModule } from 'yargs';
import { loadConfig } from '../../config/load.js';
import { buildStore, operatorName } from '../../composition.js';
import { EtcdIntentStore } from '../../adapters/etcd/intent-store.js';
import { EXIT, fail, unknownPipeline } from '../output.js';

interface Args {
  config: string;
  pipeline?: string;
  all: boolean;
  reason?: string;
  operator?: string;
}

function common(y: Argv): Argv<Args> {
  return y
    .positional('pipeline', { type: 'string', describe: 'The pipeline (or --all)' })
    .option('config', { alias: 'c', type: 'string', demandOption: true, describe: 'Topology file (YAML)' })
    .option('all', { type: 'boolean', default: false, describe: 'Every pipeline (global maintenance)' })
    .option('reason', { type: 'string', describe: 'Why, for the record' })
    .option('operator', { type: 'string', describe: 'Who (default: $SWITCHYARD_OPERATOR or the OS user)' }) as unknown as Argv<Args>;
}

async function run(args: Args, action: 'pause' | 'resume'): Promise<void> {
  if (!args.all && !args.pipeline) return fail(EXIT.USAGE, 'name a pipeline or pass --all');
  if (args.all && args.pipeline) return fail(EXIT.USAGE, `name a pipeline or pass --all, not both (got '${args.pipeline}' and --all)`);
  const config = loadConfig(args.config);
  if (args.pipeline && !config.topology.pipelines.has(args.pipeline)) return fail(EXIT.USAGE, unknownPipeline(args.pipeline, config.topology.pipelines.keys()));
  const store = buildStore(config);
  const intents = new EtcdIntentStore(store.etcd, config.etcd.prefix);
  const target = args.all ? undefined : args.pipeline;
  const what = target ?? 'every pipeline';
  try {
    if (action === 'pause') {
      await intents.pause({ pipeline: target, by: operatorName(args.operator), reason: args.reason ?? '', at: Date.now() });
      process.stdout.write(`paused ${what}: nothing automatic happens to it until resumed (a switch already under way completes)\n`);
    } else {
      const had = await intents.resume(target);
      process.stdout.write(had ? `resumed ${what}\n` : `${what} was not paused\n`);
    }
  } catch (err) {
    fail(EXIT.UNAVAILABLE, `etcd unreachable: ${(err as Error).message}`);
  } finally {
    store.etcd.close();
  }
}

export const pauseCommand: CommandModule<object, Args> = {
  command: 'pause [pipeline]',
  describe: 'Maintenance mode: nothing automatic happens to a pipeline (or --all) until resumed',
  builder: (y) =>
    common(y)
      .example('$0 pause live-dashboard -c examples/local-two-rooms.yaml --reason "broker upgrade"', 'Hold one pipeline where it is')
      .example('$0 pause --all -c examples/local-two-rooms.yaml --reason "etcd maintenance"', 'Global maintenance')
      .epilogue('Recorded in etcd with who and why; the leader honours it on its next tick. Exit codes: 0 done, 2 bad arguments or unknown pipeline, 3 etcd unreachable.'),
  handler: (args) => run(args, 'pause'),
};

export const resumeCommand: CommandModule<object, Args> = {
  command: 'resume [pipeline]',
  describe: 'End maintenance mode for a pipeline (or --all)',
  builder: (y) =>
    common(y)
      .example('$0 resume live-dashboard -c examples/local-two-rooms.yaml', 'Let the controller act on it again')
      .example('$0 resume --all -c examples/local-two-rooms.yaml', 'End global maintenance')
      .epilogue('Exit codes: 0 done (also when it was not paused), 2 bad arguments or unknown pipeline, 3 etcd unreachable.'),
  handler: (args) => run(args, 'resume'),
};
