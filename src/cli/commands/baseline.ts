import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { ConfigError, loadBaseline, loadConfig, yamlFiles } from '../../config/load.js';
import { operatorZone } from '../../composition.js';
import { baselineProblem, capOf, splitCap, type Baseline } from '../../core/caps.js';
import { EXIT, fail, outputOption, printData, table, type OutputFormat } from '../output.js';
import { age, stamp } from '../time.js';

interface ValidateArgs {
  config: string;
  files?: string[];
  output: OutputFormat;
}

/** The baseline files named, or every one in the topology's baselines directory. */
function filesOf(dir: string, named: readonly string[] | undefined): string[] {
  if (named && named.length > 0) return named.map((f) => resolve(f));
  try {
    return statSync(dir).isDirectory() ? yamlFiles(dir) : [];
  } catch {
    return [];
  }
}

/** A baseline's judgement: its cap for its tier, or why it is refused. */
function judge(b: Baseline, config: ReturnType<typeof loadConfig>, now: number) {
  const tier = config.topology.pipelines.get(b.pipeline)!.tier;
  const policy = config.topology.policies.get(tier)!;
  const refused = baselineProblem(b, policy.baselineMaxAgeMs, now);
  const cap = refused ? undefined : capOf(b.ratePerSecond, policy.capHeadroom);
  return { tier, headroom: policy.capHeadroom, refused, cap, perTask: cap === undefined ? undefined : splitCap(cap, b.tasks) };
}

const validate: CommandModule<object, ValidateArgs> = {
  command: 'validate [files..]',
  describe: 'Check baseline files: shape and meaning (exit 2), then whether each is in force (exit 1 when one is refused)',
  builder: (y) =>
    y
      .positional('files', { type: 'string', array: true, describe: 'Baseline files (default: every file in the topology\'s baselines directory)' })
      .option('config', { alias: 'c', type: 'string', demandOption: true, describe: 'Topology file (YAML)' })
      .option('output', outputOption)
      .example('$0 baseline validate -c examples/local-two-rooms.yaml', 'Every baseline the controller would read')
      .example('$0 baseline validate baselines/live-dashboard.room-b.yaml -c examples/local-two-rooms.yaml', 'One file, before committing it')
      .epilogue(
        'A baseline is refused when a criterion did not pass (input latency, back-pressure <= 0.1, CPU <= 0.6, results as expected) or when it is older than its tier\'s baselineMaxAgeDays; a refused baseline caps nothing. ' +
          'Exit codes: 0 all in force, 1 some refused, 2 a file is malformed or names what the topology does not have.',
      ) as unknown as Argv<ValidateArgs>,
  handler: (args) => {
    const config = loadConfig(args.config);
    const files = filesOf(config.baselinesDir, args.files);
    if (files.length === 0) return fail(EXIT.USAGE, `no baseline files (looked in ${config.baselinesDir})`);
    const problems: ConfigError['problems'][number][] = [];
    const loaded: Baseline[] = [];
    for (const f of files) {
      try {
        loaded.push(loadBaseline(f, config.topology));
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        problems.push(...err.problems);
      }
    }
    if (problems.length > 0) {
      if (!printData(args.output, { valid: false, problems })) process.stderr.write(`invalid, nothing applied:\n${new ConfigError(problems).message}\n`);
      process.exitCode = EXIT.USAGE;
      return;
    }
    const now = Date.now();
    const rows = loaded.map((b) => ({ file: b.file, pipeline: b.pipeline, room: b.room, ...judge(b, config, now) }));
    if (!printData(args.output, { valid: true, baselines: rows })) {
      for (const r of rows) process.stdout.write(r.refused ? `${r.file}: refused: ${r.refused}\n` : `${r.file}: in force: cap ${r.cap}/s (${r.pipeline} in ${r.room}, tier ${r.tier}, headroom ${r.headroom})\n`);
    }
    if (rows.some((r) => r.refused)) process.exitCode = EXIT.FAILURE;
  },
};

interface ShowArgs {
  config: string;
  pipeline?: string;
  output: OutputFormat;
}

const show: CommandModule<object, ShowArgs> = {
  command: 'show [pipeline]',
  describe: 'The baselines the controller reads: rate that passed, tasks, cap and its split, who measured it and when',
  builder: (y) =>
    y
      .positional('pipeline', { type: 'string', describe: 'Only this pipeline' })
      .option('config', { alias: 'c', type: 'string', demandOption: true, describe: 'Topology file (YAML)' })
      .option('output', outputOption)
      .example('$0 baseline show -c examples/local-two-rooms.yaml', 'Every pipeline\'s baselines per room') as unknown as Argv<ShowArgs>,
  handler: (args) => {
    const config = loadConfig(args.config);
    const now = Date.now();
    const all = [...(config.topology.baselines?.values() ?? [])].flatMap((m) => [...m.values()]).filter((b) => !args.pipeline || b.pipeline === args.pipeline);
    const rows = all.map((b) => ({ ...b, ...judge(b, config, now) }));
    if (printData(args.output, { baselines: rows })) return;
    if (rows.length === 0) {
      process.stdout.write(`no baselines${args.pipeline ? ` for ${args.pipeline}` : ''} in ${config.baselinesDir}: those pipelines are uncapped\n`);
      return;
    }
    const zone = operatorZone();
    process.stdout.write(
      table(
        ['PIPELINE', 'ROOM', 'PASSED', 'TASKS', 'CAP', 'PER TASK', 'MEASURED', 'BY', 'STATUS'],
        rows.map((r) => [
          r.pipeline,
          r.room,
          `${r.ratePerSecond}/s`,
          String(r.tasks),
          r.cap === undefined ? '-' : `${r.cap}/s`,
          r.perTask ? r.perTask.join('+') : '-',
          `${stamp(r.measuredAt, zone)} (${age(now - r.measuredAt)} ago)`,
          r.measuredBy,
          r.refused ? `refused: ${r.refused}` : 'in force',
        ]),
      ) + '\n',
    );
  },
};

export const baselineCommand: CommandModule = {
  command: 'baseline <command>',
  describe: 'Stress-test baselines (one file per pipeline and room): validate and show',
  builder: (y: Argv) =>
    y
      .command(validate)
      .command(show)
      .demandCommand(1, 'Name a baseline command: validate or show.')
      .example('$0 baseline validate -c examples/local-two-rooms.yaml', 'Check every baseline the controller reads: in force, or refused and why')
      .example('$0 baseline show -c examples/local-two-rooms.yaml', 'Rate that passed, tasks, cap and its split, who measured it and when'),
  handler: () => undefined,
};
