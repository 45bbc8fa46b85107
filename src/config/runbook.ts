// Runbook files (issue 16): a live event's timeline as users write it, validated in full and
// compiled into the core's model (core/runbook.ts). Errors name the file, the step and the field.

import { z } from 'zod';
import { TIERS, type TierName, type Topology } from '../core/model.js';
import { RUNBOOK_PHASES, type Runbook, type RunbookAction, type RunbookCheck, type RunbookPhase, type RunbookStep, type RunbookWhen } from '../core/runbook.js';
import { isValidTimeZone } from '../core/change-window.js';
import { ConfigError, parseConfigYaml, type ConfigProblem } from './load.js';

const id = z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'must be a lowercase DNS label (a-z, 0-9, -)');
const duration = z.string().regex(/^(\d+h)?(\d+m)?(\d+s)?$/, 'must be a duration like 90s, 30m, 2h or 1h30m').refine((s) => s.length > 0, 'must not be empty');
const offset = z.string().regex(/^T([+-](\d+h)?(\d+m)?(\d+s)?)?$/, "must be T, T+30m, T-2h or T+1h30m: an offset from the event's T0");
const tier = z.enum(TIERS);
const pipeline = z.string().min(1);

const action = z.union([
  z.strictObject({ cap: z.strictObject({ pipeline, rate: z.number().int().min(0).describe('records/s in all; 0 stops the source'), until: offset.optional() }) }),
  z.strictObject({ uncap: z.strictObject({ pipeline }) }),
  z.strictObject({ switchover: z.strictObject({ pipeline, to: z.string().min(1) }) }),
  z.strictObject({ switchback: z.strictObject({ pipeline }) }),
  z.strictObject({ pause: z.strictObject({ pipeline: pipeline.optional() }) }),
  z.strictObject({ resume: z.strictObject({ pipeline: pipeline.optional() }) }),
  z.strictObject({ drill: z.strictObject({ pipeline, hold: duration }) }),
  z.strictObject({ freeze: z.strictObject({ tiers: z.array(tier).min(1) }) }),
  z.strictObject({ unfreeze: z.strictObject({ tiers: z.array(tier).min(1) }) }),
  z.strictObject({ overrideWindow: z.strictObject({ tiers: z.array(tier).min(1), reason: z.string().min(1) }) }),
  z.strictObject({ check: z.strictObject({}) }),
  z.strictObject({ notify: z.strictObject({ webhook: z.string().min(1), message: z.string().min(1) }) }),
]);

const check = z.union([
  z.strictObject({ lagBelow: z.strictObject({ pipeline, records: z.number().int().min(0) }) }),
  z.strictObject({ standbyGapBelow: z.strictObject({ pipeline, ms: z.number().int().min(0) }) }),
  z.strictObject({ p0StandbysHealthy: z.strictObject({}) }),
  z.strictObject({ olapReplicaDelayBelow: z.strictObject({ room: z.string().min(1), seconds: z.number().min(0) }) }),
  z.strictObject({ noSwitchInProgress: z.strictObject({}) }),
]);

const step = z.strictObject({
  id,
  at: offset.optional(),
  after: id.optional().describe('run once this step has ended (instead of at)'),
  delay: duration.optional().describe('with after: how long after that step ended'),
  owner: z.string().min(1).describe('who is responsible: a person or team, or "controller"'),
  action,
  needsAck: z.boolean().default(false).describe('a person acknowledges it (switchyard runbook ack) before it runs'),
  checks: z.array(check).default([]),
  timeout: duration.default('10m').describe('how long the step (its ack, action and checks) may take once due'),
  onFailure: z.enum(['abort', 'continue', 'page']).default('abort'),
});

export const runbookSchema = z.strictObject({
  event: id,
  t0: z.iso.datetime({ offset: true }).describe('the event\'s start (ISO 8601 with a zone)'),
  timeZone: z.string().min(1).describe('the zone people read the timeline in (IANA name)'),
  page: z.string().min(1).optional().describe("the webhook (from the topology's notifications.webhooks) a failed step with onFailure: page calls"),
  phases: z.strictObject({
    before: z.array(step).default([]),
    during: z.array(step).default([]),
    after: z.array(step).default([]),
  }),
});
export type RunbookFile = z.infer<typeof runbookSchema>;

const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000 };

/** "1h30m" -> ms. */
export function durationMs(text: string): number {
  let ms = 0;
  for (const [, n, unit] of text.matchAll(/(\d+)([hms])/g)) ms += Number(n) * UNIT_MS[unit!]!;
  return ms;
}

