import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import type { Controller } from './controller.js';

/**
 * /healthz: the control loop completes ticks (503 with the reason when none has for the stall
 * limit); /readyz: that, and the store answers; /metrics; /status (JSON).
 */
export function startHttpServer(controller: Controller, registry: Registry, port: number, host = '127.0.0.1'): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (code: number, type: string, body: string) => {
      res.writeHead(code, { 'content-type': type });
      res.end(body);
    };
    if (path === '/healthz') {
      const h = controller.health();
      return h.healthy ? send(200, 'text/plain', 'ok\n') : send(503, 'text/plain', `unhealthy: ${h.reason}\n`);
    }
    if (path === '/readyz') {
      const s = controller.status();
      if (!s.healthy) return send(503, 'text/plain', `not ready: ${s.unhealthyReason}\n`);
      return s.ready ? send(200, 'text/plain', 'ready\n') : send(503, 'text/plain', `not ready: ${s.notReadyReason}\n`);
    }
    if (path === '/status') return send(200, 'application/json', JSON.stringify(controller.status()));
    if (path === '/metrics') {
      registry.metrics().then(
        (body) => send(200, registry.contentType, body),
        (err: Error) => send(500, 'text/plain', err.message),
      );
      return;
    }
    send(404, 'text/plain', 'not found\n');
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
