import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { userInfo } from 'node:os';
import { promisify } from 'node:util';
import { PROJECT } from '../../bench/support/local-stack.js';

const run = promisify(execFile);
const BIN = PROJECT.resolve('bin/switchyard.js');

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs the built `switchyard` as a child process (from the project root) and returns what it
 * printed. A last argument `{ env }` adds to (or, with '', blanks) its environment.
 */
export async function cli(...args: [...string[]] | [...string[], { env: Record<string, string> }]): Promise<CliResult> {
  const last = args.at(-1);
  const env = typeof last === 'object' ? last.env : {};
  const argv = args.filter((a): a is string => typeof a === 'string');
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...argv], { timeout: 60_000, cwd: PROJECT.root, env: { ...process.env, ...env } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

export interface RunningCli {
  readonly child: ChildProcess;
  /** Everything printed so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (null if killed by a signal). */
  readonly exited: Promise<number | null>;
}

/** Starts the built `switchyard` and returns at once, for commands that run on (--watch, a drill). */
export function spawnCli(...args: string[]): RunningCli {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: PROJECT.root, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** How the CLI records a name given with --operator when run as this OS user (no kubeconfig in tests). */
export function who(name: string): string {
  const os = userInfo().username;
  return os === name ? name : `${name} (os user ${os})`;
}
