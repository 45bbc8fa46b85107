import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { ConfigError, loadConfig, loadPolicies } from '../../config/load.js';
import { jsonSchemas } from '../../config/json-schema.js';
import { describeWindows } from '../../core/change-window.js';
import type { TierPolicy } from '../../core/model.js';
import { EXIT, outputOption, printData, table, type OutputFormat } from '../output.js';

function summarize(p: TierPolicy) {
  return {
    tier: p.tier,
    failover: p.failover,
    failback: p.failback,
    standby: p.standby,
    detectMs: p.fallAfter * p.probeIntervalMs,
    observersRequired: p.observersRequired,
    minDwellMs: p.minDwellMs,
    maxSwitchesPerHour: p.maxSwitchesPerHour,
    changeWindows: describeWindows(p.changeWindows, Date.now()),
    shedOrder: p.shedOrder,
    source: p.source,
  };
}

interface ValidateArgs {
  path: string;
  topology?: string;
  output: OutputFormat;
}

const validate: CommandModule<object, ValidateArgs> = {
  command: 'validate <path>',
  describe: 'Check tier policy files (a directory or one file), and optionally a topology that uses them',
  builder: (y) =>
    y
      .positional('path', { type: 'string', demandOption: true, describe: 'Policy directory or file' })
      .option('topology', { alias: 'c', type: 'string', describe: 'Also check this topology file against the policies' })
      .option('output', outputOption)
      .example('$0 policy validate policies/', 'Check every tier policy; prints a summary or every problem')
      .example('$0 policy validate policies/ -c examples/local-two-rooms.yaml', 'Check a topology against them too')
      .epilogue('Exit codes: 0 valid, 2 invalid (each problem is printed as file: path: reason; nothing is applied).'),
  handler: (args) => {
    try {
      const loaded = args.topology ? loadConfig(args.topology, args.path) : undefined;
      const policies = loaded ? loaded.topology.policies : loadPolicies(args.path);
      const warnings = loaded?.warnings ?? [];
      const rows = [...policies.values()].sort((a, b) => a.tier.localeCompare(b.tier)).map(summarize);
      if (!printData(args.output, { valid: true, policies: rows, warnings })) {
        process.stdout.write(
          table(
            ['TIER', 'FAILOVER', 'FAILBACK', 'STANDBY', 'DETECT', 'OBSERVERS', 'DWELL', 'MAX/H', 'CHANGE WINDOW', 'SHED'],
            rows.map((r) => [r.tier, r.failover, r.failback, r.standby, `${r.detectMs}ms`, String(r.observersRequired), `${r.minDwellMs}ms`, String(r.maxSwitchesPerHour), r.changeWindows, r.shedOrder === 0 ? 'never' : `#${r.shedOrder}`]),
          ) +
            `\n\nvalid: ${rows.length} polic${rows.length === 1 ? 'y' : 'ies'}${args.topology ? ` and ${args.topology}` : ''}\n` +
            warnings.map((w) => `warning: ${w}\n`).join(''),
        );
      }
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      if (!printData(args.output, { valid: false, problems: err.problems })) process.stderr.write(`invalid, nothing applied:\n${err.message}\n`);
      process.exitCode = EXIT.USAGE;
    }
  },
};

interface SchemaArgs {
  write?: string;
}

const schema: CommandModule<object, SchemaArgs> = {
  command: 'schema',
  describe: 'Print the JSON Schemas of policy, topology, baseline and runbook files (for editor completion)',
  builder: (y) =>
    y
      .option('write', { type: 'string', describe: 'Write policy, topology, baseline and runbook .schema.json files into this directory instead' })
      .example('$0 policy schema --write schemas/', 'Refresh the schemas shipped in schemas/')
      .epilogue('In a YAML file: # yaml-language-server: $schema=../schemas/policy.schema.json'),
  handler: (args) => {
    const s = jsonSchemas();
    if (args.write) {
      writeFileSync(join(args.write, 'policy.schema.json'), JSON.stringify(s.policy, null, 2) + '\n');
      writeFileSync(join(args.write, 'topology.schema.json'), JSON.stringify(s.topology, null, 2) + '\n');
      writeFileSync(join(args.write, 'baseline.schema.json'), JSON.stringify(s.baseline, null, 2) + '\n');
      writeFileSync(join(args.write, 'runbook.schema.json'), JSON.stringify(s.runbook, null, 2) + '\n');
    } else {
      process.stdout.write(JSON.stringify(s, null, 2) + '\n');
    }
  },
};

export const policyCommand: CommandModule = {
  command: 'policy <command>',
  describe: 'Validate tier policies and print their JSON Schema',
  builder: (y: Argv) =>
    y
      .command(validate)
      .command(schema)
      .demandCommand(1, 'Name a policy command: validate or schema.')
      .example('$0 policy validate policies/ -c examples/local-two-rooms.yaml', 'Check the tier policies and a topology that uses them'),
  handler: () => undefined,
};
