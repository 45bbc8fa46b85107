import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultStack } from '../../bench/support/fault-stack.js';
import { randomId } from '../../bench/support/local-stack.js';
import { cli } from '../support/cli.js';
import { startTraffic, type Traffic } from '../support/traffic.js';
import { helm, KUBE, kubectl } from '../support/kube.js';

// The controller with the chart's ServiceAccount token, and only that token, against the real
// kube-apiserver: a full switchover of live-dashboard points the pipeline's query Service at the
// standby chain (flip-queries), fenced by the route epoch annotation.

const id = randomId().slice(0, 6);
const ns = `sy-e2e-${id}`;
const data = `data-e2e-${id}`;

let stack: FaultStack;
let traffic: Traffic | undefined;

beforeAll(async () => {
  for (const n of [ns, data]) expect((await kubectl(['create', 'namespace', n])).code).toBe(0);
  const install = await helm(['install', 'sy', 'charts/switchyard', '-n', ns, '-f', 'examples/helm/values.yaml', '--set', `rbac.serviceNamespaces={${data}}`]);
  expect(install.code).toBe(0);
  const svc = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'olap', namespace: data }, spec: { selector: { 'switchyard.io/chain': 'primary' }, ports: [{ port: 8123 }] } };
  expect((await kubectl(['apply', '-f', '-'], { input: JSON.stringify(svc) })).code).toBe(0);
  const token = await kubectl(['create', 'token', 'sy-switchyard', '-n', ns, '--duration', '1h']);
  expect(token.code).toBe(0);
  const tokenFile = join(mkdtempSync(join(tmpdir(), 'switchyard-token-')), 'token');
  writeFileSync(tokenFile, token.stdout.trim(), { mode: 0o600 });
  stack = new FaultStack({ observersRequired: 1, kubernetes: { server: KUBE.server, tokenFile, caFile: KUBE.caFile, namespace: ns }, service: { namespace: data, name: 'olap' } });
  await stack.createTopic();
  stack.start('ctl-a', 'room-a');
  await stack.leader();
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
  it('a switchover points the query Service at the standby chain, with the route epoch on it', async () => {
    const r = await cli('switchover', 'live-dashboard', '--to', 'standby', '-c', stack.configFile(), '--reason', 'chart token e2e', '--operator', 'it', '--yes');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const got = await kubectl(['get', 'service', 'olap', '-n', data, '-o', 'json']);
    const svc = JSON.parse(got.stdout) as { spec: { selector: Record<string, string> }; metadata: { annotations: Record<string, string> } };
    expect(svc.spec.selector).toEqual({ 'switchyard.io/chain': 'standby' });
    expect(svc.metadata.annotations['switchyard.io/route-epoch']).toBe('2');
  });

  it('kubectl shows the pipeline like switchyard status, the switch as an Event on it, and the leader in a Lease', async () => {
    const row = await waitForOutput(['get', 'switchyardpipelines', '-n', ns], /live-dashboard\s+P0\s+standby\s+room-b\s+2\s/);
    expect(row).toMatch(/NAME\s+TIER\s+ACTIVE\s+ROOM\s+EPOCH\s+STATE\s+HEALTH\s+LAST-SWITCH/);
    const events = await waitForOutput(['get', 'events.events.k8s.io', '-n', ns, '-o', 'json'], /"reason": "Switched"/);
    const switched = (JSON.parse(events) as { items: { reason: string; type: string; note: string; regarding: { kind: string; name: string }; eventTime: string; reportingController: string }[] }).items.filter((e) => e.reason === 'Switched');
    expect(switched).toHaveLength(1);
    expect(switched[0]).toMatchObject({ type: 'Normal', regarding: { kind: 'SwitchyardPipeline', name: 'live-dashboard' }, reportingController: 'switchyard.io/controller' });
    expect(switched[0]!.note).toMatch(/^to standby@room-b at epoch 2: manual switchover of live-dashboard .* by it: chart token e2e/);
    expect(switched[0]!.eventTime).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/); // MicroTime
    const lease = JSON.parse((await kubectl(['get', 'lease', 'switchyard-leader', '-n', ns, '-o', 'json'])).stdout) as { spec: { holderIdentity: string } };
    expect(lease.spec.holderIdentity).toBe('ctl-a');
  });
});
