// `runbook start | status | ack | skip | abort | report`: a started runbook in etcd, which the
// leader runs (controller/runbook-keeper.ts). The CLI writes only inputs (the start, acks, skips,
// an abort); the record is the leader's.

import { writeFileSync } from 'node:fs';
import type { Argv, CommandModule } from 'yargs';
import { loadRunbook, offsetMs } from '../../config/runbook.js';
import type { LoadedConfig } from '../../config/load.js';
import { operatorName } from '../../composition.js';
import { EtcdRunbookStore, StoredRunbookError } from '../../adapters/etcd/runbook-store.js';
import { EtcdJournalStore } from '../../adapters/etcd/journal-store.js';
import { EtcdCapStore } from '../../adapters/etcd/cap-store.js';
import { eventTime, plannedTimes, type RehearsalClock, type StartedRunbook } from '../../core/runbook.js';
import type { LoadedRunbook } from '../../ports/runbook-store.js';
import type { SwitchRecord } from '../../core/journal.js';
import type { CapEvent } from '../../ports/cap-store.js';
import { confirmed, EXIT, fail, outputOption, printData, table, type OutputFormat } from '../output.js';
import { runbookExport, runbookPipelines, type RunbookExport, type StepRow } from '../runbook-view.js';
import { renderRunbookReport } from '../runbook-report.js';
import { stamp } from '../time.js';
import { UsageError, withStore } from '../with-store.js';

interface StartArgs {
  'skip-past': boolean;
  file: string;
  config: string;
  speed?: number;
  from?: string;
  operator?: string;
  yes: boolean;
  output: OutputFormat;
}

interface EventArgs {
  event: string;
  step?: string;
  config: string;
  operator?: string;
  reason?: string;
  yes: boolean;
  watch: boolean;
  interval: number;
  out?: string;
  output: OutputFormat;
}

const configOption = { alias: 'c', type: 'string', demandOption: true, describe: 'Topology file (YAML)' } as const;
const operatorOption = { type: 'string', describe: 'Who (default: $SWITCHYARD_OPERATOR or the OS user)' } as const;

async function loaded(store: EtcdRunbookStore, event: string): Promise<LoadedRunbook> {
  const rb = await store.get(event);
  if (!rb) {
    const known = (await store.list()).map((r) => r.started.runbook.event);
    throw new UsageError(`no runbook '${event}' has been started (started: ${known.join(', ') || 'none'}; start one with switchyard runbook start <file>)`);
  }
  return rb;
}

/** Runs `body`; an unknown event or step is exit 2, an unreachable etcd exit 3. */
async function withRunbooks(configFile: string, body: (store: EtcdRunbookStore, extra: { journals: EtcdJournalStore; caps: EtcdCapStore; config: LoadedConfig }) => Promise<void>): Promise<void> {
  try {
    await withStore(configFile, undefined, async (config, s) => {
      await body(new EtcdRunbookStore(s.etcd, config.etcd.prefix), { journals: new EtcdJournalStore(s.etcd, config.etcd.prefix), caps: new EtcdCapStore(s.etcd, config.etcd.prefix), config });
    });
  } catch (err) {
    if (err instanceof UsageError) return fail(EXIT.USAGE, err.message);
    if (err instanceof StoredRunbookError) return fail(EXIT.FAILURE, err.message);
    throw err;
  }
}

/** The record with its pipelines' switches and cap changes. */
async function exportOf(rb: LoadedRunbook, journals: EtcdJournalStore, caps: EtcdCapStore): Promise<RunbookExport> {
  const pipelines = runbookPipelines(rb);
  const [switches, capEvents] = await Promise.all([
    Promise.all(pipelines.map((p) => journals.history(p, 200))).then((l) => l.flat() as SwitchRecord[]),
    Promise.all(pipelines.map((p) => caps.history(p))).then((l) => l.flat() as CapEvent[]),
  ]);
  return runbookExport(rb, Date.now(), switches, capEvents);
}

