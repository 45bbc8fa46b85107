// npm run bench:peer -- [--runs N] [--side both|switchyard|mirrormaker2] [--case both|sync|lag] [--probes-only]
// The same SIGKILL of room-a's broker, Switchyard vs MirrorMaker 2 (issue 19 point 5), in two
// cases: in sync, and with MirrorMaker 2 paused (SIGSTOP) for 5 s before the kill. Progress on
// stderr; a table, then ONE JSON line as the last stdout line.

import { runFailover, type FailoverOptions } from './scenarios/failover.js';
import { runMirrorMakerFailover, type PeerResult } from './scenarios/peer.js';
import { mirrorMakerLibs } from './support/mirror-maker.js';
import { flag, median } from './stats.js';

const argv = process.argv.slice(2);
const runs = flag(argv, 'runs', 3);
const PAUSE_MS = 5000;
const STEADY_MS = 1500;
const word = (name: string, allowed: readonly string[], fallback: string) => {
  const i = argv.indexOf(`--${name}`);
  const v = i < 0 ? fallback : String(argv[i + 1]);
  if (!allowed.includes(v)) throw new Error(`--${name} takes one of ${allowed.join(', ')}; got ${v}`);
  return v;
};
const side = word('side', ['both', 'switchyard', 'mirrormaker2'], 'both');
const which = word('case', ['both', 'sync', 'lag'], 'both');
// Switchyard detects by its probes alone (no push signals from the SDK's clients, where the
// scenario has them): the same 3 x 250 ms window as the peer's probe loop.
const probesOnly = argv.includes('--probes-only');

interface Sample {
  readonly rtoMs: number;
  readonly detectMs: number;
  readonly lost: number;
  readonly duplicates: number;
  readonly lagMs: number;
  readonly produced: number;
  /** MirrorMaker 2 only: acknowledged by room-a and never copied to room-b. */
  readonly missingInRoomB?: number;
}

const say = (l: string) => process.stderr.write(`  ${l}\n`);
const libs = side === 'switchyard' ? '' : await mirrorMakerLibs();

async function switchyardRun(pauseMs: number): Promise<Sample> {
  // The same pre-kill time as MirrorMaker's lag case (nothing to pause: the producer writes both rooms).
  // (Spread, not a literal: a scenario without the `signals` option ignores it.)
  const extra: Record<string, unknown> = probesOnly ? { signals: false } : {};
  const r = await runFailover({ steadyMs: STEADY_MS + pauseMs, ...extra } as FailoverOptions);
  // Dual writes: a record counts as produced only once room-b acknowledged it, so room-b lacks
  // nothing at the kill by construction (the scenario does not expose a separate measurement).
  return { rtoMs: r.rtoMs, detectMs: r.detectMs, lost: r.lost, duplicates: r.duplicates, lagMs: 0, produced: r.produced };
}

async function mm2Run(pauseMs: number): Promise<Sample> {
  const r: PeerResult = await runMirrorMakerFailover({ libs, steadyMs: STEADY_MS, pauseBeforeKillMs: pauseMs, say });
  return {
    rtoMs: r.rtoMs,
    detectMs: r.detectMs,
    lost: r.lost,
    duplicates: r.duplicates,
    lagMs: r.replicationLagMsAtKill,
    produced: r.produced,
    missingInRoomB: r.missingInRoomB,
  };
}

const cases = (which === 'both' ? ['sync', 'lag'] : [which]) as ('sync' | 'lag')[];
const sides = (side === 'both' ? ['switchyard', 'mirrormaker2'] : [side]) as ('switchyard' | 'mirrormaker2')[];
const samples: Record<string, Record<string, Sample[]>> = { sync: { switchyard: [], mirrormaker2: [] }, lag: { switchyard: [], mirrormaker2: [] } };

for (const c of cases) {
  const pauseMs = c === 'lag' ? PAUSE_MS : 0;
  for (let i = 1; i <= runs; i++) {
    // Alternate the sides run by run, so neither always runs on a freshly restarted room-a.
    const order = i % 2 === 1 ? sides : [...sides].reverse();
    for (const s of order) {
      process.stderr.write(`${c} case, run ${i}/${runs}, ${s}: kill room-a's broker${pauseMs ? ` (${pauseMs} ms after MirrorMaker 2 was paused)` : ''} ...\n`);
      const r = s === 'switchyard' ? await switchyardRun(pauseMs) : await mm2Run(pauseMs);
      samples[c]![s]!.push(r);
      process.stderr.write(`${c} case, run ${i}/${runs}, ${s}: detect ${r.detectMs} ms, RTO ${r.rtoMs} ms, lost ${r.lost}, duplicates ${r.duplicates}, lag at kill ${r.lagMs} ms${r.missingInRoomB !== undefined ? `, never copied to room-b ${r.missingInRoomB}` : ''}\n`);
    }
  }
}

const summarize = (xs: readonly Sample[]) =>
  xs.length === 0
    ? null
    : {
        rto_ms: median(xs.map((x) => x.rtoMs)),
        lost: xs.reduce((n, x) => n + x.lost, 0),
        duplicates: median(xs.map((x) => x.duplicates)),
        replication_lag_ms_at_kill: median(xs.map((x) => x.lagMs)),
        detect_ms: median(xs.map((x) => x.detectMs)),
        duplicates_max: Math.max(...xs.map((x) => x.duplicates)),
        produced: xs.reduce((n, x) => n + x.produced, 0),
        ...(xs[0]!.missingInRoomB !== undefined && { never_copied_to_room_b: xs.reduce((n, x) => n + (x.missingInRoomB ?? 0), 0) }),
      };

const col = (xs: (string | number | null)[], w = 12) => xs.map((x) => String(x ?? '-').padStart(w)).join('');
console.log(col(['case', 'side', 'rto_ms_p50', 'detect_p50', 'lost', 'dups_p50', 'lag_ms_p50', 'never_in_b'], 13));
for (const c of cases) {
  for (const s of sides) {
    const m = summarize(samples[c]![s]!);
    if (m) console.log(col([c, s, m.rto_ms, m.detect_ms, m.lost, m.duplicates, m.replication_lag_ms_at_kill, m.never_copied_to_room_b ?? 0], 13));
  }
}
console.log(
  JSON.stringify({
    switchyard: summarize(samples['sync']!['switchyard']!),
    mirrormaker2: summarize(samples['sync']!['mirrormaker2']!),
    lag_case: { pause_ms: PAUSE_MS, switchyard: summarize(samples['lag']!['switchyard']!), mirrormaker2: summarize(samples['lag']!['mirrormaker2']!) },
    runs,
    switchyard_detection: probesOnly ? 'probes only' : 'as the scenario runs it (probes, plus the SDK push signals where present)',
    probe_interval_ms: 250,
    fall_after: 3,
    rate: 500,
  }),
);
process.exit(0);
