import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultStack, type Replica } from '../../bench/support/fault-stack.js';
import { randomId, waitFor } from '../../bench/support/local-stack.js';
import { cli, who } from '../support/cli.js';
import { startTraffic, type Traffic } from '../support/traffic.js';
import { deploymentManifest, exampleValuesIn, flinkDeploymentManifest, helm, installFlinkDeploymentCrd, KUBE, kubectl } from '../support/kube.js';

// Two controllers with the chart's ServiceAccount token, and only that token, against the real
// kube-apiserver. A switchover of live-dashboard scales the standby's query gateway up and resumes
// its FlinkDeployment (start-jobs), points the query Service at the standby (flip-queries) and
// idles the primary's gateway (stop-jobs), each fenced by the route epoch annotation. The first
// leader is SIGKILLed after acting in start-jobs and before saving it: the second replays the
// step and changes nothing twice.

const id = randomId().slice(0, 6);
const ns = `sy-e2e-${id}`;
const data = `data-e2e-${id}`;

let stack: FaultStack;
let traffic: Traffic | undefined;
let first: Replica;

interface Obj {
  metadata: { resourceVersion: string; annotations?: Record<string, string> };
  spec: { replicas?: number; selector?: Record<string, string>; job?: { state: string } };
}

async function get(kind: string, name: string): Promise<Obj> {
  const r = await kubectl(['get', kind, name, '-n', data, '-o', 'json']);
  if (r.code !== 0) throw new Error(`kubectl get ${kind} ${name}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Obj;
}

beforeAll(async () => {
  for (const n of [ns, data]) expect((await kubectl(['create', 'namespace', n])).code).toBe(0);
  await installFlinkDeploymentCrd();
  // The example values: its pipeline switches the same objects as the stack's topology below.
  const install = await helm(['install', 'sy', 'charts/switchyard', '-n', ns, '-f', exampleValuesIn(data)]);
  expect(install.code).toBe(0);
  const svc = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'dashboard-olap', namespace: data }, spec: { selector: { 'switchyard.io/chain': 'primary' }, ports: [{ port: 8123 }] } };
  for (const manifest of [JSON.stringify(svc), deploymentManifest(data, 'dashboard-gateway-a', 3), deploymentManifest(data, 'dashboard-gateway-b', 1), flinkDeploymentManifest(data, 'dashboard-agg-b', 'suspended')]) {
    expect((await kubectl(['apply', '-f', '-'], { input: manifest })).code).toBe(0);
  }
  const token = await kubectl(['create', 'token', 'sy-switchyard', '-n', ns, '--duration', '1h']);
  expect(token.code).toBe(0);
  const tokenFile = join(mkdtempSync(join(tmpdir(), 'switchyard-token-')), 'token');
  writeFileSync(tokenFile, token.stdout.trim(), { mode: 0o600 });
  stack = new FaultStack({
    observersRequired: 1,
    kubernetes: { server: KUBE.server, tokenFile, caFile: KUBE.caFile, namespace: ns },
    service: { namespace: data, name: 'dashboard-olap' },
    chainKubernetes: {
      primary: { deployments: [{ namespace: data, name: 'dashboard-gateway-a', replicas: 3, idleReplicas: 1 }] },
      standby: { deployments: [{ namespace: data, name: 'dashboard-gateway-b', replicas: 3, idleReplicas: 1 }], flinkDeployments: [{ namespace: data, name: 'dashboard-agg-b', whenLeft: 'suspend' }] },
    },
  });
  await stack.createTopic();
  // ctl-a leads and, in a switch, stalls after acting in start-jobs, before saving the step.
  first = stack.start('ctl-a', 'room-a', { SWITCHYARD_FAULT_PAUSE_AFTER_STEP: 'start-jobs:20000:before-save' });
  expect((await stack.leader()).name).toBe('ctl-a');
  stack.start('ctl-b', 'room-b');
  await stack.steady();
  traffic = await startTraffic(stack);
});

afterAll(async () => {
  await traffic?.stop();
  await stack?.stop();
  await helm(['uninstall', 'sy', '-n', ns]);
  await kubectl(['delete', 'namespace', ns, data, '--wait=false']);
});

/** Polls kubectl until its output matches (the leader writes at most once a second). */
async function waitForOutput(args: string[], pattern: RegExp, timeoutMs = 15_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await kubectl(args);
    if (pattern.test(r.stdout)) return r.stdout;
    if (Date.now() > deadline) throw new Error(`kubectl ${args.join(' ')} did not show ${pattern} within ${timeoutMs} ms: ${r.stdout}${r.stderr}`);
    await new Promise((res) => setTimeout(res, 300));
  }
}

describe('the controller with the chart\'s token on a real API server', () => {
  it('a switchover moves the workloads and the query Service; the leader killed mid-step is replayed without a second change', async () => {
    const r = await cli('switchover', 'live-dashboard', '--to', 'standby', '-c', stack.configFile(), '--reason', 'chart token e2e', '--operator', 'it', '--yes', '--wait', '0');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // ctl-a scales the standby's gateway and resumes its job, then stalls before saving start-jobs.
    await waitFor('ctl-a to act in start-jobs', 20_000, async () => ((await get('flinkdeployment', 'dashboard-agg-b')).spec.job?.state === 'running' && first.logs.some((l) => l['msg'] === 'fault injection: pausing') ? true : undefined), 100);
    const acted = { gateway: await get('deployment', 'dashboard-gateway-b'), job: await get('flinkdeployment', 'dashboard-agg-b') };
    expect(acted.gateway.spec.replicas).toBe(3);
    first.child.kill('SIGKILL');
    const history = await waitFor('ctl-b to finish the switch', 30_000, async () => {
      const h = await stack.journals.history('live-dashboard');
      return h.length > 0 ? h : undefined;
    });
    expect(history).toHaveLength(1);
    expect(history[0]!.leaders).toEqual(['ctl-a', 'ctl-b']);
    const journal = (await stack.journals.list()).get('live-dashboard')!.journal;
    const startJobs = journal.steps.find((s) => s.step === 'start-jobs')!;
    expect(startJobs.by).toBe('ctl-b');
    expect(startJobs.note).toContain(`deployment ${data}/dashboard-gateway-b replicas 3: already, at route epoch 2; flinkdeployment ${data}/dashboard-agg-b running: already, at route epoch 2`);
    // The replay changed nothing; stop-jobs idled the primary's gateway; the Service follows.
    expect((await get('deployment', 'dashboard-gateway-b')).metadata.resourceVersion).toBe(acted.gateway.metadata.resourceVersion);
    expect((await get('flinkdeployment', 'dashboard-agg-b')).metadata.resourceVersion).toBe(acted.job.metadata.resourceVersion);
    const idle = await get('deployment', 'dashboard-gateway-a');
    expect(idle.spec.replicas).toBe(1);
    expect(idle.metadata.annotations?.['switchyard.io/route-epoch']).toBe('2');
    const svc = await get('service', 'dashboard-olap');
    expect(svc.spec.selector).toEqual({ 'switchyard.io/chain': 'standby' });
    expect(svc.metadata.annotations?.['switchyard.io/route-epoch']).toBe('2');
  });

  it('kubectl shows the pipeline like switchyard status, the switch as an Event on it, and the leader in a Lease', async () => {
    const row = await waitForOutput(['get', 'switchyardpipelines', '-n', ns], /live-dashboard\s+P0\s+standby\s+room-b\s+2\s/);
    expect(row).toMatch(/NAME\s+TIER\s+ACTIVE\s+ROOM\s+EPOCH\s+STATE\s+HEALTH\s+LAST-SWITCH/);
    const events = await waitForOutput(['get', 'events.events.k8s.io', '-n', ns, '-o', 'json'], /"reason": "Switched"/);
    const switched = (JSON.parse(events) as { items: { reason: string; type: string; note: string; regarding: { kind: string; name: string }; eventTime: string; reportingController: string }[] }).items.filter((e) => e.reason === 'Switched');
    expect(switched).toHaveLength(1);
    expect(switched[0]).toMatchObject({ type: 'Normal', regarding: { kind: 'SwitchyardPipeline', name: 'live-dashboard' }, reportingController: 'switchyard.io/controller' });
    expect(switched[0]!.note).toMatch(/^to standby@room-b at epoch 2: manual switchover of live-dashboard .* by (.*): chart token e2e/);
    expect(/ by (.*): chart token e2e/.exec(switched[0]!.note)?.[1]).toBe(who('it'));
    expect(switched[0]!.eventTime).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/); // MicroTime
    const lease = JSON.parse((await kubectl(['get', 'lease', 'switchyard-leader', '-n', ns, '-o', 'json'])).stdout) as { spec: { holderIdentity: string } };
    expect(lease.spec.holderIdentity).toBe('ctl-b');
  });
});