const start: CommandModule<object, StartArgs> = {
  command: 'start <file>',
  describe: 'Start a runbook: the leading controller runs its steps on time, waits for acks, and records everything',
  builder: (y) =>
    y
      .positional('file', { type: 'string', demandOption: true, describe: 'The runbook (YAML)' })
      .option('config', configOption)
      .option('speed', { type: 'number', describe: 'Rehearse: run the event clock this many times faster than real time (e.g. 200: an hour in 18 s); at most the smallest step timeout / 2 s' })
      .option('from', { type: 'string', describe: 'With --speed: where the rehearsal clock starts (default: 5 minutes before the first step)' })
      .option('skip-past', { type: 'boolean', default: false, describe: 'Skip (on the record) the steps whose time and timeout are over before the start' })
      .option('operator', operatorOption)
      .option('yes', { alias: 'y', type: 'boolean', default: false, describe: 'Do not ask for confirmation' })
      .option('output', outputOption)
      .example('$0 runbook start examples/runbooks/live-event.yaml -c examples/local-two-rooms.yaml --yes', 'Run the example night for real, at its T0')
      .example('$0 runbook start examples/runbooks/live-event.yaml -c examples/local-two-rooms.yaml --speed 200 --yes', 'Rehearse it: the night in under a minute per 3 hours, on this stack')
      .epilogue(
        'The runbook is validated first (as by runbook validate). Steps act on the real stack: caps, switches, pauses, freezes and webhooks. A step that needs an ack waits for switchyard runbook ack; one that is late past its timeout fails, and its onFailure applies. Exit codes: 0 started, 1 already started (or not confirmed), 2 invalid runbook or options, 3 etcd unreachable.',
      ) as unknown as Argv<StartArgs>,
  handler: async (args) => {
    if (args.from !== undefined && args.speed === undefined) return fail(EXIT.USAGE, '--from goes with --speed (a rehearsal)');
    if (args.speed !== undefined && !(args.speed >= 1 && args.speed <= 100_000)) return fail(EXIT.USAGE, `--speed ${args.speed} is not between 1 and 100000`);
    if (args.from !== undefined && !/^T([+-](\d+h)?(\d+m)?(\d+s)?)?$/.test(args.from)) return fail(EXIT.USAGE, `--from '${args.from}' is not an offset from T0 like T-4h or T-30m`);
    await withRunbooks(args.config, async (store, { config }) => {
      const runbook = loadRunbook(args.file, config.topology, new Set(config.webhooks.keys()));
      const now = Date.now();
      let rehearsal: RehearsalClock | undefined;
      if (args.speed !== undefined) {
        const planned = [...plannedTimes(runbook, new Map()).values()].filter((t): t is number => t !== undefined);
        const first = planned.length > 0 ? Math.min(...planned) : runbook.t0;
        rehearsal = { realOrigin: now, eventOrigin: args.from !== undefined ? runbook.t0 + offsetMs(args.from) : first - 5 * 60_000, speed: args.speed };
      }
      const by = operatorName(args.operator);
      const planned = plannedTimes(runbook, new Map());
      const last = Math.max(...[...planned.values()].filter((t): t is number => t !== undefined));
      if (!rehearsal && last < now) return fail(EXIT.USAGE, `every timed step of ${runbook.event} is in the past (the last at ${stamp(last, runbook.timeZone)}): check t0, or rehearse it with --speed`);
      // A rehearsal's clock must not step over a timeout between two rounds of the leader (about a second each).
      const tightest = [...runbook.steps].sort((x, y) => x.timeoutMs - y.timeoutMs)[0];
      if (rehearsal && tightest && rehearsal.speed * 2000 > tightest.timeoutMs) {
        return fail(EXIT.USAGE, `--speed ${rehearsal.speed} is too fast for step ${tightest.id}'s ${Math.round(tightest.timeoutMs / 1000)} s timeout: at most ${Math.floor(tightest.timeoutMs / 2000)} (2 s of real time per timeout)`);
      }
      // Steps whose time (and timeout) are over before the runbook starts would fail at once.
      const startAt = rehearsal ? rehearsal.eventOrigin : now;
      const past = runbook.steps.filter((st) => st.when.kind === 'at' && planned.get(st.id)! + st.timeoutMs < startAt);
      if (past.length > 0 && !args['skip-past']) {
        return fail(EXIT.USAGE, `${past.length} step(s) are over before the start (${past.map((st) => st.id).join(', ')}): pass --skip-past to skip them, on the record`);
      }
      if (!args.yes) {
        process.stdout.write(`${runbook.event}: ${runbook.steps.length} steps from ${stamp(rehearsal ? rehearsal.eventOrigin : now, runbook.timeZone)}${rehearsal ? `, rehearsed at ${rehearsal.speed}x` : ''}; they act on the stack in ${args.config}.\n`);
      }
      if (!(await confirmed(args.yes, 'nothing was started'))) return;
      const started: StartedRunbook = { runbook, startedBy: by, startedAt: now, ...(rehearsal && { rehearsal }) };
      if (!(await store.start(started))) return fail(EXIT.FAILURE, `runbook ${runbook.event} is started already: see switchyard runbook status ${runbook.event}`);
      for (const st of past) await store.skip(runbook.event, st.id, { by, at: startAt, reason: `planned for ${stamp(planned.get(st.id)!, runbook.timeZone)}, before the runbook started` });
      const out = { started: runbook.event, by, steps: runbook.steps.length, rehearsal: rehearsal ?? null, eventNow: new Date(eventTime(rehearsal, now)).toISOString() };
      if (!printData(args.output, out)) {
        process.stdout.write(`started ${runbook.event} (${runbook.steps.length} steps)${rehearsal ? `, rehearsed at ${rehearsal.speed}x from ${stamp(rehearsal.eventOrigin, runbook.timeZone)}` : ''}; follow it with: switchyard runbook status ${runbook.event} -c ${args.config} --watch\n`);
      }
    });
  },
};

