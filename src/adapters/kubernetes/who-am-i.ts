// The Kubernetes user the operator's own kubeconfig authenticates as, from the API server itself
// (a SelfSubjectReview, authentication.k8s.io/v1, GA in Kubernetes 1.28): the name the server
// checks RBAC against, not a name a context happens to carry.

import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { AuthenticationV1Api, KubeConfig } from '@kubernetes/client-node';
import { requestOptions } from './fenced-patch.js';

/** Where a kubeconfig is, if the operator has one: $KUBECONFIG, ~/.kube/config or in-cluster. */
function operatorKubeConfig(): KubeConfig | undefined {
  const kc = new KubeConfig();
  const env = process.env['KUBECONFIG'];
  if (env) kc.loadFromDefault();
  else if (existsSync(join(homedir(), '.kube', 'config'))) kc.loadFromFile(join(homedir(), '.kube', 'config'));
  else if (process.env['KUBERNETES_SERVICE_HOST'] && existsSync('/var/run/secrets/kubernetes.io/serviceaccount/token')) kc.loadFromCluster();
  else return undefined;
  const server = kc.getCurrentCluster()?.server;
  // A token is not sent over http for a record: no name rather than a leaked credential.
  if (!server?.startsWith('https://')) return undefined;
  // A credential plugin (exec, auth-provider) may prompt, open a browser or block the event loop
  // before any timeout applies: not for a name on a record at 3 a.m.
  const user = kc.getCurrentUser();
  if (user?.exec || user?.authProvider) return undefined;
  return kc;
}

/**
 * The operator's Kubernetes user name, or undefined when they have no kubeconfig, it names an
 * http:// server, or the server does not answer within `timeoutMs`. Never throws.
 */
export async function kubernetesUser(timeoutMs = 1500): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), timeoutMs);
    timer.unref();
  });
  try {
    return await Promise.race([ask(timeoutMs), late]);
  } finally {
    clearTimeout(timer);
  }
}

async function ask(timeoutMs: number): Promise<string | undefined> {
  try {
    const kc = operatorKubeConfig();
    if (!kc) return undefined;
    const api = kc.makeApiClient(AuthenticationV1Api);
    const review = await api.createSelfSubjectReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } }, requestOptions(AbortSignal.timeout(timeoutMs)));
    const name = review.status?.userInfo?.username;
    return name || undefined;
  } catch {
    return undefined;
  }
}
