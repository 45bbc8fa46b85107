import { describe, expect, it } from 'vitest';
import { countConsumers, notes, type PipelineStatus } from '../../src/cli/commands/status.js';
import type { ConsumerPresence } from '../../src/ports/consumer-registry.js';

const presence = (consumer: string, over: Partial<ConsumerPresence> = {}): ConsumerPresence => ({
  consumer,
  pipeline: 'live',
  epoch: 2,
  room: 'room-b',
  state: 'consuming',
  servingRoom: 'room-b',
  servingEpoch: 2,
  since: 0,
  ...over,
});

const pipeline = (over: Partial<PipelineStatus>): PipelineStatus => ({
  pipeline: 'live',
  tier: 'P0',
  chain: 'standby',
  room: 'room-b',
  epoch: 2,
  since: null,
  reason: null,
  paused: null,
  switching: null,
  lastSwitch: null,
  pendingSwitchovers: [],
  consumers: null,
  ...over,
});

describe('status: live consumers in NOTES', () => {
  it('counts live consumers and those reading under the route epoch', () => {
    const live = [
      presence('c1'),
      presence('c2', { state: 'unreachable', servingRoom: 'room-a', servingEpoch: 1, reason: 'room-b unreachable' }),
      presence('c3', { state: 'starting', servingRoom: undefined, servingEpoch: undefined }),
    ];
    expect(countConsumers(live, 2)).toEqual({ live: 3, onRouteEpoch: 1 });
    expect(countConsumers([], 2)).toEqual({ live: 0, onRouteEpoch: 0 });
    expect(notes(pipeline({ consumers: countConsumers(live, 2) }), 0)).toBe('consumers: 3 live (1 on epoch 2)');
  });

  it('says nothing when no consumer announces itself', () => {
    expect(notes(pipeline({ consumers: { live: 0, onRouteEpoch: 0 } }), 0)).toBe('-');
    expect(notes(pipeline({ consumers: null }), 0)).toBe('-');
  });
});
