import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  Observable,
  PatchStrategy,
  setHeaderMiddleware,
  type ConfigurationOptions,
  type ObservableMiddleware,
} from '@kubernetes/client-node';
import type { FlinkJobState, ObjectRef, PatchOutcome, WorkloadActuator } from '../../ports/workload-actuator.js';
import { SecretFile } from '../system/secret-file.js';

/** The annotation that carries the route epoch of the last patch that landed on an object. */
export const ROUTE_EPOCH_ANNOTATION = 'switchyard.io/route-epoch';

/** The API server answered 409: the object changed between our read and our patch. Retry from a new read. */
export class ObjectConflictError extends Error {
  override readonly name = 'ObjectConflictError';
}

/** What the patcher needs to know of an object: its metadata, and the part of spec we change. */
interface KubeObject {
  readonly metadata?: { readonly resourceVersion?: string; readonly annotations?: Readonly<Record<string, string>> };
  readonly spec?: unknown;
}

/** How to read and merge-patch one kind of object. */
interface KindClient {
  readonly kind: string;
  read(ref: ObjectRef, options: ConfigurationOptions): Promise<KubeObject>;
  patch(ref: ObjectRef, body: object, options: ConfigurationOptions): Promise<KubeObject>;
}

/** What a patch wants of an object's spec: the merge-patch fragment, and whether a spec already has it. */
interface Wanted {
  readonly spec: object;
  holds(spec: unknown): boolean;
  /** The object's present value, for a refusal's reason. */
  describe(spec: unknown): string;
}

const FLINK = { group: 'flink.apache.org', version: 'v1beta1', plural: 'flinkdeployments' } as const;

/**
 * Changes Kubernetes objects on behalf of a switch, fenced by the route epoch.
 *
 * It reads the object and refuses when the annotation `switchyard.io/route-epoch` already says
 * this epoch or a later one (the same epoch with the wanted value is a repeat and succeeds without
 * a write). Otherwise it sends one JSON merge patch of the spec fragment and the annotation,
 * carrying the `metadata.resourceVersion` it read: the API server applies it only if the object
 * has not changed since (else HTTP 409, thrown as ObjectConflictError). A deposed leader that
 * wakes up mid-switch therefore cannot overwrite a later leader's patch. (client-node's default
 * patch content type is json-patch, which a real API server rejects for a merge body with HTTP
 * 400.) Timeout: read and patch together get `timeoutMs`; then the HTTP request is aborted (the
 * connection closed), not merely abandoned.
 */
export class KubernetesActuator implements WorkloadActuator {
  private readonly services: KindClient;
  private readonly deployments: KindClient;
  private readonly flinkDeployments: KindClient;

  constructor(
    kubeConfig: KubeConfig,
    private readonly timeoutMs = 5000,
  ) {
    const core = kubeConfig.makeApiClient(CoreV1Api);
    const apps = kubeConfig.makeApiClient(AppsV1Api);
    const custom = kubeConfig.makeApiClient(CustomObjectsApi);
    this.services = {
      kind: 'service',
      read: (ref, o) => core.readNamespacedService(ref, o),
      patch: (ref, body, o) => core.patchNamespacedService({ ...ref, body }, o),
    };
    this.deployments = {
      kind: 'deployment',
      read: (ref, o) => apps.readNamespacedDeployment(ref, o),
      patch: (ref, body, o) => apps.patchNamespacedDeployment({ ...ref, body }, o),
    };
    this.flinkDeployments = {
      kind: 'flinkdeployment',
      read: (ref, o) => custom.getNamespacedCustomObject({ ...FLINK, ...ref }, o) as Promise<KubeObject>,
      patch: (ref, body, o) => custom.patchNamespacedCustomObject({ ...FLINK, ...ref, body }, o) as Promise<KubeObject>,
    };
  }

  /** Points a Service's selector at a chain, e.g. { "switchyard.io/chain": "standby" }. */
  point(ref: ObjectRef, selector: Readonly<Record<string, string>>, epoch: number): Promise<PatchOutcome> {
    const current = (spec: unknown) => (spec as { selector?: Record<string, string> } | undefined)?.selector ?? {};
    return this.apply(this.services, ref, epoch, {
      spec: { selector },
      holds: (spec) => Object.entries(selector).every(([k, v]) => current(spec)[k] === v),
      describe: (spec) => `selector ${Object.entries(current(spec)).map(([k, v]) => `${k}=${v}`).join(',') || 'none'}`,
    });
  }

  scale(ref: ObjectRef, replicas: number, epoch: number): Promise<PatchOutcome> {
    const current = (spec: unknown) => (spec as { replicas?: number } | undefined)?.replicas;
    return this.apply(this.deployments, ref, epoch, {
      spec: { replicas },
      holds: (spec) => current(spec) === replicas,
      describe: (spec) => `replicas ${current(spec) ?? 'unset'}`,
    });
  }

  flinkJobState(ref: ObjectRef, state: FlinkJobState, epoch: number): Promise<PatchOutcome> {
    const current = (spec: unknown) => (spec as { job?: { state?: string } } | undefined)?.job?.state;
    return this.apply(this.flinkDeployments, ref, epoch, {
      spec: { job: { state } },
      holds: (spec) => current(spec) === state,
      describe: (spec) => `job state ${current(spec) ?? 'unset'}`,
    });
  }

