// npm run bench:soak -- [--minutes 10] [--interval 100] [--fall 3] [--rate 2000]
// A healthy stack under load with (fast) probes for a fixed time: nothing may switch. Prints a
// table, then ONE JSON line as the last line.

import { runSoak } from './scenarios/soak.js';
import { flag } from './stats.js';

const argv = process.argv.slice(2);
const minutes = flag(argv, 'minutes', 10);
const probeIntervalMs = flag(argv, 'interval', 100);
const fallAfter = flag(argv, 'fall', 3);
const rate = flag(argv, 'rate', 2000);

process.stderr.write(`soak: ${minutes} min, probes every ${probeIntervalMs} ms, fall after ${fallAfter}, ${rate} records/s, 3 controller replicas\n`);
const r = await runSoak({ minutes, probeIntervalMs, fallAfter, rate, say: (l) => process.stderr.write(`soak: ${l}\n`) });
const rules = Object.entries(r.verdicts).map(([k, v]) => `${k}=${v}`).join(', ') || 'none';
console.log(`${'minutes'.padStart(8)}${'produced'.padStart(10)}${'lost'.padStart(6)}${'switches'.padStart(10)}${'hurried'.padStart(9)}  other verdicts`);
console.log(`${(r.ms / 60_000).toFixed(1).padStart(8)}${String(r.produced).padStart(10)}${String(r.lost).padStart(6)}${String(r.switches).padStart(10)}${String(r.hurried).padStart(9)}  ${rules}`);
console.log(
  JSON.stringify({
    bench: 'soak',
    minutes: Number((r.ms / 60_000).toFixed(2)),
    interval_ms: probeIntervalMs,
    fall_after: fallAfter,
    rate,
    produced: r.produced,
    lost: r.lost,
    switches: r.switches,
    route_changes: r.routeChanges,
    hurried_signals: r.hurried,
    other_verdicts: r.verdicts,
  }),
);
process.exit(r.switches === 0 && r.routeChanges === 0 && r.lost === 0 ? 0 : 1);
