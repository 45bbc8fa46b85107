import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { idleWakeInstalled, wakeIdleFetches } from '../../src/adapters/kafka/kafka-client.js';

// kafkajs' idle wait, replaced before kafkajs loads (src/adapters/kafka/idle-sleep.ts).
const require = createRequire(import.meta.url);

describe('kafkajs idle wait: woken by its length', () => {
  it('is what kafkajs\' consumer group sleeps with, and a wake of its length ends it at once, not others', async () => {
    expect(idleWakeInstalled).toBe(true);
    const sleep = require('kafkajs/src/utils/sleep.js') as (ms: number) => Promise<void>;
    const started = Date.now();
    let long = false;
    let other = false;
    const a = sleep(60_000).then(() => (long = true));
    void sleep(60_001).then(() => (other = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(long).toBe(false);
    wakeIdleFetches(60_000);
    await a;
    expect(Date.now() - started).toBeLessThan(10_000);
    await new Promise((r) => setTimeout(r, 20));
    expect(other).toBe(false);
    wakeIdleFetches(60_001);
    await new Promise((r) => setTimeout(r, 0));
    expect(other).toBe(true);
  });

  it('sleeps its full length when nobody wakes it', async () => {
    const sleep = require('kafkajs/src/utils/sleep.js') as (ms: number) => Promise<void>;
    const started = Date.now();
    await sleep(50);
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
  });
});
