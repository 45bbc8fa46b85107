import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { compileRunbook } from '../../src/config/runbook.js';
import type { StepRecord } from '../../src/core/runbook.js';
import type { SwitchRecord } from '../../src/core/journal.js';
import type { CapEvent } from '../../src/ports/cap-store.js';
import { runbookExport } from '../../src/cli/runbook-view.js';
import { renderRunbookReport } from '../../src/cli/runbook-report.js';
import { openPage } from '../support/chromium.js';
import { testPipeline, testPolicy, testTopology } from '../support/model.js';

// The report as a browser shows it: headless Chromium lays the page out, and the test reads what
// is on screen: a bar per step that happened, where the plan and the actual times put it, the
// failed and late steps in their colours, the switch and cap marks on the timeline.

const MIN = 60_000;
const T0 = Date.UTC(2026, 11, 31, 12, 0);
const topology = testTopology([testPipeline('live')], [testPolicy({ tier: 'P0' })]);

function page(): string {
  const runbook = compileRunbook(
    'gala.yaml',
    {
      event: 'gala',
      t0: new Date(T0).toISOString(),
      timeZone: 'Asia/Shanghai',
      phases: {
        before: [
          { id: 'on-time', at: 'T-1h', owner: 'sre', action: { check: {} } },
          { id: 'caps-on', at: 'T-30m', owner: 'data', action: { cap: { pipeline: 'live', rate: 800 } }, needsAck: true, timeout: '30m' },
        ],
        during: [
          { id: 'switch-away', at: 'T', owner: 'sre', action: { switchover: { pipeline: 'live', to: 'standby' } }, timeout: '30m' },
          { id: 'broken', at: 'T+30m', owner: 'sre', action: { check: {} }, checks: [{ lagBelow: { pipeline: 'live', records: 10 } }], timeout: '10m', onFailure: 'continue' },
        ],
        after: [{ id: 'not-needed', at: 'T+1h', owner: 'lead', action: { uncap: { pipeline: 'live' } } }],
      },
    },
    topology,
  );
  const rec = (r: StepRecord) => ({ record: r, version: '1' });
  const steps = new Map([
    ['on-time', rec({ status: 'done', startedAt: T0 - 60 * MIN, endedAt: T0 - 60 * MIN + 5000, by: 'controller', result: 'checked' })],
    // Acknowledged 18 minutes after it was due: late.
    ['caps-on', rec({ status: 'done', ackedAt: T0 - 12 * MIN, ackedBy: 'erin', startedAt: T0 - 12 * MIN, endedAt: T0 - 12 * MIN + 2000, by: 'erin', result: 'capped live at 800 records/s' })],
    ['switch-away', rec({ status: 'done', startedAt: T0, endedAt: T0 + 3 * MIN, by: 'controller', result: 'switched primary@room-a -> standby@room-b' })],
    ['broken', rec({ status: 'failed', startedAt: T0 + 30 * MIN, endedAt: T0 + 40 * MIN, by: 'controller', acted: true, checkpoint: 'failed', result: 'timed out: not finished within 10m (live: consumer lag 5000 record(s), not below 10)' })],
    ['not-needed', rec({ status: 'skipped', endedAt: T0 + 50 * MIN, by: 'lee', result: 'skipped by lee: not needed' })],
  ]);
  const switches: SwitchRecord[] = [
    { id: 'live-e2', pipeline: 'live', kind: 'switchover', fromChain: 'primary', fromRoom: 'room-a', toChain: 'standby', toRoom: 'room-b', epoch: 2, reason: 'runbook', requestedBy: 'controller', request: 'rb-gala-switch-away', leaders: ['ctl-a'], decidedAt: T0 + MIN, finishedAt: T0 + 2 * MIN, detectedAfterMs: 0, flipMs: 40, rtoMs: undefined, outcome: 'verified', note: '' },
  ];
  const caps: CapEvent[] = [{ pipeline: 'live', at: T0 - 12 * MIN, room: 'room-a', before: undefined, after: 800, origin: 'override', reason: 'runbook gala step caps-on' }];
  const x = runbookExport({ started: { runbook, startedBy: 'erin', startedAt: T0 - 2 * 60 * MIN }, steps, inputs: { acks: new Map(), skips: new Map() }, ended: { at: T0 + 60 * MIN, outcome: 'finished', summary: '3 done, 1 failed, 1 skipped' } }, T0 + 61 * MIN, switches, caps);
  const file = join(mkdtempSync(join(tmpdir(), 'switchyard-report-')), 'gala.html');
  writeFileSync(file, renderRunbookReport(x));
  return file;
}

