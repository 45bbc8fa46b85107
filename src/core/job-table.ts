// Every observer's debounced view of every stream job a tier runs, kept in flat columns.
//
// A tick folds one observation per job per observer: at 10,000 pipelines with two jobs per chain
// and three observers, 120,000 of them. Kept as a map of health objects per job, each tick copied
// a map per job and built an object per observation, and the garbage collector took a third of
// the tick. Here each observer has one block: a Float64Array with a row of numbers per job and an
// array of reasons. A tick copies a block at most once (the previous state stays intact, as the
// core promises) and then folds in place. The debounce rules themselves stay in health.ts:
// the one shortcut here (a good probe of a job already up) is checked against foldObservation by
// a property test, and every other case goes through foldObservation itself.

import { arbitrate, type Arbitrated, type ObserverView } from './arbitration.js';
import { foldObservation, freshAt, UNKNOWN_HEALTH, withStaleness, type ComponentHealth, type HealthStatus, type Observation, type Thresholds } from './health.js';
import type { TierName, Topology } from './model.js';

// Per job row, in two arrays: what changes on every probe (lastAt, goodStreak), and what changes
// only when the job's health does (status code, badStreak, since, firstBadAt; NaN: none). A tick
// copies the first and, in the steady state, never the second.
const HOT = 2;
const LAST_AT = 0, GOOD = 1;
const COLD = 4;
const STATUS = 0, BAD = 1, SINCE = 2, FIRST_BAD = 3;
const STATUSES: readonly HealthStatus[] = ['OK', 'DEGRADED', 'DOWN', 'UNKNOWN'];
const CODE: Readonly<Record<HealthStatus, number>> = { OK: 0, DEGRADED: 1, DOWN: 2, UNKNOWN: 3 };
/** CODE[status], by comparison: it runs once per observation. */
const codeOf = (s: HealthStatus): number => (s === 'OK' ? 0 : s === 'DEGRADED' ? 1 : s === 'DOWN' ? 2 : 3);

/** One observer's views of all of a tier's jobs. A row whose lastAt is 0 was never observed. */
interface Block {
  readonly hot: Float64Array;
  readonly cold: Float64Array;
  readonly reasons: string[];
}

export interface JobTable {
  /** Job name -> row; derived once per topology and tier, shared by every tick's table. */
  readonly rows: ReadonlyMap<string, number>;
  /** The observers, in the order they first reported, and each one's block (same index). */
  readonly observers: readonly string[];
  readonly blocks: readonly Block[];
  /** Per block (same index): what its rows say in all, for the steady state (see steadyOf). */
  readonly summaries: readonly BlockSummary[];
}

/**
 * One observer's block in a word: its newest observation of any job, and, when it has observed
 * every job and sees all of them OK, its oldest observation (else undefined).
 */
interface BlockSummary {
  readonly lastSeen: number;
  readonly okSince: number | undefined;
}

/** One pass over a block's rows, once per tick that changed the table. */
function summaryOf({ hot, cold }: Block, rows: number): BlockSummary {
  let lastSeen = 0;
  let oldest = Infinity;
  let allOk = rows > 0;
  for (let r = 0; r < rows; r++) {
    const lastAt = hot[r * HOT + LAST_AT]!;
    if (lastAt > lastSeen) lastSeen = lastAt;
    if (lastAt === 0 || cold[r * COLD + STATUS] !== CODE.OK) allOk = false;
    else if (lastAt < oldest) oldest = lastAt;
  }
  return { lastSeen, okSince: allOk ? oldest : undefined };
}

/**
 * A block whose observer has not reported for this long is dropped from the next table it is
 * copied into (a replica that went away: every observer id is new after a restart). Its views
 * were UNKNOWN (stale) long before, which changes no verdict; only a sentence that would have
 * listed it, now lists nothing.
 */
const FORGET_AFTER_STALE = 10;
const FORGET_MIN_MS = 60_000;

/**
 * Where each job is kept: slot s holds job `jobs[s]` in tier `tiers[tier[s]]` at row `row[s]`, and
 * `next[s]` is the job's slot in its next tier (-1: none; a job may run in several tiers).
 */
