// A kafkajs consumer whose partitions are all paused sleeps `maxWaitTimeInMs` between looks at
// them, and a resume does not wake it (kafkajs 2.2.4, consumerGroup.fetch). The SDK's standby
// member is paused until it is promoted, so it had to look every 10 ms to be promoted within
// 5 ms on average: 100 loop turns a second per standby, most of the CPU of a process holding
// 100 of them (docs/perf/scale.md). Here kafkajs' `utils/sleep` module, which only that idle
// wait and the admin's `waitFor` polling use, is replaced by one that `wakeIdleFetches` can end
// early: a standby can then sleep long and still be woken the moment it is resumed. Sleeps are
// woken by their length, which stands for the consumers that sleep that long.
//
// It must be in place before kafkajs loads: kafka-client.ts imports this module first, and is
// the only module that loads kafkajs. If kafkajs was loaded already (another importer), nothing
// is replaced and `idleWakeInstalled` is false; callers then keep the short wait.

import { createRequire, Module } from 'node:module';

const require = createRequire(import.meta.url);
/** Pending sleeps, by their length in ms. */
const sleeping = new Map<number, Set<() => void>>();

/** The replacement module, once placed. */
let replacement: Module | undefined;

function install(): boolean {
  try {
    const sleepPath = require.resolve('kafkajs/src/utils/sleep.js');
    const groupPath = require.resolve('kafkajs/src/consumer/consumerGroup.js');
    if (require.cache[sleepPath] || require.cache[groupPath]) return false;
    const m = new Module(sleepPath);
    replacement = m;
    m.filename = sleepPath;
    m.loaded = true;
    m.exports = (ms: number) =>
      new Promise<void>((resolve) => {
        const set = sleeping.get(ms) ?? new Set<() => void>();
        sleeping.set(ms, set);
        const wake = () => {
          clearTimeout(timer);
          set.delete(wake);
          if (set.size === 0 && sleeping.get(ms) === set) sleeping.delete(ms);
          resolve();
        };
        const timer = setTimeout(wake, ms);
        set.add(wake);
      });
    require.cache[sleepPath] = m;
    return true;
  } catch {
    return false;
  }
}

/** Whether kafkajs' idle wait can be woken (see the module comment; `checkIdleWake` settles it). */
export let idleWakeInstalled = install();

/**
 * Called once kafkajs has loaded: the wake works only if kafkajs' consumer group took the
 * replacement (a bundled kafkajs, or one loaded from another path, did not).
 */
export function checkIdleWake(): void {
  if (!idleWakeInstalled) return;
  try {
    const group = require.cache[require.resolve('kafkajs/src/consumer/consumerGroup.js')];
    idleWakeInstalled = replacement !== undefined && group !== undefined && group.children.includes(replacement);
  } catch {
    idleWakeInstalled = false;
  }
}

/**
 * Ends every kafkajs idle wait of `ms` (a consumer's `maxWaitTimeInMs`) in this process now: call
 * it right after resuming a consumer that sleeps that long. Give such consumers a length no other
 * consumer uses, so that only they are woken; one woken with nothing to fetch looks once and
 * sleeps again.
 */
export function wakeIdleFetches(ms: number): void {
  for (const wake of [...(sleeping.get(ms) ?? [])]) wake();
}
