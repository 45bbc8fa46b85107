import { afterEach, describe, expect, it } from 'vitest';
import { FaultStack } from '../../bench/support/fault-stack.js';
import { killService, LOCAL, services, waitFor } from '../../bench/support/local-stack.js';
import { SWITCH_STEPS } from '../../src/core/journal.js';

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
    // a leads (started first) and, by fault injection, pauses after saving the fence-old step.
    const a = stack.start('ctl-a', 'room-a', { SWITCHYARD_FAULT_PAUSE_AFTER_STEP: 'fence-old:20000' });
    expect((await stack.leader()).name).toBe('ctl-a');
    const b = stack.start('ctl-b', 'room-b');
    await stack.steady();

    killService(LOCAL.rooms['room-a'].service);
    const paused = await waitFor('ctl-a to save fence-old', 20_000, async () => {
      const j = (await stack!.journals.list()).get('live-dashboard')?.journal;
      return j && j.steps.at(-1)?.step === 'fence-old' ? j : undefined;
    });
    expect(paused.steps.map((s) => s.by)).toEqual(['ctl-a', 'ctl-a', 'ctl-a']);
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
    expect(journal.steps.map((s) => s.by)).toEqual(['ctl-a', 'ctl-a', 'ctl-a', 'ctl-b', 'ctl-b', 'ctl-b', 'ctl-b', 'ctl-b']);
    expect((await stack.routes.get('live-dashboard'))!.route).toMatchObject({ epoch: 2, room: 'room-b' });
    expect(b.firstLog('elected leader')).toBeDefined();
  });
});