export interface JobSlots {
  readonly tiers: readonly TierName[];
  readonly rows: readonly ReadonlyMap<string, number>[];
  readonly first: ReadonlyMap<string, number>;
  readonly jobs: readonly string[];
  readonly tier: Int32Array;
  readonly row: Int32Array;
  readonly next: Int32Array;
  /**
   * A lookup hint, not state: the slot whose job came after slot s in the last batch folded.
   * Probes report jobs in the same order every tick, so most lookups are one string comparison
   * instead of a hash lookup; a wrong guess only costs the lookup it would have done anyway.
   */
  readonly follows: Int32Array;
}

const slotsCache = new WeakMap<Topology, JobSlots>();

/** Each job's tiers and rows, for the tiers that run it (derived once per topology). */
export function jobSlots(topology: Topology): JobSlots {
  const cached = slotsCache.get(topology);
  if (cached) return cached;
  const tiers = [...topology.policies.keys()];
  const rows = tiers.map(() => new Map<string, number>());
  const first = new Map<string, number>();
  const last = new Map<string, number>();
  const jobs: string[] = [];
  const tier: number[] = [];
  const row: number[] = [];
  const next: number[] = [];
  for (const p of topology.pipelines.values()) {
    const t = tiers.indexOf(p.tier);
    if (t < 0) continue;
    const tierRows = rows[t]!;
    for (const c of p.chains) {
      for (const job of c.jobs) {
        if (tierRows.has(job)) continue;
        tierRows.set(job, tierRows.size);
        const s = jobs.length;
        jobs.push(job);
        tier.push(t);
        row.push(tierRows.size - 1);
        next.push(-1);
        const prev = last.get(job);
        if (prev === undefined) first.set(job, s);
        else next[prev] = s;
        last.set(job, s);
      }
    }
  }
  const built: JobSlots = {
    tiers,
    rows,
    first,
    jobs,
    tier: Int32Array.from(tier),
    row: Int32Array.from(row),
    next: Int32Array.from(next),
    follows: new Int32Array(jobs.length).fill(-1),
  };
  slotsCache.set(topology, built);
  return built;
}

/**
 * The first slot of `job`, or -1 when no tier runs it. `after` is the slot found for the previous
 * observation in the batch (-1 at the start): its follower is tried before the hash lookup.
 */
export function slotOf(slots: JobSlots, job: string, after: number): number {
  if (after >= 0) {
    const guess = slots.follows[after]!;
    if (guess >= 0 && slots.jobs[guess] === job) return guess;
  }
  const s = slots.first.get(job) ?? -1;
  if (after >= 0 && s >= 0) slots.follows[after] = s;
  return s;
}

function emptyBlock(rows: number): Block {
  const cold = new Float64Array(rows * COLD);
  for (let r = 0; r < rows; r++) {
    cold[r * COLD + STATUS] = CODE[UNKNOWN_HEALTH.status];
    cold[r * COLD + FIRST_BAD] = NaN;
  }
  return { hot: new Float64Array(rows * HOT), cold, reasons: new Array<string>(rows).fill(UNKNOWN_HEALTH.reason) };
}

const lastAtOf = (block: Block, row: number): number => block.hot[row * HOT + LAST_AT]!;

function healthAt(block: Block, row: number): ComponentHealth {
  const { hot, cold } = block;
  const h = row * HOT;
  const c = row * COLD;
  const firstBadAt = cold[c + FIRST_BAD]!;
  return {
    status: STATUSES[cold[c + STATUS]!]!,
    reason: block.reasons[row]!,
    badStreak: cold[c + BAD]!,
    goodStreak: hot[h + GOOD]!,
    since: cold[c + SINCE]!,
    lastAt: hot[h + LAST_AT]!,
    firstBadAt: Number.isNaN(firstBadAt) ? undefined : firstBadAt,
  };
}

