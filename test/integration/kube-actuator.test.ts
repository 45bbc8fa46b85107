import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEtcdClient } from '../../src/adapters/etcd/client.js';
import { EtcdJournalStore } from '../../src/adapters/etcd/journal-store.js';
import { EtcdLeaderLock } from '../../src/adapters/etcd/leader-lock.js';
import { EtcdRouteStore } from '../../src/adapters/etcd/route-store.js';
import { KubernetesActuator, kubeConfigFor, ROUTE_EPOCH_ANNOTATION } from '../../src/adapters/kubernetes/fenced-patch.js';
import { SecretFile } from '../../src/adapters/system/secret-file.js';
import { SWITCH_STEPS, stepAt } from '../../src/core/journal.js';
import { createWorkloadPreparer, createWorkloadReleaser } from '../../src/executor/workloads.js';
import { silentLogger } from '../../src/ports/logger.js';
import { LOCAL, randomId } from '../../bench/support/local-stack.js';
import { deploymentManifest, exampleValuesIn, flinkDeploymentManifest, helm, installFlinkDeploymentCrd, KUBE, kubectl } from '../support/kube.js';
import { routeOn, testPipeline, testTopology } from '../support/model.js';
import { etcdSwitchRunner } from '../support/switch-runner.js';

// The Kubernetes actuators on the real kube-apiserver, with the chart's ServiceAccount token and
// only that: a Service's selector, a Deployment's replicas and a FlinkDeployment's job state (its
// CRD installed from test/support/k8s), each fenced by the route epoch annotation; then a switch
// whose leader loses its fence after acting in start-jobs, and a successor that replays the step
// without changing anything twice.

const id = randomId().slice(0, 6);
const ns = `sy-act-${id}`;
const data = `data-act-${id}`;
const etcd = createEtcdClient({ endpoints: [LOCAL.etcd] });
const prefix = `/switchyard-kube-${id}`;
let actuator: KubernetesActuator;

interface Obj {
  metadata: { resourceVersion: string; annotations?: Record<string, string> };
  spec: { replicas?: number; selector?: Record<string, string>; job?: { state: string; jarURI: string; upgradeMode: string }; template?: unknown };
}

