import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ConfigError, loadConfig, type ConfigProblem } from '../../src/config/load.js';
import { compileRunbook, loadRunbook } from '../../src/config/runbook.js';

const ROOT = join(import.meta.dirname, '../..');
const config = loadConfig(join(ROOT, 'examples/local-two-rooms.yaml'));
const EXAMPLE = join(ROOT, 'examples/runbooks/live-event.yaml');
const hooks = new Set(config.webhooks.keys());

/** The example with one edit (text -> text, which must be there), compiled; its problems. */
function problems(from: string, to: string): ConfigProblem[] {
  const text = readFileSync(EXAMPLE, 'utf8');
  if (!text.includes(from)) throw new Error(`the example has no '${from}'`);
  try {
    compileRunbook('live-event.yaml', parse(text.replace(from, to)), config.topology, hooks);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return [...(err as ConfigError).problems];
  }
  throw new Error('expected the runbook to be refused');
}

describe('runbook files', () => {
  it('the example live-event night loads, with every kind of step', () => {
    const rb = loadRunbook(EXAMPLE, config.topology, hooks);
    expect(rb).toMatchObject({ event: 'new-year-gala', t0: Date.parse('2026-12-31T12:00:00Z'), timeZone: 'Asia/Shanghai' });
    const kinds = new Set(rb.steps.map((s) => s.action.kind));
    for (const k of ['cap', 'uncap', 'switchover', 'switchback', 'pause', 'resume', 'drill', 'freeze', 'unfreeze', 'override-window', 'check', 'notify']) expect(kinds.has(k as never), k).toBe(true);
    expect(rb.steps.find((s) => s.id === 'freeze')).toMatchObject({ phase: 'before', when: { kind: 'at', offsetMs: -2 * 3_600_000 }, onFailure: 'abort', timeoutMs: 600_000 });
    expect(rb.steps.find((s) => s.id === 'end-maintenance')).toMatchObject({ when: { kind: 'after', step: 'hold-maintenance', delayMs: 600_000 } });
    expect(rb.steps.find((s) => s.id === 'caps-on')!.action).toEqual({ kind: 'cap', pipeline: 'live-dashboard', recordsPerSecond: 8000, untilMs: Date.parse('2026-12-31T15:00:00Z') });
  });

  const cases: [string, string, string, string, string][] = [
    ['an unknown pipeline', 'drill: { pipeline: live-dashboard', 'drill: { pipeline: live-dashbord', 'step drill (before): action.drill.pipeline', "unknown pipeline 'live-dashbord'"],
    ['a chain the pipeline does not have', 'to: standby', 'to: stanby', 'step switch-away (after): action.switchover.to', "pipeline live-dashboard has no chain 'stanby'"],
    ['a time that is not an offset', 'at: T-2h', 'at: 18:00', 'step freeze (before): at', 'must be T, T+30m, T-2h or T+1h30m'],
    ['after a step that does not exist', 'after: caps-on', 'after: caps-of', 'step announce (before): after', "no step 'caps-of' in this runbook"],
    ['both at and after', 'after: caps-on', 'after: caps-on\n      at: T-20m', 'step announce (before): at', 'either at (T-2h, T+30m) or after: <step>, not both'],
    ['an unknown webhook', 'webhook: oncall, message: "caps', 'webhook: on-call, message: "caps', 'step announce (before): action.notify.webhook', "unknown webhook 'on-call'"],
    ['a step id used twice', 'id: unfreeze', 'id: freeze', 'step freeze (after): id', "step id 'freeze' is used twice"],
    ['a misspelt field', 'needsAck: true\n      timeout: 30m\n      checks', 'needsAk: true\n      timeout: 30m\n      checks', 'step drill (before): (step)', 'Unrecognized key: "needsAk"'],
    ['a T0 without a zone', '"2026-12-31T20:00:00+08:00"', '"2026-12-31 20:00"', 't0', 'Invalid ISO datetime'],
  ];
  for (const [name, from, to, path, reason] of cases) {
    it(`refuses ${name}, naming the file, the step and the field`, () => {
      const found = problems(from, to);
      expect(found.map((p) => p.path)).toContain(path);
      const p = found.find((x) => x.path === path)!;
      expect(p.file).toBe('live-event.yaml');
      expect(p.reason).toContain(reason);
    });
  }

  it('refuses steps that wait for each other in a circle', () => {
    const found = problems('after: fail-back\n', 'after: review\n');
    expect(found.some((p) => /wait for each other in a circle/.test(p.reason))).toBe(true);
  });
});
