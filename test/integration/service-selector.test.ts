import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { kubeConfigFor, ServiceSelectorActuator } from '../../src/adapters/kubernetes/service-selector.js';

// No kube-apiserver runs here yet (a later issue brings one). Until then: the exact request the
// actuator sends, captured by a loopback HTTP server answering like the API server would.
describe('Service selector actuator: the request it sends', () => {
  it('PATCHes the Service with a JSON merge patch of the selector only', async () => {
    const seen: { method?: string; url?: string; headers?: IncomingMessage['headers']; body?: string }[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ method: req.method, url: req.url, headers: req.headers, body });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'dashboard-olap', namespace: 'data' }, spec: { selector: { 'switchyard.io/chain': 'standby' } } }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      const actuator = new ServiceSelectorActuator(kubeConfigFor(`http://127.0.0.1:${port}`, 'test-token'));
      await actuator.point({ namespace: 'data', name: 'dashboard-olap' }, { 'switchyard.io/chain': 'standby' });
    } finally {
      server.close();
    }
    expect(seen).toHaveLength(1);
    const req = seen[0]!;
    expect(req.method).toBe('PATCH');
    expect(req.url).toBe('/api/v1/namespaces/data/services/dashboard-olap');
    expect(req.headers!['content-type']).toBe('application/merge-patch+json');
    expect(req.headers!['authorization']).toBe('Bearer test-token');
    expect(JSON.parse(req.body!)).toEqual({ spec: { selector: { 'switchyard.io/chain': 'standby' } } });
  });

  it('fails with a clear message when the API server does not answer in time', async () => {
    const server = createServer(() => undefined); // accepts, never answers
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      const actuator = new ServiceSelectorActuator(kubeConfigFor(`http://127.0.0.1:${port}`), 300);
      await expect(actuator.point({ namespace: 'data', name: 'svc' }, { chain: 'standby' })).rejects.toThrow('patching service data/svc timed out after 300 ms');
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
