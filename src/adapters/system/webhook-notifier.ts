import { ExponentialBackoff, handleAll, retry } from 'cockatiel';
import type { Notification, Notifier } from '../../ports/notifier.js';

export interface WebhookOptions {
  /** Attempts in all (the first and its retries). */
  readonly attempts?: number;
  /** Each attempt's deadline. */
  readonly timeoutMs?: number;
  readonly initialDelayMs?: number;
  readonly maxDelayMs?: number;
}

/**
 * POSTs the notification as JSON with an `Idempotency-Key` header. A non-2xx answer, a refused
 * connection and a timeout all count as failures; it retries with exponential backoff, at most
 * `attempts` in all (default 4, about 3 s of waiting), then gives up with the last error.
 */
export class WebhookNotifier implements Notifier {
  private readonly timeoutMs: number;
  private readonly policy;

  constructor(opts: WebhookOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? 3000;
    this.policy = retry(handleAll, {
      maxAttempts: Math.max(0, (opts.attempts ?? 4) - 1),
      backoff: new ExponentialBackoff({ initialDelay: opts.initialDelayMs ?? 250, maxDelay: opts.maxDelayMs ?? 2000 }),
    });
  }

  async send(url: string, n: Notification, idempotencyKey: string, signal?: AbortSignal): Promise<{ readonly attempts: number }> {
    let attempts = 0;
    await this.policy.execute(async ({ signal: cancelled }) => {
      attempts++;
      const deadline = AbortSignal.timeout(this.timeoutMs);
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': idempotencyKey },
        body: JSON.stringify({ ...n, text: `[${n.event}] ${n.step}: ${n.message}` }),
        signal: AbortSignal.any([deadline, cancelled]),
      });
      await res.body?.cancel();
      if (res.status < 200 || res.status >= 300) throw new Error(`webhook answered ${res.status}`);
    }, signal);
    return { attempts };
  }
}
