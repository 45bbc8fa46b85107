// A stream job dies in room-a: the demo's third act. Three controller replicas (a room each and a
// witness), a dual-writing producer and an SDK consumer on the pipeline; room-a's Flink job gets
// its poison switch, restarts three times and ends FAILED; the controllers fail the pipeline
// over to room-b. Measures the time from FAILED (Flink's own end-time) to the first record
// processed in room-b, and counts what room-b acknowledged but nobody processed.

import { FaultStack } from '../support/fault-stack.js';
import { LOCAL, services, waitFor } from '../support/local-stack.js';
import { allPublishing, feedJob, traffic } from '../support/traffic.js';

export interface JobFailoverResult {
  readonly failedToFirstRecordMs: number;
  /** FAILED -> the leader's decision, and decision -> first record in room-b. */
  readonly failedToDecisionMs: number;
  readonly flipMs: number;
  readonly acknowledged: number;
  readonly lost: number;
  readonly reason: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** When a room's job reached FAILED, by Flink's clock (its end-time), once it has. */
export async function jobFailedAt(room: 'room-a' | 'room-b'): Promise<number> {
  const { url, job } = LOCAL.rooms[room].flink;
  return waitFor(`${job} FAILED`, 60_000, async () => {
    const o = (await (await fetch(`${url}/jobs/overview`)).json()) as { jobs: { name: string; state: string; 'start-time': number; 'end-time': number }[] };
    const j = o.jobs.filter((x) => x.name === job).sort((a, b) => b['start-time'] - a['start-time'])[0];
    return j?.state === 'FAILED' && j['end-time'] > 0 ? j['end-time'] : undefined;
  }, 200);
}

export async function runJobFailover(say: (line: string) => void = () => undefined): Promise<JobFailoverResult> {
  await services('up');
  const stack = new FaultStack({ flink: true, maxLossMs: 0, leaseTtlSeconds: 2 });
  await stack.createTopic();
  for (const [name, room] of [['ctl-a', 'room-a'], ['ctl-b', 'room-b'], ['ctl-w', 'witness']] as const) stack.start(name, room);
  const t = traffic(stack);
  let stopFeed: (() => Promise<void>) | undefined;
  try {
    await stack.leader();
    await stack.steady();
    await allPublishing(stack, ['ctl-a', 'ctl-b', 'ctl-w']);
    stopFeed = await feedJob('room-a', 1, 50);
    await t.consumer.start();
    await waitFor('records processed in room-a', 20_000, () => (t.seen.size > 300 ? true : undefined));
    say(`steady: ${t.seen.size} records processed in room-a; job dashboard-agg-a RUNNING in both rooms' Flink. Poisoning room-a's job now`);
    await services('fault', 'flink-a', 'poison');
    const failed = await jobFailedAt('room-a');
    say('dashboard-agg-a restarted 3 times and is FAILED (Flink REST); the controllers see its chain DOWN');
    const flip = await waitFor('the consumer to resume in room-b', 30_000, () => t.flip());
    say(`consumer reading in ${flip.toRoom} (epoch ${flip.epoch})`);
    await sleep(1500);
    await t.stop();
    await waitFor('every record room-b acknowledged to be processed', 20_000, () => ([...t.ackedByB].every((s) => t.seen.has(s)) ? true : undefined)).catch(() => undefined);
    const history = await waitFor('the switch to be recorded', 20_000, async () => {
      const h = await stack.journals.history('live-dashboard');
      return h.length > 0 ? h : undefined;
    });
    return {
      failedToFirstRecordMs: flip.firstMessageAt - failed,
      failedToDecisionMs: flip.decidedAt - failed,
      flipMs: flip.firstMessageAt - flip.decidedAt,
      acknowledged: t.ackedByB.size,
      lost: [...t.ackedByB].filter((s) => !t.seen.has(s)).length,
      reason: history[0]!.reason,
    };
  } finally {
    await stopFeed?.();
    await t.close();
    await stack.stop();
    // A FAILED job stays FAILED: start room-a's Flink again with a fresh job.
    await services('fault', 'flink-a', 'clear');
    await services('stop', 'flink-a');
    await services('start', 'flink-a');
  }
}
