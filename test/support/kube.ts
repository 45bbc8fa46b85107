// The local Kubernetes API server (scripts/services.sh: kube-apiserver, built from the Go module
// proxy) and helm, for chart and actuator tests: kubectl and helm as child processes with the
// admin kubeconfig, or with a ServiceAccount's token.

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PROJECT, STATE_DIR } from '../../bench/support/local-stack.js';

const run = promisify(execFile);

export const KUBE = {
  server: 'https://127.0.0.1:26443',
  kubeconfig: join(STATE_DIR, 'kube-apiserver', 'kubeconfig'),
  caFile: join(STATE_DIR, 'kube-apiserver', 'pki', 'ca.crt'),
};

let helmPath: string | undefined;

/** helm's path, from the build script (which returns at once once built). */
export async function helmBinary(): Promise<string> {
  if (!helmPath) {
    const { stdout } = await run('bash', [PROJECT.resolve('scripts/k8s/build.sh')], { timeout: 900_000 });
    helmPath = /^HELM=(.*)$/m.exec(stdout)?.[1];
    if (!helmPath) throw new Error(`scripts/k8s/build.sh named no helm: ${stdout}`);
  }
  return helmPath;
}

export interface Ran {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function exec(file: string, args: readonly string[], env: Record<string, string> = {}, input?: string): Promise<Ran> {
  try {
    const child = run(file, args, { timeout: 120_000, cwd: PROJECT.root, env: { ...process.env, KUBECONFIG: KUBE.kubeconfig, ...env }, maxBuffer: 32 * 1024 * 1024 });
    if (input !== undefined) {
      child.child.stdin?.write(input);
      child.child.stdin?.end();
    }
    const { stdout, stderr } = await child;
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err) };
  }
}

/** kubectl as the admin (or, with `token`, as whoever the token is). */
export function kubectl(args: readonly string[], opts: { token?: string; input?: string } = {}): Promise<Ran> {
  const auth = opts.token ? ['--token', opts.token, '--server', KUBE.server, '--certificate-authority', KUBE.caFile, '--kubeconfig', '/dev/null'] : [];
  return exec('kubectl', [...auth, ...args], {}, opts.input);
}

export async function helm(args: readonly string[]): Promise<Ran> {
  return exec(await helmBinary(), args, { HELM_CACHE_HOME: join(STATE_DIR, 'helm', 'cache'), HELM_CONFIG_HOME: join(STATE_DIR, 'helm', 'config'), HELM_DATA_HOME: join(STATE_DIR, 'helm', 'data') });
}

/** The admin token, for API calls outside kubectl. */
export function adminToken(): string {
  return readFileSync(join(STATE_DIR, 'kube-apiserver', 'pki', 'admin.token'), 'utf8').trim();
}

/** Installs the FlinkDeployment CRD (test/support/k8s) and waits until the API server serves it. */
export async function installFlinkDeploymentCrd(): Promise<void> {
  const applied = await kubectl(['apply', '-f', PROJECT.resolve('test/support/k8s/flinkdeployment-crd.yaml')]);
  if (applied.code !== 0) throw new Error(`kubectl apply of the FlinkDeployment CRD failed: ${applied.stderr}`);
  const ready = await kubectl(['wait', '--for', 'condition=established', '--timeout=30s', 'crd/flinkdeployments.flink.apache.org']);
  if (ready.code !== 0) throw new Error(`the FlinkDeployment CRD was not established within 30 s: ${ready.stderr}`);
}

/**
 * examples/helm/values.yaml with the objects its pipelines switch moved from namespace `data` to
 * `dataNamespace` (each test run has its own), written to a temp file; returns its path.
 */
export function exampleValuesIn(dataNamespace: string): string {
  const text = readFileSync(PROJECT.resolve('examples/helm/values.yaml'), 'utf8').replace(/namespace: data\b/g, `namespace: ${dataNamespace}`);
  const file = join(mkdtempSync(join(tmpdir(), 'switchyard-values-')), 'values.yaml');
  writeFileSync(file, text);
  return file;
}

/** A Deployment (a pause container; no kubelet runs here, so it only has a spec). */
export function deploymentManifest(namespace: string, name: string, replicas: number): string {
  return JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace },
    spec: { replicas, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.10' }] } } },
  });
}

/** A FlinkDeployment with its job in `state`. */
export function flinkDeploymentManifest(namespace: string, name: string, state: 'running' | 'suspended'): string {
  return JSON.stringify({
    apiVersion: 'flink.apache.org/v1beta1',
    kind: 'FlinkDeployment',
    metadata: { name, namespace },
    spec: { image: 'flink:1.20', flinkVersion: 'v1_20', job: { jarURI: 'local:///opt/flink/usrlib/job.jar', parallelism: 2, state, upgradeMode: 'savepoint' } },
  });
}
