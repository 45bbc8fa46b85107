import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { ConfigError } from '../config/load.js';
import { controllerCommand } from './commands/controller.js';
import { statusCommand } from './commands/status.js';
import { planCommand } from './commands/plan.js';
import { policyCommand } from './commands/policy.js';
import { pauseCommand, resumeCommand } from './commands/maintenance.js';
import { historyCommand } from './commands/history.js';
import { switchoverCommand } from './commands/switchover.js';
import { failoverCommand } from './commands/failover.js';
import { EXIT } from './output.js';

export async function main(argv: string[]): Promise<void> {
  try {
    await yargs(argv)
      .scriptName('switchyard')
      .usage('$0 <command> [options]\n\nKeeps real-time pipelines serving across rooms: watches Kafka in every room and moves consumers to the standby chain, fenced by etcd leadership.')
      .command(controllerCommand)
      .command(statusCommand)
      .command(planCommand)
      .command(switchoverCommand)
      .command(failoverCommand)
      .command(pauseCommand)
      .command(resumeCommand)
      .command(historyCommand)
      .command(policyCommand)
      .demandCommand(1, 'Name a command; see the list above.')
      .strict()
      .recommendCommands()
      .help()
      .alias('h', 'help')
      .version()
      .wrap(Math.min(110, process.stdout.columns ?? 110))
      .epilogue('Exit codes: 0 ok, 1 failure, 2 bad arguments or configuration, 3 etcd unreachable. Docs: README.md')
      .fail((msg, err) => {
        if (err) throw err;
        process.stderr.write(`switchyard: ${msg}\nRun with --help for usage.\n`);
        process.exit(EXIT.USAGE);
      })
      .parseAsync();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`switchyard: invalid configuration, nothing applied:\n${err.message}\n`);
      process.exit(EXIT.USAGE);
    }
    process.stderr.write(`switchyard: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(EXIT.FAILURE);
  }
}

await main(hideBin(process.argv));
