// What `switchover` and `drill` share: checking a manual switch before anything is recorded, and
// following the leader as it carries an intent out.

import type { StepRecord, SwitchJournal, SwitchRecord } from '../core/journal.js';
import type { Chain, Pipeline, Route, Topology } from '../core/model.js';
import { defaultTarget, plannedChangeGate } from '../core/switchover.js';
import type { Intents } from '../core/safety.js';
import type { IntentStore } from '../ports/intent-store.js';
import type { JournalStore } from '../ports/journal-store.js';
import { EXIT, unknownPipeline } from './output.js';

export interface ManualSwitch {
  readonly pipeline: Pipeline;
  readonly target: Chain;
  readonly route: Route;
}

export interface Refusal {
  readonly code: number;
  readonly message: string;
}

export interface ManualSwitchRequest {
  readonly pipeline: string;
  readonly to: string | undefined;
  /** When it would run (epoch ms): the change window is judged for that moment. */
  readonly at: number;
  readonly emergency: boolean;
  readonly reason: string | undefined;
  /** A switch that is recorded needs a reason (a dry run does not). */
  readonly requireReason: boolean;
}

/**
 * Checks what the CLI can know before recording a manual switch: the pipeline and chain exist,
 * the pipeline has a route and is not there already, and the change window and freezes allow it
 * (or it is an emergency with a reason). The leader checks again when it runs it, with the target's health.
 */
export function checkManualSwitch(topology: Topology, route: Route | undefined, req: ManualSwitchRequest, intents?: Intents): ManualSwitch | Refusal {
  const pipeline = topology.pipelines.get(req.pipeline);
  if (!pipeline) return { code: EXIT.USAGE, message: unknownPipeline(req.pipeline, topology.pipelines.keys()) };
  const to = req.to ?? defaultTarget(topology, pipeline.name, route?.chain);
  const target = pipeline.chains.find((c) => c.name === to);
  if (!to || !target) return { code: EXIT.USAGE, message: `pipeline ${pipeline.name} has no chain '${to ?? ''}' (chains: ${pipeline.chains.map((c) => c.name).join(', ')})` };
  if (req.requireReason && !req.reason?.trim()) return { code: EXIT.USAGE, message: req.emergency ? '--emergency needs --reason' : 'say why with --reason "...": every switch is recorded with who asked and why' };
  if (!route) return { code: EXIT.FAILURE, message: `${pipeline.name} has no route yet: is a controller running? (see switchyard status)` };
  if (route.chain === to) return { code: EXIT.USAGE, message: `${pipeline.name} already runs on ${to}@${target.room}` };
  if (req.emergency && !req.reason) return { code: EXIT.USAGE, message: '--emergency needs --reason' };
  const policy = topology.policies.get(pipeline.tier)!;
  // The change window and any freeze of the tier (an override a runbook set lets it through).
  const gate = plannedChangeGate(policy, intents, req.at, req.emergency);
  if (gate.refusal) {
    return { code: EXIT.FAILURE, message: `${gate.refusal}, where tier ${pipeline.tier} changes — pass --emergency --reason "..." to proceed` };
  }
  return { pipeline, target, route };
}

export const isRefusal = (x: ManualSwitch | Refusal): x is Refusal => 'code' in x;

export type SwitchWait =
  | { readonly kind: 'done'; readonly record: SwitchRecord }
  | { readonly kind: 'refused'; readonly reason: string }
  /** The intent is gone and no switch carried it: cancelled, or the pipeline was there already. */
  | { readonly kind: 'gone' }
  | { readonly kind: 'timeout'; readonly started: boolean };

/**
 * Polls until the switch carrying intent `id` is in history (done), the leader refused the
 * intent, or `timeoutMs` passed. Calls `onStep` once for each journal step as it lands.
 */
export async function waitForSwitch(
  stores: { readonly intents: IntentStore; readonly journals: JournalStore },
  pipeline: string,
  id: string,
  timeoutMs: number,
  onStep: (step: StepRecord, journal: SwitchJournal) => void = () => undefined,
  everyMs = 200,
): Promise<SwitchWait> {
  const deadline = Date.now() + timeoutMs;
  let seenSteps = 0;
  let started = false;
  for (;;) {
    // In this order: the leader writes the journal before it removes the intent, and the record
    // before the journal moves on, so an intent read as gone is always found further down.
    const intent = (await stores.intents.switchovers()).find((i) => i.id === id);
    const journal = (await stores.journals.list()).get(pipeline)?.journal;
    // The newest few are enough: the leader finishes at most one switch of a pipeline per tick.
    const record = (await stores.journals.history(pipeline, 5)).find((r) => r.request === id);
    if (journal?.request === id) {
      started = true;
      for (const step of journal.steps.slice(seenSteps)) onStep(step, journal);
      seenSteps = Math.max(seenSteps, journal.steps.length);
    }
    if (record) return { kind: 'done', record };
    if (intent?.refused) return { kind: 'refused', reason: intent.refused };
    if (!intent && !started) return { kind: 'gone' };
    if (Date.now() >= deadline) return { kind: 'timeout', started };
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
