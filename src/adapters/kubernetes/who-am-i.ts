// The Kubernetes user the operator's own kubeconfig authenticates as, from the API server itself
// (a SelfSubjectReview, authentication.k8s.io/v1, GA in Kubernetes 1.28): the name the server
// checks RBAC against, not a name a context happens to carry.

import { existsSync } from 'node:fs';
import { AuthenticationV1Api, KubeConfig } from '@kubernetes/client-node';
import { requestOptions } from './fenced-patch.js';

/** Where the operator's credentials are: a kubeconfig file, or the Pod's own (in-cluster). */
export type OperatorKubeconfig = { readonly file: string } | { readonly inCluster: true };

function kubeConfigOf(where: OperatorKubeconfig): KubeConfig | undefined {
  const kc = new KubeConfig();
  if ('file' in where) {
    if (!existsSync(where.file)) return undefined;
    kc.loadFromFile(where.file);
  } else kc.loadFromCluster();
  const server = kc.getCurrentCluster()?.server;
  // A token is not sent over http for a record: no name rather than a leaked credential.
  if (!server?.startsWith('https://')) return undefined;
  // A credential plugin (exec, auth-provider) may prompt, open a browser or block the event loop
  // before a request's timeout applies: not for a name on a record at 3 a.m. What is left (a
  // token, a client certificate) is local, so the request's abort signal bounds the whole call.
  const user = kc.getCurrentUser();
  if (user?.exec || user?.authProvider) return undefined;
  return kc;
}

/**
 * The Kubernetes user those credentials authenticate as, or undefined when there are none, they
 * name an http:// server or a credential plugin, or the server does not answer within
 * `timeoutMs`. Never throws.
 */
export async function kubernetesUser(where: OperatorKubeconfig | undefined, timeoutMs = 1500): Promise<string | undefined> {
  try {
    const kc = where && kubeConfigOf(where);
    if (!kc) return undefined;
    const api = kc.makeApiClient(AuthenticationV1Api);
    const review = await api.createSelfSubjectReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } }, requestOptions(AbortSignal.timeout(timeoutMs)));
    return review.status?.userInfo?.username || undefined;
  } catch {
    return undefined;
  }
}