interface Shown {
  title: string;
  badges: string;
  steps: { id: string; cls: string; planned: number | null; bar: { x: number; w: number; fill: string } | null }[];
  rows: { id: string; bg: string; state: string }[];
  switches: number[];
  caps: number[];
  t0: number;
  width: number;
}

describe('runbook report in headless Chromium', () => {
  it('shows each step planned against actual, the late and failed ones highlighted, and the switches and cap changes where they happened', async () => {
    const p = await openPage(pathToFileURL(page()).href);
    try {
      const shown = await p.evaluate<Shown>(`(() => {
        const box = (el) => { if (!el) return null; const b = el.getBoundingClientRect(); return { x: b.x, w: b.width, cx: b.x + b.width / 2 }; };
        return {
          title: document.title,
          badges: document.querySelector('.badges').innerText,
          steps: [...document.querySelectorAll('svg g.step')].map((g) => {
            const bar = g.querySelector('rect.actual');
            return { id: g.dataset.step, cls: g.getAttribute('class'), planned: box(g.querySelector('path.planned'))?.cx ?? null,
              bar: bar ? { ...box(bar), fill: getComputedStyle(bar).fill } : null };
          }),
          rows: [...document.querySelectorAll('table.steps tbody tr')].map((tr) => ({ id: tr.dataset.step, bg: getComputedStyle(tr.querySelector('td')).backgroundColor, state: tr.querySelector('td.state').innerText })),
          switches: [...document.querySelectorAll('svg g.switch')].map((g) => box(g).cx),
          caps: [...document.querySelectorAll('svg g.cap')].map((g) => box(g).cx),
          t0: box(document.querySelector('svg line.t0')).cx,
          width: document.querySelector('svg.timeline').getBoundingClientRect().width,
        };
      })()`);
      expect(shown.title).toBe('gala: runbook report');
      expect(shown.badges).toMatch(/finished/);
      expect(shown.badges).toMatch(/1 failed/);
      expect(shown.badges).toMatch(/2 late/); // caps-on started 18 min behind; broken timed out
      expect(shown.width).toBeGreaterThan(800); // laid out, not collapsed
      const step = (id: string) => shown.steps.find((s) => s.id === id)!;
      expect(shown.steps.map((s) => s.id)).toEqual(['on-time', 'caps-on', 'switch-away', 'broken', 'not-needed']);
      // Bars run left to right in time, and T0 sits where switch-away was planned.
      expect(step('on-time').bar!.x).toBeLessThan(step('caps-on').bar!.x);
      expect(step('caps-on').bar!.x).toBeLessThan(step('switch-away').bar!.x);
      expect(Math.abs(step('switch-away').planned! - shown.t0)).toBeLessThan(2);
      // On time: the bar starts at the plan. Late (acked 18 min after it was due): the bar starts well right of the plan, and the step is marked late.
      expect(Math.abs(step('on-time').bar!.x - step('on-time').planned!)).toBeLessThan(2);
      const pxPerMin = (shown.t0 - step('on-time').planned!) / 60;
      expect(step('caps-on').bar!.x - step('caps-on').planned!).toBeCloseTo(18 * pxPerMin, 0);
      expect(step('caps-on').cls).toContain('late');
      expect(step('on-time').cls).not.toContain('late');
      // Colours as the legend says: done green, failed red, skipped grey.
      expect(step('on-time').bar!.fill).toBe('rgb(46, 125, 50)');
      expect(step('broken').bar!.fill).toBe('rgb(198, 40, 40)');
      expect(step('not-needed').bar!.fill).toBe('rgb(158, 158, 158)');
      // The table highlights the late row orange, the failed one (late too: it timed out) red-orange; the others stay white.
      const row = (id: string) => shown.rows.find((r) => r.id === id)!;
      expect(row('broken').bg).toBe('rgb(251, 208, 200)');
      expect(row('broken').state).toBe('failed · late');
      expect(row('caps-on').bg).toBe('rgb(255, 241, 222)');
      expect(row('on-time').bg).toBe('rgba(0, 0, 0, 0)');
      expect(row('caps-on').state).toBe('done · late');
      // The switch is marked one minute after T0, inside switch-away's bar; the cap change where caps-on ran.
      expect(shown.switches).toHaveLength(1);
      expect(shown.switches[0]! - shown.t0).toBeCloseTo(pxPerMin, 0);
      expect(shown.caps).toHaveLength(1);
      expect(Math.abs(shown.caps[0]! - step('caps-on').bar!.x)).toBeLessThan(6);
    } finally {
      await p.close();
    }
  });
});
