import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { randomId } from '../../bench/support/local-stack.js';
import { cli } from '../support/cli.js';
import { exampleValuesIn, helm, installFlinkDeploymentCrd, kubectl } from '../support/kube.js';

// charts/switchyard against the real kube-apiserver the suite starts (built from the Go module
// proxy): lint, render, a server-side dry run, then install, prove the ServiceAccount can do what
// the controller does and nothing else (a token minted with the TokenRequest API, asked with
// kubectl auth can-i), upgrade with changed values, and uninstall leaving nothing behind.

const CHART = 'charts/switchyard';
const VALUES = 'examples/helm/values.yaml';
const id = randomId().slice(0, 6);
const ns = `sy-${id}`;
const data = `data-${id}`;
const release = 'sy';
/** What the suite's API server runs (helm template alone assumes an old default). */
const KUBE_VERSION = '1.32.13';

interface Doc {
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [k: string]: unknown;
}

async function render(...set: string[]): Promise<Doc[]> {
  const r = await helm(['template', release, CHART, '-n', ns, '-f', VALUES, '--kube-version', KUBE_VERSION, ...set.flatMap((s) => ['--set', s])]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as Doc | null)
    .filter((d): d is Doc => d !== null);
}

/** The example values with the objects its pipeline switches in this run's own namespace. */
let values: string;

beforeAll(async () => {
  for (const n of [ns, data]) expect((await kubectl(['create', 'namespace', n])).code).toBe(0);
  // FlinkDeployments must be a known kind for the Role's rule to mean something to can-i.
  await installFlinkDeploymentCrd();
  values = exampleValuesIn(data);
});

afterAll(async () => {
  await helm(['uninstall', release, '-n', ns]);
  await kubectl(['delete', 'namespace', ns, data, '--wait=false']);
});

