// One kill-and-flip run for queries, shared by the e2e test and bench:query-failover: two
// controller replicas, several callers looping SELECTs through the SDK query router; room-a's
// ClickHouse is SIGKILLed in steady state. Measures the query RTO and counts failed queries.

import { FaultStack } from '../support/fault-stack.js';
import { killService, LOCAL, services, waitFor } from '../support/local-stack.js';
import { createQueryRouter } from '../../src/sdk/query-router.js';
import type { SwitchRecord } from '../../src/core/journal.js';

export interface QueryFailoverResult {
  readonly callers: number;
  readonly queries: number;
  readonly failedPerCaller: readonly number[];
  /** Kill to the first query answered by room-b. */
  readonly queryRtoMs: number;
  readonly routeRoom: string;
  readonly history: readonly SwitchRecord[];
}

export async function runQueryFailover(opts: { callers?: number; say?: (line: string) => void } = {}): Promise<QueryFailoverResult> {
  const say = opts.say ?? (() => undefined);
  const callers = opts.callers ?? 4;
  await services('up');
  const stack = new FaultStack({ olap: true, verifyTimeoutMs: 2000 });
  const routers = Array.from({ length: callers }, () => createQueryRouter({ pipeline: 'live-dashboard', etcd: { endpoints: [LOCAL.etcd], prefix: stack.cfg.prefix }, timeoutMs: 2000, flipWaitMs: 8000 }));
  let running = true;
  const failed = new Array<number>(callers).fill(0);
  let queries = 0;
  let firstOnB: number | undefined;
  let killAt = 0;
  try {
    await stack.createTopic();
    stack.start('ctl-a', 'room-a');
    stack.start('ctl-b', 'room-b');
    await stack.leader();
    await stack.steady();
    await waitFor('the first query route', 15_000, async () => (await stack.etcd.get(`${stack.cfg.prefix}/query-routes/live-dashboard`).string()) ?? undefined);
    await Promise.all(routers.map((r) => r.start()));
    say(`${callers} callers querying ${routers[0]!.route?.url} (room-a) through the SDK router`);
    const loops = routers.map(async (router, i) => {
      while (running) {
        try {
          const started = Date.now();
          await router.query('SELECT 1');
          queries++;
          if (killAt && firstOnB === undefined && router.route?.room === 'room-b') firstOnB = Date.now();
          await new Promise((r) => setTimeout(r, Math.max(0, 20 - (Date.now() - started))));
        } catch {
          failed[i]!++;
        }
      }
    });
    await new Promise((r) => setTimeout(r, 1500));
    killAt = killService(LOCAL.rooms['room-a'].olapService);
    say(`SIGKILL room-a's ClickHouse; ${queries} queries answered so far`);
    await waitFor('queries answered by room-b', 30_000, () => firstOnB);
    say(`queries now answered by room-b, ${firstOnB! - killAt} ms after the kill`);
    await new Promise((r) => setTimeout(r, 1000));
    running = false;
    await Promise.all(loops);
    const history = await waitFor('the switch to be recorded', 15_000, async () => {
      const h = await stack.journals.history('live-dashboard');
      return h.length > 0 ? h : undefined;
    });
    return { callers, queries, failedPerCaller: failed, queryRtoMs: firstOnB! - killAt, routeRoom: routers[0]!.route!.room, history };
  } finally {
    running = false;
    await Promise.all(routers.map((r) => r.close()));
    await stack.stop();
    await services('start', LOCAL.rooms['room-a'].olapService);
  }
}
