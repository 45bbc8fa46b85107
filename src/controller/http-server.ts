import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import type { Controller } from './controller.js';

export interface HttpOptions {
  readonly port: number;
  readonly host?: string;
  /**
   * The bearer token /metrics and /status require (read at each request, so a rotated token file
   * takes effect at once); absent: open. /healthz and /readyz stay open for the kubelet's probes.
   */
  readonly token?: () => string;
}

/** Does the request carry `Bearer <token>`? Compared in constant time (digests of equal length). */
function authorized(req: IncomingMessage, token: string): boolean {
  const given = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
  const digest = (v: string) => createHash('sha256').update(v).digest();
  return timingSafeEqual(digest(given), digest(token));
}

/**
 * /healthz: the control loop completes ticks (503 with the reason when none has for the stall
 * limit); /readyz: that, and the store answers; /metrics; /status (JSON), behind the bearer token
 * when one is set.
 */
export function startHttpServer(controller: Controller, registry: Registry, opts: HttpOptions): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (code: number, type: string, body: string, headers: Record<string, string> = {}) => {
      res.writeHead(code, { 'content-type': type, ...headers });
      res.end(body);
    };
    if ((path === '/status' || path === '/metrics') && opts.token) {
      let token: string;
      try {
        token = opts.token();
      } catch {
        // The token file is gone or empty: closed, not open.
        return send(503, 'text/plain', 'the HTTP token cannot be read: see the controller log\n');
      }
      if (!authorized(req, token)) return send(401, 'text/plain', 'a bearer token is required\n', { 'www-authenticate': 'Bearer realm="switchyard"' });
    }
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
    server.listen(opts.port, opts.host ?? '127.0.0.1', () => resolve(server));
  });
}