const STATE_LABEL: Record<StepRow['state'], string> = {
  done: 'done',
  failed: 'FAILED',
  skipped: 'skipped',
  running: 'running',
  due: 'due',
  'waiting-ack': 'WAITS FOR ACK',
  scheduled: 'scheduled',
  blocked: '-',
};

function renderStatus(x: RunbookExport): string {
  const zone = x.timeZone;
  const short = (t: number | null) => (t === null ? '-' : new Intl.DateTimeFormat('en-GB', { timeZone: zone, hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }).format(new Date(t)));
  const clock = x.rehearsal ? `rehearsal at ${x.rehearsal.speed}x, event clock ${stamp(x.now, zone)}` : `now ${stamp(x.now, zone)}`;
  const head = `${x.event}: ${x.status}${x.summary ? ` (${x.summary})` : ''}; T0 ${stamp(x.t0, zone)}; ${clock}${x.aborted && x.status === 'running' ? `\nABORTED: ${x.aborted}` : ''}`;
  const rows = x.steps.map((s) => [
    s.phase,
    s.id,
    s.plannedAt === null ? '(after)' : short(s.plannedAt),
    short(s.startedAt ?? s.endedAt),
    `${STATE_LABEL[s.state]}${s.late ? ' LATE' : ''}`,
    s.by ?? s.owner,
    s.action,
    s.result.length > 110 ? `${s.result.slice(0, 107)}...` : s.result,
  ]);
  return `${head}\n\n${table(['PHASE', 'STEP', `PLANNED (${zone})`, 'ACTUAL', 'STATE', 'BY/OWNER', 'ACTION', 'RESULT'], rows)}\n`;
}

