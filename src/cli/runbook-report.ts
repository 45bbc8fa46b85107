// `runbook report`: one self-contained HTML page (no scripts, no network) for the review after an
// event: the timeline planned against actual as an SVG, switches and cap changes marked on it,
// failed and late steps highlighted, and the full record as tables below.

import type { RunbookExport, StepRow } from './runbook-view.js';

/** Everything shown comes from stored records: escaped whatever its type. */
const esc = (v: unknown) => String(v).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** Times this far from T0 are not drawn (a stored time that is not sane would stretch the axis). */
const SPAN_LIMIT_MS = 14 * 86_400_000;

const COLORS: Record<StepRow['state'], string> = {
  done: '#2e7d32',
  failed: '#c62828',
  skipped: '#9e9e9e',
  running: '#1565c0',
  due: '#1565c0',
  'waiting-ack': '#ef6c00',
  scheduled: '#b0bec5',
  blocked: '#cfd8dc',
};

const LABEL_W = 190;
const PLOT_W = 900;
const ROW_H = 22;
const LANE_H = 26;

function clock(t: number, zone: string, seconds = false): string {
  return new Intl.DateTimeFormat('en-GB', { timeZone: zone, hour: '2-digit', minute: '2-digit', ...(seconds && { second: '2-digit' }), hourCycle: 'h23' }).format(new Date(t));
}

function full(t: number | null, zone: string): string {
  if (t === null || !Number.isFinite(t) || Math.abs(t) > 8.64e15) return '-';
  return `${new Intl.DateTimeFormat('en-GB', { timeZone: zone, day: '2-digit', month: 'short', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }).format(new Date(t))}`;
}

function delay(ms: number | null): string {
  if (ms === null) return '-';
  const sign = ms < 0 ? '-' : '+';
  const a = Math.abs(ms);
  return a < 60_000 ? `${sign}${Math.round(a / 1000)}s` : `${sign}${Math.floor(a / 60_000)}m${String(Math.round((a % 60_000) / 1000)).padStart(2, '0')}s`;
}

/** Tick spacing that gives 6 to 14 ticks over the span. */
function tickStep(span: number): number {
  const steps = [60_000, 5 * 60_000, 10 * 60_000, 15 * 60_000, 30 * 60_000, 3_600_000, 2 * 3_600_000, 3 * 3_600_000, 6 * 3_600_000, 12 * 3_600_000, 24 * 3_600_000];
  return steps.find((s) => span / s <= 14) ?? steps[steps.length - 1]!;
}

