import { randomBytes } from 'node:crypto';
import { ApiException, CoordinationV1Api, CustomObjectsApi, EventsV1Api, PatchStrategy, setHeaderMiddleware, V1MicroTime, type ConfigurationOptions, type KubeConfig, type ObservableMiddleware } from '@kubernetes/client-node';
import type { ClusterState, PipelineEvent, PipelineStatusDoc } from '../../ports/cluster-state.js';
import { apiMessage, requestOptions } from './fenced-patch.js';

export const CRD = { group: 'switchyard.io', version: 'v1alpha1', plural: 'switchyardpipelines', kind: 'SwitchyardPipeline' } as const;
export const LEASE_NAME = 'switchyard-leader';
const REPORTING_CONTROLLER = 'switchyard.io/controller';

/**
 * ClusterState on the Kubernetes API (client-node): SwitchyardPipeline objects in one namespace
 * (status through the status subresource, as a JSON merge patch), events.k8s.io/v1 Events with
 * MicroTime timestamps regarding them, and a coordination.k8s.io/v1 Lease. Each status is written
 * only when it changed since this instance last wrote it.
 */
export class KubernetesClusterState implements ClusterState {
  private readonly objects: CustomObjectsApi;
  private readonly events: EventsV1Api;
  private readonly leases: CoordinationV1Api;
  private readonly written = new Map<string, string>();
  private readonly uids = new Map<string, string>();

  constructor(
    kc: KubeConfig,
    private readonly namespace: string,
    private readonly instance: string,
    /** Each request's deadline: then it is aborted (the connection closed), not merely abandoned. */
    private readonly timeoutMs = 5000,
  ) {
    this.objects = kc.makeApiClient(CustomObjectsApi);
    this.events = kc.makeApiClient(EventsV1Api);
    this.leases = kc.makeApiClient(CoordinationV1Api);
  }

  /** Request options with a deadline (and, for a patch, its content type). */
  private options(...extra: ObservableMiddleware[]): ConfigurationOptions {
    return requestOptions(AbortSignal.timeout(this.timeoutMs), ...extra);
  }

  forget(): void {
    this.written.clear();
    this.uids.clear();
  }

  private async ensure(s: PipelineStatusDoc): Promise<void> {
    if (this.uids.has(s.pipeline)) return;
    const ref = { group: CRD.group, version: CRD.version, namespace: this.namespace, plural: CRD.plural };
    let obj: { metadata?: { uid?: string } };
    try {
      obj = (await this.objects.getNamespacedCustomObject({ ...ref, name: s.pipeline }, this.options())) as typeof obj;
    } catch (err) {
      if (!(err instanceof ApiException && err.code === 404)) throw describe(err, `reading ${CRD.plural}/${s.pipeline}`);
      const body = { apiVersion: `${CRD.group}/${CRD.version}`, kind: CRD.kind, metadata: { name: s.pipeline, namespace: this.namespace, labels: { 'app.kubernetes.io/managed-by': 'switchyard' } }, spec: { pipeline: s.pipeline, tier: s.tier } };
      try {
        obj = (await this.objects.createNamespacedCustomObject({ ...ref, body }, this.options())) as typeof obj;
      } catch (e) {
        throw describe(e, `creating ${CRD.plural}/${s.pipeline}`);
      }
    }
    this.uids.set(s.pipeline, obj.metadata?.uid ?? '');
  }

  /**
   * Each pipeline on its own: one the API server refuses is reported (all of them, in one error,
   * after the others were written) and written again next time.
   */
  async publish(statuses: readonly PipelineStatusDoc[]): Promise<void> {
    const failures: string[] = [];
    for (const s of statuses) {
      const text = JSON.stringify(s);
      if (this.written.get(s.pipeline) === text) continue;
      try {
        await this.ensure(s);
        // A merge patch keeps what it does not name: optional fields absent now are sent as null (removed).
        const status = { lastSwitchAt: null, lastSwitchReason: null, dataEstimate: null, ...s };
        await this.objects.patchNamespacedCustomObjectStatus(
          { group: CRD.group, version: CRD.version, namespace: this.namespace, plural: CRD.plural, name: s.pipeline, body: { status } },
          this.options(setHeaderMiddleware('Content-Type', PatchStrategy.MergePatch)),
        );
        this.written.set(s.pipeline, text);
      } catch (err) {
        this.written.delete(s.pipeline);
        // Deleted meanwhile: created again next time.
        if (err instanceof ApiException && err.code === 404) this.uids.delete(s.pipeline);
        failures.push(describe(err, `writing the status of ${CRD.plural}/${s.pipeline}`).message);
      }
    }
    if (failures.length > 0) throw new Error(failures.join('; '));
  }

  async event(e: PipelineEvent): Promise<void> {
    const uid = this.uids.get(e.pipeline);
    try {
      await this.events.createNamespacedEvent(
        {
        namespace: this.namespace,
        body: {
          // Named like the API server's own: <object>.<unique>.
          metadata: { name: `${e.pipeline}.${e.key ?? `${e.at.toString(16)}${randomBytes(3).toString('hex')}`}`, namespace: this.namespace },
          eventTime: new V1MicroTime(e.at),
          reportingController: REPORTING_CONTROLLER,
          reportingInstance: this.instance,
          action: e.action,
          reason: e.reason,
          type: e.type,
          note: truncateBytes(e.note, 1000),
          regarding: { apiVersion: `${CRD.group}/${CRD.version}`, kind: CRD.kind, name: e.pipeline, namespace: this.namespace, ...(uid && { uid }) },
        },
        },
        this.options(),
      );
    } catch (err) {
      // A keyed Event that exists was recorded by this leader or an earlier one: done.
      if (e.key && err instanceof ApiException && err.code === 409) return;
      throw describe(err, `recording event ${e.reason} on ${CRD.plural}/${e.pipeline}`);
    }
  }

  async lead(identity: string, durationSeconds: number, since: number): Promise<void> {
    const spec = { holderIdentity: identity, leaseDurationSeconds: durationSeconds, acquireTime: new V1MicroTime(since), renewTime: new V1MicroTime(Date.now()) };
    try {
      const lease = await this.leases.readNamespacedLease({ name: LEASE_NAME, namespace: this.namespace }, this.options());
      // With the resourceVersion read: a 409 (someone wrote it meanwhile) is retried next round.
      await this.leases.replaceNamespacedLease({ name: LEASE_NAME, namespace: this.namespace, body: { ...lease, spec: { ...lease.spec, ...spec } } }, this.options());
    } catch (err) {
      if (!(err instanceof ApiException && err.code === 404)) throw describe(err, `renewing lease ${LEASE_NAME}`);
      try {
        await this.leases.createNamespacedLease({ namespace: this.namespace, body: { metadata: { name: LEASE_NAME, namespace: this.namespace }, spec } }, this.options());
      } catch (e) {
        throw describe(e, `creating lease ${LEASE_NAME}`);
      }
    }
  }
}

/** At most `max` bytes of UTF-8 (the API's limit on an Event's note is in bytes). */
function truncateBytes(text: string, max: number): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= max) return text;
  return bytes.subarray(0, max).toString('utf8').replace(/\uFFFD+$/, '');
}

function describe(err: unknown, what: string): Error {
  if (err instanceof ApiException) return new Error(`${what}: HTTP ${err.code}: ${apiMessage(err.body)}`);
  return new Error(`${what}: ${err instanceof Error ? err.message : String(err)}`);
}
