import { createInterface } from 'node:readline/promises';
import { stringify } from 'yaml';

/** Renders rows as an aligned text table (what a human reads at 3 a.m.). */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ');
  return [line(headers), ...rows.map(line)].join('\n');
}

export type OutputFormat = 'table' | 'json' | 'yaml';

/** The `-o` option every command that prints data shares. */
export const outputOption = {
  alias: 'o',
  choices: ['table', 'json', 'yaml'] as const,
  default: 'table' as OutputFormat,
  describe: 'table for people; json or yaml for scripts',
} as const;

/** Writes data as JSON or YAML and returns true; returns false for `table` (the caller draws it). */
export function printData(format: OutputFormat, data: unknown): boolean {
  if (format === 'json') process.stdout.write(JSON.stringify(data, null, 2) + '\n');
  else if (format === 'yaml') process.stdout.write(stringify(data));
  else return false;
  return true;
}

/** Exit codes shared by every command. */
export const EXIT = {
  OK: 0,
  /** The command ran and found a problem (e.g. a room DOWN in `status`), or a runtime failure. */
  FAILURE: 1,
  /** Bad arguments or a bad configuration file: nothing was done. */
  USAGE: 2,
  /** The store (etcd) could not be reached. */
  UNAVAILABLE: 3,
} as const;

/** Prints one clear line and sets the exit code; commands return right after. */
export function fail(code: number, msg: string): void {
  process.stderr.write(`switchyard: ${msg}\n`);
  process.exitCode = code;
}

/** The message for a pipeline the topology does not have, listing the ones it has. */
export function unknownPipeline(name: string, known: Iterable<string>): string {
  return `unknown pipeline '${name}' (known: ${[...known].join(', ')})`;
}

/**
 * Asks "Proceed? [y/N]" unless `yes`. Without a terminal to ask on it fails with exit 2 (a script
 * must say --yes); a "no" fails with exit 1. Returns whether to go on.
 */
export async function confirmed(yes: boolean, nothingDone: string): Promise<boolean> {
  if (yes) return true;
  if (!process.stdin.isTTY) {
    fail(EXIT.USAGE, 'no terminal to confirm on: add --yes');
    return false;
  }
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  const answer = await rl.question('Proceed? [y/N] ');
  rl.close();
  if (/^y(es)?$/i.test(answer.trim())) return true;
  fail(EXIT.FAILURE, `not confirmed; ${nothingDone}`);
  return false;
}
