// The Kubernetes adapters, loaded on first use. @kubernetes/client-node is about 25 MB of heap
// (its sources and compiled code: docs/perf/scale.md) and a few hundred ms to load: a controller
// outside Kubernetes, and every CLI command that does not talk to it, never pays for it. Nothing
// here imports client-node; only types cross.

import type { KubeConfig } from '@kubernetes/client-node';
import type { ClusterState, PipelineEvent, PipelineStatusDoc } from '../../ports/cluster-state.js';
import type { PatchOutcome, WorkloadActuator } from '../../ports/workload-actuator.js';
import type { SecretFile } from '../system/secret-file.js';
import type { KubernetesActuator } from './fenced-patch.js';

/** Where the API server is: a server (with a token and CA) or the Pod's own credentials. */
export type KubeAccess = { readonly server: string; readonly token?: string | SecretFile; readonly caFile?: string } | { readonly inCluster: true };

/** What a switch asks of the API server: point a Service, scale a Deployment, run or suspend a Flink job. */
export type ServiceActuator = WorkloadActuator & Pick<KubernetesActuator, 'point'>;

async function kubeConfig(access: KubeAccess): Promise<KubeConfig> {
  if ('server' in access) {
    const { kubeConfigFor } = await import('./fenced-patch.js');
    return kubeConfigFor(access.server, access.token, access.caFile);
  }
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  kc.loadFromCluster();
  return kc;
}

/** Builds once, on the first call; a failed build is tried again on the next. */
function once<T>(make: () => Promise<T>): () => Promise<T> {
  let made: Promise<T> | undefined;
  return () =>
    (made ??= make().catch((err: unknown) => {
      made = undefined;
      throw err;
    }));
}

export function lazyActuator(access: KubeAccess, timeoutMs?: number): ServiceActuator {
  const get = once(async () => {
    const [{ KubernetesActuator }, kc] = await Promise.all([import('./fenced-patch.js'), kubeConfig(access)]);
    return new KubernetesActuator(kc, timeoutMs);
  });
  return {
    point: async (...a): Promise<PatchOutcome> => (await get()).point(...a),
    scale: async (...a): Promise<PatchOutcome> => (await get()).scale(...a),
    flinkJobState: async (...a): Promise<PatchOutcome> => (await get()).flinkJobState(...a),
  };
}

export function lazyClusterState(access: KubeAccess, namespace: string, instance: string): ClusterState {
  let state: ClusterState | undefined;
  const get = once(async () => {
    const [{ KubernetesClusterState }, kc] = await Promise.all([import('./cluster-state.js'), kubeConfig(access)]);
    return (state = new KubernetesClusterState(kc, namespace, instance));
  });
  return {
    publish: async (statuses: readonly PipelineStatusDoc[]) => (await get()).publish(statuses),
    event: async (e: PipelineEvent) => (await get()).event(e),
    lead: async (identity: string, durationSeconds: number, since: number) => (await get()).lead(identity, durationSeconds, since),
    // Nothing written yet before the first use: nothing to forget.
    forget: () => state?.forget(),
  };
}
