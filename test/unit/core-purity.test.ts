import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

// src/core is the pure brain: nothing outside it, and no clock, timer, env, file or network.
const CORE = join(import.meta.dirname, '../../src/core');
const files = readdirSync(CORE).filter((f) => f.endsWith('.ts'));

const FORBIDDEN: [RegExp, string][] = [
  [/\bDate\.now\s*\(/, 'reads the clock (Date.now)'],
  [/\bnew Date\s*\(\s*\)/, 'reads the clock (new Date())'],
  [/\bperformance\.now\s*\(/, 'reads the clock (performance.now)'],
  [/\b(setTimeout|setInterval|setImmediate|queueMicrotask)\s*\(/, 'uses a timer'],
  [/\bprocess\./, 'touches process (env, argv, exit)'],
  [/\bMath\.random\s*\(/, 'uses randomness that is not passed in'],
  [/\b(fetch|require)\s*\(/, 'does I/O or loads modules dynamically'],
  [/\bimport\s*\(/, 'imports dynamically'],
];

describe('src/core stays pure', () => {
  it('has files to check', () => {
    expect(files.length).toBeGreaterThan(5);
  });

  for (const file of files) {
    it(`${file} imports only from src/core and touches no clock, timer, env, file or network`, () => {
      const text = readFileSync(join(CORE, file), 'utf8');
      const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1');
      const imports = [...code.matchAll(/\bfrom\s+['"]([^'"]+)['"]/g)].map((m) => m[1]!);
      for (const spec of imports) {
        expect(spec, `${file} imports ${spec}`).toMatch(/^\.\/[a-z0-9-]+\.js$/);
      }
      for (const [pattern, what] of FORBIDDEN) {
        expect(pattern.test(code), `${file} ${what}`).toBe(false);
      }
    });
  }
});
