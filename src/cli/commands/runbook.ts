import type { Argv, CommandModule } from 'yargs';
import { loadConfig } from '../../config/load.js';
import { loadRunbook } from '../../config/runbook.js';
import { plannedTimes, type RunbookStep } from '../../core/runbook.js';
import { describeAction, describeCheck } from '../runbook-view.js';
import { runbookLiveCommands } from './runbook-live.js';
import { outputOption, printData, table, type OutputFormat } from '../output.js';
import { stamp } from '../time.js';

interface Args {
  file: string;
  config: string;
  output: OutputFormat;
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
  describe: 'Event runbooks (before, during, after): validate, plan, start, follow, ack, skip, abort, report',
  builder: (y: Argv) =>
    y
      .command(validate)
      .command(plan)
      .command(runbookLiveCommands as unknown as CommandModule[])
      .demandCommand(1, 'Name a runbook command: validate, plan, start, status, ack, skip, abort or report.')
      .example('$0 runbook validate examples/runbooks/live-event.yaml -c examples/local-two-rooms.yaml', 'Check a runbook')
      .example('$0 runbook plan examples/runbooks/live-event.yaml -c examples/local-two-rooms.yaml', 'Its timeline')
      .example('$0 runbook start examples/runbooks/live-event.yaml -c examples/local-two-rooms.yaml --speed 200 --yes', 'Rehearse it on this stack, hours in minutes')
      .example('$0 runbook status new-year-gala -c examples/local-two-rooms.yaml --watch', 'Follow it: done, due, waiting for an ack, late')
      .example('$0 runbook report new-year-gala -c examples/local-two-rooms.yaml', 'The HTML report afterwards'),
  handler: () => undefined,
};

