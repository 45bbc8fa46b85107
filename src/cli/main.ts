import { hideBin } from 'yargs/helpers';
import { ConfigError } from '../config/load.js';
import { buildParser } from './parser.js';
import { EXIT } from './output.js';

export async function main(argv: string[]): Promise<void> {
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
