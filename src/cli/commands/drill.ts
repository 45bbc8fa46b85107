import { randomUUID } from 'node:crypto';
import type { CommandModule } from 'yargs';
import { loadConfig } from '../../config/load.js';
import { buildStore, createLogger, operatorIdentity } from '../../composition.js';
import { EtcdIntentStore } from '../../adapters/etcd/intent-store.js';
import { EtcdJournalStore } from '../../adapters/etcd/journal-store.js';
import type { SwitchRecord } from '../../core/journal.js';
import { whoAsked, type RealIdentity, type SwitchoverIntent } from '../../core/switchover.js';
import { checkManualSwitch, isRefusal, waitForSwitch, type SwitchWait } from '../switch-intent.js';
import { confirmed, EXIT, fail, outputOption, printData, table, unknownPipeline, type OutputFormat } from '../output.js';
import { age, ms, parseDuration } from '../time.js';

interface Args {
  config: string;
  pipeline: string;
  to?: string;
  'and-back': boolean;
  hold: string;
  reason?: string;
  emergency: boolean;
  operator?: string;
  yes: boolean;
  'dry-run': boolean;
  wait: number;
  output: OutputFormat;
}

/** One leg's timings, from the history record of the switch that carried it out. */
export interface DrillLeg {
  readonly leg: number;
  readonly intent: string;
  readonly from: string;
  readonly to: string;
  readonly result: SwitchWait['kind'];
  readonly detail?: string;
  readonly switch?: string;
  /** Asked (or, for a way back, allowed to go: the way out's end + hold) to decided by the leader. */
  readonly pickupMs?: number;
  /** Decided to route written. */
  readonly flipMs?: number;
  /** Decided to the first record a consumer processed in the new chain. */
  readonly firstRecordMs?: number;
  /** Decided to recorded: every journal step. */
  readonly switchMs?: number;
  readonly outcome?: SwitchRecord['outcome'];
  readonly leaders?: readonly string[];
}

export interface DrillReport {
  readonly drill: string;
  readonly pipeline: string;
  /** The name given; `identity` says who that really was. */
  readonly by: string;
  readonly identity: RealIdentity;
  readonly reason: string;
  readonly legs: readonly DrillLeg[];
  /** Every leg done and verified by a consumer. */
  readonly ok: boolean;
}

function legOf(intent: SwitchoverIntent, from: string, to: string, result: SwitchWait, readyAt: number): DrillLeg {
  const base = { leg: intent.drill!.leg, intent: intent.id, from, to, result: result.kind };
  switch (result.kind) {
    case 'done': {
      const r = result.record;
      return {
        ...base,
        switch: r.id,
        pickupMs: Math.max(0, r.decidedAt - readyAt),
        flipMs: r.flipMs,
        ...(r.rtoMs !== undefined && { firstRecordMs: r.rtoMs - r.detectedAfterMs }),
        switchMs: r.finishedAt - r.decidedAt,
        outcome: r.outcome,
        leaders: r.leaders,
      };
    }
    case 'refused':
      return { ...base, detail: result.reason };
    case 'gone':
      return { ...base, detail: 'cancelled before it ran' };
    case 'timeout':
      return { ...base, detail: result.started ? 'started, not finished in time' : 'not started in time' };
  }
}

function render(r: DrillReport): string {
  const rows = r.legs.map((l) => [
    `${l.leg}/${r.legs.length}`,
    l.from,
    l.to,
    ms(l.pickupMs),
    ms(l.flipMs),
    ms(l.firstRecordMs),
    ms(l.switchMs),
    l.outcome ?? `${l.result}${l.detail ? `: ${l.detail}` : ''}`,
  ]);
  const verdict = r.ok
    ? `drill ${r.drill} passed: every leg switched and a consumer processed records in the new chain`
    : `drill ${r.drill} did not pass: see OUTCOME (unverified = a live consumer did not move to the new route in time, or someone still reads the old room; the NOTE names them)`;
  return `${table(['LEG', 'FROM', 'TO', 'PICKUP', 'FLIP', 'FIRST RECORD', 'SWITCH', 'OUTCOME'], rows)}\n\n${verdict}\n` +
    'PICKUP: asked -> leader decided; FLIP: decided -> route written; FIRST RECORD: decided -> first record processed in the new chain; SWITCH: decided -> recorded\n';
}

