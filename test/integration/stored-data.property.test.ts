// Property: whatever sits in the store (switchover intents, a journal, a route, a pause, another
// observer's observations: well-formed, malformed, out of range, or not JSON at all), the real
// controller on the real etcd keeps ticking, keeps deciding the pipelines whose data is sound,
// and marks every malformed intent refused with its reason (issue 13, part 2).

import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { createEtcdClient } from '../../src/adapters/etcd/client.js';
import { intentProblem } from '../../src/core/stored.js';
import { LOCAL, waitFor } from '../../bench/support/local-stack.js';
import { buildController, capturingLogger, settles } from '../support/controller-harness.js';
import { testPipeline, testPolicy, testTopology } from '../support/model.js';

const etcd = createEtcdClient({ endpoints: [LOCAL.etcd] });
const prefixes: string[] = [];
afterAll(async () => {
  for (const p of prefixes) await etcd.delete().prefix(p).exec();
  etcd.close();
});

const NOW = Date.now();
/** Times that are sane, absurd, or not times at all. */
const time = fc.oneof(
  fc.constant(NOW),
  fc.integer({ min: NOW - 3_600_000, max: NOW + 600_000 }),
  fc.constantFrom(0, -1, 1e300, 8.64e15 + 1, NOW + 9_999_999_999 * 3_600_000),
  fc.double(),
  fc.string(),
  fc.constant(null),
);
const anyText = fc.oneof(fc.string(), fc.integer(), fc.constant(null));
const intentLike = fc.record(
  {
    pipeline: fc.oneof(fc.constantFrom('live', 'bad', 'nope'), anyText),
    to: fc.oneof(fc.constantFrom('standby', 'primary', 'elsewhere'), anyText),
    at: time,
    createdAt: time,
    reason: anyText,
    by: anyText,
    emergency: fc.oneof(fc.boolean(), anyText),
    holdMs: fc.oneof(fc.integer({ min: 0, max: 60_000 }), fc.constant(9_999_999_999 * 3_600_000), fc.double()),
    after: fc.oneof(fc.string(), fc.integer()),
    drill: fc.oneof(fc.record({ id: fc.string(), leg: fc.integer(), legs: fc.integer() }), fc.jsonValue()),
    refused: anyText,
  },
  { requiredKeys: ['pipeline', 'to', 'at', 'createdAt'] },
);
const journalLike = fc.record(
  {
    id: anyText,
    pipeline: fc.constant('bad'),
    kind: fc.oneof(fc.constantFrom('failover', 'switchover', 'drill'), anyText),
    status: fc.oneof(fc.constantFrom('running', 'done'), anyText),
    steps: fc.oneof(fc.array(fc.record({ step: fc.constantFrom('intent', 'gate', 'verify', 'nope'), at: time, by: anyText, note: anyText, ms: fc.integer() })), fc.jsonValue()),
    from: fc.jsonValue(),
    to: fc.jsonValue(),
    createdAt: time,
    detectedAfterMs: fc.oneof(fc.integer(), anyText),
  },
  { requiredKeys: ['pipeline', 'status'] },
);
const routeLike = fc.record(
  { pipeline: fc.constant('bad'), chain: fc.oneof(fc.constantFrom('primary', 'standby', 'gone'), anyText), room: anyText, epoch: fc.oneof(fc.integer(), fc.double(), anyText), since: time, history: fc.jsonValue(), kafka: fc.jsonValue() },
  { requiredKeys: ['pipeline'] },
);
const observationsLike = fc.array(
  fc.record({ room: fc.oneof(fc.constantFrom('room-a', 'room-b'), anyText), component: fc.oneof(fc.constantFrom('kafka', 'olap'), anyText), observer: anyText, observerRoom: anyText, at: time, status: fc.oneof(fc.constantFrom('OK', 'DOWN', 'SICK'), anyText), reason: anyText }, { requiredKeys: [] }),
  { maxLength: 4 },
);

