import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Counter, Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretFile } from '../../src/adapters/system/secret-file.js';
import type { Controller } from '../../src/controller/controller.js';
import { startHttpServer } from '../../src/controller/http-server.js';
import type { Server } from 'node:http';

// The controller's HTTP surface with a bearer token kept in a file, as a mounted Secret is: /metrics
// and /status need it, /healthz and /readyz stay open for the kubelet, and a rotated file takes
// effect on the next request (renamed into place, as the kubelet updates a Secret volume).

const dir = mkdtempSync(join(tmpdir(), 'switchyard-http-token-'));
const tokenPath = join(dir, 'token');
let server: Server;
let base: string;

/** Only what the HTTP server asks of a controller. */
const controller = {
  health: () => ({ healthy: true }),
  status: () => ({ healthy: true, ready: true, leader: true, secretish: 'status body' }),
} as unknown as Controller;

function rotate(token: string): void {
  const next = join(dir, `token.${Date.now()}`);
  writeFileSync(next, `${token}\n`);
  renameSync(next, tokenPath);
}

beforeAll(async () => {
  rotate('first-token');
  const registry = new Registry();
  new Counter({ name: 'switchyard_test_total', help: 'x', registers: [registry] }).inc();
  const file = new SecretFile(tokenPath);
  server = await startHttpServer(controller, registry, { port: 0, token: () => file.read() });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => server.close());

const get = async (path: string, token?: string) => {
  const res = await fetch(`${base}${path}`, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: await res.text(), auth: res.headers.get('www-authenticate') };
};

describe('the HTTP bearer token', () => {
  it('/metrics and /status refuse a request without the token, or with another, and say how to authenticate', async () => {
    for (const path of ['/metrics', '/status']) {
      expect(await get(path)).toEqual({ status: 401, body: 'a bearer token is required\n', auth: 'Bearer realm="switchyard"' });
      expect((await get(path, 'guess')).status).toBe(401);
      expect((await get(path, 'first-token-and-more')).status).toBe(401);
    }
    const metrics = await get('/metrics', 'first-token');
    expect(metrics.status).toBe(200);
    expect(metrics.body).toContain('switchyard_test_total 1');
    expect((await get('/status', 'first-token')).body).toContain('status body');
  });

  it('/healthz and /readyz stay open: the kubelet\'s probes carry no token', async () => {
    expect((await get('/healthz')).status).toBe(200);
    expect((await get('/readyz')).status).toBe(200);
  });

  it('a rotated token file takes effect on the next request: the old token is refused', async () => {
    rotate('second-token');
    expect((await get('/metrics', 'first-token')).status).toBe(401);
    expect((await get('/metrics', 'second-token')).status).toBe(200);
  });

  it('a token file that disappears closes /metrics (503), it does not open it', async () => {
    renameSync(tokenPath, join(dir, 'gone'));
    try {
      expect((await get('/metrics')).status).toBe(503);
      expect((await get('/metrics', 'second-token')).status).toBe(503);
    } finally {
      renameSync(join(dir, 'gone'), tokenPath);
    }
    expect((await get('/metrics', 'second-token')).status).toBe(200);
  });
});