export const drillCommand: CommandModule<object, Args> = {
  command: 'drill <pipeline>',
  describe: 'Practise: a real graceful switchover of a pipeline (and back, with --and-back), with a timing report',
  builder: (y) =>
    y
      .positional('pipeline', { type: 'string', demandOption: true, describe: 'The pipeline to drill' })
      .option('config', { alias: 'c', type: 'string', demandOption: true, describe: 'Topology file (YAML)' })
      .option('to', { type: 'string', describe: 'Chain to move to (default: the standby when on the primary, else the primary)' })
      .option('and-back', { type: 'boolean', default: false, describe: 'Then switch back to where it started' })
      .option('hold', { type: 'string', default: '0s', describe: 'With --and-back: how long to stay on the other chain first (e.g. 30s, 5m)' })
      .option('reason', { type: 'string', describe: 'Why, for the record (required, except with --dry-run)' })
      .option('emergency', { type: 'boolean', default: false, describe: 'Allowed outside the tier\'s change window' })
      .option('operator', { type: 'string', describe: 'Who (default: $SWITCHYARD_OPERATOR or the OS user)' })
      .option('yes', { alias: 'y', type: 'boolean', default: false, describe: 'Do not ask for confirmation' })
      .option('dry-run', { type: 'boolean', default: false, describe: 'Show the plan; record nothing' })
      .option('wait', { type: 'number', default: 60, describe: 'Seconds to wait for each leg (the hold comes on top)' })
      .option('output', outputOption)
      .example('$0 drill live-dashboard --and-back --hold 30s -c examples/local-two-rooms.yaml --reason "monthly drill" --yes', 'To the standby, 30 s there, and back; then the timing report')
      .example('$0 drill live-dashboard --dry-run --and-back -c examples/local-two-rooms.yaml', 'Show the legs; record nothing')
      .epilogue(
        'Both legs are recorded in etcd at once and carried out by the leader like any switchover (target health and change window checked, journaled, fenced), ' +
          'so the way back happens even if this command is interrupted; `switchover --cancel <id>` of a leg also cancels what follows it. ' +
          'History records the legs as kind "drill". Exit codes: 0 every leg done and verified by a consumer, 1 a leg refused, unverified or not done in time, ' +
          '2 bad arguments or outside the change window, 3 etcd unreachable.',
      ),
  handler: async (args) => {
    const hold = parseDuration(args.hold);
    if (hold === undefined) return fail(EXIT.USAGE, `--hold '${args.hold}' is not a duration like 30s, 5m or 1h, of at most a week`);
    if (!args['and-back'] && hold > 0) return fail(EXIT.USAGE, '--hold only makes sense with --and-back');
    if (!(args.wait > 0)) return fail(EXIT.USAGE, `--wait must be a positive number of seconds, got ${args.wait}`);
    const config = loadConfig(args.config);
    if (!config.topology.pipelines.has(args.pipeline)) return fail(EXIT.USAGE, unknownPipeline(args.pipeline, config.topology.pipelines.keys()));
    const store = buildStore(config);
    const intents = new EtcdIntentStore(store.etcd, config.etcd.prefix);
    const journals = new EtcdJournalStore(store.etcd, config.etcd.prefix);
    try {
      const now = Date.now();
      const [stored, leader, running, wanted] = await Promise.all([store.routes.get(args.pipeline), store.lock('cli', createLogger('silent')).leaderInfo(), journals.list(), intents.read()]);
      const checked = checkManualSwitch(config.topology, stored?.route, { pipeline: args.pipeline, to: args.to, at: now, emergency: args.emergency, reason: args.reason, requireReason: !args['dry-run'] }, wanted);
      if (isRefusal(checked)) return fail(checked.code, checked.message);
      const { pipeline, target, route } = checked;
      if (running.get(pipeline.name)?.journal.status === 'running') return fail(EXIT.FAILURE, `a switch of ${pipeline.name} is under way (see switchyard status); drill after it`);
      if (!leader) return fail(EXIT.FAILURE, 'no controller leads: a drill is carried out by the leader (start one, or see switchyard status)');

      const id = `dr-${randomUUID().slice(0, 8)}`;
      const { by, identity } = await operatorIdentity(args.operator);
      const who = whoAsked(by, identity);
      const legs = args['and-back'] ? 2 : 1;
      const home = `${route.chain}@${route.room}`;
      const away = `${target.name}@${target.room}`;
      const common = { pipeline: pipeline.name, at: now, reason: args.reason ?? '', by, identity, emergency: args.emergency, createdAt: now };
      const out: SwitchoverIntent = { ...common, id: `${id}-1`, to: target.name, drill: { id, leg: 1, legs } };
      const back: SwitchoverIntent = { ...common, id: `${id}-2`, to: route.chain, drill: { id, leg: 2, legs }, after: out.id, ...(hold > 0 && { holdMs: hold }) };
      const plan = [out, ...(legs === 2 ? [back] : [])];

      // Progress is for people: on stdout for tables, on stderr when stdout carries JSON or YAML.
      const say = (line: string) => (args.output === 'table' ? process.stdout : process.stderr).write(`${line}\n`);
      say(`drill ${id} of ${pipeline.name} by ${who}${args.emergency ? ', EMERGENCY' : ''}${common.reason ? `: ${common.reason}` : ''} (leader ${leader.id})`);
      say(`  leg 1/${legs}  ${home} -> ${away}  now`);
      if (legs === 2) say(`  leg 2/2  ${away} -> ${home}  when leg 1 is done${hold > 0 ? `, after holding ${age(hold)}` : ''}`);
      if (args['dry-run']) return;
      if (!(await confirmed(args.yes, 'nothing recorded'))) return;
      await intents.addSwitchovers(plan);
      say(`recorded ${plan.map((i) => i.id).join(' and ')}`);

      const report: DrillLeg[] = [];
      // Pickup counts from the recording, not from before the confirmation prompt.
      let readyAt = Date.now();
      for (const intent of plan) {
        const [from, to] = intent === out ? [home, away] : [away, home];
        const tag = `leg ${intent.drill!.leg}/${legs}`;
        const result = await waitForSwitch({ intents, journals }, pipeline.name, intent.id, args.wait * 1000 + (intent === back ? hold : 0), (step, journal) => {
          if (step.step === 'intent') say(`${tag}: ${journal.id} started by ${step.by}`);
          else {
            // Since the step before: verify's own time is only its last look, its wait is here.
            const before = journal.steps[journal.steps.indexOf(step) - 1];
            say(`${tag}: ${step.step} +${before ? step.at - before.at : step.ms} ms — ${step.note}`);
          }
        });
        const leg = legOf(intent, from, to, result, readyAt);
        report.push(leg);
        if (result.kind === 'done') {
          readyAt = result.record.finishedAt + hold;
          continue;
        }
        // Do not leave a leg behind to fire later by surprise — unless the way out has started,
        // when the way back is what brings the pipeline home.
        if (!(result.kind === 'timeout' && result.started)) {
          const cancelled = await intents.cancelSwitchover(intent.id);
          if (cancelled.length > 0) say(`${tag}: cancelled ${cancelled.join(', ')}`);
        }
        if (intent === back) say(`${pipeline.name} stays on ${away}; to bring it home: switchyard switchover ${pipeline.name} --to ${route.chain} -c ${args.config} --reason "drill ${id} back home"`);
        break;
      }
      const full: DrillReport = { drill: id, pipeline: pipeline.name, by, identity, reason: common.reason, legs: report, ok: report.length === legs && report.every((l) => l.outcome === 'verified') };
      if (!printData(args.output, full)) process.stdout.write(`\n${render(full)}`);
      if (!full.ok) process.exitCode = EXIT.FAILURE;
    } catch (err) {
      fail(EXIT.UNAVAILABLE, `etcd unreachable: ${(err as Error).message}`);
    } finally {
      store.etcd.close();
    }
  },
};
