import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** The largest answer read into memory. */
const MAX_BODY_BYTES = 16 * 1024 * 1024;

export interface HttpRequestOptions {
  readonly method?: 'GET' | 'POST';
  readonly body?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** PEM CA for an https:// server whose certificate the system does not trust. */
  readonly ca?: Buffer | string;
  /** The whole exchange, connect to last byte; then the socket is destroyed. */
  readonly timeoutMs: number;
}

/** Basic auth credentials for a server's user (ClickHouse's HTTP interface takes them). */
export interface BasicAuth {
  readonly user: string;
  readonly password: string;
}

export function basicAuthHeader(auth: BasicAuth | undefined): Record<string, string> {
  return auth ? { authorization: `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString('base64')}` } : {};
}

/**
 * One HTTP(S) request with a deadline and, for https, an optional CA: what fetch on Node 20
 * cannot take without undici's Agent. Resolves with the status and the body as text; rejects on a
 * network error or the deadline (the message never carries the request's headers).
 */
export function httpText(url: string, opts: HttpRequestOptions): Promise<{ readonly status: number; readonly text: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const send = u.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(
      u,
      {
        method: opts.method ?? 'GET',
        headers: { ...opts.headers, ...(opts.body !== undefined && { 'content-length': Buffer.byteLength(opts.body).toString() }) },
        ...(u.protocol === 'https:' && opts.ca !== undefined && { ca: opts.ca }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          // A server (or whoever a forged route names) cannot make us hold more than this.
          if (size > MAX_BODY_BYTES) req.destroy(new Error(`${u.origin}${u.pathname} answered more than ${MAX_BODY_BYTES} bytes`));
          else chunks.push(c);
        });
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', (err) => {
          clearTimeout(timer);
          reject(late ? deadline : err);
        });
      },
    );
    const deadline = new Error(`${u.origin}${u.pathname} did not answer within ${opts.timeoutMs} ms`);
    let late = false;
    const timer = setTimeout(() => {
      late = true;
      req.destroy(deadline);
    }, opts.timeoutMs);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}