function writeAt(block: Block, row: number, v: ComponentHealth): void {
  const { hot, cold } = block;
  const h = row * HOT;
  const c = row * COLD;
  hot[h + LAST_AT] = v.lastAt;
  hot[h + GOOD] = v.goodStreak;
  cold[c + STATUS] = CODE[v.status];
  cold[c + BAD] = v.badStreak;
  cold[c + SINCE] = v.since;
  cold[c + FIRST_BAD] = v.firstBadAt ?? NaN;
  block.reasons[row] = v.reason;
}

/** Carries a table over to a topology whose rows differ (a reloaded topology): views kept by job name. */
function migrate(prev: JobTable, rows: ReadonlyMap<string, number>): Block[] {
  return prev.blocks.map((old) => {
    const block = emptyBlock(rows.size);
    for (const [job, row] of rows) {
      const oldRow = prev.rows.get(job);
      if (oldRow !== undefined) writeAt(block, row, healthAt(old, oldRow));
    }
    return block;
  });
}

/**
 * Folds one tick's observations of a tier's jobs into a copy of its table. Blocks are copied on
 * first write; the table passed in is never changed.
 */
export class JobTableWriter {
  private readonly observers: string[];
  private readonly blocks: Block[];
  private changed: boolean;
  /** Per block index, which of its arrays were copied this tick (and may be written in place). */
  private readonly fresh: { hot: boolean; cold: boolean; reasons: boolean }[] = [];
  private lastObserver: string | undefined;
  private lastIndex = -1;

  constructor(
    private readonly prev: JobTable | undefined,
    private readonly rows: ReadonlyMap<string, number>,
    private readonly th: Thresholds & { readonly probeIntervalMs: number },
  ) {
    this.observers = prev ? [...prev.observers] : [];
    this.blocks = prev ? (prev.rows === rows ? [...prev.blocks] : migrate(prev, rows)) : [];
    this.changed = prev !== undefined && prev.rows !== rows;
    const copied = !this.changed;
    for (let i = 0; i < this.blocks.length; i++) this.fresh.push({ hot: !copied, cold: !copied, reasons: !copied });
  }

  /** Folds one observation (oldest first per job and observer) of the job at `row`. */
  fold(obs: Observation, row: number): void {
    let i = this.lastIndex;
    if (obs.observer !== this.lastObserver) {
      i = this.observers.indexOf(obs.observer);
      if (i < 0) {
        i = this.observers.push(obs.observer) - 1;
        this.blocks.push(emptyBlock(this.rows.size));
        this.fresh.push({ hot: true, cold: true, reasons: true });
        this.changed = true;
      }
      this.lastObserver = obs.observer;
      this.lastIndex = i;
    }
    const block = this.blocks[i]!;
    const lastAt = lastAtOf(block, row);
    if (obs.at <= lastAt) return;
    // A tier with a slower cadence than the controller's samples every probeInterval, so that
    // fallAfter keeps meaning "this many intervals".
    if (lastAt !== 0 && obs.at - lastAt < this.th.probeIntervalMs * 0.9) return;
    const c = row * COLD;
    const prevCode = block.cold[c + STATUS]!;
    const code = codeOf(obs.status);
    if ((code === 0 || code === 1) && (prevCode === 0 || prevCode === 1)) {
      // A good probe of a job already up: what foldObservation gives, without building it.
      const hot = this.writable(i, 'hot').hot;
      hot[row * HOT + LAST_AT] = obs.at;
      hot[row * HOT + GOOD]! += 1;
      const cold = block.cold;
      if (prevCode !== code || cold[c + BAD] !== 0 || !Number.isNaN(cold[c + FIRST_BAD])) {
        const w = this.writable(i, 'cold').cold;
        if (prevCode !== code) w[c + SINCE] = obs.at;
        w[c + STATUS] = code;
        w[c + BAD] = 0;
        w[c + FIRST_BAD] = NaN;
      }
      if (block.reasons[row] !== obs.reason) this.writable(i, 'reasons').reasons[row] = obs.reason;
      return;
    }
    const next = foldObservation(healthAt(block, row), obs, this.th);
    this.writable(i, 'hot');
    this.writable(i, 'cold');
    writeAt(this.writable(i, 'reasons'), row, next);
  }