/** "T-2h" -> -7,200,000; "T" -> 0. */
export function offsetMs(text: string): number {
  if (text === 'T') return 0;
  return (text[1] === '-' ? -1 : 1) * durationMs(text.slice(2));
}

function compileAction(a: RunbookFile['phases']['before'][number]['action'], t0: number): RunbookAction {
  if ('cap' in a) return { kind: 'cap', pipeline: a.cap.pipeline, recordsPerSecond: a.cap.rate, ...(a.cap.until !== undefined && { untilMs: t0 + offsetMs(a.cap.until) }) };
  if ('uncap' in a) return { kind: 'uncap', pipeline: a.uncap.pipeline };
  if ('switchover' in a) return { kind: 'switchover', pipeline: a.switchover.pipeline, to: a.switchover.to };
  if ('switchback' in a) return { kind: 'switchback', pipeline: a.switchback.pipeline };
  if ('pause' in a) return { kind: 'pause', pipeline: a.pause.pipeline };
  if ('resume' in a) return { kind: 'resume', pipeline: a.resume.pipeline };
  if ('drill' in a) return { kind: 'drill', pipeline: a.drill.pipeline, holdMs: durationMs(a.drill.hold) };
  if ('freeze' in a) return { kind: 'freeze', tiers: a.freeze.tiers };
  if ('unfreeze' in a) return { kind: 'unfreeze', tiers: a.unfreeze.tiers };
  if ('overrideWindow' in a) return { kind: 'override-window', tiers: a.overrideWindow.tiers, reason: a.overrideWindow.reason };
  if ('check' in a) return { kind: 'check' };
  return { kind: 'notify', webhook: a.notify.webhook, message: a.notify.message };
}

function compileCheck(c: RunbookFile['phases']['before'][number]['checks'][number]): RunbookCheck {
  if ('lagBelow' in c) return { kind: 'lag-below', pipeline: c.lagBelow.pipeline, records: c.lagBelow.records };
  if ('standbyGapBelow' in c) return { kind: 'standby-gap-below', pipeline: c.standbyGapBelow.pipeline, ms: c.standbyGapBelow.ms };
  if ('p0StandbysHealthy' in c) return { kind: 'p0-standbys-healthy' };
  if ('olapReplicaDelayBelow' in c) return { kind: 'olap-replica-delay-below', room: c.olapReplicaDelayBelow.room, seconds: c.olapReplicaDelayBelow.seconds };
  return { kind: 'no-switch-in-progress' };
}

/** The pipelines, chains, tiers, rooms and webhooks a step names, checked against the topology. */
function meaningProblems(s: RunbookStep, topology: Topology, webhooks: ReadonlySet<string>): { field: string; reason: string }[] {
  const out: { field: string; reason: string }[] = [];
  const a = s.action;
  const known = (p: string | undefined, field: string) => {
    if (p !== undefined && !topology.pipelines.has(p)) out.push({ field, reason: `unknown pipeline '${p}' (pipelines: ${[...topology.pipelines.keys()].join(', ')})` });
  };
  if ('pipeline' in a) known(a.pipeline, `action.${a.kind}.pipeline`);
  if (a.kind === 'switchover' && topology.pipelines.has(a.pipeline) && !topology.pipelines.get(a.pipeline)!.chains.some((c) => c.name === a.to)) {
    out.push({ field: 'action.switchover.to', reason: `pipeline ${a.pipeline} has no chain '${a.to}' (chains: ${topology.pipelines.get(a.pipeline)!.chains.map((c) => c.name).join(', ')})` });
  }
  if ('tiers' in a) {
    for (const t of a.tiers) if (!topology.policies.has(t as TierName)) out.push({ field: `action.${a.kind}.tiers`, reason: `tier ${t} has no policy` });
  }
  if (a.kind === 'notify' && !webhooks.has(a.webhook)) {
    out.push({ field: 'action.notify.webhook', reason: `unknown webhook '${a.webhook}' (the topology's notifications.webhooks name: ${[...webhooks].join(', ') || 'none'})` });
  }
  s.checks.forEach((c, i) => {
    if ('pipeline' in c) known(c.pipeline, `checks.${i}.pipeline`);
    if (c.kind === 'olap-replica-delay-below' && !topology.rooms.get(c.room)?.olap) out.push({ field: `checks.${i}.room`, reason: `room '${c.room}' has no OLAP endpoint` });
  });
  return out;
}