  private async apply(client: KindClient, ref: ObjectRef, epoch: number, wanted: Wanted): Promise<PatchOutcome> {
    const what = `${client.kind} ${ref.namespace}/${ref.name}`;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), this.timeoutMs);
    // One deadline for the read and the patch together.
    const options = (...extra: ObservableMiddleware[]) => requestOptions(abort.signal, ...extra);
    try {
      const obj = await client.read(ref, options());
      const stored = Number(obj.metadata?.annotations?.[ROUTE_EPOCH_ANNOTATION] ?? '0');
      const storedEpoch = Number.isFinite(stored) ? stored : 0;
      const holds = wanted.holds(obj.spec);
      if (storedEpoch === epoch && holds) return { kind: 'already' };
      if (storedEpoch >= epoch) {
        return { kind: 'refused', reason: `${what} already carries route epoch ${storedEpoch} (${wanted.describe(obj.spec)}); a patch for epoch ${epoch} must exceed it` };
      }
      const resourceVersion = obj.metadata?.resourceVersion;
      if (!resourceVersion) throw new Error(`${what} has no metadata.resourceVersion: cannot patch it conditionally`);
      const patched = await client.patch(
        ref,
        { metadata: { resourceVersion, annotations: { [ROUTE_EPOCH_ANNOTATION]: String(epoch) } }, spec: wanted.spec },
        options(setHeaderMiddleware('Content-Type', PatchStrategy.MergePatch)),
      );
      return { kind: 'patched', resourceVersion: patched.metadata?.resourceVersion ?? '' };
    } catch (err) {
      if (abort.signal.aborted) throw new Error(`patching ${what} timed out after ${this.timeoutMs} ms (request aborted)`);
      if (err instanceof ApiException && err.code === 409) throw new ObjectConflictError(`${what} changed since it was read (HTTP 409); not patched`);
      if (err instanceof ApiException && err.code === 401) throw new Error(`patching ${what} failed: HTTP 401: the API server refused the token (expired, revoked, or the wrong file)`);
      // No retry makes these pass: the object is not there, may not be touched, or cannot take
      // the change. Left as it is, with the reason, like an object a later epoch owns.
      if (err instanceof ApiException && (err.code === 403 || err.code === 404 || err.code === 422)) {
        return { kind: 'refused', reason: `${what}: HTTP ${err.code}: ${apiMessage(err.body)}` };
      }
      if (err instanceof ApiException) throw new Error(`patching ${what} failed: HTTP ${err.code}: ${apiMessage(err.body)}`);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * Options for one client-node request: `signal` aborts it (client-node hands a request's signal to
 * its fetch, so the connection is closed, not merely abandoned), then any `extra` middleware (a
 * patch's content type).
 */
export function requestOptions(signal: AbortSignal, ...extra: ObservableMiddleware[]): ConfigurationOptions {
  const withSignal: ObservableMiddleware = {
    pre: (ctx) => {
      ctx.setSignal(signal);
      return new Observable(Promise.resolve(ctx));
    },
    post: (res) => new Observable(Promise.resolve(res)),
  };
  return { middleware: [withSignal, ...extra], middlewareMergeStrategy: 'append' };
}

/** The API server's Status message, when the body is one. */
export function apiMessage(body: unknown): string {
  // A 401 comes with no body at all.
  const text = typeof body === 'string' ? body : (JSON.stringify(body) ?? '');
  if (!text) return '(no message)';
  try {
    const parsed = JSON.parse(text) as { message?: unknown };
    if (typeof parsed.message === 'string') return parsed.message;
  } catch {
    // not JSON: show it as it came
  }
  return text.slice(0, 200);
}

/** The auth provider name under which a token file is read again whenever it changes. */
const TOKEN_FILE_PROVIDER = 'switchyard-token-file';

/**
 * A KubeConfig for one API server URL and a bearer token: given as is (tests), or a token file
 * read again whenever it changes (a projected service-account token is rotated by the kubelet
 * about hourly; client-node's own file auth re-reads only every minute and keeps a trailing
 * newline). The file's content is never logged.
 */
export function kubeConfigFor(server: string, token?: string | SecretFile, caFile?: string): KubeConfig {
  const kc = new KubeConfig();
  const fromFile = typeof token === 'object' ? token : undefined;
  kc.loadFromOptions({
    // client-node refuses plain http unless TLS verification is off; https keeps it on.
    clusters: [{ name: 'target', server, skipTLSVerify: server.startsWith('http://'), ...(caFile && { caFile }) }],
    users: [{ name: 'switchyard', ...(typeof token === 'string' && { token }), ...(fromFile && { authProvider: { name: TOKEN_FILE_PROVIDER, config: {} } }) }],
    contexts: [{ name: 'target', cluster: 'target', user: 'switchyard' }],
    currentContext: 'target',
  });
  if (fromFile) {
    kc.addAuthenticator({
      isAuthProvider: (user) => user.authProvider?.name === TOKEN_FILE_PROVIDER,
      applyAuthentication: async (_user, opts) => {
        const headers = (opts.headers ??= {}) as Record<string, string>;
        headers['Authorization'] = `Bearer ${fromFile.read()}`;
      },
    });
  }
  return kc;
}
