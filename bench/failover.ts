// npm run bench:failover -- --runs N [--interval MS] [--fall N] [--margin MS]
// Repeats kill-and-flip on the local stack; prints a table, then ONE JSON line as the last line.

import { runFailover, type FailoverResult } from './scenarios/failover.js';
import { flag, median, percentile, tail } from './stats.js';
import { createPinoLogger } from '../src/adapters/system/pino-logger.js';

const log = process.env['SWITCHYARD_BENCH_LOG'] ? createPinoLogger(process.env['SWITCHYARD_BENCH_LOG']) : undefined;

const argv = process.argv.slice(2);
const runs = flag(argv, 'runs', 5);
const probeIntervalMs = flag(argv, 'interval', 250);
const fallAfter = flag(argv, 'fall', 3);
const marginMs = flag(argv, 'margin', 2000);
// --no-signals: detection by the observers' probes alone (the SDK tells them nothing).
const signals = !argv.includes('--no-signals');

const results: FailoverResult[] = [];
for (let i = 1; i <= runs; i++) {
  process.stderr.write(`run ${i}/${runs}: kill room-a's broker, flip to room-b ...\n`);
  const r = await runFailover({ probeIntervalMs, fallAfter, marginMs, signals, ...(log && { log }) });
  results.push(r);
  const f = r.flip;
  process.stderr.write(`run ${i}/${runs}: seen +${f.seenAt - f.decidedAt} ms, old stopped +${f.stoppedOldAt - f.seenAt} ms, offsets placed +${f.seekedAt - f.stoppedOldAt} ms, first record +${f.firstMessageAt - f.seekedAt} ms\n`);
  process.stderr.write(`run ${i}/${runs}: leader's steps saved at (ms after the decision): ${r.steps.map((st) => `${st.step} +${st.afterMs}`).join(', ')}\n`);
  process.stderr.write(`run ${i}/${runs}: detect ${r.detectMs} ms, flip ${r.flipMs} ms, RTO ${r.rtoMs} ms, lost ${r.lost}, duplicates ${r.duplicates}\n`);
}

const col = (xs: (string | number)[], w = 10) => xs.map((x) => String(x).padStart(w)).join('');
console.log(col(['run', 'detect_ms', 'flip_ms', 'rto_ms', 'produced', 'lost', 'dups'], 11));
results.forEach((r, i) => console.log(col([i + 1, r.detectMs, r.flipMs, r.rtoMs, r.produced, r.lost, r.duplicates], 11)));
const summary = {
  bench: 'failover',
  runs,
  probe_interval_ms: probeIntervalMs,
  fall_after: fallAfter,
  margin_ms: marginMs,
  signals,
  detection_window_ms: probeIntervalMs * fallAfter,
  detect_ms_p50: median(results.map((r) => r.detectMs)),
  flip_ms_p50: median(results.map((r) => r.flipMs)),
  rto_ms_p50: median(results.map((r) => r.rtoMs)),
  ...tail('rto_ms', results.map((r) => r.rtoMs)),
  lost: results.reduce((n, r) => n + r.lost, 0),
  duplicates_max: Math.max(...results.map((r) => r.duplicates)),
  duplicates_outside_margin: results.reduce((n, r) => n + r.duplicatesOutsideMargin, 0),
  produced_total: results.reduce((n, r) => n + r.produced, 0),
};
console.log(JSON.stringify(summary));
process.exit(0);
