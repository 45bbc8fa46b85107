import { ApiException, CoreV1Api, KubeConfig, Observable, PatchStrategy, setHeaderMiddleware, type ConfigurationOptions, type ObservableMiddleware } from '@kubernetes/client-node';

export interface ServiceTarget {
  readonly namespace: string;
  readonly name: string;
}

/** The annotation that carries the route epoch of the last patch that landed on the Service. */
export const ROUTE_EPOCH_ANNOTATION = 'switchyard.io/route-epoch';

export type PointOutcome =
  /** The selector and the epoch annotation were written. */
  | { readonly kind: 'patched'; readonly resourceVersion: string }
  /** Already pointed at this selector under this epoch (a repeated step). */
  | { readonly kind: 'already' }
  /** The Service carries this epoch or a later one with another selector: left as it is. */
  | { readonly kind: 'refused'; readonly reason: string };

/** The API server answered 409: the Service changed between our read and our patch. Retry from a new read. */
export class ServiceConflictError extends Error {
  override readonly name = 'ServiceConflictError';
}

/**
 * Points a Kubernetes Service at the active chain by patching its selector, e.g.
 * { "switchyard.io/chain": "standby" }, for query clients that reach OLAP through a Service
 * rather than the SDK router.
 *
 * Fenced by the route epoch: it reads the Service, and refuses when the annotation
 * `switchyard.io/route-epoch` already says this epoch or a later one (the same epoch with the
 * same selector is a repeat and succeeds without a write). Otherwise it sends one JSON merge patch
 * of the selector keys given and the annotation, carrying the `metadata.resourceVersion` it read:
 * the API server applies it only if the Service has not changed since (else HTTP 409, thrown as
 * ServiceConflictError). A deposed leader that wakes up mid-switch therefore cannot overwrite a
 * later leader's patch. (client-node's default patch content type is json-patch, which a real
 * API server rejects for a merge body with HTTP 400.)
 * Timeout: read and patch together get `timeoutMs`; then the HTTP request is aborted (the
 * connection closed), not merely abandoned.
 */
export class ServiceSelectorActuator {
  private readonly api: CoreV1Api;

  constructor(
    kubeConfig: KubeConfig,
    private readonly timeoutMs = 5000,
  ) {
    this.api = kubeConfig.makeApiClient(CoreV1Api);
  }

  async point(target: ServiceTarget, selector: Readonly<Record<string, string>>, epoch: number): Promise<PointOutcome> {
    const what = `service ${target.namespace}/${target.name}`;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), this.timeoutMs);
    // client-node passes a request's signal to its fetch: aborting it closes the connection.
    const withSignal: ObservableMiddleware = {
      pre: (ctx) => {
        ctx.setSignal(abort.signal);
        return new Observable(Promise.resolve(ctx));
      },
      post: (res) => new Observable(Promise.resolve(res)),
    };
    const options = (...extra: ObservableMiddleware[]): ConfigurationOptions => ({ middleware: [withSignal, ...extra], middlewareMergeStrategy: 'append' });
    try {
      const svc = await this.api.readNamespacedService({ name: target.name, namespace: target.namespace }, options());
      const stored = Number(svc.metadata?.annotations?.[ROUTE_EPOCH_ANNOTATION] ?? '0');
      const storedEpoch = Number.isFinite(stored) ? stored : 0;
      const current = svc.spec?.selector ?? {};
      const same = Object.entries(selector).every(([k, v]) => current[k] === v);
      if (storedEpoch === epoch && same) return { kind: 'already' };
      if (storedEpoch >= epoch) {
        return { kind: 'refused', reason: `${what} already carries route epoch ${storedEpoch} (selector ${describe(current)}); a patch for epoch ${epoch} must exceed it` };
      }
      const resourceVersion = svc.metadata?.resourceVersion;
      if (!resourceVersion) throw new Error(`${what} has no metadata.resourceVersion: cannot patch it conditionally`);
      const patched = await this.api.patchNamespacedService(
        {
          name: target.name,
          namespace: target.namespace,
          body: { metadata: { resourceVersion, annotations: { [ROUTE_EPOCH_ANNOTATION]: String(epoch) } }, spec: { selector } },
        },
        options(setHeaderMiddleware('Content-Type', PatchStrategy.MergePatch)),
      );
      return { kind: 'patched', resourceVersion: patched.metadata?.resourceVersion ?? '' };
    } catch (err) {
      if (abort.signal.aborted) throw new Error(`patching ${what} timed out after ${this.timeoutMs} ms (request aborted)`);
      if (err instanceof ApiException && err.code === 409) throw new ServiceConflictError(`${what} changed since it was read (HTTP 409); not patched`);
      if (err instanceof ApiException) throw new Error(`patching ${what} failed: HTTP ${err.code}: ${apiMessage(err.body)}`);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }
}

function describe(selector: Readonly<Record<string, string>>): string {
  return Object.entries(selector).map(([k, v]) => `${k}=${v}`).join(',') || 'none';
}

/** The API server's Status message, when the body is one. */
export function apiMessage(body: unknown): string {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  try {
    const parsed = JSON.parse(text) as { message?: unknown };
    if (typeof parsed.message === 'string') return parsed.message;
  } catch {
    // not JSON: show it as it came
  }
  return text.slice(0, 200);
}

/** A KubeConfig for one API server URL and bearer token (in-cluster or tests). */
export function kubeConfigFor(server: string, token?: string, caFile?: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    // client-node refuses plain http unless TLS verification is off; https keeps it on.
    clusters: [{ name: 'target', server, skipTLSVerify: server.startsWith('http://'), ...(caFile && { caFile }) }],
    users: [{ name: 'switchyard', ...(token && { token }) }],
    contexts: [{ name: 'target', cluster: 'target', user: 'switchyard' }],
    currentContext: 'target',
  });
  return kc;
}
