import { describe, expect, it } from 'vitest';
import { eachBounded } from '../../src/controller/bounded.js';

describe('eachBounded: per-pipeline jobs side by side, at most a limit at once', () => {
  it('runs every item, never more than the limit at once, and as many as the limit when there are enough', async () => {
    let inFlight = 0;
    let most = 0;
    const done: number[] = [];
    const gates: (() => void)[] = [];
    const run = eachBounded(
      Array.from({ length: 20 }, (_, i) => i),
      4,
      async (i) => {
        inFlight++;
        most = Math.max(most, inFlight);
        await new Promise<void>((r) => gates.push(r));
        inFlight--;
        done.push(i);
      },
      () => undefined,
    );
    // Release the jobs one at a time, as they arrive.
    while (done.length < 20) {
      await new Promise((r) => setImmediate(r));
      gates.shift()?.();
    }
    await run;
    expect(done.sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(most).toBe(4);
  });

  it('one job that rejects is reported on its own, and the others still run', async () => {
    const ran: string[] = [];
    const failed: string[] = [];
    await eachBounded(
      ['a', 'b', 'c'],
      2,
      async (x) => {
        if (x === 'b') throw new Error('boom');
        ran.push(x);
      },
      (x, err) => failed.push(`${x}: ${(err as Error).message}`),
    );
    expect(ran.sort()).toEqual(['a', 'c']);
    expect(failed).toEqual(['b: boom']);
  });
});
