/** What a runbook's notify step (or a page on a failed step) sends. */
export interface Notification {
  readonly event: string;
  readonly step: string;
  readonly kind: 'notify' | 'page';
  readonly message: string;
  /** Who owns the step. */
  readonly owner: string;
  /** Event time (epoch ms). */
  readonly at: number;
}

/**
 * Webhook delivery with a bounded retry. Each delivery carries an idempotency key (the event, the
 * step and the kind): a leader that takes over a step whose delivery was under way sends it again
 * with the same key, so a receiver that honours the key sees it once.
 */
export interface Notifier {
  /** Resolves with the attempts it took; rejects with the last error once the retries are spent. */
  send(url: string, notification: Notification, idempotencyKey: string, signal?: AbortSignal): Promise<{ readonly attempts: number }>;
}
