import type { Argv, CommandModule } from 'yargs';
import { loadConfig } from '../../config/load.js';
import { loadRunbook } from '../../config/runbook.js';
import { plannedTimes, type RunbookAction, type RunbookCheck, type RunbookStep } from '../../core/runbook.js';
import { outputOption, printData, table, type OutputFormat } from '../output.js';
import { stamp } from '../time.js';

interface Args {
  file: string;
  config: string;
  output: OutputFormat;
}

/** An action in a few words, as the timeline shows it. */
export function describeAction(a: RunbookAction): string {
  switch (a.kind) {
    case 'cap':
      return `cap ${a.pipeline} at ${a.recordsPerSecond}/s`;
    case 'uncap':
      return `uncap ${a.pipeline}`;
    case 'switchover':
      return `switch ${a.pipeline} over to ${a.to}`;
    case 'switchback':
      return `switch ${a.pipeline} back to its primary`;
    case 'pause':
      return `pause ${a.pipeline ?? 'everything'}`;
    case 'resume':
      return `resume ${a.pipeline ?? 'everything'}`;
    case 'drill':
      return `drill ${a.pipeline} (hold ${Math.round(a.holdMs / 1000)} s)`;
    case 'freeze':
      return `freeze ${a.tiers.join(', ')}`;
    case 'unfreeze':
      return `unfreeze ${a.tiers.join(', ')}`;
    case 'override-window':
      return `override the change window of ${a.tiers.join(', ')}: ${a.reason}`;
    case 'check':
      return 'check only';
    case 'notify':
      return `notify ${a.webhook}: ${a.message}`;
  }
}

function describeCheck(c: RunbookCheck): string {
  switch (c.kind) {
    case 'lag-below':
      return `${c.pipeline} lag < ${c.records}`;
    case 'standby-gap-below':
      return `${c.pipeline} standby gap < ${c.ms} ms`;
    case 'p0-standbys-healthy':
      return 'every P0 standby healthy';
    case 'olap-replica-delay-below':
      return `${c.room} OLAP replica delay < ${c.seconds} s`;
    case 'no-switch-in-progress':
      return 'no switch in progress';
  }
}

function load(args: Args) {
  const config = loadConfig(args.config);
  return { config, runbook: loadRunbook(args.file, config.topology, new Set(config.webhooks.keys())) };
}

const common = (y: Argv) =>
  y
    .positional('file', { type: 'string', demandOption: true, describe: 'The runbook (YAML)' })
    .option('config', { alias: 'c', type: 'string', demandOption: true, describe: 'Topology file (YAML)' })
    .option('output', outputOption) as unknown as Argv<Args>;

const validate: CommandModule<object, Args> = {
  command: 'validate <file>',
  describe: 'Check a runbook: its shape, and every pipeline, chain, tier, room and webhook it names',
  builder: (y) =>
    common(y)
      .example('$0 runbook validate examples/runbooks/live-event.yaml -c examples/local-two-rooms.yaml', 'Check the example live-event night')
      .epilogue('Errors name the file, the step and the field. Exit codes: 0 valid, 2 invalid (nothing was done).'),
  handler: (args) => {
    const { runbook } = load(args);
    const summary = { valid: true, event: runbook.event, t0: new Date(runbook.t0).toISOString(), timeZone: runbook.timeZone, steps: runbook.steps.length };
    if (!printData(args.output, summary)) process.stdout.write(`valid: ${runbook.event} at ${stamp(runbook.t0, runbook.timeZone)}, ${runbook.steps.length} steps (${['before', 'during', 'after'].map((p) => `${runbook.steps.filter((s) => s.phase === p).length} ${p}`).join(', ')})\n`);
  },
};

const plan: CommandModule<object, Args> = {
  command: 'plan <file>',
  describe: 'The timeline as planned: each step\'s time, owner, action, ack and checks',
  builder: (y) =>
    common(y)
      .example('$0 runbook plan examples/runbooks/live-event.yaml -c examples/local-two-rooms.yaml', 'The example night, step by step')
      .epilogue("Times are shown in the event's zone (and UTC); a step that runs after another shows that step and the delay. Exit codes: 0, 2 invalid runbook."),
  handler: (args) => {
    const { runbook } = load(args);
    const planned = plannedTimes(runbook, new Map());
    const when = (s: RunbookStep) => (s.when.kind === 'at' ? planned.get(s.id) : undefined);
    const rows = runbook.steps.map((s) => ({
      step: s.id,
      phase: s.phase,
      at: when(s) === undefined ? null : new Date(when(s)!).toISOString(),
      after: s.when.kind === 'after' ? { step: s.when.step, delayMs: s.when.delayMs } : null,
      owner: s.owner,
      action: describeAction(s.action),
      needsAck: s.needsAck,
      checks: s.checks.map(describeCheck),
      timeoutMs: s.timeoutMs,
      onFailure: s.onFailure,
    }));
    if (printData(args.output, { event: runbook.event, t0: new Date(runbook.t0).toISOString(), timeZone: runbook.timeZone, steps: rows })) return;
    const zone = runbook.timeZone;
    process.stdout.write(`${runbook.event}: T0 ${stamp(runbook.t0, zone)} (${zone})\n\n`);
    process.stdout.write(
      table(
        ['PHASE', 'WHEN', 'STEP', 'OWNER', 'ACTION', 'ACK', 'CHECKS', 'ON FAILURE'],
        runbook.steps.map((s) => [
          s.phase,
          s.when.kind === 'at' ? stamp(planned.get(s.id)!, zone) : `after ${s.when.step}${s.when.delayMs > 0 ? ` + ${Math.round(s.when.delayMs / 60_000)}m` : ''}`,
          s.id,
          s.owner,
          describeAction(s.action),
          s.needsAck ? 'yes' : '-',
          s.checks.map(describeCheck).join('; ') || '-',
          s.onFailure,
        ]),
      ) + '\n',
    );
  },
};

export const runbookCommand: CommandModule = {
  command: 'runbook <command>',
  describe: 'Event runbooks (before, during, after): validate and plan',
  builder: (y: Argv) =>
    y
      .command(validate)
      .command(plan)
      .demandCommand(1, 'Name a runbook command: validate or plan.')
      .example('$0 runbook validate examples/runbooks/live-event.yaml -c examples/local-two-rooms.yaml', 'Check a runbook')
      .example('$0 runbook plan examples/runbooks/live-event.yaml -c examples/local-two-rooms.yaml', 'Its timeline'),
  handler: () => undefined,
};

