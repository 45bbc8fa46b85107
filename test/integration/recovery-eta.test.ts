import { describe, expect, it } from 'vitest';
import { measureEtaError } from '../../bench/scenarios/recovery-eta.js';

describe('recovery ETA on real Kafka', () => {
  it('the ETA predicted after a flood (lag / (cap - inbound)) is within 15% of the measured catch-up', async () => {
    const r = await measureEtaError({ cap: 600, floodMs: 20_000, inboundFactor: 0.4 });
    console.log(`recovery ETA: lag ${r.lag} at ${Math.round(r.measuredInbound)}/s inbound under a ${r.cap}/s cap: predicted ${r.predictedMs} ms, caught up in ${r.actualMs} ms (${r.eta_error_pct.toFixed(1)} %)`);
    // A flood of 3 x cap for 20 s leaves about 2 x cap x 20 s of lag: the catch-up takes tens of seconds.
    expect(r.lag).toBeGreaterThan(r.cap * 10);
    expect(r.eta_error_pct).toBeLessThanOrEqual(15);
  }, 180_000);
});
