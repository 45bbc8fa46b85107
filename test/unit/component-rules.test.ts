import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { appendSample, evaluateGroupLag, evaluatePartitionLag, type LagSample } from '../../src/core/lag-rules.js';
import { backpressureLevel, evaluateStreamJob, type StreamJobSample } from '../../src/core/stream-job-rules.js';
import { evaluateOlap, parseReplicasStatus, type OlapSample } from '../../src/core/olap-rules.js';

const w = (...rows: [number, number, number][]): LagSample[] => rows.map(([at, offset, endOffset]) => ({ at, offset, endOffset }));

describe('consumer lag (Burrow rules)', () => {
  const cases: [string, LagSample[], number, string, string][] = [
    ['too few samples', w([0, 1, 5]), 10, 'UNKNOWN', 'only 1 sample(s)'],
    ['rewind beats everything', w([0, 10, 10], [10, 5, 20]), 20, 'REWIND', 'went back from 10 to 5'],
    ['any zero lag in the window is OK', w([0, 10, 10], [10, 10, 30], [20, 10, 50]), 25, 'OK', 'lag was zero'],
    ['stopped committing', w([0, 10, 20], [10, 20, 30]), 100, 'STOP', 'no commit for 90 ms, longer than the window\'s span 10 ms'],
    ['stalled: offset fixed, lag not shrinking', w([0, 10, 20], [10, 10, 20], [20, 10, 25]), 25, 'STALL', 'stuck at 10'],
    ['lag grows every interval', w([0, 10, 20], [10, 15, 30], [20, 20, 40]), 25, 'WARN', 'lag grew in every interval: 10 -> 20'],
    ['catching up is OK', w([0, 10, 30], [10, 25, 40], [20, 40, 50]), 25, 'OK', 'consuming; lag 10'],
  ];
  for (const [name, window, now, rule, reason] of cases) {
    it(name, () => {
      const r = evaluatePartitionLag(window, now);
      expect(r.rule).toBe(rule);
      expect(r.reason).toContain(reason);
    });
  }

  it('group status is the worst partition; UNKNOWN never outvotes DOWN', () => {
    const g = evaluateGroupLag(new Map([[0, w([0, 10, 10], [10, 20, 20])], [1, w([0, 1, 5])], [2, w([0, 10, 20], [10, 10, 20], [20, 10, 25])]]), 25);
    expect(g.status).toBe('DOWN');
    expect(g.rule).toBe('STALL');
    expect(g.reasons.join(' ')).toContain('partition 2 STALL');
    expect(evaluateGroupLag(new Map(), 0).status).toBe('UNKNOWN');
  });

  it('the window is bounded and ignores samples that are not newer', () => {
    let win: LagSample[] = [];
    for (const at of [1, 2, 2, 3, 4]) win = appendSample(win, { at, offset: at, endOffset: at }, 3);
    expect(win.map((s) => s.at)).toEqual([2, 3, 4]);
  });

  it('property: a window with a zero-lag sample and no rewind is OK; evaluation is deterministic', () => {
    const sample = fc.record({ offset: fc.nat(1000), extra: fc.nat(50) });
    fc.assert(
      fc.property(fc.array(sample, { minLength: 2, maxLength: 12 }), fc.nat(20), (rows, zeroAt) => {
        let offset = 0;
        const window = rows.map((r, i) => {
          offset += r.offset % 20; // never decreasing
          return { at: i * 10, offset, endOffset: offset + (i === zeroAt % rows.length ? 0 : r.extra) };
        });
        const a = evaluatePartitionLag(window, window.length * 10);
        expect(a.rule).toBe('OK');
        expect(evaluatePartitionLag(window, window.length * 10)).toEqual(a);
      }),
    );
  });
});

const job = (over: Partial<StreamJobSample> = {}, cp: Partial<StreamJobSample['checkpoint']> = {}): StreamJobSample => ({
  at: 1_000_000,
  state: 'RUNNING',
  numRestarts: 0,
  backpressureRatio: 0,
  ...over,
  checkpoint: { lastCompletedAt: 1_000_000, intervalMs: 30_000, timeoutMs: 10_000, tolerableFailures: 1, failedCount: 0, ...cp },
});
const th = { restartWindowMs: 600_000, maxRestartsInWindow: 3, maxFailedCheckpointsInWindow: 2 };