  /** Block i with its `part` copied once this tick, so that the previous table stays as it was. */
  private writable(i: number, part: keyof Block): Block {
    const fresh = this.fresh[i]!;
    if (fresh[part]) return this.blocks[i]!;
    const block = this.blocks[i]!;
    const copy: Block = { ...block, [part]: block[part].slice() };
    this.blocks[i] = copy;
    fresh[part] = true;
    this.changed = true;
    return copy;
  }

  /** The folded table, or the previous one when nothing changed. */
  result(): JobTable | undefined {
    if (!this.changed) return this.prev;
    const summaries = this.blocks.map((b, i) => (this.prev && this.prev.blocks[i] === b ? this.prev.summaries[i]! : summaryOf(b, this.rows.size)));
    // Forget observers silent for long (their views went stale long ago): see FORGET_AFTER_STALE.
    const newest = Math.max(0, ...summaries.map((s) => s.lastSeen));
    const horizon = newest - Math.max(FORGET_MIN_MS, FORGET_AFTER_STALE * this.th.staleAfterMs);
    const keep = summaries.map((s) => s.lastSeen >= horizon);
    if (keep.every(Boolean)) return { rows: this.rows, observers: this.observers, blocks: this.blocks, summaries };
    return {
      rows: this.rows,
      observers: this.observers.filter((_, i) => keep[i]),
      blocks: this.blocks.filter((_, i) => keep[i]),
      summaries: summaries.filter((_, i) => keep[i]),
    };
  }
}

/** One observer's view of one job, as the debounce left it (undefined: never observed). */
export function jobView(table: JobTable, observer: string, job: string): ComponentHealth | undefined {
  const row = table.rows.get(job);
  const block = table.blocks[table.observers.indexOf(observer)];
  if (row === undefined || !block || lastAtOf(block, row) === 0) return undefined;
  return healthAt(block, row);
}

/**
 * A job every observer that reported sees OK and fresh: the common case, built without its
 * sentence, which only the chain's weakest part ever needs (it is built when read).
 */
class JobOk implements Arbitrated {
  readonly status = 'OK';
  readonly firstBadAt = undefined;
  readonly downRooms = 0;
  constructor(
    private readonly room: string,
    private readonly job: string,
    private readonly okReason: string,
    readonly upRooms: number,
  ) {}
  get reason(): string {
    return `${describeJob(this.room, this.job)} is OK (${this.okReason})`;
  }
}

const describeJob = (room: string, job: string) => `${room} stream ${job}`;

const rowsCache = new WeakMap<readonly string[], { readonly rows: ReadonlyMap<string, number>; readonly ids: Int32Array }>();

/** The rows of a chain's jobs (-1: not in the table), derived once per jobs list and topology. */
export function rowsOf(table: JobTable, jobs: readonly string[]): Int32Array {
  const cached = rowsCache.get(jobs);
  if (cached && cached.rows === table.rows) return cached.ids;
  const ids = Int32Array.from(jobs, (job) => table.rows.get(job) ?? -1);
  rowsCache.set(jobs, { rows: table.rows, ids });
  return ids;
}

const roomsScratch: string[] = [];

/** The steady state of a table at a moment: how many observer rooms see every job up, and whose reasons lead. */
interface Steady {
  readonly upRooms: number;
  /** The first observer that sees every job OK and fresh: its reasons are the verdicts' (as arbitrate picks). */
  readonly first: number;
}

/** The last answer of steadyOf, kept: every job's verdict of a tick asks the same question. */
let steadyMemo: { table: JobTable; observerRooms: ReadonlyMap<string, string>; confirmedAt: ReadonlyMap<string, number>; now: number; staleAfterMs: number; steady: Steady | undefined } | undefined;

const NO_CONFIRMATIONS: ReadonlyMap<string, number> = new Map();

/**
 * The steady state: every observer of the table either sees every job OK and fresh, or has gone
 * silent (all its views stale, so UNKNOWN: they count neither up nor down), and at least one is
 * of the first kind. Every job's verdict is then OK, by the rooms of the observers of the first
 * kind (what arbitrate gives over the views). Undefined otherwise.
 */
