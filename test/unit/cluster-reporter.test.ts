import { describe, expect, it } from 'vitest';
import { ClusterReporter, type ClusterView } from '../../src/controller/cluster-reporter.js';
import type { PipelineVerdict } from '../../src/core/decide.js';
import type { ClusterState, PipelineEvent, PipelineStatusDoc } from '../../src/ports/cluster-state.js';
import { silentLogger } from '../../src/ports/logger.js';
import { routeOn, testPipeline, testTopology } from '../support/model.js';

const topology = testTopology([testPipeline('live')]);

class Recorder implements ClusterState {
  docs: PipelineStatusDoc[][] = [];
  events: PipelineEvent[] = [];
  leases: string[] = [];
  failNext = false;
  async publish(statuses: readonly PipelineStatusDoc[]) {
    if (this.failNext) {
      this.failNext = false;
      throw new Error('HTTP 503');
    }
    this.docs.push([...statuses]);
  }
  async event(e: PipelineEvent) {
    this.events.push(e);
  }
  async lead(identity: string) {
    this.leases.push(identity);
  }
  forgotten = 0;
  forget() {
    this.forgotten++;
  }
}

const verdict = (over: Partial<PipelineVerdict> = {}): PipelineVerdict => ({ pipeline: 'live', state: 'SERVING', rule: 'healthy', reason: 'room-a kafka is OK', ...over } as PipelineVerdict);
const view = (epoch: number, chain: string, v: PipelineVerdict = verdict()): ClusterView => ({
  routes: new Map([['live', routeOn(topology, 'live', chain, epoch, 1000 * epoch)]]),
  verdicts: [v],
  health: new Map([['live', 'room-a=OK,room-b=OK']]),
  estimates: new Map([['live', 'no loss']]),
});

describe('ClusterReporter', () => {
  it('writes each pipeline\'s status, an Event for each switch (not for the first sight), each new hold and each refusal, and names the leader', async () => {
    let now = 10_000;
    const state = new Recorder();
    const r = new ClusterReporter({ state, topology, observer: 'ctl-a', leaseSeconds: 5, clock: { now: () => now, sleep: async () => undefined }, log: silentLogger });
    r.leading(now);
    await r.round(view(1, 'primary'));
    expect(state.docs[0]).toEqual([{ pipeline: 'live', tier: 'P0', activeChain: 'primary', activeRoom: 'room-a', epoch: 1, state: 'SERVING', rule: 'healthy', health: 'room-a=OK,room-b=OK', reason: 'room-a kafka is OK', dataEstimate: 'no loss', observedBy: 'ctl-a' }]);
    expect(state.events).toEqual([]);
    expect(state.leases).toEqual(['ctl-a']);
    // Within a second: nothing written again.
    now += 500;
    await r.round(view(2, 'standby'));
    expect(state.docs).toHaveLength(1);
    now += 600;
    await r.round(view(2, 'standby'));
    expect(state.events.map((e) => [e.reason, e.type, e.action])).toEqual([['Switched', 'Normal', 'Switch']]);
    expect(state.docs[1]![0]).toMatchObject({ activeChain: 'standby', epoch: 2, lastSwitchAt: new Date(2000).toISOString() });
    // A hold: one Warning when it begins, not every round.
    now += 1000;
    await r.round(view(2, 'standby', verdict({ rule: 'no-quorum', state: 'HELD' as never, reason: 'room-b DOWN per 1/2 observer room(s)' })));
    now += 1000;
    await r.round(view(2, 'standby', verdict({ rule: 'no-quorum', state: 'HELD' as never, reason: 'room-b DOWN per 1/2 observer room(s)' })));
    expect(state.events.map((e) => e.reason)).toEqual(['Switched', 'FailoverHeld']);
    r.refused('live', 'so-1', 'outside the change window');
    now += 1000;
    await r.round(view(2, 'standby'));
    expect(state.events.at(-1)).toMatchObject({ reason: 'SwitchoverRefused', type: 'Warning', note: 'switchover so-1: outside the change window' });
    // Leadership lost and won again: what it knew is dropped (another leader may have reported
    // meanwhile) and every status is written again. A recent switch it first sees now may be one a
    // predecessor finished and never reported: it is reported under a key per epoch, which the API
    // server keeps once (a second create of the same name is taken as done).
    const before = state.forgotten;
    r.leading(undefined);
    r.leading(now);
    expect(state.forgotten).toBe(before + 2);
    now += 1000;
    await r.round(view(3, 'primary'));
    expect(state.events.map((e) => e.reason)).toEqual(['Switched', 'FailoverHeld', 'SwitchoverRefused', 'Switched']);
    expect(state.events.map((e) => e.key)).toEqual(['e2-switched', undefined, undefined, 'e3-switched']);
    // An old switch (over 10 minutes ago) first seen by a new leader is history, not news.
    r.leading(now);
    now = 3000 + 10 * 60_000 + 1;
    await r.round(view(3, 'primary'));
    expect(state.events).toHaveLength(4);
  });

  it('a failing API server is logged and retried; the events wait for the next round, none lost', async () => {
    let now = 0;
    const state = new Recorder();
    const r = new ClusterReporter({ state, topology, observer: 'ctl-a', leaseSeconds: 5, clock: { now: () => now, sleep: async () => undefined }, log: silentLogger });
    await r.round(view(1, 'primary'));
    state.failNext = true;
    now += 1000;
    await r.round(view(2, 'standby'));
    expect(state.events).toEqual([]);
    now += 1000;
    await r.round(view(2, 'standby'));
    expect(state.events.map((e) => e.reason)).toEqual(['Switched']);
  });
});
