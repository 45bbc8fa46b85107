/** Renders rows as an aligned text table (what a human reads at 3 a.m.). */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ');
  return [line(headers), ...rows.map(line)].join('\n');
}

export type OutputFormat = 'table' | 'json';

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
