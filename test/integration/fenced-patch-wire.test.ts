import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { KubernetesActuator, kubeConfigFor, ObjectConflictError, ROUTE_EPOCH_ANNOTATION } from '../../src/adapters/kubernetes/fenced-patch.js';

// The exact requests the fenced patch sends, to a loopback HTTP server that keeps one Service and
// answers like the API server would (GET returns it; a merge PATCH carrying a stale
// metadata.resourceVersion gets 409). It makes on cue what a real API server will not: an object
// changed between our read and our patch, and a server that never answers. The same patch on the
// real kube-apiserver, for Services, Deployments and FlinkDeployments, is in kube-actuator.test.ts.

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

interface Svc {
  metadata: { name: string; namespace: string; resourceVersion: string; annotations?: Record<string, string> };
  spec: { selector: Record<string, string> };
}

const servers: Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    s.close();
  }
});

async function listen(handler: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      handler(req, res, body);
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

/** An API server holding one Service. `beforePatch` may change it between our read and our patch. */
function fakeApi(svc: Svc, beforePatch?: (svc: Svc) => void) {
  const json = (res: ServerResponse, code: number, body: unknown) => {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  return listen((req, res, body) => {
    const full = () => ({ apiVersion: 'v1', kind: 'Service', ...svc });
    if (req.method === 'GET') return json(res, 200, full());
    if (req.method === 'PATCH') {
      beforePatch?.(svc);
      const patch = JSON.parse(body) as { metadata?: { resourceVersion?: string; annotations?: Record<string, string> }; spec?: { selector?: Record<string, string> } };
      if (patch.metadata?.resourceVersion !== undefined && patch.metadata.resourceVersion !== svc.metadata.resourceVersion) {
        return json(res, 409, {
          kind: 'Status',
          apiVersion: 'v1',
          status: 'Failure',
          reason: 'Conflict',
          code: 409,
          message: 'Operation cannot be fulfilled on services "olap": the object has been modified; please apply your changes to the latest version and try again',
        });
      }
      svc.metadata.annotations = { ...svc.metadata.annotations, ...patch.metadata?.annotations };
      svc.spec.selector = { ...svc.spec.selector, ...patch.spec?.selector };
      svc.metadata.resourceVersion = String(Number(svc.metadata.resourceVersion) + 1);
      return json(res, 200, full());
    }
    json(res, 405, { kind: 'Status', code: 405, message: 'method not allowed' });
  });
}

const service = (epoch: number | undefined, chain: string, rv = '100'): Svc => ({
  metadata: { name: 'olap', namespace: 'data', resourceVersion: rv, ...(epoch !== undefined && { annotations: { [ROUTE_EPOCH_ANNOTATION]: String(epoch), owner: 'team-x' } }) },
  spec: { selector: { 'switchyard.io/chain': chain, app: 'clickhouse' } },
});

describe('the fenced patch on the wire (a Service)', () => {
  it('GETs the Service, then PATCHes selector and epoch annotation with the resourceVersion it read (JSON merge patch)', async () => {
    const svc = service(1, 'primary');
    const api = await fakeApi(svc);
    const actuator = new KubernetesActuator(kubeConfigFor(api.url, 'test-token'));
    const outcome = await actuator.point({ namespace: 'data', name: 'olap' }, { 'switchyard.io/chain': 'standby' }, 2);
    expect(outcome).toEqual({ kind: 'patched', resourceVersion: '101' });
    expect(api.seen.map((r) => `${r.method} ${r.url}`)).toEqual(['GET /api/v1/namespaces/data/services/olap', 'PATCH /api/v1/namespaces/data/services/olap']);
    const [get, patch] = api.seen as [Seen, Seen];
    expect(get.headers['authorization']).toBe('Bearer test-token');
    expect(patch.headers['authorization']).toBe('Bearer test-token');
    expect(patch.headers['content-type']).toBe('application/merge-patch+json');
    expect(JSON.parse(patch.body)).toEqual({
      metadata: { resourceVersion: '100', annotations: { [ROUTE_EPOCH_ANNOTATION]: '2' } },
      spec: { selector: { 'switchyard.io/chain': 'standby' } },
    });
    // A merge patch: other selector keys and annotations stay.
    expect(svc.spec.selector).toEqual({ 'switchyard.io/chain': 'standby', app: 'clickhouse' });
    expect(svc.metadata.annotations).toEqual({ [ROUTE_EPOCH_ANNOTATION]: '2', owner: 'team-x' });
  });

  it('patches a Service that has no epoch annotation yet', async () => {
    const api = await fakeApi(service(undefined, 'primary'));
    const actuator = new KubernetesActuator(kubeConfigFor(api.url));
    expect((await actuator.point({ namespace: 'data', name: 'olap' }, { 'switchyard.io/chain': 'standby' }, 2)).kind).toBe('patched');
    expect(api.seen.map((r) => r.method)).toEqual(['GET', 'PATCH']);
  });

  it('refuses a stale epoch without sending a PATCH', async () => {
    const svc = service(3, 'primary');
    const api = await fakeApi(svc);
    const actuator = new KubernetesActuator(kubeConfigFor(api.url));
    const outcome = await actuator.point({ namespace: 'data', name: 'olap' }, { 'switchyard.io/chain': 'standby' }, 2);
    expect(outcome).toEqual({
      kind: 'refused',
      reason: 'service data/olap already carries route epoch 3 (selector switchyard.io/chain=primary,app=clickhouse); a patch for epoch 2 must exceed it',
    });
    expect(api.seen.map((r) => r.method)).toEqual(['GET']);
    expect(svc.spec.selector['switchyard.io/chain']).toBe('primary');
  });

  it('the same epoch with another selector is refused too; with the same selector it is already done', async () => {
    const api = await fakeApi(service(2, 'standby'));
    const actuator = new KubernetesActuator(kubeConfigFor(api.url));
    expect(await actuator.point({ namespace: 'data', name: 'olap' }, { 'switchyard.io/chain': 'standby' }, 2)).toEqual({ kind: 'already' });
    expect((await actuator.point({ namespace: 'data', name: 'olap' }, { 'switchyard.io/chain': 'fallback' }, 2)).kind).toBe('refused');
    expect(api.seen.map((r) => r.method)).toEqual(['GET', 'GET']);
  });

  it('a Service changed between read and patch: the API server answers 409 and the call fails', async () => {
    const svc = service(1, 'primary');
    // Someone else (a later leader) patches it between our GET and our PATCH.
    const api = await fakeApi(svc, (s) => {
      s.metadata.resourceVersion = '105';
      s.metadata.annotations = { [ROUTE_EPOCH_ANNOTATION]: '3' };
    });
    const actuator = new KubernetesActuator(kubeConfigFor(api.url));
    const call = actuator.point({ namespace: 'data', name: 'olap' }, { 'switchyard.io/chain': 'standby' }, 2);
    await expect(call).rejects.toBeInstanceOf(ObjectConflictError);
    await expect(call).rejects.toThrow('service data/olap changed since it was read (HTTP 409); not patched');
    expect(JSON.parse(api.seen[1]!.body).metadata.resourceVersion).toBe('100');
    expect(svc.metadata.annotations).toEqual({ [ROUTE_EPOCH_ANNOTATION]: '3' });
  });

  it('times out by aborting the HTTP request: the server sees the connection closed', async () => {
    let closedAt: number | undefined;
    const server = createServer((req) => {
      // Accepts, never answers; notes when the client goes away.
      req.socket.on('close', () => (closedAt = Date.now()));
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const actuator = new KubernetesActuator(kubeConfigFor(`http://127.0.0.1:${(server.address() as AddressInfo).port}`), 300);
    const started = Date.now();
    await expect(actuator.point({ namespace: 'data', name: 'svc' }, { chain: 'standby' }, 2)).rejects.toThrow('patching service data/svc timed out after 300 ms (request aborted)');
    const failedAt = Date.now();
    expect(failedAt - started).toBeGreaterThanOrEqual(290);
    expect(failedAt - started).toBeLessThan(2000);
    // The socket closes because the client aborted (the server never closes it here).
    for (let i = 0; i < 40 && closedAt === undefined; i++) await new Promise((r) => setTimeout(r, 25));
    expect(closedAt).toBeDefined();
    expect(closedAt! - started).toBeLessThan(1500);
  });
});