function timeline(x0: RunbookExport): string {
  const sane = (t: number | null) => (t !== null && Number.isFinite(t) && Math.abs(t - x0.t0) <= SPAN_LIMIT_MS ? t : null);
  const x: RunbookExport = {
    ...x0,
    steps: x0.steps.map((s) => ({ ...s, plannedAt: sane(s.plannedAt), startedAt: sane(s.startedAt), endedAt: sane(s.endedAt) })),
    switches: x0.switches.filter((s) => sane(s.at) !== null),
    caps: x0.caps.filter((c) => sane(c.at) !== null),
  };
  const times: number[] = [x.t0];
  for (const s of x.steps) for (const t of [s.plannedAt, s.startedAt, s.endedAt]) if (t !== null) times.push(t);
  for (const s of x.switches) times.push(s.at);
  for (const c of x.caps) times.push(c.at);
  if (x.status === 'running' && sane(x.now) !== null) times.push(x.now);
  const lo0 = Math.min(...times);
  const hi0 = Math.max(...times);
  const pad = Math.max(60_000, (hi0 - lo0) * 0.03);
  const lo = lo0 - pad;
  const hi = hi0 + pad;
  const X = (t: number) => LABEL_W + ((t - lo) / (hi - lo)) * PLOT_W;
  const top = 30;
  const lanes = 2;
  const height = top + lanes * LANE_H + x.steps.length * ROW_H + 20;
  const parts: string[] = [];
  // Ticks in the event's zone.
  const step = tickStep(hi - lo);
  for (let t = Math.ceil(lo / step) * step; t <= hi; t += step) {
    parts.push(`<line class="tick" x1="${X(t).toFixed(1)}" y1="${top - 6}" x2="${X(t).toFixed(1)}" y2="${height - 16}" /><text class="tick-label" x="${X(t).toFixed(1)}" y="${top - 10}" text-anchor="middle">${esc(clock(t, x.timeZone))}</text>`);
  }
  parts.push(`<line class="t0" x1="${X(x.t0).toFixed(1)}" y1="${top - 6}" x2="${X(x.t0).toFixed(1)}" y2="${height - 16}" /><text class="t0-label" x="${(X(x.t0) + 3).toFixed(1)}" y="${height - 4}">T0</text>`);
  if (x.status === 'running') parts.push(`<line class="now" x1="${X(x.now).toFixed(1)}" y1="${top - 6}" x2="${X(x.now).toFixed(1)}" y2="${height - 16}" />`);
  // Lanes: switches and cap changes.
  const switchY = top + LANE_H / 2;
  const capY = top + LANE_H + LANE_H / 2;
  parts.push(`<text class="lane-label" x="4" y="${switchY + 4}">switches</text><text class="lane-label" x="4" y="${capY + 4}">cap changes</text>`);
  for (const s of x.switches) {
    const cx = X(s.at);
    parts.push(`<g class="switch" data-switch="${esc(s.id)}"><title>${esc(`${full(s.at, x.timeZone)} ${s.pipeline}: ${s.from} -> ${s.to} (${s.kind}, ${s.outcome}, flip ${String(s.flipMs)} ms, by ${s.requestedBy})`)}</title><path d="M${(cx - 6).toFixed(1)},${switchY + 6} L${cx.toFixed(1)},${switchY - 7} L${(cx + 6).toFixed(1)},${switchY + 6} Z" /></g>`);
  }
  for (const c of x.caps) {
    const cx = X(c.at);
    parts.push(`<g class="cap" data-pipeline="${esc(c.pipeline)}"><title>${esc(`${full(c.at, x.timeZone)} ${c.pipeline}: ${c.before ?? 'uncapped'} -> ${c.after ?? 'uncapped'} records/s (${c.origin}: ${c.reason})`)}</title><rect x="${(cx - 5).toFixed(1)}" y="${capY - 5}" width="10" height="10" /></g>`);
  }
  // One row per step: the plan as a hollow diamond, what happened as a bar (start to end, or to now).
  x.steps.forEach((s, i) => {
    const y = top + lanes * LANE_H + i * ROW_H + ROW_H / 2;
    const cls = `step state-${s.state}${s.late ? ' late' : ''}`;
    const g: string[] = [`<text class="step-label" x="4" y="${y + 4}">${esc(s.id)}</text>`];
    if (s.plannedAt !== null) {
      const px = X(s.plannedAt);
      g.push(`<path class="planned" d="M${px.toFixed(1)},${y - 6} L${(px + 6).toFixed(1)},${y} L${px.toFixed(1)},${y + 6} L${(px - 6).toFixed(1)},${y} Z" />`);
    }
    const begin = s.startedAt ?? s.endedAt;
    if (begin !== null) {
      const end = s.endedAt ?? (x.status === 'running' ? x.now : begin);
      const bx = X(begin);
      const w = Math.max(4, X(end) - bx);
      if (s.plannedAt !== null && Math.abs(X(s.plannedAt) - bx) > 2) g.push(`<line class="slip" x1="${X(s.plannedAt).toFixed(1)}" y1="${y}" x2="${bx.toFixed(1)}" y2="${y}" />`);
      g.push(`<rect class="actual" x="${bx.toFixed(1)}" y="${y - 6}" width="${w.toFixed(1)}" height="12" rx="2" fill="${COLORS[s.state]}" />`);
    }
    const tip = `${s.id} (${s.phase}, ${s.owner}): ${s.action}\nplanned ${full(s.plannedAt, x.timeZone)}, actual ${full(begin, x.timeZone)} (${delay(s.delayMs)})\n${s.state}${s.late ? ', LATE' : ''}: ${s.result}`;
    parts.push(`<g class="${cls}" data-step="${esc(s.id)}"><title>${esc(tip)}</title>${g.join('')}</g>`);
  });
  return `<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="${LABEL_W + PLOT_W + 20}" height="${height}" viewBox="0 0 ${LABEL_W + PLOT_W + 20} ${height}" role="img" aria-label="timeline, planned against actual">${parts.join('')}</svg>`;
}

