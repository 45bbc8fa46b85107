import yargs, { type Argv, type CommandModule } from 'yargs';
import { controllerCommand } from './commands/controller.js';
import { statusCommand } from './commands/status.js';
import { planCommand } from './commands/plan.js';
import { policyCommand } from './commands/policy.js';
import { pauseCommand, resumeCommand } from './commands/maintenance.js';
import { historyCommand } from './commands/history.js';
import { switchoverCommand } from './commands/switchover.js';
import { failoverCommand } from './commands/failover.js';
import { drillCommand } from './commands/drill.js';
import { backfillCommand } from './commands/backfill.js';
import { capsCommand } from './commands/caps.js';
import { baselineCommand } from './commands/baseline.js';
import { stressCommand } from './commands/stress.js';
import { runbookCommand } from './commands/runbook.js';
import { EXIT } from './output.js';
import { NUMERIC, numericProblem } from './numeric.js';

// Each command has its own argument type.
export type AnyCommand = CommandModule<object, any>;

/** Every top-level command, in the order `switchyard --help` lists them. */
export const COMMANDS: readonly AnyCommand[] = [
  statusCommand,
  switchoverCommand,
  failoverCommand,
  drillCommand,
  backfillCommand,
  pauseCommand,
  resumeCommand,
  historyCommand,
  planCommand,
  capsCommand,
  baselineCommand,
  stressCommand,
  runbookCommand,
  controllerCommand,
  policyCommand,
];

/**
 * The `switchyard` parser. `onUsageError` decides what a usage error does (the binary prints one
 * line and exits 2); tests pass their own commands and handler to parse without side effects.
 */
export function buildParser(argv: readonly string[], commands: readonly AnyCommand[] = COMMANDS, onUsageError: (msg: string) => never = usageExit): Argv {
  let y = yargs([...argv])
    .scriptName('switchyard')
    .usage(
      '$0 <command> [options]\n\n' +
        'Keeps real-time pipelines serving across rooms: watches Kafka and ClickHouse in every room and moves consumers and queries ' +
        'to the standby chain, fenced by etcd leadership. Every command takes -c <topology.yaml>; each has --help with examples.',
    );
  for (const c of commands) y = y.command(c);
  return y
    .demandCommand(1, 'Name a command; see the list above.')
    .check((argv) => {
      for (const name of Object.keys(NUMERIC)) {
        const why = numericProblem(name, argv[name]);
        if (why) return why;
      }
      return true;
    }, true)
    .strict()
    .recommendCommands()
    .help()
    .alias('h', 'help')
    .version()
    // Wrapped for a terminal; one line per entry when piped, so grep finds whole examples.
    .wrap(process.stdout.isTTY ? Math.min(110, process.stdout.columns ?? 110) : null)
    .epilogue(
      'Exit codes: 0 ok, 1 failure (a room not OK, a switch refused or not finished), 2 bad arguments or configuration (nothing was done), 3 etcd unreachable. ' +
        'Who acts is recorded: --operator, else $SWITCHYARD_OPERATOR, else the OS user, and beside a given name the real OS user and Kubernetes user (from your kubeconfig) where they differ. A switch needs --reason. Docs: README.md, docs/operations.md, docs/security.md',
    )
    .fail((msg, err) => {
      // A check that returns its reason reaches here with that text as `err`: a usage error too.
      if (err instanceof Error) throw err;
      onUsageError(msg);
    });
}

function usageExit(msg: string): never {
  process.stderr.write(`switchyard: ${msg}\nRun with --help for usage.\n`);
  process.exit(EXIT.USAGE);
}
