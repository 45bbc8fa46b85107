import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { PROJECT } from '../../bench/support/local-stack.js';
import { buildParser, COMMANDS } from '../../src/cli/parser.js';
import { loadConfig } from '../../src/config/load.js';

// `switchyard --help` teaches: every command listed with its purpose, and every command's --help
// carries examples that parse as written (same options, same checks as at 3 a.m.) and name
// files that exist. What the examples do is exercised against the real stack in test/e2e.

const run = promisify(execFile);
const help = async (...args: string[]) => (await run(process.execPath, [PROJECT.resolve('bin/switchyard.js'), ...args, '--help'], { cwd: PROJECT.root })).stdout;

/** The lines of a help section ("Commands:", "Examples:"), one entry each (wrapping is off when piped). */
function section(text: string, title: string): string[] {
  const start = text.indexOf(`${title}:\n`);
  if (start < 0) return [];
  const lines = text.slice(start + title.length + 2).split('\n');
  const end = lines.findIndex((l) => l.trim() === '');
  return lines.slice(0, end < 0 ? undefined : end).map((l) => l.trim());
}

/** The command half of an example line, split like a shell would (quotes kept together, a pipe ends it). */
function words(example: string): string[] {
  const command = example.split(/\s{2,}/)[0]!.split(' | ')[0]!;
  return [...command.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]!);
}

class Parsed extends Error {
  constructor(readonly argv: Record<string, unknown>) {
    super('parsed');
  }
}

/** Parses argv with the real parser and stops right before the command's handler would run. */
async function parse(argv: string[]): Promise<Record<string, unknown>> {
  const usage: string[] = [];
  const parser = buildParser(argv, COMMANDS, (msg) => {
    usage.push(msg);
    throw new Error(`usage error: ${msg}`);
  }).middleware((a) => {
    throw new Parsed(a);
  }, false);
  try {
    await parser.parseAsync();
  } catch (err) {
    if (err instanceof Parsed) return err.argv;
    throw err;
  }
  throw new Error(`no command ran for: ${argv.join(' ')} ${usage.join('; ')}`);
}

const names = COMMANDS.map((c) => String(c.command).split(' ')[0]!);

describe('switchyard --help', () => {
  it('lists every command with its one-line purpose', async () => {
    const listed = section(await help(), 'Commands');
    for (const c of COMMANDS) {
      const name = String(c.command).split(' ')[0]!;
      const line = listed.find((l) => l.startsWith(`switchyard ${name} `));
      expect(line, `switchyard --help lists ${name}`).toBeDefined();
      expect(line).toContain(String(c.describe));
    }
    expect(names).toEqual(expect.arrayContaining(['status', 'switchover', 'failover', 'drill', 'pause', 'resume', 'history', 'plan', 'controller', 'policy']));
  });

  for (const name of [...names, 'policy validate', 'policy schema']) {
    it(`${name} --help has examples that parse as written and name files that exist`, async () => {
      const examples = section(await help(...name.split(' ')), 'Examples');
      expect(examples.length, `${name} --help shows an example`).toBeGreaterThan(0);
      for (const example of examples) {
        const argv = words(example);
        expect(argv[0]).toBe('switchyard');
        expect(argv.slice(1, 1 + name.split(' ').length).join(' ')).toBe(name);
        const parsed = await parse(argv.slice(1));
        const ran = (parsed['_'] as string[]).join(' ');
        expect(ran === name || ran.startsWith(`${name} `), `${example} runs ${ran}`).toBe(true); // a parent's example may name a subcommand
        const file = (parsed['config'] ?? parsed['topology']) as string | undefined;
        if (file) {
          expect(existsSync(PROJECT.resolve(file)), `${example}: ${file} exists`).toBe(true);
          expect(() => loadConfig(PROJECT.resolve(file))).not.toThrow();
        }
        if (typeof parsed['path'] === 'string') expect(existsSync(PROJECT.resolve(parsed['path'])), `${example}: ${parsed['path']} exists`).toBe(true);
      }
    });
  }

  it('a mistyped option is refused by the same parser (the check above can fail)', async () => {
    await expect(parse(['status', '-c', 'examples/local-two-rooms.yaml', '--wacth'])).rejects.toThrow(/usage error: Unknown argument: wacth/);
    await expect(parse(['drill', '-c', 'examples/local-two-rooms.yaml'])).rejects.toThrow(/usage error: Not enough non-option arguments/);
    await expect(parse(['status', '-c', 'x.yaml', '-o', 'xml'])).rejects.toThrow(/usage error: Invalid values/);
  });
});
