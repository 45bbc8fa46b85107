// The recovery ETA against a real catch-up (issue 15), shared by bench:caps and
// test/integration/recovery-eta.test.ts: an SDK consumer capped at `cap` on real Kafka, a flood at
// 3 x cap, then a steady inbound rate below the cap. Shortly after the flood (once the controller's
// own rate window no longer sees it) the ETA is predicted the controller's way: lag from the log
// ends, inbound from the sampled log ends over the window (core inboundRate), ETA from
// core recoveryEta. Then the catch-up is timed: until the consumer has read everything written.

import { createKafka } from '../../src/adapters/kafka/kafka-client.js';
import { inboundRate, recoveryEta } from '../../src/core/caps.js';
import type { RoomSample } from '../../src/core/data-estimate.js';
import { silentLogger } from '../../src/ports/logger.js';
import { LOCAL, waitFor } from '../support/local-stack.js';
import { withCapRig } from './sdk-caps.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface EtaResult {
  readonly cap: number;
  readonly inbound: number;
  /** Lag at the prediction, records. */
  readonly lag: number;
  /** The inbound rate the controller's method measured then, records/s. */
  readonly measuredInbound: number;
  readonly predictedMs: number;
  readonly actualMs: number;
  /** |actual - predicted| / actual, percent. */
  readonly eta_error_pct: number;
}

export async function measureEtaError(opts: { cap?: number; floodMs?: number; inboundFactor?: number; windowMs?: number } = {}): Promise<EtaResult> {
  const cap = opts.cap ?? 600;
  const inbound = Math.round(cap * (opts.inboundFactor ?? 0.4));
  const windowMs = opts.windowMs ?? 5000;
  return withCapRig(3, async ({ stack, consumer: c, flood }) => {
    const admin = createKafka({ clientId: 'eta-admin', brokers: [...LOCAL.rooms['room-a'].brokers], log: silentLogger }).admin();
    await admin.connect();
    const history: RoomSample[] = [];
    let sampling = true;
    // The room's log ends, sampled as the controller's position tracker does (every 500 ms).
    const sampler = (async () => {
      while (sampling) {
        const offsets = await admin.fetchTopicOffsets(stack.topic);
        history.push({ room: 'room-a', at: Date.now(), partitions: offsets.map((o) => ({ topic: stack.topic, partition: o.partition, logEnd: Number(o.high) })) });
        await sleep(500);
      }
    })();
    try {
      await stack.putCap(cap);
      await c.start();
      await waitFor('the cap to be applied', 10_000, () => c.consumer.status().pacing.cap?.recordsPerSecond === cap);
      await flood.run(cap * 3, opts.floodMs ?? 20_000);
      // After the flood, inbound goes on below the cap while the backlog drains.
      let inboundRunning = true;
      const steady = (async () => {
        while (inboundRunning) await flood.run(inbound, 1000);
      })();
      try {
        // Predict once the rate window holds only post-flood samples (what the controller shows then).
        await sleep(windowMs + 600);
        const last = history.at(-1)!;
        const logEnd = last.partitions.reduce((s, p) => s + p.logEnd, 0);
        const consumed = c.at.filter((t) => t <= last.at).length;
        const lag = logEnd - consumed;
        const measuredInbound = inboundRate(history, [stack.topic], windowMs);
        if (measuredInbound === undefined) throw new Error('the inbound rate could not be measured from the sampled log ends');
        const eta = recoveryEta(lag, cap, measuredInbound);
        if (eta.kind !== 'recovering') throw new Error(`expected a draining lag at the prediction, got ${JSON.stringify(eta)} (lag ${lag})`);
        const predictedAt = last.at;
        // Caught up: everything written up to a moment is read by then (with what one steady
        // inbound second can have in flight as the allowance).
        const caughtUp = await waitFor('the consumer to catch up', Math.max(60_000, eta.etaMs * 3), () => (c.at.length >= flood.acked - inbound * 0.25 ? Date.now() : undefined), 50);
        const actualMs = caughtUp - predictedAt;
        return { cap, inbound, lag, measuredInbound, predictedMs: eta.etaMs, actualMs, eta_error_pct: (Math.abs(actualMs - eta.etaMs) / actualMs) * 100 };
      } finally {
        inboundRunning = false;
        await steady;
      }
    } finally {
      sampling = false;
      await sampler.catch(() => undefined);
      await admin.disconnect();
    }
  });
}
