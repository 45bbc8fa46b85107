// The local Kubernetes API server (scripts/services.sh: kube-apiserver, built from the Go module
// proxy) and helm, for chart and actuator tests: kubectl and helm as child processes with the
// admin kubeconfig, or with a ServiceAccount's token.

import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
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
