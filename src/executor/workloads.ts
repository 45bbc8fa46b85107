// Kubernetes workloads that follow a chain (topology: chains.<name>.kubernetes): Deployments
// scaled and FlinkDeployments resumed before routes flip to the chain (switch step start-jobs),
// then scaled to idle and suspended once a switch has left it (step stop-jobs, after verify).
// Every change is fenced by the route epoch on the object (WorkloadActuator), so a leader that
// replays a step changes nothing twice and a deposed one changes nothing at all.

import { stepAt, type SwitchJournal } from '../core/journal.js';
import type { Chain, Topology } from '../core/model.js';
import type { Logger } from '../ports/logger.js';
import type { PatchOutcome, WorkloadActuator } from '../ports/workload-actuator.js';

export interface WorkloadDeps {
  readonly topology: Topology;
  readonly actuator: WorkloadActuator;
  readonly log: Logger;
  /** Epoch ms now (default Date.now). */
  readonly now?: () => number;
}

/**
 * How long after verify stop-jobs keeps retrying changes that fail (an API server that does not
 * answer): past it they are noted as left unsettled and the switch ends, so that a pipeline is
 * never held in a running switch (and out of its next failover) by Kubernetes.
 */
export const RELEASE_DEADLINE_MS = 5 * 60_000;

interface Change {
  readonly what: string;
  readonly run: () => Promise<PatchOutcome>;
}

type Settled = { readonly note: string; readonly failed: boolean };

/**
 * Step start-jobs: the target chain's Deployments to their serving replicas and its
 * FlinkDeployments running. Never rejects: a change that fails is noted, and the flip goes on (a
 * failover must not wait on the Kubernetes API); step stop-jobs makes it again and holds the
 * switch open until it lands.
 */
export function createWorkloadPreparer(deps: WorkloadDeps): (j: SwitchJournal) => Promise<string | undefined> {
  return async (j) => {
    const changes = serving(deps, j);
    if (changes.length === 0) return undefined;
    const results = await settle(deps, j, changes);
    const failed = results.filter((r) => r.failed).length;
    return `workloads of ${j.to.chain}: ${results.map((r) => r.note).join('; ')}${failed > 0 ? ` (${failed} failed: made again after verify)` : ''}`;
  };
}

/**
 * Step stop-jobs: the target chain's workloads once more (a repeat where start-jobs did them),
 * then the left chain's Deployments to their idle replicas and FlinkDeployments with
 * `whenLeft: suspend` suspended. Rejects while a change fails, so the step is retried.
 */
export function createWorkloadReleaser(deps: WorkloadDeps): (j: SwitchJournal) => Promise<string | undefined> {
  return async (j) => {
    const changes = [...serving(deps, j), ...left(deps, j)];
    if (changes.length === 0) return undefined;
    const results = await settle(deps, j, changes);
    const notes = results.map((r) => r.note).join('; ');
    if (!results.some((r) => r.failed)) return `workloads: ${notes}`;
    const verifiedAt = stepAt(j, 'verify')?.at ?? j.createdAt;
    const waited = (deps.now ?? Date.now)() - verifiedAt;
    if (waited < RELEASE_DEADLINE_MS) throw new Error(`workloads not settled: ${notes}`);
    deps.log.error('workloads left unsettled: the switch ends without them', { id: j.id, waitedMs: waited, notes });
    return `workloads left unsettled after ${Math.round(waited / 1000)} s of retries: ${notes}`;
  };
}

function chainOf(deps: WorkloadDeps, pipeline: string, chain: string): Chain | undefined {
  return deps.topology.pipelines.get(pipeline)?.chains.find((c) => c.name === chain);
}

function serving(deps: WorkloadDeps, j: SwitchJournal): Change[] {
  const k = chainOf(deps, j.pipeline, j.to.chain)?.kubernetes;
  if (!k) return [];
  const epoch = j.to.epoch;
  return [
    ...k.deployments.map((d) => ({ what: `deployment ${d.namespace}/${d.name} replicas ${d.replicas}`, run: () => deps.actuator.scale(d, d.replicas, epoch) })),
    ...k.flinkDeployments.map((f) => ({ what: `flinkdeployment ${f.namespace}/${f.name} running`, run: () => deps.actuator.flinkJobState(f, 'running', epoch) })),
  ];
}

function left(deps: WorkloadDeps, j: SwitchJournal): Change[] {
  if (j.from.chain === j.to.chain) return [];
  const k = chainOf(deps, j.pipeline, j.from.chain)?.kubernetes;
  if (!k) return [];
  const epoch = j.to.epoch;
  return [
    ...k.deployments.flatMap((d) => (d.idleReplicas === undefined ? [] : [{ what: `deployment ${d.namespace}/${d.name} replicas ${d.idleReplicas}`, run: () => deps.actuator.scale(d, d.idleReplicas!, epoch) }])),
    ...k.flinkDeployments.flatMap((f) => (f.whenLeft === 'suspend' ? [{ what: `flinkdeployment ${f.namespace}/${f.name} suspended`, run: () => deps.actuator.flinkJobState(f, 'suspended', epoch) }] : [])),
  ];
}

/** Makes every change at once; one line each of what happened. */
async function settle(deps: WorkloadDeps, j: SwitchJournal, changes: readonly Change[]): Promise<Settled[]> {
  const outcomes = await Promise.allSettled(changes.map((c) => c.run()));
  return outcomes.map((o, i) => {
    const what = changes[i]!.what;
    if (o.status === 'rejected') {
      const reason = o.reason instanceof Error ? o.reason.message : String(o.reason);
      deps.log.warn('workload change failed', { id: j.id, change: what, reason });
      return { note: `${what}: failed (${reason})`, failed: true };
    }
    switch (o.value.kind) {
      case 'patched':
        deps.log.info('workload changed', { id: j.id, change: what, epoch: j.to.epoch });
        return { note: `${what} at route epoch ${j.to.epoch}`, failed: false };
      case 'already':
        return { note: `${what}: already, at route epoch ${j.to.epoch}`, failed: false };
      case 'refused':
        deps.log.warn('workload not changed: it carries this route epoch or a later one', { id: j.id, change: what, reason: o.value.reason });
        return { note: `${what}: not changed (${o.value.reason})`, failed: false };
    }
  });
}
