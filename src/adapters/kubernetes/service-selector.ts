import { CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';

export interface ServiceTarget {
  readonly namespace: string;
  readonly name: string;
}

/**
 * Points a Kubernetes Service at the active chain by patching its selector, e.g.
 * { "switchyard.io/chain": "standby" }, for query clients that reach OLAP through a Service
 * rather than the SDK router.
 *
 * The patch is a JSON merge patch (client-node's default content type is json-patch, which a real
 * API server rejects for a merge body with HTTP 400). Only the selector keys given are changed.
 * Timeout: the call fails after `timeoutMs`.
 */
export class ServiceSelectorActuator {
  private readonly api: CoreV1Api;

  constructor(
    kubeConfig: KubeConfig,
    private readonly timeoutMs = 5000,
  ) {
    this.api = kubeConfig.makeApiClient(CoreV1Api);
  }

  async point(target: ServiceTarget, selector: Readonly<Record<string, string>>): Promise<void> {
    const call = this.api.patchNamespacedService(
      { name: target.name, namespace: target.namespace, body: { spec: { selector } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`patching service ${target.namespace}/${target.name} timed out after ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    try {
      await Promise.race([call, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** A KubeConfig for one API server URL and bearer token (in-cluster or tests). */
export function kubeConfigFor(server: string, token?: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    // client-node refuses plain http unless TLS verification is off; https keeps it on.
    clusters: [{ name: 'target', server, skipTLSVerify: server.startsWith('http://') }],
    users: [{ name: 'switchyard', ...(token && { token }) }],
    contexts: [{ name: 'target', cluster: 'target', user: 'switchyard' }],
    currentContext: 'target',
  });
  return kc;
}