function steadyOf(table: JobTable, observerRooms: ReadonlyMap<string, string>, th: Thresholds, now: number, confirmedAt: ReadonlyMap<string, number>): Steady | undefined {
  const m = steadyMemo;
  if (m && m.table === table && m.observerRooms === observerRooms && m.confirmedAt === confirmedAt && m.now === now && m.staleAfterMs === th.staleAfterMs) return m.steady;
  let steady: Steady | undefined;
  const rooms: string[] = [];
  let first = -1;
  let mixed = false;
  table.summaries.forEach((s, i) => {
    // An observer that sees every job OK is as fresh as its confirmation (ADR 0019).
    const confirmed = confirmedAt.get(table.observers[i]!) ?? 0;
    const okSince = s.okSince === undefined ? undefined : Math.max(s.okSince, confirmed);
    if (now - Math.max(s.lastSeen, okSince ?? 0) > th.staleAfterMs) return; // silent: every view stale
    if (okSince === undefined || now - okSince > th.staleAfterMs) mixed = true;
    else {
      if (first < 0) first = i;
      const room = observerRooms.get(table.observers[i]!) ?? table.observers[i]!;
      if (!rooms.includes(room)) rooms.push(room);
    }
  });
  if (!mixed && first >= 0) steady = { upRooms: rooms.length, first };
  steadyMemo = { table, observerRooms, confirmedAt, now, staleAfterMs: th.staleAfterMs, steady };
  return steady;
}

/**
 * In the steady state (see steadyOf), the observer rooms that see each job up, which is then every
 * job's verdict: OK by that many rooms. -1 otherwise.
 */
export function steadyUpRooms(table: JobTable, observerRooms: ReadonlyMap<string, string>, th: Thresholds, now: number, confirmedAt: ReadonlyMap<string, number> = NO_CONFIRMATIONS): number {
  return steadyOf(table, observerRooms, th, now, confirmedAt)?.upRooms ?? -1;
}

/**
 * The job `job` (at `row` of the table, -1: not in it) as all observers see it, arbitrated (see
 * arbitration.ts). When every observer that reported sees it OK and fresh, the verdict is built
 * here without materialising the views; otherwise the views are built and arbitrate() decides.
 */
export function jobVerdict(
  table: JobTable | undefined,
  row: number,
  room: string,
  job: string,
  observerRooms: ReadonlyMap<string, string>,
  th: Thresholds,
  required: number,
  now: number,
  confirmedAt: ReadonlyMap<string, number> = NO_CONFIRMATIONS,
): Arbitrated {
  if (!table || row < 0) return arbitrate([], required, describeJob(room, job));
  const { observers, blocks } = table;
  const steady = steadyOf(table, observerRooms, th, now, confirmedAt);
  if (steady) return new JobOk(room, job, blocks[steady.first]!.reasons[row]!, steady.upRooms);
  let okReason: string | undefined;
  let allOk = true;
  roomsScratch.length = 0;
  for (let i = 0; i < blocks.length; i++) {
    const block = blocks[i]!;
    const lastAt = lastAtOf(block, row);
    if (lastAt === 0) continue;
    if (block.cold[row * COLD + STATUS] !== CODE.OK || now - freshAt('OK', lastAt, confirmedAt.get(observers[i]!)) > th.staleAfterMs) {
      allOk = false;
      break;
    }
    okReason ??= block.reasons[row]!;
    const observerRoom = observerRooms.get(observers[i]!) ?? observers[i]!;
    if (!roomsScratch.includes(observerRoom)) roomsScratch.push(observerRoom);
  }
  if (allOk && okReason !== undefined) return new JobOk(room, job, okReason, roomsScratch.length);
  const views: ObserverView[] = [];
  for (let i = 0; i < blocks.length; i++) {
    const observer = observers[i]!;
    if (lastAtOf(blocks[i]!, row) === 0) continue;
    views.push({ observer, observerRoom: observerRooms.get(observer) ?? observer, health: withStaleness(healthAt(blocks[i]!, row), now, th, confirmedAt.get(observer)) });
  }
  return arbitrate(views, required, describeJob(room, job));
}