const status: CommandModule<object, EventArgs> = {
  command: 'status <event>',
  describe: 'The timeline now: done, running, due, waiting for an ack, late; with --watch, until it ends',
  builder: (y) =>
    y
      .positional('event', { type: 'string', demandOption: true, describe: 'The event (the runbook\'s event name)' })
      .option('config', configOption)
      .option('watch', { alias: 'w', type: 'boolean', default: false, describe: 'Keep refreshing until the runbook ends (or Ctrl-C)' })
      .option('interval', { type: 'number', default: 2, describe: 'Seconds between refreshes with --watch' })
      .option('output', outputOption)
      .example('$0 runbook status new-year-gala -c examples/local-two-rooms.yaml --watch', 'Follow the night')
      .example('$0 runbook status new-year-gala -c examples/local-two-rooms.yaml -o json', 'The record as JSON (the same as runbook report -o json)')
      .epilogue('Times are in the event\'s zone. Exit codes: 0, 1 a step failed or the runbook was aborted, 2 unknown event, 3 etcd unreachable.') as unknown as Argv<EventArgs>,
  handler: async (args) => {
    if (!(args.interval >= 0.2 && args.interval <= 3600)) return fail(EXIT.USAGE, `--interval must be between 0.2 and 3600 seconds, got ${String(args.interval)}`);
    await withRunbooks(args.config, async (store, { journals, caps }) => {
      for (;;) {
        const x = await exportOf(await loaded(store, args.event), journals, caps);
        if (args.watch && args.output === 'json') process.stdout.write(JSON.stringify(x) + '\n');
        else if (!printData(args.output, x)) process.stdout.write(`${args.watch && process.stdout.isTTY ? '\x1b[2J\x1b[H' : ''}${renderStatus(x)}${args.watch ? '\n' : ''}`);
        process.exitCode = x.status === 'aborted' || x.aborted || x.steps.some((s) => s.state === 'failed') ? EXIT.FAILURE : EXIT.OK;
        if (!args.watch || x.status !== 'running') return;
        await new Promise((r) => setTimeout(r, args.interval * 1000));
      }
    });
  },
};

/** What an ack or a skip may touch: a step that exists and has not started. */
function pendingStep(rb: LoadedRunbook, id: string, verb: string): string | undefined {
  const step = rb.started.runbook.steps.find((s) => s.id === id);
  if (!step) throw new UsageError(`runbook ${rb.started.runbook.event} has no step '${id}' (steps: ${rb.started.runbook.steps.map((s) => s.id).join(', ')})`);
  if (rb.ended) return `runbook ${rb.started.runbook.event} has ended (${rb.ended.outcome}); nothing to ${verb}`;
  const record = rb.steps.get(id)?.record;
  if (record && record.status !== 'pending' && record.status !== 'acked') return `step ${id} is ${record.status} already${record.by ? ` (by ${record.by})` : ''}`;
  return undefined;
}

const ack: CommandModule<object, EventArgs> = {
  command: 'ack <event> <step>',
  describe: 'Acknowledge a step that needs a person: it runs once due (at once if it is due already)',
  builder: (y) =>
    y
      .positional('event', { type: 'string', demandOption: true })
      .positional('step', { type: 'string', demandOption: true })
      .option('config', configOption)
      .option('operator', operatorOption)
      .example('$0 runbook ack new-year-gala drill -c examples/local-two-rooms.yaml --operator erin', 'Erin says go for the drill')
      .epilogue('An ack is recorded with who and when; a step can be acknowledged ahead of its time. Exit codes: 0, 1 already acknowledged or already started/ended, 2 unknown event or step, 3 etcd unreachable.') as unknown as Argv<EventArgs>,
  handler: async (args) => {
    await withRunbooks(args.config, async (store) => {
      const rb = await loaded(store, args.event);
      const refusal = pendingStep(rb, args.step!, 'acknowledge');
      if (refusal) return fail(EXIT.FAILURE, refusal);
      const by = operatorName(args.operator);
      const at = eventTime(rb.started.rehearsal, Date.now());
      if (!(await store.ack(args.event, args.step!, { by, at }))) return fail(EXIT.FAILURE, `step ${args.step} is acknowledged already (by ${rb.inputs.acks.get(args.step!)?.by ?? 'someone'})`);
      process.stdout.write(`acknowledged ${args.event}/${args.step} as ${by}; the leader runs it once it is due\n`);
    });
  },
};

const skip: CommandModule<object, EventArgs> = {
  command: 'skip <event> <step>',
  describe: 'Skip a step that has not started (recorded with who and why); steps after it go on',
  builder: (y) =>
    y
      .positional('event', { type: 'string', demandOption: true })
      .positional('step', { type: 'string', demandOption: true })
      .option('config', configOption)
      .option('operator', operatorOption)
      .option('reason', { type: 'string', demandOption: true, describe: 'Why, for the record' })
      .example('$0 runbook skip new-year-gala drill -c examples/local-two-rooms.yaml --reason "drilled yesterday"', 'Leave the drill out')
      .epilogue('Exit codes: 0, 1 the step has started or ended, 2 unknown event or step, 3 etcd unreachable.') as unknown as Argv<EventArgs>,
  handler: async (args) => {
    await withRunbooks(args.config, async (store) => {
      const rb = await loaded(store, args.event);
      const refusal = pendingStep(rb, args.step!, 'skip');
      if (refusal) return fail(EXIT.FAILURE, refusal);
      const by = operatorName(args.operator);
      const version = rb.steps.get(args.step!)?.version;
      if (!(await store.skip(args.event, args.step!, { by, at: eventTime(rb.started.rehearsal, Date.now()), reason: args.reason! }, version))) {
        return fail(EXIT.FAILURE, `step ${args.step} was not skipped: it is skipped already, or the leader began it meanwhile (see runbook status)`);
      }
      process.stdout.write(`skipped ${args.event}/${args.step} (${by}: ${args.reason})\n`);
    });
  },
};

