// npm run bench:query-failover -- [--runs N] [--callers N]
// Repeats kill-ClickHouse-and-flip; prints a table, then ONE JSON line as the last line.

import { runQueryFailover, type QueryFailoverResult } from './scenarios/query-failover.js';
import { flag, median, percentile, tail } from './stats.js';

const argv = process.argv.slice(2);
const runs = flag(argv, 'runs', 5);
const callers = flag(argv, 'callers', 4);
const results: QueryFailoverResult[] = [];
for (let i = 1; i <= runs; i++) {
  const r = await runQueryFailover({ callers });
  results.push(r);
  process.stderr.write(`run ${i}/${runs}: query RTO ${r.queryRtoMs} ms, ${r.queries} queries, failed ${r.failedPerCaller.join('/')}\n`);
}
console.log('run  query_rto_ms  queries  failed_max');
results.forEach((r, i) => console.log(`${String(i + 1).padStart(3)}  ${String(r.queryRtoMs).padStart(12)}  ${String(r.queries).padStart(7)}  ${String(Math.max(...r.failedPerCaller)).padStart(10)}`));
console.log(
  JSON.stringify({
    bench: 'query-failover',
    runs,
    callers,
    query_rto_ms_p50: median(results.map((r) => r.queryRtoMs)),
    ...tail('query_rto_ms', results.map((r) => r.queryRtoMs)),
    failed_queries_max: Math.max(...results.flatMap((r) => r.failedPerCaller)),
    queries_total: results.reduce((n, r) => n + r.queries, 0),
  }),
);
process.exit(0);
