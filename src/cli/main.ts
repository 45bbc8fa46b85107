import { hideBin } from 'yargs/helpers';
import { ConfigError } from '../config/load.js';
import { buildParser } from './parser.js';
import { EXIT } from './output.js';

/**
 * grpc-js names the TLS server by the endpoint's host, so an https://<IP> etcd endpoint draws
 * Node's DEP0123 warning on every run: noise to an operator, who can do nothing about it. Other
 * warnings print as Node would.
 */
function quietTlsServerNameWarning(): void {
  process.removeAllListeners('warning');
  process.on('warning', (w: Error & { code?: string }) => {
    if (w.code !== 'DEP0123') process.stderr.write(`(node:${process.pid}) ${w.code ? `[${w.code}] ` : ''}${w.name}: ${w.message}\n`);
  });
}

export async function main(argv: string[]): Promise<void> {
  quietTlsServerNameWarning();
  try {
    await buildParser(argv).parseAsync();
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