/**
 * Validates a runbook (shape, then meaning against the topology) and compiles it. All or nothing:
 * every problem is reported, each with the file, the step and the field.
 */
export function compileRunbook(file: string, data: unknown, topology: Topology, webhooks: ReadonlySet<string> = new Set()): Runbook {
  const parsed = runbookSchema.safeParse(data ?? {});
  if (!parsed.success) {
    const raw = data as { phases?: Record<string, { id?: unknown }[]> } | undefined;
    throw new ConfigError(
      parsed.error.issues.map((i): ConfigProblem => {
        // phases.<phase>.<n>.<field> -> "step <id>: <field>", the way the author knows the step.
        const [top, phase, n, ...rest] = i.path.map(String);
        const stepId = top === 'phases' && n !== undefined ? raw?.phases?.[phase!]?.[Number(n)]?.id : undefined;
        const path = stepId !== undefined ? `step ${String(stepId)} (${phase}): ${rest.join('.') || '(step)'}` : i.path.map(String).join('.');
        return { file, path, reason: i.message };
      }),
    );
  }
  const r = parsed.data;
  const problems: ConfigProblem[] = [];
  const t0 = Date.parse(r.t0);
  if (!isValidTimeZone(r.timeZone)) problems.push({ file, path: 'timeZone', reason: `unknown time zone '${r.timeZone}' (use an IANA name such as Asia/Shanghai or UTC)` });
  if (r.page !== undefined && !webhooks.has(r.page)) problems.push({ file, path: 'page', reason: `unknown webhook '${r.page}' (the topology's notifications.webhooks name: ${[...webhooks].join(', ') || 'none'})` });
  const steps: RunbookStep[] = [];
  const seen = new Set<string>();
  for (const phase of RUNBOOK_PHASES) {
    for (const s of r.phases[phase]) {
      const at = (field: string) => `step ${s.id} (${phase}): ${field}`;
      if (seen.has(s.id)) problems.push({ file, path: at('id'), reason: `step id '${s.id}' is used twice: ids must be unique` });
      seen.add(s.id);
      if ((s.at === undefined) === (s.after === undefined)) problems.push({ file, path: at('at'), reason: 'say when: either at (T-2h, T+30m) or after: <step>, not both' });
      if (s.delay !== undefined && s.after === undefined) problems.push({ file, path: at('delay'), reason: 'delay goes with after' });
      const when: RunbookWhen = s.after !== undefined ? { kind: 'after', step: s.after, delayMs: s.delay ? durationMs(s.delay) : 0 } : { kind: 'at', offsetMs: offsetMs(s.at ?? 'T') };
      const compiled: RunbookStep = {
        id: s.id,
        phase: phase as RunbookPhase,
        when,
        owner: s.owner,
        action: compileAction(s.action, t0),
        needsAck: s.needsAck,
        checks: s.checks.map(compileCheck),
        timeoutMs: durationMs(s.timeout),
        onFailure: s.onFailure,
      };
      for (const p of meaningProblems(compiled, topology, webhooks)) problems.push({ file, path: at(p.field), reason: p.reason });
      if (s.onFailure === 'page' && r.page === undefined) problems.push({ file, path: at('onFailure'), reason: 'page needs the runbook\'s page: <webhook> (who to page)' });
      steps.push(compiled);
    }
  }
  // `after` must name a step, and the chain of afters must end at a timed step (no cycle).
  const byId = new Map(steps.map((s) => [s.id, s]));
  for (const s of steps) {
    if (s.when.kind !== 'after') continue;
    if (!byId.has(s.when.step)) {
      problems.push({ file, path: `step ${s.id} (${s.phase}): after`, reason: `no step '${s.when.step}' in this runbook` });
      continue;
    }
    const chain = [s.id];
    let cur = byId.get(s.when.step);
    while (cur && cur.when.kind === 'after' && !chain.includes(cur.id)) {
      chain.push(cur.id);
      cur = byId.get(cur.when.step);
    }
    if (cur && chain.includes(cur.id)) problems.push({ file, path: `step ${s.id} (${s.phase}): after`, reason: `steps wait for each other in a circle (${[...chain, cur.id].join(' -> ')})` });
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { file, event: r.event, t0, timeZone: r.timeZone, ...(r.page !== undefined && { page: r.page }), steps };
}

/** Reads, validates and compiles one runbook file. */
export function loadRunbook(file: string, topology: Topology, webhooks?: ReadonlySet<string>): Runbook {
  return compileRunbook(file, parseConfigYaml(file), topology, webhooks);
}
