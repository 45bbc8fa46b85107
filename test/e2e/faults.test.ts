import { afterEach, describe, expect, it } from 'vitest';
import { FaultStack } from '../../bench/support/fault-stack.js';
import { killService, LOCAL, services, waitFor } from '../../bench/support/local-stack.js';
import { SWITCH_STEPS } from '../../src/core/journal.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { STATE_DIR } from '../../bench/support/local-stack.js';
import { createDualProducer } from '../../src/sdk/dual-producer.js';
import { createRoutedConsumer } from '../../src/sdk/routed-consumer.js';

const pidOf = (service: string) => Number(readFileSync(join(STATE_DIR, service, 'pid'), 'utf8').trim());

// Fault tests on the real etcd and Kafka (loopback, bounded). Each builds its own stack (etcd
// prefix, topic, controller replicas) and leaves the shared services as it found them.
let stack: FaultStack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
  await services('start', 'etcd');
  await services('start', LOCAL.rooms['room-a'].service);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('HA controller under faults', () => {
  it('SIGKILL of the leader between two switch steps: the new leader resumes it; exactly one switch is recorded', async () => {
    stack = new FaultStack();
    await stack.createTopic();
    // a leads (started first) and, by fault injection, pauses after saving flip-consumers (the
    // save that carries gate..place-offsets with it, ADR 0021): the route is written, the rest is not done.
    const a = stack.start('ctl-a', 'room-a', { SWITCHYARD_FAULT_PAUSE_AFTER_STEP: 'flip-consumers:20000' });
    expect((await stack.leader()).name).toBe('ctl-a');
    const b = stack.start('ctl-b', 'room-b');
    await stack.steady();

    killService(LOCAL.rooms['room-a'].service);
    const paused = await waitFor('ctl-a to save flip-consumers', 20_000, async () => {
      const j = (await stack!.journals.list()).get('live-dashboard')?.journal;
      return j && j.steps.at(-1)?.step === 'flip-consumers' ? j : undefined;
    });
    expect(paused.steps.map((s) => s.by)).toEqual(['ctl-a', 'ctl-a', 'ctl-a', 'ctl-a', 'ctl-a', 'ctl-a']);
    a.child.kill('SIGKILL');

    const history = await waitFor('the switch to be recorded', 30_000, async () => {
      const h = await stack!.journals.history('live-dashboard');
      return h.length > 0 ? h : undefined;
    });
    await sleep(2000); // nothing more may happen: no second switch, no second record
    expect(await stack.journals.history('live-dashboard')).toHaveLength(1);
    expect(history[0]).toMatchObject({ kind: 'failover', fromRoom: 'room-a', toRoom: 'room-b', epoch: 2, leaders: ['ctl-a', 'ctl-b'] });
    const journal = (await stack.journals.list()).get('live-dashboard')!.journal;
    expect(journal.status).toBe('done');
    expect(journal.steps.map((s) => s.step)).toEqual([...SWITCH_STEPS]);
    expect(journal.steps.map((s) => s.by)).toEqual(['ctl-a', 'ctl-a', 'ctl-a', 'ctl-a', 'ctl-a', 'ctl-a', 'ctl-b', 'ctl-b', 'ctl-b', 'ctl-b']);
    expect((await stack.routes.get('live-dashboard'))!.route).toMatchObject({ epoch: 2, room: 'room-b' });
    expect(b.firstLog('elected leader')).toBeDefined();
  });

  it('SIGSTOP of the leader past its lease, then SIGCONT: none of the old leader\'s writes is accepted', async () => {
    stack = new FaultStack();
    await stack.createTopic();
    // ctl-a freezes in the middle of acting: the route written (flip-consumers done), about to
    // save it with the steps it carries; only the intent is saved (ADR 0021).
    const a = stack.start('ctl-a', 'room-a', { SWITCHYARD_FAULT_PAUSE_AFTER_STEP: 'flip-consumers:1500:before-save' });
    expect((await stack.leader()).name).toBe('ctl-a');
    const b = stack.start('ctl-b', 'room-b');
    await stack.steady();

    killService(LOCAL.rooms['room-a'].service);
    await waitFor('ctl-a to write the route and pause before saving it', 20_000, async () => {
      const j = (await stack!.journals.list()).get('live-dashboard')?.journal;
      return j?.steps.at(-1)?.step === 'intent' && a.logs.some((l) => l['msg'] === 'fault injection: pausing') ? true : undefined;
    }, 20);
    expect((await stack.routes.get('live-dashboard'))!.route.epoch).toBe(2);
    a.child.kill('SIGSTOP');
    const history = await waitFor('ctl-b to take over and finish the switch', 30_000, async () => {
      const h = await stack!.journals.history('live-dashboard');
      return h.length > 0 ? h : undefined;
    });
    const resumedAt = Date.now();
    a.child.kill('SIGCONT');
    await sleep(4000);

    // What the old leader tried after waking, and what it got: every attempt refused.
    const after = a.logs.filter((l) => Date.parse(String(l['time'])) >= resumedAt);
    const accepted = after.filter((l) => l['msg'] === 'switch step done' || l['msg'] === 'route written' || l['msg'] === 'switch recorded');
    const refused = after.filter((l) => String(l['msg']).includes('fenced off'));
    console.log(`old leader after SIGCONT: ${refused.length} write(s) refused by the fence, ${accepted.length} accepted; lost leadership: ${after.some((l) => String(l['msg']).startsWith('leadership lost'))}`);
    expect(accepted).toEqual([]);
    expect(refused.length).toBeGreaterThanOrEqual(1);
    expect(await stack.journals.history('live-dashboard')).toHaveLength(1);
    expect(history[0]!.leaders).toEqual(['ctl-a', 'ctl-b']);
    const journal = (await stack.journals.list()).get('live-dashboard')!.journal;
    // ctl-b ran every step after the intent again; flip-consumers found the route written.
    expect(journal.steps.map((s) => s.by)).toEqual(['ctl-a', 'ctl-b', 'ctl-b', 'ctl-b', 'ctl-b', 'ctl-b', 'ctl-b', 'ctl-b', 'ctl-b', 'ctl-b']);
    expect(journal.steps.find((s) => s.step === 'flip-consumers')!.note).toBe('route already at epoch 2');
    expect((await stack.routes.get('live-dashboard'))!.route.epoch).toBe(2);
    expect(await stack.metric(a, 'switchyard_writes_rejected_total{reason="fenced"}')).toBeGreaterThanOrEqual(1);
    expect(b.firstLog('elected leader')).toBeDefined();
  });

  it('etcd stopped for 60 s: no flip, not ready, SDK keeps its route; full recovery after', async () => {
    stack = new FaultStack();
    await stack.createTopic();
    const a = stack.start('ctl-a', 'room-a');
    const b = stack.start('ctl-b', 'room-b');
    await stack.leader();
    await stack.steady();
    const producer = createDualProducer({ rooms: Object.entries(LOCAL.rooms).map(([room, r]) => ({ room, brokers: r.brokers })), sendTimeoutMs: 300 });
    let processed = 0;
    const consumer = createRoutedConsumer({
      pipeline: 'live-dashboard',
      etcd: { endpoints: [LOCAL.etcd], prefix: stack.cfg.prefix },
      marginMs: 2000,
      fromBeginning: true,
      eachMessage: async () => {
        processed++;
      },
    });
    let producing = true;
    const loop = (async () => {
      for (let seq = 0; producing; seq++) {
        await producer.send(stack!.cfg.topic, [{ value: String(seq), timestamp: Date.now(), partition: seq % 3 }]).catch(() => undefined);
        await sleep(20);
      }
    })();
    try {
      await consumer.start();
      await waitFor('records consumed in room-a', 15_000, () => (processed > 20 ? true : undefined));

      await services('stop', 'etcd');
      const stoppedAt = Date.now();
      await sleep(5000);
      expect(await stack.ready(a)).toBe(false);
      expect(await stack.ready(b)).toBe(false);
      const before = processed;
      await sleep(5000);
      expect(processed).toBeGreaterThan(before); // the SDK keeps consuming on its last known route
      expect(consumer.route).toMatchObject({ room: 'room-a', epoch: 1 });
      // Room-a fails while etcd is away: nobody may act on it until etcd is back.
      killService(LOCAL.rooms['room-a'].service);
      await sleep(Math.max(0, stoppedAt + 60_000 - Date.now()));
      expect(await stack.ready(a)).toBe(false);
      // etcd is reachable somewhere between issuing the start and the script returning (it waits
      // for readiness): a decision can only come after the former, since it needs etcd to read.
      const backAt = Date.now();
      await services('start', 'etcd');

      await waitFor('both replicas ready again', 30_000, async () => ((await stack!.ready(a)) && (await stack!.ready(b)) ? true : undefined), 250);
      const history = await waitFor('the failover after etcd returned', 40_000, async () => {
        const h = await stack!.journals.history('live-dashboard');
        return h.length > 0 ? h : undefined;
      });
      expect(history).toHaveLength(1);
      expect(history[0]!.decidedAt).toBeGreaterThanOrEqual(backAt);
      await waitFor('the consumer to follow to room-b', 20_000, () => (consumer.route?.room === 'room-b' ? true : undefined));
      console.log(`etcd back -> ready: both; failover decided ${history[0]!.decidedAt - backAt} ms after etcd returned`);
    } finally {
      producing = false;
      await loop;
      await consumer.close();
      await producer.close(1000);
    }
  });

  it('brokers that flap every 2 s: at most one switch per dwell period', async () => {
    stack = new FaultStack({ minDwellMs: 10_000 });
    await stack.createTopic();
    stack.start('ctl-a', 'room-a');
    stack.start('ctl-b', 'room-b');
    await stack.leader();
    await stack.steady();
    const pa = pidOf(LOCAL.rooms['room-a'].service);
    const pb = pidOf(LOCAL.rooms['room-b'].service);
    const started = Date.now();
    try {
      // Room-a and room-b take turns being frozen (SIGSTOP: connections hang, probes time out).
      for (let i = 0; i < 10; i++) {
        process.kill(i % 2 === 0 ? pa : pb, 'SIGSTOP');
        process.kill(i % 2 === 0 ? pb : pa, 'SIGCONT');
        await sleep(2000);
      }
    } finally {
      process.kill(pa, 'SIGCONT');
      process.kill(pb, 'SIGCONT');
    }
    await sleep(1500);
    const history = await stack.journals.history('live-dashboard');
    const elapsed = Date.now() - started;
    console.log(`flapping ${elapsed} ms: ${history.length} switch(es) at +${history.map((h) => h.decidedAt - started).join(', +')} ms`);
    expect(history.length).toBeGreaterThanOrEqual(1);
    expect(history.length).toBeLessThanOrEqual(Math.floor(elapsed / 10_000) + 1);
    for (let i = 1; i < history.length; i++) expect(history[i]!.decidedAt - history[i - 1]!.decidedAt).toBeGreaterThanOrEqual(10_000);
  });

  it('one observer\'s probes failing (its own network path): no failover without quorum', async () => {
    stack = new FaultStack();
    await stack.createTopic();
    const b = stack.start('ctl-b', 'room-b');
    expect((await stack.leader()).name).toBe('ctl-b');
    // ctl-a's path to room-a is cut: it sees room-a's broker as a closed port.
    stack.start('ctl-a', 'room-a', {}, { brokers: { 'room-a': '127.0.0.1:1' } });
    await waitFor('the leader to fail static for lack of quorum', 20_000, () =>
      b.logs.find((l) => l['msg'] === 'verdict' && l['rule'] === 'no-quorum'),
    );
    await sleep(3000);
    expect(await stack.journals.history('live-dashboard')).toEqual([]);
    expect((await stack.routes.get('live-dashboard'))!.route).toMatchObject({ epoch: 1, room: 'room-a' });
    const verdict = b.logs.find((l) => l['msg'] === 'verdict' && l['rule'] === 'no-quorum')!;
    expect(String(verdict['reason'])).toContain('short of the 2 required');
    expect(verdict['state']).toBe('FAIL_STATIC');
  });
});
