// What the controller reads back from the store was written by other replicas, by other versions
// of the CLI, or by hand. Each check says why a value cannot be used ("" when it can), so that a
// bad value holds or refuses its own pipeline or intent, with the reason, and never throws inside
// a tick. Shapes only: whether a value makes sense for the topology is the rules' business.

import { SWITCH_STEPS } from './journal.js';
import { isValidTimeZone } from './change-window.js';
import { COMPONENTS as HEALTH_COMPONENTS, type Observation } from './health.js';

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
/** Any time this side of year 275,760 is a valid JavaScript date; ours must also be sane. */
export const MAX_DATE_MS = 8.64e15;
export const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && Math.abs(v) <= MAX_DATE_MS;
const isText = (v: unknown): v is string => typeof v === 'string';
const isName = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 253;
const isTexts = (v: unknown): v is string[] => Array.isArray(v) && v.every(isText);

function show(v: unknown): string {
  const s = typeof v === 'string' ? JSON.stringify(v) : v === undefined ? 'missing' : JSON.stringify(v) ?? String(v);
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

/** The first failed check, as "field is <value>, not <expected>". */
function firstProblem(v: Obj, checks: readonly Check[]): string {
  for (const [field, ok, expected] of checks) if (!ok(v[field])) return `${field} is ${show(v[field])}, not ${expected}`;
  return '';
}

type Check = readonly [string, (x: unknown) => boolean, string];

/** What consumer and query routes both carry: which chain, in which room, at which epoch, since when. */
const ROUTED: readonly Check[] = [
  ['pipeline', isName, 'a name'],
  ['chain', isName, 'a name'],
  ['room', isName, 'a name'],
  ['epoch', (x) => Number.isSafeInteger(x) && (x as number) >= 1, 'a whole number of at least 1'],
  ['since', isTime, 'a time'],
];

/** Why a stored consumer route cannot be used, or "". */
export function routeProblem(v: unknown): string {
  if (!isObj(v)) return `not a route object (${show(v)})`;
  const top = firstProblem(v, [
    ...ROUTED,
    ['reason', isText, 'text'],
    ['consumerGroup', isName, 'a name'],
    ['history', (x) => Array.isArray(x) && x.every(isTime), 'a list of times'],
    ['kafka', isObj, 'an object'],
  ]);
  if (top) return top;
  const kafka = v['kafka'] as Obj;
  if (!isTexts(kafka['brokers']) || kafka['brokers'].length === 0) return `kafka.brokers is ${show(kafka['brokers'])}, not a list of host:port`;
  if (!isTexts(kafka['topics'])) return `kafka.topics is ${show(kafka['topics'])}, not a list of topics`;
  if (v['olap'] !== undefined && !(isObj(v['olap']) && isText(v['olap']['url']))) return `olap is ${show(v['olap'])}, not { url }`;
  const sb = v['standby'];
  if (sb !== undefined && !(isObj(sb) && isName(sb['room']) && isTexts(sb['brokers']) && sb['brokers'].length > 0)) return `standby is ${show(sb)}, not { room, brokers }`;
  return '';
}

/** Why a stored query route cannot be used, or "". */
export function queryRouteProblem(v: unknown): string {
  if (!isObj(v)) return `not a query route object (${show(v)})`;
  return firstProblem(v, [...ROUTED, ['url', isText, 'a URL']]);
}

/** Why a stored source cap (core/caps.ts CapRecord) cannot be used, or "". */
export function capProblem(v: unknown): string {
  if (!isObj(v)) return `not a cap object (${show(v)})`;
  return firstProblem(v, [
    ['pipeline', isName, 'a name'],
    ['room', isName, 'a name'],
    ['epoch', (x) => Number.isSafeInteger(x) && (x as number) >= 1, 'a whole number of at least 1'],
    ['since', isTime, 'a time'],
    ['recordsPerSecond', (x) => Number.isSafeInteger(x) && (x as number) >= 0, 'a whole number of records per second, 0 or more'],
    ['paused', (x) => typeof x === 'boolean', 'true or false'],
    ['origin', (x) => x === 'baseline' || x === 'override' || x === 'shed' || x === 'uncapped', 'baseline, override, shed or uncapped'],
    ['reason', isText, 'text'],
  ]);
}

/** Why a stored cap override (core/caps.ts CapOverride) cannot be used, or "". */
export function capOverrideProblem(v: unknown): string {
  if (!isObj(v)) return `not a cap override object (${show(v)})`;
  return firstProblem(v, [
    ['pipeline', isName, 'a name'],
    ['recordsPerSecond', (x) => Number.isSafeInteger(x) && (x as number) >= 0, 'a whole number of records per second, 0 or more'],
    ['reason', isText, 'text'],
    ['by', isName, 'a name'],
    ['at', isTime, 'a time'],
    ['until', (x) => x === undefined || isTime(x), 'a time'],
  ]);
}

const KINDS = new Set(['failover', 'failback', 'switchover', 'drill']);
const STEPS = new Set<string>(SWITCH_STEPS);

/** Why a stored switch journal cannot be carried on, or "". */
export function journalProblem(v: unknown): string {
  if (!isObj(v)) return `not a journal object (${show(v)})`;
  const top = firstProblem(v, [
    ['id', isName, 'an id'],
    ['pipeline', isName, 'a name'],
    ['kind', (x) => KINDS.has(x as string), 'failover, failback, switchover or drill'],
    ['reason', isText, 'text'],
    ['requestedBy', isText, 'text'],
    ['createdAt', isTime, 'a time'],
    ['detectedAfterMs', (x) => typeof x === 'number' && Number.isFinite(x), 'a number'],
    ['status', (x) => x === 'running' || x === 'done', 'running or done'],
    ['steps', Array.isArray, 'a list of steps'],
  ]);
  if (top) return top;
  for (const side of ['from', 'to'] as const) {
    const p = routeProblem(v[side]);
    if (p) return `${side}: ${p}`;
  }
  if (v['request'] !== undefined && !isText(v['request'])) return `request is ${show(v['request'])}, not an intent id`;
  const steps = v['steps'] as unknown[];
  for (const [i, s] of steps.entries()) {
    if (!isObj(s)) return `steps.${i} is ${show(s)}, not a step`;
    const p = firstProblem(s, [
      ['step', (x) => STEPS.has(x as string), SWITCH_STEPS.join('|')],
      ['at', isTime, 'a time'],
      ['ms', (x) => typeof x === 'number' && Number.isFinite(x), 'a number'],
      ['by', isText, 'text'],
      ['note', isText, 'text'],
    ]);
    if (p) return `steps.${i}.${p}`;
    // Steps run in order (one written before a step existed may lack it): a journal whose steps
    // go backwards cannot say what comes next.
    const prev = i === 0 ? -1 : SWITCH_STEPS.indexOf((steps[i - 1] as Obj)['step'] as (typeof SWITCH_STEPS)[number]);
    if (i === 0 ? s['step'] !== SWITCH_STEPS[0] : SWITCH_STEPS.indexOf(s['step'] as (typeof SWITCH_STEPS)[number]) <= prev) {
      return `steps.${i}.step is ${show(s['step'])}, out of order (steps run in the order ${SWITCH_STEPS.join(', ')})`;
    }
  }
  return '';
}

/** Largest hold or lead time a stored intent may carry (a week, as the CLI allows; a day's slack). */
export const MAX_INTENT_SPAN_MS = 8 * 24 * 3_600_000;

/** Why a stored switchover intent cannot be carried out, or "". */
export function intentProblem(v: unknown): string {
  if (!isObj(v)) return `not an intent object (${show(v)})`;
  if (isText(v['unreadable'])) return v['unreadable'];
  const top = firstProblem(v, [
    ['id', isName, 'an id'],
    ['pipeline', isName, 'a name'],
    ['to', isName, 'a chain name'],
    ['at', isTime, 'a time'],
    ['createdAt', isTime, 'a time'],
    ['reason', isText, 'text'],
    ['by', isText, 'text'],
    ['emergency', (x) => typeof x === 'boolean', 'true or false'],
    ['refused', (x) => x === undefined || isText(x), 'text'],
    ['refusedAt', (x) => x === undefined || isTime(x), 'a time'],
    ['after', (x) => x === undefined || isName(x), 'an intent id'],
    ['holdMs', (x) => x === undefined || (typeof x === 'number' && Number.isFinite(x) && x >= 0 && x <= MAX_INTENT_SPAN_MS), 'a hold of at most 8 days'],
    ['identity', (x) => x === undefined || (isObj(x) && isText(x['os']) && (x['kube'] === undefined || isText(x['kube']))), '{ os, kube } (who asked)'],
  ]);
  if (top) return top;
  if ((v['at'] as number) - (v['createdAt'] as number) > MAX_INTENT_SPAN_MS) return 'at is more than 8 days after it was asked for';
  const drill = v['drill'];
  if (drill !== undefined) {
    if (!isObj(drill) || !isName(drill['id']) || !Number.isSafeInteger(drill['leg']) || !Number.isSafeInteger(drill['legs'])) return `drill is ${show(drill)}, not { id, leg, legs }`;
  }
  return '';
}

/** Why a stored pause cannot be read, or "" (a pause that cannot be read still holds its pipeline). */
export function pauseProblem(v: unknown): string {
  if (!isObj(v)) return `not a pause object (${show(v)})`;
  return firstProblem(v, [
    ['pipeline', (x) => x === undefined || isName(x), 'a name (or absent, for all)'],
    ['by', isText, 'text'],
    ['reason', isText, 'text'],
    ['at', isTime, 'a time'],
  ]);
}

const COMPONENTS = new Set<string>(HEALTH_COMPONENTS);
const STATUSES = new Set(['OK', 'DEGRADED', 'DOWN', 'UNKNOWN']);

/** Why a published observation cannot be counted, or "". */
export function observationProblem(v: unknown): string {
  if (!isObj(v)) return `not an observation object (${show(v)})`;
  return firstProblem(v, [
    ['room', isName, 'a name'],
    ['component', (x) => COMPONENTS.has(x as string), [...COMPONENTS].join('|')],
    ['subject', (x) => x === undefined || isText(x), 'text'],
    ['observer', isName, 'a name'],
    ['observerRoom', isName, 'a name'],
    ['at', isTime, 'a time'],
    ['status', (x) => STATUSES.has(x as string), [...STATUSES].join('|')],
    ['reason', isText, 'text'],
    ['latencyMs', (x) => x === undefined || (typeof x === 'number' && Number.isFinite(x)), 'a number'],
    ['replicaDelaySec', (x) => x === undefined || (typeof x === 'number' && Number.isFinite(x)), 'a number'],
    ['hurried', (x) => x === undefined || typeof x === 'boolean', 'true or false'],
    ['carried', (x) => x === undefined || typeof x === 'boolean', 'true or false'],
  ]);
}

// Comparisons rather than Set lookups: these run twice per observation per tick.
const isStatus = (x: unknown) => x === 'OK' || x === 'DEGRADED' || x === 'DOWN' || x === 'UNKNOWN';
const isComponent = (x: unknown) => x === 'kafka' || x === 'stream' || x === 'olap';

/**
 * The same judgement as observationProblem, as a fast yes or no: the core checks every
 * observation of every tick (tens of thousands with stream jobs), so no reason is built here.
 */
export function isObservation(v: unknown): v is Observation {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  const at = o['at'];
  const latency = o['latencyMs'];
  const subject = o['subject'];
  const hurried = o['hurried'];
  const carried = o['carried'];
  return (
    typeof at === 'number' && at - at === 0 && at <= MAX_DATE_MS && at >= -MAX_DATE_MS &&
    typeof o['room'] === 'string' && typeof o['observer'] === 'string' && typeof o['observerRoom'] === 'string' &&
    typeof o['reason'] === 'string' && isStatus(o['status']) && isComponent(o['component']) &&
    (subject === undefined || typeof subject === 'string') && (latency === undefined || (typeof latency === 'number' && latency - latency === 0)) &&
    (hurried === undefined || typeof hurried === 'boolean') && (carried === undefined || typeof carried === 'boolean') &&
    o['room'] !== '' && o['observer'] !== '' && o['observerRoom'] !== ''
  );
}

const STEP_STATUSES = new Set(['pending', 'acked', 'running', 'done', 'failed', 'skipped']);
const PHASES = new Set(['before', 'during', 'after']);
const ON_FAILURE = new Set(['abort', 'continue', 'page']);
const optionalTime = (x: unknown) => x === undefined || isTime(x);

/** Why a stored step record cannot be built on, or "". */
export function stepRecordProblem(v: unknown): string {
  if (!isObj(v)) return `not a step record (${show(v)})`;
  return firstProblem(v, [
    ['status', (x) => STEP_STATUSES.has(x as string), [...STEP_STATUSES].join('|')],
    ['ackedAt', optionalTime, 'a time'],
    ['startedAt', optionalTime, 'a time'],
    ['endedAt', optionalTime, 'a time'],
    ['by', (x) => x === undefined || isText(x), 'text'],
    ['result', (x) => x === undefined || isText(x), 'text'],
    ['checkpoint', (x) => x === undefined || x === 'passed' || x === 'failed', 'passed|failed'],
    ['acted', (x) => x === undefined || typeof x === 'boolean', 'true|false'],
    [
      'asked',
      (x) => x === undefined || (isObj(x) && typeof x['requested'] === 'boolean' && Array.isArray(x['intents']) && x['intents'].length > 0 && x['intents'].every((i) => intentProblem(i) === '')),
      '{ intents: [switchover intents], requested }',
    ],
  ]);
}

/** Why an operator's stored ack, skip or abort cannot be read, or "" (one that cannot asks for nothing). */
export function operatorInputProblem(v: unknown): string {
  if (!isObj(v)) return `not an input (${show(v)})`;
  return firstProblem(v, [
    ['by', isName, 'a name'],
    ['at', isTime, 'a time'],
    ['reason', (x) => x === undefined || isText(x), 'text'],
  ]);
}

/**
 * Why a started runbook as stored cannot be run, or "": its event, T0 and steps, each with an id,
 * a phase, a when, an owner, an action kind, checks, a timeout and what to do on failure. What an
 * action's fields mean is checked when the step runs (a bad one fails that step, with the reason).
 */
export function startedRunbookProblem(v: unknown): string {
  if (!isObj(v)) return `not a started runbook (${show(v)})`;
  const top = firstProblem(v, [
    ['startedBy', isText, 'text'],
    ['startedAt', isTime, 'a time'],
    ['runbook', isObj, 'an object'],
  ]);
  if (top) return top;
  const rehearsal = v['rehearsal'];
  if (rehearsal !== undefined) {
    if (!isObj(rehearsal) || !isTime(rehearsal['realOrigin']) || !isTime(rehearsal['eventOrigin']) || typeof rehearsal['speed'] !== 'number' || !(rehearsal['speed'] > 0 && rehearsal['speed'] <= 100_000)) {
      return `rehearsal is ${show(rehearsal)}, not { realOrigin, eventOrigin, speed (0-100000] }`;
    }
  }
  const r = v['runbook'] as Obj;
  const rb = firstProblem(r, [
    ['event', isName, 'a name'],
    ['t0', isTime, 'a time'],
    ['timeZone', (x) => isName(x) && isValidTimeZone(x), 'an IANA time zone'],
    ['steps', Array.isArray, 'a list'],
  ]);
  if (rb) return `runbook.${rb}`;
  const steps = r['steps'] as unknown[];
  const ids = new Set(steps.map((s) => (isObj(s) ? s['id'] : undefined)));
  if (ids.size !== steps.length) return 'runbook.steps: step ids are not unique';
  for (const [i, s] of steps.entries()) {
    if (!isObj(s)) return `runbook.steps.${i} is ${show(s)}, not a step`;
    const p = firstProblem(s, [
      ['id', isName, 'a name'],
      ['phase', (x) => PHASES.has(x as string), 'before|during|after'],
      ['when', (x) => isObj(x) && ((x['kind'] === 'at' && isTime(x['offsetMs'])) || (x['kind'] === 'after' && isName(x['step']) && isTime(x['delayMs']))), '{ kind: at, offsetMs } or { kind: after, step, delayMs }'],
      ['owner', isText, 'text'],
      ['action', (x) => isObj(x) && isName(x['kind']), '{ kind, ... }'],
      ['needsAck', (x) => typeof x === 'boolean', 'true|false'],
      ['checks', (x) => Array.isArray(x) && x.every((c) => isObj(c) && isName(c['kind'])), 'a list of { kind, ... }'],
      ['timeoutMs', (x) => isTime(x) && (x as number) >= 0, 'a duration in ms'],
      ['onFailure', (x) => ON_FAILURE.has(x as string), 'abort|continue|page'],
    ]);
    if (p) return `runbook.steps.${i} (${isName(s['id']) ? s['id'] : '?'}): ${p}`;
    const when = s['when'] as Obj;
    if (when['kind'] === 'after' && !ids.has(when['step'])) return `runbook.steps.${i} (${String(s['id'])}): when.step names no step of this runbook`;
  }
  return '';
}

const isTiers = (x: unknown) => Array.isArray(x) && x.length > 0 && x.every(isName);
const ACTION_FIELDS: Record<string, readonly Check[]> = {
  check: [],
  cap: [['pipeline', isName, 'a name'], ['recordsPerSecond', (x) => typeof x === 'number' && Number.isFinite(x) && x >= 0, 'a rate'], ['untilMs', optionalTime, 'a time']],
  uncap: [['pipeline', isName, 'a name']],
  switchover: [['pipeline', isName, 'a name'], ['to', isName, 'a chain']],
  switchback: [['pipeline', isName, 'a name']],
  pause: [['pipeline', (x) => x === undefined || isName(x), 'a name (or absent, for all)']],
  resume: [['pipeline', (x) => x === undefined || isName(x), 'a name (or absent, for all)']],
  drill: [['pipeline', isName, 'a name'], ['holdMs', (x) => isTime(x) && (x as number) >= 0, 'a duration in ms']],
  freeze: [['tiers', isTiers, 'a list of tiers']],
  unfreeze: [['tiers', isTiers, 'a list of tiers']],
  'override-window': [['tiers', isTiers, 'a list of tiers'], ['reason', isText, 'text']],
  notify: [['webhook', isName, 'a name'], ['message', isText, 'text']],
};

/** Why a stored step's action cannot be carried out, or "": its kind and its fields. */
export function runbookActionProblem(v: unknown): string {
  if (!isObj(v)) return `not an action (${show(v)})`;
  const fields = ACTION_FIELDS[String(v['kind'])];
  if (!fields) return `unknown action '${show(v['kind'])}'`;
  return firstProblem(v, fields);
}