const CSS = `
body { font: 14px/1.45 system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 24px; color: #1f2933; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; }
.meta { color: #52606d; margin-bottom: 12px; }
.badges span { display: inline-block; padding: 3px 10px; margin: 0 6px 6px 0; border-radius: 12px; background: #eef2f6; }
.badges .bad { background: #fde2e2; color: #8a1c1c; font-weight: 600; } .badges .warn { background: #ffe8cc; color: #8a4b00; font-weight: 600; }
.legend span { margin-right: 14px; } .legend i { display: inline-block; width: 12px; height: 12px; vertical-align: -1px; margin-right: 4px; border-radius: 2px; }
svg.timeline { border: 1px solid #d9e2ec; background: #fff; max-width: 100%; height: auto; }
.tick { stroke: #e4e7eb; } .tick-label, .lane-label, .step-label, .t0-label { font-size: 11px; fill: #52606d; }
.t0 { stroke: #7b1fa2; stroke-dasharray: 4 3; } .now { stroke: #1565c0; stroke-dasharray: 2 2; }
.planned { fill: #fff; stroke: #52606d; stroke-width: 1.5; } .slip { stroke: #ef6c00; stroke-width: 2; stroke-dasharray: 3 2; }
.step.late .actual { stroke: #ef6c00; stroke-width: 3; } .step.state-failed .step-label { fill: #c62828; font-weight: 700; }
.switch path { fill: #6a1b9a; } .cap rect { fill: #00897b; }
table { border-collapse: collapse; width: 100%; font-size: 13px; } th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid #e4e7eb; vertical-align: top; }
th { background: #f5f7fa; } tr.failed td { background: #fde2e2; } tr.late td { background: #fff1de; } tr.failed.late td { background: #fbd0c8; }
td.state { font-weight: 600; white-space: nowrap; } td.result { max-width: 520px; word-break: break-word; }
`;