async function get(kind: string, name: string): Promise<Obj> {
  const r = await kubectl(['get', kind, name, '-n', data, '-o', 'json']);
  if (r.code !== 0) throw new Error(`kubectl get ${kind} ${name}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Obj;
}

async function apply(manifest: string): Promise<void> {
  const r = await kubectl(['apply', '-f', '-'], { input: manifest });
  if (r.code !== 0) throw new Error(`kubectl apply: ${r.stderr}`);
}

beforeAll(async () => {
  for (const n of [ns, data]) expect((await kubectl(['create', 'namespace', n])).code).toBe(0);
  await installFlinkDeploymentCrd();
  const install = await helm(['install', 'sy', 'charts/switchyard', '-n', ns, '-f', exampleValuesIn(data)]);
  expect(install.stderr).toBe('');
  await apply(JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'dashboard-olap', namespace: data }, spec: { selector: { app: 'clickhouse', 'switchyard.io/chain': 'primary' }, ports: [{ port: 8123 }] } }));
  await apply(deploymentManifest(data, 'dashboard-gateway-a', 3));
  await apply(deploymentManifest(data, 'dashboard-gateway-b', 1));
  await apply(deploymentManifest(data, 'someone-elses', 1));
  await apply(flinkDeploymentManifest(data, 'dashboard-agg-b', 'suspended'));
  const token = await kubectl(['create', 'token', 'sy-switchyard', '-n', ns, '--duration', '1h']);
  expect(token.code).toBe(0);
  actuator = new KubernetesActuator(kubeConfigFor(KUBE.server, token.stdout.trim(), KUBE.caFile));
});

afterAll(async () => {
  await helm(['uninstall', 'sy', '-n', ns]);
  await kubectl(['delete', 'namespace', ns, data, '--wait=false']);
  await etcd.delete().prefix(prefix).exec();
  etcd.close();
});

describe('Kubernetes actuators with the chart\'s token on a real API server', () => {
  it('scales a Deployment under the route epoch: once, repeat-safe, and never back for an older epoch', async () => {
    const ref = { namespace: data, name: 'dashboard-gateway-b' };
    const first = await actuator.scale(ref, 3, 2);
    expect(first.kind).toBe('patched');
    const after = await get('deployment', 'dashboard-gateway-b');
    expect(after.spec.replicas).toBe(3);
    expect(after.metadata.annotations?.[ROUTE_EPOCH_ANNOTATION]).toBe('2');
    // A merge patch: the pod template is as it was.
    expect(JSON.stringify(after.spec.template)).toContain('registry.k8s.io/pause:3.10');
    // A new leader repeating the step writes nothing.
    expect(await actuator.scale(ref, 3, 2)).toEqual({ kind: 'already' });
    expect((await get('deployment', 'dashboard-gateway-b')).metadata.resourceVersion).toBe(after.metadata.resourceVersion);
    // A deposed leader (epoch 1) cannot scale it back; the same epoch with another count is refused too.
    expect(await actuator.scale(ref, 1, 1)).toEqual({ kind: 'refused', reason: `deployment ${data}/dashboard-gateway-b already carries route epoch 2 (replicas 3); a patch for epoch 1 must exceed it` });
    expect((await actuator.scale(ref, 0, 2)).kind).toBe('refused');
    expect((await get('deployment', 'dashboard-gateway-b')).metadata.resourceVersion).toBe(after.metadata.resourceVersion);
    // A later epoch moves it.
    expect((await actuator.scale(ref, 1, 3)).kind).toBe('patched');
    expect((await get('deployment', 'dashboard-gateway-b')).spec.replicas).toBe(1);
  });

  it('resumes and suspends a FlinkDeployment through its CRD, keeping the rest of its job spec', async () => {
    const ref = { namespace: data, name: 'dashboard-agg-b' };
    expect((await actuator.flinkJobState(ref, 'running', 2)).kind).toBe('patched');
    const running = await get('flinkdeployment', 'dashboard-agg-b');
    expect(running.spec.job).toEqual({ jarURI: 'local:///opt/flink/usrlib/job.jar', parallelism: 2, state: 'running', upgradeMode: 'savepoint' });
    expect(running.metadata.annotations?.[ROUTE_EPOCH_ANNOTATION]).toBe('2');
    expect(await actuator.flinkJobState(ref, 'running', 2)).toEqual({ kind: 'already' });
    expect((await actuator.flinkJobState(ref, 'suspended', 1)).kind).toBe('refused');
    expect((await actuator.flinkJobState(ref, 'suspended', 3)).kind).toBe('patched');
    expect((await get('flinkdeployment', 'dashboard-agg-b')).spec.job!.state).toBe('suspended');
  });

  it('points the Service\'s selector, keeping its other keys', async () => {
    expect((await actuator.point({ namespace: data, name: 'dashboard-olap' }, { 'switchyard.io/chain': 'standby' }, 2)).kind).toBe('patched');
    expect((await get('service', 'dashboard-olap')).spec.selector).toEqual({ app: 'clickhouse', 'switchyard.io/chain': 'standby' });
  });

  it('a token file is read again when it changes: a rotated token takes effect on the next request, with no restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-kube-token-'));
    const file = join(dir, 'token');
    const put = (token: string) => {
      writeFileSync(`${file}.new`, `${token}\n`);
      renameSync(`${file}.new`, file);
    };
    put('not-a-token');
    const rotating = new KubernetesActuator(kubeConfigFor(KUBE.server, new SecretFile(file), KUBE.caFile));
    await expect(rotating.scale({ namespace: data, name: 'dashboard-gateway-b' }, 1, 3)).rejects.toThrow(/HTTP 401/);
    // The kubelet swaps a projected token in by renaming; the next call reads it.
    put((await kubectl(['create', 'token', 'sy-switchyard', '-n', ns, '--duration', '10m'])).stdout.trim());
    expect(['patched', 'already']).toContain((await rotating.scale({ namespace: data, name: 'dashboard-gateway-b' }, 1, 3)).kind);
  });

  it('an object outside the Role, or one that is not there, is refused (left as it is, with the reason), not retried for ever', async () => {
    const forbidden = await actuator.scale({ namespace: data, name: 'someone-elses' }, 0, 9);
    expect(forbidden.kind).toBe('refused');
    expect((forbidden as { reason: string }).reason).toMatch(new RegExp(`^deployment ${data}/someone-elses: HTTP 403: deployments.apps "someone-elses" is forbidden: User "system:serviceaccount:${ns}:sy-switchyard" cannot get resource "deployments"`));
    expect((await get('deployment', 'someone-elses')).spec.replicas).toBe(1);
    // In the Role by name, but deleted: 404.
    await kubectl(['delete', 'flinkdeployment', 'dashboard-agg-b', '-n', data]);
    const gone = await actuator.flinkJobState({ namespace: data, name: 'dashboard-agg-b' }, 'running', 9);
    expect(gone).toMatchObject({ kind: 'refused', reason: expect.stringMatching(/^flinkdeployment .*\/dashboard-agg-b: HTTP 404: /) });
    await apply(flinkDeploymentManifest(data, 'dashboard-agg-b', 'suspended'));
  });

  it('a leader fenced off after acting in start-jobs: its successor replays the step, changes nothing twice, and idles the left chain after verify', async () => {
    // Fresh objects at epoch 0 (none): the primary's gateway serving, the standby's idle and its job suspended.
    await kubectl(['delete', 'deployment', 'dashboard-gateway-a', 'dashboard-gateway-b', '-n', data]);
    await kubectl(['delete', 'flinkdeployment', 'dashboard-agg-b', '-n', data]);
    await apply(deploymentManifest(data, 'dashboard-gateway-a', 3));
    await apply(deploymentManifest(data, 'dashboard-gateway-b', 1));
    await apply(flinkDeploymentManifest(data, 'dashboard-agg-b', 'suspended'));
    const topology = testTopology([
      testPipeline('live', {}, [
        { name: 'primary', room: 'room-a', role: 'primary', jobs: [], kubernetes: { deployments: [{ namespace: data, name: 'dashboard-gateway-a', replicas: 3, idleReplicas: 1 }], flinkDeployments: [] } },
        {
          name: 'standby',
          room: 'room-b',
          role: 'standby',
          jobs: [],
          kubernetes: { deployments: [{ namespace: data, name: 'dashboard-gateway-b', replicas: 3, idleReplicas: 1 }], flinkDeployments: [{ namespace: data, name: 'dashboard-agg-b', whenLeft: 'suspend' }] },
        },
      ]),
    ]);
    const workloads = { topology, actuator, log: silentLogger };
    const routes = new EtcdRouteStore(etcd, prefix);
    const journals = new EtcdJournalStore(etcd, prefix);
    const runner = (observer: string, pause?: number) =>
      etcdSwitchRunner(etcd, prefix, {
        journals,
        routes,
        prepareWorkloads: createWorkloadPreparer(workloads),
        releaseWorkloads: createWorkloadReleaser(workloads),
        observer,
        ...(pause !== undefined && { faultPause: { step: 'start-jobs', ms: pause, when: 'before-save' } }),
      });
    const first = new EtcdLeaderLock(etcd, prefix, 'leader-1', 5, silentLogger);
    const one = await first.campaign(new AbortController().signal);
    const from = routeOn(topology, 'live', 'primary', 1, Date.now());
    expect(await routes.put(one.fence, from, undefined)).toEqual({ kind: 'written' });
    const to = routeOn(topology, 'live', 'standby', 2, Date.now());
    // leader-1 acts in start-jobs, then stalls before saving it; meanwhile it loses leadership.
    const stalled = runner('leader-1', 1500).start(one.fence, { kind: 'switch-route', from, route: to, reason: 'room-a drained', detectedAfterMs: 0 }, 'switchover', undefined, one.lost);
    for (let i = 0; i < 100 && (await get('flinkdeployment', 'dashboard-agg-b')).spec.job!.state !== 'running'; i++) await new Promise((r) => setTimeout(r, 50));
    await first.resign();
    expect((await stalled).kind).toBe('fenced');
    const acted = { gateway: await get('deployment', 'dashboard-gateway-b'), job: await get('flinkdeployment', 'dashboard-agg-b') };
    expect(acted.gateway.spec.replicas).toBe(3);
    expect(acted.job.spec.job!.state).toBe('running');
    let stored = (await journals.list()).get('live')!;
    // Only the intent was saved: start-jobs rides on the save after the route write (ADR 0021).
    expect(stored.journal.steps.map((s) => s.step)).toEqual(['intent']);

    const second = new EtcdLeaderLock(etcd, prefix, 'leader-2', 5, silentLogger);
    const two = await second.campaign(new AbortController().signal);
    try {
      expect((await runner('leader-2').advance(two.fence, stored, two.lost)).kind).toBe('done');
      stored = (await journals.list()).get('live')!;
      expect(stored.journal.steps.map((s) => s.step)).toEqual([...SWITCH_STEPS]);
      expect(stepAt(stored.journal, 'start-jobs')).toMatchObject({ by: 'leader-2' });
      expect(stepAt(stored.journal, 'start-jobs')!.note).toBe(
        `no stream jobs to start; workloads of standby: deployment ${data}/dashboard-gateway-b replicas 3: already, at route epoch 2; flinkdeployment ${data}/dashboard-agg-b running: already, at route epoch 2`,
      );
      // The replay wrote nothing to the standby's objects; the left chain's gateway went idle after verify.
      expect((await get('deployment', 'dashboard-gateway-b')).metadata.resourceVersion).toBe(acted.gateway.metadata.resourceVersion);
      expect((await get('flinkdeployment', 'dashboard-agg-b')).metadata.resourceVersion).toBe(acted.job.metadata.resourceVersion);
      expect(stepAt(stored.journal, 'stop-jobs')!.note).toBe(
        `no stream jobs to stop; workloads: deployment ${data}/dashboard-gateway-b replicas 3: already, at route epoch 2; flinkdeployment ${data}/dashboard-agg-b running: already, at route epoch 2; deployment ${data}/dashboard-gateway-a replicas 1 at route epoch 2`,
      );
      const idle = await get('deployment', 'dashboard-gateway-a');
      expect(idle.spec.replicas).toBe(1);
      expect(idle.metadata.annotations?.[ROUTE_EPOCH_ANNOTATION]).toBe('2');
    } finally {
      await second.resign();
    }
  });
});