/** A stored value: the shape as JSON, any JSON at all, or text that is not JSON. */
const stored = <T>(shape: fc.Arbitrary<T>) => fc.oneof({ weight: 6, arbitrary: shape.map((v) => JSON.stringify(v)) }, { weight: 1, arbitrary: fc.jsonValue().map((v) => JSON.stringify(v) ?? 'null') }, { weight: 1, arbitrary: fc.string() });

describe('stored data cannot stop the control loop', () => {
  it('arbitrary intents, journal, route, pause and observations: the loop ticks, the sound pipeline is decided, malformed intents are refused', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(stored(intentLike), { minLength: 1, maxLength: 4 }),
        fc.option(stored(journalLike), { nil: undefined }),
        fc.option(stored(routeLike), { nil: undefined }),
        fc.option(stored(fc.record({ by: anyText, reason: anyText, at: time }, { requiredKeys: [] })), { nil: undefined }),
        fc.option(stored(observationsLike), { nil: undefined }),
        async (intents, journal, route, pause, observations) => {
          const topology = testTopology([testPipeline('live'), testPipeline('bad')], [testPolicy({ probeIntervalMs: 100, probeTimeoutMs: 80, staleAfterMs: 2000 })]);
          const log = capturingLogger();
          const t = buildController(etcd, topology, { log });
          prefixes.push(t.prefix);
          const keys = intents.map((_, i) => `${t.prefix}/intents/switchover/i${i}`);
          await Promise.all(intents.map((v, i) => etcd.put(keys[i]!).value(v)));
          if (journal !== undefined) await etcd.put(`${t.prefix}/journal/bad`).value(journal);
          if (route !== undefined) await etcd.put(`${t.prefix}/routes/bad`).value(route);
          if (pause !== undefined) await etcd.put(`${t.prefix}/intents/pause/bad`).value(pause);
          if (observations !== undefined) await etcd.put(`${t.prefix}/observations/ctl-other`).value(observations);

          const stop = new AbortController();
          const run = t.controller.run(stop.signal);
          try {
            // The sound pipeline gets its route and a verdict; the loop completes tick after tick.
            await waitFor('live routed', 10_000, async () => ((await t.routes.get('live'))?.route.epoch ?? 0) >= 1 || undefined);
            const from = t.controller.status().ticks;
            await waitFor('ten more ticks', 10_000, () => (t.controller.status().ticks >= from + 10 ? true : undefined));
            // Every intent left is either well formed (waiting, or planned later) or refused with a reason.
            const unrefused = async () => {
              const left: string[] = [];
              for (const key of keys) {
                const kv = await etcd.get(key).string();
                if (kv === null) continue;
                let v: Record<string, unknown>;
                try {
                  // The store takes an intent's id from its key.
                  v = { ...(JSON.parse(kv) as Record<string, unknown>), id: key.split('/').pop() };
                } catch {
                  left.push(`${key}: still not JSON`);
                  continue;
                }
                if (typeof v['refused'] !== 'string' && intentProblem(v) !== '') left.push(`${key}: ${intentProblem(v)}`);
              }
              return left;
            };
            await waitFor('every malformed intent refused', 10_000, async () => ((await unrefused()).length === 0 ? true : undefined)).catch(async () => {
              throw new Error(`not refused: ${(await unrefused()).join('; ')}`);
            });
            expect(t.errors.filter((e) => e === 'tick')).toEqual([]);
            expect(t.controller.status()).toMatchObject({ healthy: true, leader: true });
            const verdicts = log.lines.filter((l) => l.msg === 'verdict' && l.fields['pipeline'] === 'live');
            expect(verdicts.length).toBeGreaterThanOrEqual(1);
            expect(log.lines.filter((l) => l.msg === 'tick failed; carrying on')).toEqual([]);
          } finally {
            stop.abort();
            await settles(run, 10_000);
          }
        },
      ),
      { numRuns: 15, endOnFailure: true },
    );
  }, 300_000);
});