describe('charts/switchyard on a real API server', () => {
  it('lints, and refuses values its schema does not allow, naming the value', async () => {
    const ok = await helm(['lint', CHART, '-f', VALUES, '--strict']);
    expect(ok.stdout).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
    expect(ok.code).toBe(0);
    const bad = await helm(['lint', CHART, '-f', VALUES, '--set', 'metrics.service.port=0', '--set', 'logLevel=chatty']);
    expect(bad.code).not.toBe(0);
    expect(bad.stdout + bad.stderr).toMatch(/metrics\/service\/port': minimum: got 0, want 1/);
    expect(bad.stdout + bad.stderr).toMatch(/logLevel/);
    // A site that is neither a room nor a witness of the topology would vote as a room it is not in.
    const stray = await helm(['template', release, CHART, '-f', VALUES, '--kube-version', KUBE_VERSION, '--set', 'sites[0].name=room-x']);
    expect(stray.code).not.toBe(0);
    expect(stray.stderr).toMatch(/sites: room-x is neither a room of topology.rooms nor one of topology.witnesses \(room-a, room-b, witness\)/);
    const twice = await helm(['template', release, CHART, '-f', VALUES, '--kube-version', KUBE_VERSION, '--set', 'sites[1].name=room-a']);
    expect(twice.stderr).toMatch(/sites: room-a is listed twice/);
  });

  it('renders one replica per site, pinned to its site and never sharing a node, with probes, and a Role with only get and patch on the objects the topology switches', async () => {
    const docs = await render();
    const kinds = docs.map((d) => d.kind).sort();
    expect(kinds).toEqual(['ConfigMap', 'ConfigMap', 'Deployment', 'Deployment', 'Deployment', 'PodDisruptionBudget', 'Role', 'Role', 'RoleBinding', 'RoleBinding', 'Service', 'ServiceAccount']);
    const deployments = docs.filter((d) => d.kind === 'Deployment') as unknown as {
      metadata: { name: string };
      spec: { replicas: number; strategy: { type: string }; template: { spec: { nodeSelector: Record<string, string>; affinity: unknown; containers: { args: string[]; readinessProbe: { httpGet: { path: string } }; livenessProbe: { httpGet: { path: string } } }[] } } };
    }[];
    for (const [i, site] of ['room-a', 'room-b', 'witness'].entries()) {
      const d = deployments[i]!;
      expect(d.metadata.name).toBe(`sy-switchyard-${site}`);
      expect(d.spec.replicas).toBe(1);
      expect(d.spec.strategy.type).toBe('Recreate');
      expect(d.spec.template.spec.nodeSelector).toEqual({ 'topology.kubernetes.io/zone': site });
      expect(JSON.stringify(d.spec.template.spec.affinity)).toContain('"topologyKey":"kubernetes.io/hostname"');
      const c = d.spec.template.spec.containers[0]!;
      expect(c.args).toEqual(['controller', '--config', '/etc/switchyard/topology.yaml', '--room', site, '--http-port', '8787', '--http-host', '0.0.0.0']);
      expect([c.readinessProbe.httpGet.path, c.livenessProbe.httpGet.path]).toEqual(['/readyz', '/healthz']);
    }
    // Where the topology's pipelines switch objects: get and patch on exactly those, by name.
    const role = docs.find((d) => d.kind === 'Role' && d.metadata.namespace === 'data') as unknown as { metadata: { name: string }; rules: unknown[] };
    expect(role.metadata.name).toBe('sy-switchyard-switched');
    expect(role.rules).toEqual([
      { apiGroups: [''], resources: ['services'], resourceNames: ['dashboard-olap'], verbs: ['get', 'patch'] },
      { apiGroups: ['apps'], resources: ['deployments'], resourceNames: ['dashboard-gateway-a', 'dashboard-gateway-b'], verbs: ['get', 'patch'] },
      { apiGroups: ['flink.apache.org'], resources: ['flinkdeployments'], resourceNames: ['dashboard-agg-b'], verbs: ['get', 'patch'] },
    ]);
    // With the topology in a ConfigMap of the user's, the chart cannot see it: rbac.objects instead.
    const existing = await render('existingConfigMap=mine', 'rbac.objects[0].kind=Service', 'rbac.objects[0].namespace=olap', 'rbac.objects[0].name=gateway');
    const listed = existing.filter((d) => d.kind === 'Role' && d.metadata.namespace !== ns) as unknown as { metadata: { namespace: string }; rules: unknown[] }[];
    expect(listed.map((r) => [r.metadata.namespace, r.rules])).toEqual([['olap', [{ apiGroups: [''], resources: ['services'], resourceNames: ['gateway'], verbs: ['get', 'patch'] }]]]);
    // In its own namespace: its pipelines' objects and their status, Events, and its one Lease.
    const own = docs.find((d) => d.kind === 'Role' && d.metadata.namespace === ns) as unknown as { rules: { resources: string[]; verbs: string[]; resourceNames?: string[] }[] };
    expect(own.rules.map((r) => `${r.resources.join(',')}:${r.verbs.join(',')}${r.resourceNames ? `:${r.resourceNames.join(',')}` : ''}`)).toEqual([
      'switchyardpipelines:get,create',
      'switchyardpipelines/status:patch',
      'events:create',
      'leases:create',
      'leases:get,update:switchyard-leader',
    ]);
  });

  it('with metrics.bearerTokenSecret, each replica mounts the Secret as a directory (so rotations arrive) and requires the token; the ServiceMonitor sends it', async () => {
    const docs = await render('metrics.bearerTokenSecret.name=sy-http', 'metrics.serviceMonitor.enabled=true');
    const d = docs.find((x) => x.kind === 'Deployment') as unknown as { spec: { template: { spec: { containers: { args: string[]; volumeMounts: { name: string; subPath?: string }[] }[]; volumes: { name: string; secret?: { secretName: string } }[] } } } };
    const c = d.spec.template.spec.containers[0]!;
    expect(c.args.slice(-2)).toEqual(['--http-token-file', '/etc/switchyard/http-token/token']);
    expect(c.volumeMounts.find((m) => m.name === 'http-token')).toEqual({ name: 'http-token', mountPath: '/etc/switchyard/http-token', readOnly: true });
    expect(d.spec.template.spec.volumes.find((v) => v.name === 'http-token')).toEqual({ name: 'http-token', secret: { secretName: 'sy-http', defaultMode: 0o440 } });
    const monitor = docs.find((x) => x.kind === 'ServiceMonitor') as unknown as { spec: { endpoints: { bearerTokenSecret: unknown }[] } };
    expect(monitor.spec.endpoints[0]!.bearerTokenSecret).toEqual({ name: 'sy-http', key: 'token' });
    // secretMounts: a Secret as a read-only directory (etcd's TLS material and password files).
    const mounted = (await render('secretMounts[0].secret=sy.etcd', 'secretMounts[0].mountPath=/etc/switchyard/etcd')).find((x) => x.kind === 'Deployment') as unknown as typeof d;
    expect(mounted.spec.template.spec.containers[0]!.volumeMounts).toContainEqual({ name: 'secret-0', mountPath: '/etc/switchyard/etcd', readOnly: true });
    expect(mounted.spec.template.spec.volumes).toContainEqual({ name: 'secret-0', secret: { secretName: 'sy.etcd', defaultMode: 0o440 } });
    // Without it: no token argument (and the controller warns that /metrics is open).
    const open = (await render()).find((x) => x.kind === 'Deployment') as unknown as { spec: { template: { spec: { containers: { args: string[] }[] } } } };
    expect(open.spec.template.spec.containers[0]!.args).not.toContain('--http-token-file');
  });

  it('renders a topology and policies the controller accepts', async () => {
    const docs = await render();
    const config = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name.endsWith('-config')) as unknown as { data: Record<string, string> };
    const policies = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name.endsWith('-policies')) as unknown as { data: Record<string, string> };
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-chart-'));
    mkdirSync(join(dir, 'policies'));
    for (const [file, text] of Object.entries(policies.data)) writeFileSync(join(dir, 'policies', file), text);
    // As mounted: the topology names /etc/switchyard/policies; here, the directory beside it.
    writeFileSync(join(dir, 'topology.yaml'), config.data['topology.yaml']!.replace('policies: /etc/switchyard/policies', 'policies: policies'));
    const r = await cli('policy', 'validate', join(dir, 'policies'), '-c', join(dir, 'topology.yaml'));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/P0/);
  });

  it('caps the controller heap as heapMb says (NODE_OPTIONS), not at all with 0, and refuses a negative one', async () => {
    const envOf = (docs: Doc[]) =>
      docs
        .filter((d) => d.kind === 'Deployment')
        .map((d) => ((d as unknown as { spec: { template: { spec: { containers: { env: { name: string; value?: string }[] }[] } } } }).spec.template.spec.containers[0]!.env ?? []).find((e) => e.name === 'NODE_OPTIONS')?.value);
    const byDefault = envOf(await render());
    expect(byDefault.length).toBeGreaterThan(0);
    expect(new Set(byDefault)).toEqual(new Set(['--max-old-space-size=160']));
    expect(new Set(envOf(await render('heapMb=320')))).toEqual(new Set(['--max-old-space-size=320']));
    expect(new Set(envOf(await render('heapMb=0')))).toEqual(new Set([undefined]));
    const bad = await helm(['template', release, CHART, '-f', VALUES, '--kube-version', KUBE_VERSION, '--set', 'heapMb=-1']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/heapMb/);
  });

  it('passes a server-side dry run on the real API server', async () => {
    const r = await helm(['template', release, CHART, '-n', ns, '-f', values, '--kube-version', KUBE_VERSION]);
    const dry = await kubectl(['apply', '--dry-run=server', '-f', '-'], { input: r.stdout });
    expect(dry.stderr).toBe('');
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/deployment\.apps\/sy-switchyard-room-a created \(server dry run\)/);
    expect(dry.stdout).toMatch(/role\.rbac\.authorization\.k8s\.io\/sy-switchyard-switched created \(server dry run\)/);
  });

  it('installed, its ServiceAccount gets and patches the objects its pipelines switch and can do nothing else; upgrade changes that; uninstall leaves nothing', async () => {
    const install = await helm(['install', release, CHART, '-n', ns, '-f', values]);
    expect(install.stderr).toBe('');
    expect(install.code).toBe(0);
    expect(install.stdout).toMatch(/one controller replica per site \(room-a, room-b, witness\)/);
    // A token for the chart's ServiceAccount, from the TokenRequest API.
    const tok = await kubectl(['create', 'token', 'sy-switchyard', '-n', ns, '--duration', '10m']);
    expect(tok.code).toBe(0);
    const token = tok.stdout.trim();
    const can = async (...args: string[]) => (await kubectl(['auth', 'can-i', ...args], { token })).stdout.trim();
    for (const args of [
      ['get', 'services/dashboard-olap', '-n', data],
      ['patch', 'services/dashboard-olap', '-n', data],
      ['get', 'deployments.apps/dashboard-gateway-a', '-n', data],
      ['patch', 'deployments.apps/dashboard-gateway-b', '-n', data],
      ['get', 'flinkdeployments.flink.apache.org/dashboard-agg-b', '-n', data],
      ['patch', 'flinkdeployments.flink.apache.org/dashboard-agg-b', '-n', data],
      ['create', 'switchyardpipelines.switchyard.io', '-n', ns],
      ['get', 'switchyardpipelines.switchyard.io', '-n', ns],
      ['patch', 'switchyardpipelines.switchyard.io', '--subresource=status', '-n', ns],
      ['create', 'events.events.k8s.io', '-n', ns],
      ['create', 'leases.coordination.k8s.io', '-n', ns],
      ['update', 'leases.coordination.k8s.io/switchyard-leader', '-n', ns],
    ]) {
      expect(`${args.join(' ')}: ${await can(...args)}`).toBe(`${args.join(' ')}: yes`);
    }
    for (const [verb, what, where] of [
      ['update', 'services/dashboard-olap', data],
      ['delete', 'services/dashboard-olap', data],
      ['create', 'services', data],
      ['list', 'services', data],
      ['patch', 'services/someone-elses', data],
      ['patch', 'services/dashboard-olap', 'default'],
      ['patch', 'deployments.apps/someone-elses', data],
      ['update', 'deployments.apps/dashboard-gateway-a', data],
      ['delete', 'deployments.apps/dashboard-gateway-a', data],
      ['list', 'deployments.apps', data],
      ['patch', 'flinkdeployments.flink.apache.org/someone-elses', data],
      ['delete', 'flinkdeployments.flink.apache.org/dashboard-agg-b', data],
      ['get', 'pods', data],
      ['get', 'secrets', ns],
      ['get', 'configmaps', ns],
      ['patch', 'deployments', ns],
      ['create', 'rolebindings', data],
      ['patch', 'switchyardpipelines.switchyard.io', ns],
      ['delete', 'switchyardpipelines.switchyard.io', ns],
      ['list', 'events.events.k8s.io', ns],
      ['update', 'leases.coordination.k8s.io/someone-else', ns],
      ['create', 'switchyardpipelines.switchyard.io', data],
    ] as const) {
      expect(`${verb} ${what} -n ${where}: ${await can(verb, what, '-n', where)}`).toBe(`${verb} ${what} -n ${where}: no`);
    }
    // The scale subresource is another resource: not granted (the controller patches spec.replicas).
    expect(await can('patch', 'deployments.apps/dashboard-gateway-a', '--subresource=scale', '-n', data)).toBe('no');
    // Upgrade with the pipeline's Service renamed: the Role follows the topology.
    const up = await helm(['upgrade', release, CHART, '-n', ns, '-f', values, '--set', 'topology.pipelines.live-dashboard.service.name=dashboard-olap-v2']);
    expect(up.code).toBe(0);
    expect(await can('patch', 'services/dashboard-olap', '-n', data)).toBe('no');
    expect(await can('patch', 'services/dashboard-olap-v2', '-n', data)).toBe('yes');
    // Uninstall: nothing the chart created is left, in either namespace (the CRD stays, as Helm keeps CRDs: documented).
    const un = await helm(['uninstall', release, '-n', ns]);
    expect(un.code).toBe(0);
    for (const where of [ns, data]) {
      const left = await kubectl(['get', 'deployments,configmaps,services,serviceaccounts,roles,rolebindings,poddisruptionbudgets', '-n', where, '-l', `app.kubernetes.io/instance=${release}`, '-o', 'name']);
      expect(left.code).toBe(0);
      expect(left.stdout.trim()).toBe('');
    }
  });
});