/** The page: a header with the outcome, the timeline, and the record as tables. */
export function renderRunbookReport(x: RunbookExport): string {
  const zone = x.timeZone;
  const failed = x.steps.filter((s) => s.state === 'failed');
  const late = x.steps.filter((s) => s.late);
  const count = (st: StepRow['state']) => x.steps.filter((s) => s.state === st).length;
  const badges = [
    `<span class="status">${esc(x.status)}</span>`,
    `<span>${count('done')} done</span>`,
    failed.length > 0 ? `<span class="bad">${failed.length} failed</span>` : '<span>0 failed</span>',
    late.length > 0 ? `<span class="warn">${late.length} late</span>` : '<span>0 late</span>',
    `<span>${count('skipped')} skipped</span>`,
    `<span>${x.switches.length} switch(es)</span>`,
    `<span>${x.caps.length} cap change(s)</span>`,
  ].join('');
  const legend = (['done', 'failed', 'skipped', 'running', 'waiting-ack'] as const).map((s) => `<span><i style="background:${COLORS[s]}"></i>${s}</span>`).join('') + '<span>◇ planned</span><span><i style="background:#6a1b9a"></i>switch</span><span><i style="background:#00897b"></i>cap change</span><span><i style="background:#fff;border:2px solid #ef6c00"></i>late</span>';
  const stepRows = x.steps
    .map((s) => {
      const cls = [s.state === 'failed' ? 'failed' : '', s.late ? 'late' : ''].filter(Boolean).join(' ');
      return `<tr class="${cls}" data-step="${esc(s.id)}"><td>${esc(s.phase)}</td><td>${esc(s.id)}</td><td>${esc(s.owner)}</td><td>${esc(s.action)}</td><td>${esc(full(s.plannedAt, zone))}</td><td>${esc(full(s.startedAt ?? s.endedAt, zone))}</td><td>${esc(delay(s.delayMs))}</td><td>${esc(s.by ?? '-')}${s.ackedBy ? ` (ack ${esc(s.ackedBy)})` : ''}</td><td class="state">${esc(s.state)}${s.late ? ' · late' : ''}</td><td>${esc(s.checkpoint ?? (s.checks.length ? '-' : ''))}</td><td class="result">${esc(s.result)}</td></tr>`;
    })
    .join('\n');
  const switchRows = x.switches.map((s) => `<tr data-switch="${esc(s.id)}"><td>${esc(full(s.at, zone))}</td><td>${esc(s.pipeline)}</td><td>${esc(s.from)} → ${esc(s.to)}</td><td>${esc(s.kind)}</td><td>${esc(s.requestedBy)}</td><td>${esc(s.request ?? '-')}</td><td>${esc(s.outcome)}</td><td>${esc(s.flipMs)} ms</td></tr>`).join('\n');
  const capRows = x.caps.map((c) => `<tr><td>${esc(full(c.at, zone))}</td><td>${esc(c.pipeline)}</td><td>${esc(c.before ?? 'uncapped')} → ${esc(c.after ?? 'uncapped')}</td><td>${esc(c.origin)}</td><td>${esc(c.reason)}</td></tr>`).join('\n');
  const rehearsal = x.rehearsal ? ` · rehearsal at ${x.rehearsal.speed}x` : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(`${x.event}: runbook report`)}</title><meta name="viewport" content="width=device-width, initial-scale=1"><style>${CSS}</style></head>
<body>
<h1>${esc(x.event)}</h1>
<div class="meta">T0 ${esc(full(x.t0, zone))} (${esc(zone)}) · started by ${esc(x.startedBy)}${esc(rehearsal)} · ${esc(x.file)}${x.summary ? ` · ${esc(x.summary)}` : ''}</div>
${x.aborted ? `<p class="aborted"><strong>Aborted:</strong> ${esc(x.aborted)}</p>` : ''}
<div class="badges">${badges}</div>
<h2>Timeline: planned against actual</h2>
<div class="legend">${legend}</div>
${timeline(x)}
<h2>Steps</h2>
<table class="steps"><thead><tr><th>Phase</th><th>Step</th><th>Owner</th><th>Action</th><th>Planned</th><th>Actual</th><th>Delay</th><th>By</th><th>State</th><th>Checkpoint</th><th>Result</th></tr></thead><tbody>
${stepRows}
</tbody></table>
<h2>Switches</h2>
${x.switches.length ? `<table class="switches"><thead><tr><th>At</th><th>Pipeline</th><th>From → to</th><th>Kind</th><th>By</th><th>Request</th><th>Outcome</th><th>Flip</th></tr></thead><tbody>\n${switchRows}\n</tbody></table>` : '<p>None.</p>'}
<h2>Cap changes</h2>
${x.caps.length ? `<table class="caps"><thead><tr><th>At</th><th>Pipeline</th><th>Cap (records/s)</th><th>Origin</th><th>Reason</th></tr></thead><tbody>\n${capRows}\n</tbody></table>` : '<p>None.</p>'}
<p class="meta">Times in ${esc(zone)}. Generated from the record in etcd at event time ${esc(full(x.now, zone))}.</p>
</body></html>
`;
}
