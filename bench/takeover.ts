// npm run bench:takeover -- [--runs N] [--ttl S]
// Two controller replicas on the local stack; the leader is SIGKILLed (lease must expire) or
// SIGTERMed (it resigns at once). Measures the time until the new leader's first acting tick.
// Prints a table, then ONE JSON line as the last line.

import { FaultStack } from './support/fault-stack.js';
import { services, waitFor } from './support/local-stack.js';
import { flag, median, percentile, tail } from './stats.js';

const argv = process.argv.slice(2);
const runs = flag(argv, 'runs', 5);
const ttl = flag(argv, 'ttl', 5);

async function once(how: 'kill' | 'graceful'): Promise<number> {
  const stack = new FaultStack({ leaseTtlSeconds: ttl });
  try {
    await stack.createTopic();
    const a = stack.start('ctl-a', 'room-a');
    await waitFor('ctl-a to lead', 20_000, () => a.firstLog('first tick as leader'));
    const b = stack.start('ctl-b', 'room-b');
    await waitFor('ctl-b to follow, ready', 20_000, async () => ((await stack.ready(b)) ? true : undefined), 100);
    await new Promise((r) => setTimeout(r, 1000));
    const t0 = Date.now();
    a.child.kill(how === 'kill' ? 'SIGKILL' : 'SIGTERM');
    const took = await waitFor('ctl-b to act as leader', ttl * 1000 * 3, () => b.firstLog('first tick as leader', t0), 10);
    return took - t0;
  } finally {
    await stack.stop();
  }
}

await services('up');
const kill: number[] = [];
const graceful: number[] = [];
for (let i = 1; i <= runs; i++) {
  graceful.push(await once('graceful'));
  kill.push(await once('kill'));
  process.stderr.write(`run ${i}/${runs}: graceful ${graceful.at(-1)} ms, kill ${kill.at(-1)} ms (ttl ${ttl * 1000} ms)\n`);
}
console.log('run  graceful_ms  kill_ms');
kill.forEach((k, i) => console.log(`${String(i + 1).padStart(3)}  ${String(graceful[i]).padStart(11)}  ${String(k).padStart(7)}`));
console.log(
  JSON.stringify({
    bench: 'takeover',
    runs,
    ttl_ms: ttl * 1000,
    kill_takeover_ms_p50: median(kill),
    ...tail('kill_takeover_ms', kill),
    graceful_takeover_ms_p50: median(graceful),
    ...tail('graceful_takeover_ms', graceful),
  }),
);
process.exit(0);
