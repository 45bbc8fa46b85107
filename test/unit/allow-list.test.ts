import { describe, expect, it } from 'vitest';
import { consumerRouteRefusal, queryRouteRefusal, type AllowedRooms } from '../../src/sdk/allow-list.js';
import { queryRouteOf } from '../../src/core/model.js';
import { routeOn, testPipeline, testTopology } from '../support/model.js';

const topology = testTopology([testPipeline('live')]);
const allowed: AllowedRooms = {
  'room-a': { brokers: ['127.0.0.1:19092'], olap: 'http://127.0.0.1:18123' },
  'room-b': { brokers: ['127.0.0.1:29092'], olap: 'http://127.0.0.1:28123/' },
};

describe('the SDK\'s allowed rooms', () => {
  it('a genuine route passes; without an allow-list every route does', () => {
    expect(consumerRouteRefusal(routeOn(topology, 'live', 'standby', 2), allowed)).toBeUndefined();
    expect(consumerRouteRefusal({ ...routeOn(topology, 'live', 'standby', 2), kafka: { ...routeOn(topology, 'live', 'standby', 2).kafka, brokers: ['evil:9092'] } }, undefined)).toBeUndefined();
  });

  it('a forged route is refused: another room, or a known room with a broker not allowed there', () => {
    const genuine = routeOn(topology, 'live', 'standby', 7);
    expect(consumerRouteRefusal({ ...genuine, room: 'room-x' }, allowed)).toBe("route epoch 7 names room 'room-x', which is not in this client's allowed rooms (room-a, room-b)");
    expect(consumerRouteRefusal({ ...genuine, kafka: { ...genuine.kafka, brokers: ['127.0.0.1:29092', 'evil.example:9092'] } }, allowed)).toBe(
      "route epoch 7 names broker(s) evil.example:9092 for room 'room-b', which this client does not allow there (127.0.0.1:29092)",
    );
    // room-a's broker under room-b's name is still not room-b's.
    expect(consumerRouteRefusal({ ...genuine, kafka: { ...genuine.kafka, brokers: ['127.0.0.1:19092'] } }, allowed)).toMatch(/names broker\(s\) 127\.0\.0\.1:19092 for room 'room-b'/);
  });

  it('a query route must name the allowed OLAP URL of its room (a trailing slash aside)', () => {
    const rooms = topology.rooms as Map<string, { name: string; kafka: { brokers: string[] }; olap?: { url: string } }>;
    rooms.set('room-b', { ...rooms.get('room-b')!, olap: { url: 'http://127.0.0.1:28123' } });
    const q = queryRouteOf(routeOn(topology, 'live', 'standby', 3), 0)!;
    expect(queryRouteRefusal(q, allowed)).toBeUndefined();
    expect(queryRouteRefusal({ ...q, url: 'http://evil.example:8123' }, allowed)).toBe("query route epoch 3 names http://evil.example:8123 for room 'room-b', which this client does not allow there (http://127.0.0.1:28123/)");
  });
});