describe('stream job (Flink REST shapes)', () => {
  it('RUNNING with a fresh checkpoint is OK', () => {
    expect(evaluateStreamJob([job()], th, 1_010_000)).toEqual({ status: 'OK', reasons: ['RUNNING, 0 restarts in window, backpressure ok'] });
  });

  it('terminal states are DOWN; transitional ones DEGRADED', () => {
    expect(evaluateStreamJob([job({ state: 'FAILED' })], th, 1_000_000)).toMatchObject({ status: 'DOWN', reasons: ['job is FAILED'] });
    expect(evaluateStreamJob([job({ state: 'RESTARTING' })], th, 1_000_000).status).toBe('DEGRADED');
  });

  it('checkpoint age: the limit is max(interval, timeout) x (tolerable failures + 2), exactly at it is OK', () => {
    // limit = 30000 x 3 = 90000
    expect(evaluateStreamJob([job()], th, 1_090_000).status).toBe('OK');
    const over = evaluateStreamJob([job()], th, 1_095_000);
    expect(over.status).toBe('DEGRADED');
    expect(over.reasons[0]).toBe('checkpoint age 95000 ms exceeds the limit 90000 ms = max(interval 30000, timeout 10000) x (tolerable failures 1 + 2)');
    expect(evaluateStreamJob([job()], th, 1_181_000).status).toBe('DOWN');
  });

  it('restarts in the window over the max are a crash loop: DOWN', () => {
    const h = [job({ at: 300_000, numRestarts: 0 }), job({ at: 900_000, numRestarts: 1 }), job({ numRestarts: 5 })];
    const v = evaluateStreamJob(h, th, 1_000_000);
    expect(v.status).toBe('DOWN');
    expect(v.reasons[0]).toContain('4 restarts in the last 600000 ms (max 3)');
  });

  it('failed checkpoints and high backpressure are DEGRADED; backpressure levels at their bounds', () => {
    expect(evaluateStreamJob([job({ at: 900_000 }), job({}, { failedCount: 3 })], th, 1_000_000).reasons[0]).toContain('3 failed checkpoints');
    expect(evaluateStreamJob([job({ backpressureRatio: 0.8 })], th, 1_000_000).status).toBe('DEGRADED');
    expect([0.1, 0.11, 0.5, 0.51].map(backpressureLevel)).toEqual(['ok', 'low', 'low', 'high']);
  });

  it('no samples: UNKNOWN', () => {
    expect(evaluateStreamJob([], th, 0).status).toBe('UNKNOWN');
  });
});

const olap = (over: Partial<OlapSample> = {}): OlapSample => ({ at: 0, ping: true, replicas: [], healthQueryMs: 12, ...over });
const oth = { maxReplicaDelaySec: 30, maxQueueSize: 100, healthQueryTimeoutMs: 1000, slowQueryMs: 500 };
const replica = { table: 'db.events', absoluteDelaySec: 0, isReadonly: false, queueSize: 0, activeReplicas: 2, totalReplicas: 2 };

describe('OLAP (ClickHouse)', () => {
  it('ping down is DOWN; healthy is OK', () => {
    expect(evaluateOlap(olap({ ping: false }), oth)).toEqual({ status: 'DOWN', reasons: ['ping failed'] });
    expect(evaluateOlap(olap({ replicas: [replica] }), oth).status).toBe('OK');
  });

  it('slow or failing health query, lagging/readonly/short replicas: DEGRADED, never DOWN', () => {
    expect(evaluateOlap(olap({ healthQueryMs: undefined }), oth)).toEqual({ status: 'DEGRADED', reasons: ['health query failed or took over 1000 ms'] });
    expect(evaluateOlap(olap({ healthQueryMs: 800 }), oth).reasons).toEqual(['health query took 800 ms (slow above 500 ms)']);
    const bad = evaluateOlap(olap({ replicas: [{ ...replica, absoluteDelaySec: 45, isReadonly: true, queueSize: 200, activeReplicas: 1 }] }), oth);
    expect(bad.status).toBe('DEGRADED');
    expect(bad.reasons).toEqual([
      'readonly replica(s): db.events',
      'db.events replica delay 45 s exceeds 30 s',
      'db.events replication queue 200 exceeds 100',
      'db.events has 1/2 replicas active',
    ]);
  });

  it('property: without ping, always DOWN', () => {
    fc.assert(fc.property(fc.option(fc.nat(5000), { nil: undefined }), (ms) => {
      expect(evaluateOlap(olap({ ping: false, healthQueryMs: ms }), oth).status).toBe('DOWN');
    }));
  });

  it('/replicas_status: the body decides, not the HTTP code', () => {
    expect(parseReplicasStatus(200, 'Ok.\n')).toEqual({ ok: true, delays: [] });
    expect(parseReplicasStatus(200, 'db.events:\tAbsolute delay: 350. Relative delay: 350.\ndb.users:  Absolute delay: 7. Relative delay: 0.\n')).toEqual({
      ok: false,
      delays: [{ table: 'db.events', absoluteDelaySec: 350 }, { table: 'db.users', absoluteDelaySec: 7 }],
    });
  });
});