const abort: CommandModule<object, EventArgs> = {
  command: 'abort <event>',
  describe: 'Stop a runbook: no further step begins (one running is carried to its end)',
  builder: (y) =>
    y
      .positional('event', { type: 'string', demandOption: true })
      .option('config', configOption)
      .option('operator', operatorOption)
      .option('reason', { type: 'string', demandOption: true, describe: 'Why, for the record' })
      .option('yes', { alias: 'y', type: 'boolean', default: false, describe: 'Do not ask for confirmation' })
      .example('$0 runbook abort new-year-gala -c examples/local-two-rooms.yaml --reason "show cancelled" --yes', 'Stop the night\'s runbook')
      .epilogue('Caps, pauses and freezes already set stay as they are (lift them by hand or with caps unset, resume). Exit codes: 0, 1 already aborted or ended (or not confirmed), 2 unknown event, 3 etcd unreachable.') as unknown as Argv<EventArgs>,
  handler: async (args) => {
    await withRunbooks(args.config, async (store) => {
      const rb = await loaded(store, args.event);
      if (rb.ended) return fail(EXIT.FAILURE, `runbook ${args.event} has ended (${rb.ended.outcome})`);
      if (!(await confirmed(args.yes, 'nothing was aborted'))) return;
      const by = operatorName(args.operator);
      if (!(await store.abort(args.event, { by, at: eventTime(rb.started.rehearsal, Date.now()), reason: args.reason! }))) return fail(EXIT.FAILURE, `runbook ${args.event} is aborted already (by ${rb.inputs.abort?.by ?? 'someone'})`);
      process.stdout.write(`aborted ${args.event}: no further step begins\n`);
    });
  },
};

const report: CommandModule<object, EventArgs> = {
  command: 'report <event>',
  describe: 'After the event: a self-contained HTML page (planned against actual, switches and caps marked, failed and late steps highlighted), or the record as JSON',
  builder: (y) =>
    y
      .positional('event', { type: 'string', demandOption: true })
      .option('config', configOption)
      .option('out', { type: 'string', describe: 'Where to write the page (default: <event>-runbook.html)' })
      .option('output', outputOption)
      .example('$0 runbook report new-year-gala -c examples/local-two-rooms.yaml', 'Write new-year-gala-runbook.html')
      .example('$0 runbook report new-year-gala -c examples/local-two-rooms.yaml -o json > gala.json', 'Export the record')
      .epilogue('The page needs no network: styles and the timeline are inside it. Exit codes: 0, 2 unknown event, 3 etcd unreachable.') as unknown as Argv<EventArgs>,
  handler: async (args) => {
    await withRunbooks(args.config, async (store, { journals, caps }) => {
      const x = await exportOf(await loaded(store, args.event), journals, caps);
      if (printData(args.output, x)) return;
      const file = args.out ?? `${args.event}-runbook.html`;
      try {
        writeFileSync(file, renderRunbookReport(x));
      } catch (err) {
        return fail(EXIT.FAILURE, `could not write ${file}: ${(err as Error).message}`);
      }
      const failed = x.steps.filter((s) => s.state === 'failed').length;
      const late = x.steps.filter((s) => s.late).length;
      process.stdout.write(`wrote ${file}: ${x.steps.length} steps (${failed} failed, ${late} late), ${x.switches.length} switch(es), ${x.caps.length} cap change(s)\n`);
    });
  },
};

export const runbookLiveCommands = [start, status, ack, skip, abort, report] as const;
