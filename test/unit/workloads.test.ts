import { describe, expect, it } from 'vitest';
import type { SwitchJournal } from '../../src/core/journal.js';
import { createWorkloadPreparer, createWorkloadReleaser, RELEASE_DEADLINE_MS } from '../../src/executor/workloads.js';
import { silentLogger } from '../../src/ports/logger.js';
import type { FlinkJobState, ObjectRef, PatchOutcome, WorkloadActuator } from '../../src/ports/workload-actuator.js';
import { routeOn, testPipeline, testTopology } from '../support/model.js';

/** Records each change; `fail` names objects whose change rejects. */
class FakeActuator implements WorkloadActuator {
  readonly calls: string[] = [];
  constructor(private readonly fail = new Set<string>()) {}
  async scale(ref: ObjectRef, replicas: number, epoch: number): Promise<PatchOutcome> {
    return this.call(`scale ${ref.name} ${replicas} e${epoch}`, ref.name);
  }
  async flinkJobState(ref: ObjectRef, state: FlinkJobState, epoch: number): Promise<PatchOutcome> {
    return this.call(`flink ${ref.name} ${state} e${epoch}`, ref.name);
  }
  private call(what: string, name: string): PatchOutcome {
    this.calls.push(what);
    if (this.fail.has(name)) throw new Error('HTTP 503: unavailable');
    return { kind: 'patched', resourceVersion: '1' };
  }
}

const topology = testTopology([
  testPipeline('live', {}, [
    { name: 'primary', room: 'room-a', role: 'primary', jobs: [], kubernetes: { deployments: [{ namespace: 'd', name: 'gw-a', replicas: 3, idleReplicas: 1 }], flinkDeployments: [{ namespace: 'd', name: 'agg-a', whenLeft: 'keep' }] } },
    { name: 'standby', room: 'room-b', role: 'standby', jobs: [], kubernetes: { deployments: [{ namespace: 'd', name: 'gw-b', replicas: 3 }], flinkDeployments: [{ namespace: 'd', name: 'agg-b', whenLeft: 'suspend' }] } },
  ]),
  testPipeline('plain'),
]);

function journal(pipeline: string, from: string, to: string): SwitchJournal {
  return { id: `${pipeline}-e2`, pipeline, kind: 'switchover', from: routeOn(topology, pipeline, from, 1), to: routeOn(topology, pipeline, to, 2), reason: 'test', requestedBy: 'it', createdAt: 0, detectedAfterMs: 0, steps: [], status: 'running' };
}

describe('chain workloads in a switch', () => {
  it('start-jobs brings the target chain up: its Deployments to serving replicas, its FlinkDeployments running', async () => {
    const fake = new FakeActuator();
    const note = await createWorkloadPreparer({ topology, actuator: fake, log: silentLogger })(journal('live', 'primary', 'standby'));
    expect(fake.calls).toEqual(['scale gw-b 3 e2', 'flink agg-b running e2']);
    expect(note).toBe('workloads of standby: deployment d/gw-b replicas 3 at route epoch 2; flinkdeployment d/agg-b running at route epoch 2');
  });

  it('a failed change in start-jobs is noted and does not hold the flip', async () => {
    const fake = new FakeActuator(new Set(['gw-b']));
    const note = await createWorkloadPreparer({ topology, actuator: fake, log: silentLogger })(journal('live', 'primary', 'standby'));
    expect(note).toBe('workloads of standby: deployment d/gw-b replicas 3: failed (HTTP 503: unavailable); flinkdeployment d/agg-b running at route epoch 2 (1 failed: made again after verify)');
  });

  it('stop-jobs makes the target\'s changes again and idles the left chain: idleReplicas where given, suspend only where asked', async () => {
    const fake = new FakeActuator();
    await createWorkloadReleaser({ topology, actuator: fake, log: silentLogger })(journal('live', 'primary', 'standby'));
    // gw-a has idleReplicas; agg-a is kept running when left.
    expect(fake.calls).toEqual(['scale gw-b 3 e2', 'flink agg-b running e2', 'scale gw-a 1 e2']);
    const back = new FakeActuator();
    await createWorkloadReleaser({ topology, actuator: back, log: silentLogger })(journal('live', 'standby', 'primary'));
    // gw-b has no idleReplicas: left as it is; agg-b is suspended.
    expect(back.calls).toEqual(['scale gw-a 3 e2', 'flink agg-a running e2', 'flink agg-b suspended e2']);
  });

  it('stop-jobs rejects while a change fails, so the step is retried', async () => {
    const fake = new FakeActuator(new Set(['gw-a']));
    await expect(createWorkloadReleaser({ topology, actuator: fake, log: silentLogger, now: () => 1000 })(journal('live', 'primary', 'standby'))).rejects.toThrow(
      'workloads not settled: deployment d/gw-b replicas 3 at route epoch 2; flinkdeployment d/agg-b running at route epoch 2; deployment d/gw-a replicas 1: failed (HTTP 503: unavailable)',
    );
  });

  it('past the deadline after verify, stop-jobs notes what is left unsettled and lets the switch end', async () => {
    const j = { ...journal('live', 'primary', 'standby'), steps: [{ step: 'verify' as const, at: 1_000_000, ms: 0, by: 'it', note: '' }] };
    const fake = new FakeActuator(new Set(['gw-a']));
    const release = (now: number) => createWorkloadReleaser({ topology, actuator: fake, log: silentLogger, now: () => now })(j);
    await expect(release(1_000_000 + RELEASE_DEADLINE_MS - 1)).rejects.toThrow(/workloads not settled/);
    expect(await release(1_000_000 + RELEASE_DEADLINE_MS)).toMatch(/^workloads left unsettled after 300 s of retries: .*deployment d\/gw-a replicas 1: failed \(HTTP 503: unavailable\)$/);
  });

  it('a pipeline whose chains name no workloads adds nothing to the steps', async () => {
    const fake = new FakeActuator();
    expect(await createWorkloadPreparer({ topology, actuator: fake, log: silentLogger })(journal('plain', 'primary', 'standby'))).toBeUndefined();
    expect(await createWorkloadReleaser({ topology, actuator: fake, log: silentLogger })(journal('plain', 'primary', 'standby'))).toBeUndefined();
    expect(fake.calls).toEqual([]);
  });
});
