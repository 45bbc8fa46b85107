import { describe, expect, it } from 'vitest';
import { measureShedding } from '../../bench/scenarios/shedding.js';

describe('shedding on real Kafka', () => {
  it('pauses P3 before P2 as the room runs short, never P0, and resumes both when it has room again', async () => {
    const r = await measureShedding({ capacity: 1500 });
    console.log(`shedding on real Kafka: ${r.steps.join(' -> ')}; ${r.phases.map((p) => `P0 ${p.p0Rate}/s: shed [${p.shed.join(',')}] P2 ${p.p2Reading ? 'reads' : 'stopped'} P3 ${p.p3Reading ? 'reads' : 'stopped'}`).join('; ')}`);
    expect(r.phases.map((p) => p.shed.join(','))).toEqual(['', 'P3', 'P2,P3', '']);
    expect(r.phases.map((p) => [p.p2Reading, p.p3Reading])).toEqual([[true, true], [true, false], [false, false], [true, true]]);
    expect(r.steps).toEqual(['P3:shed', 'P2:shed', 'P2:uncapped', 'P3:uncapped']);
    expect(r.shed_order_ok).toBe(true);
  }, 150_000);
});
