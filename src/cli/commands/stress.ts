import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { kafkaAccessFor } from '../../ports/kafka-access.js';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Argv, CommandModule } from 'yargs';
import { stringify } from 'yaml';
import { ConfigError, loadBaseline, loadConfig, type LoadedConfig } from '../../config/load.js';
import { operatorName } from '../../composition.js';
import { capOf, splitCap } from '../../core/caps.js';
import { createPinoLogger } from '../../adapters/system/pino-logger.js';
import { FlinkUnreachableError, jobParallelism } from '../../stress/flink-shadow.js';
import { KafkaUnreachableError } from '../../stress/replay.js';
import { BACKPRESSURE_LIMIT, baselineOf, CPU_LIMIT, runStress, stepRates, type StepResult, type StressOptions, type StressResult } from '../../stress/stress-runner.js';
import { EXIT, fail, outputOption, printData, unknownPipeline, type OutputFormat } from '../output.js';

interface StressArgs {
  pipeline: string;
  config: string;
  room: string;
  from: number;
  to: number;
  step: number;
  hold: number;
  warmup: number;
  'latency-limit-ms': number;
  tasks?: number;
  job?: string;
  write?: string;
  operator?: string;
  output: OutputFormat;
}

/** The settings a run needs, checked; or the usage error (naming the option) that stops it. */
type Checked = { kind: 'ok'; opts: Omit<StressOptions, 'log' | 'signal' | 'onStep' | 'tasks'>; tasks?: number } | { kind: 'usage'; why: string };

const whole = (name: string, v: number, min: number, max: number): string =>
  !Number.isFinite(v) || !Number.isInteger(v) || v < min || v > max ? `--${name} must be a whole number from ${min} to ${max}, got ${String(v)}` : '';
const number = (name: string, v: number, min: number, max: number, unit: string): string =>
  !Number.isFinite(v) || v < min || v > max ? `--${name} must be a number of ${unit} from ${min} to ${max}, got ${String(v)}` : '';

function check(args: StressArgs, config: LoadedConfig): Checked {
  const t = config.topology;
  const p = t.pipelines.get(args.pipeline);
  if (!p) return { kind: 'usage', why: unknownPipeline(args.pipeline, t.pipelines.keys()) };
  const chain = p.chains.find((c) => c.room === args.room);
  if (!chain) return { kind: 'usage', why: `--room: pipeline ${p.name} has no chain in '${args.room}' (its rooms: ${[...new Set(p.chains.map((c) => c.room))].join(', ')})` };
  const room = t.rooms.get(args.room)!;
  if (!room.flink) return { kind: 'usage', why: `--room: ${args.room} has no Flink (rooms.${args.room}.flink.url): a stress test runs a shadow copy of the pipeline's job there` };
  const job = args.job ?? (chain.jobs.length === 1 ? chain.jobs[0] : undefined);
  if (!job) return { kind: 'usage', why: chain.jobs.length === 0 ? `${p.name}'s chain in ${args.room} names no stream job (chains.${chain.name}.jobs)` : `--job: ${p.name}'s chain in ${args.room} runs ${chain.jobs.join(', ')}: name the one to stress` };
  if (!chain.jobs.includes(job)) return { kind: 'usage', why: `--job: '${job}' is not a job of ${p.name}'s chain in ${args.room} (its jobs: ${chain.jobs.join(', ')})` };
  const launch = room.flink.launch?.[job];
  if (!launch) return { kind: 'usage', why: `say how to start a copy of ${job} in rooms.${args.room}.flink.launch.${job} (jar, entryClass, args with --in and --out): the shadow job is that, on its own topics` };
  if (!existsSync(launch.jarFile)) return { kind: 'usage', why: `rooms.${args.room}.flink.launch.${job}.jar: jar not found: ${launch.jarFile}` };
  const why =
    whole('from', args.from, 1, 10_000_000) ||
    whole('to', args.to, 1, 10_000_000) ||
    whole('step', args.step, 1, 10_000_000) ||
    (args.to < args.from ? `--to (${args.to}) must be at least --from (${args.from})` : '') ||
    number('hold', args.hold, 1, 3600, 'seconds') ||
    number('warmup', args.warmup, 0, 3600, 'seconds') ||
    number('latency-limit-ms', args['latency-limit-ms'], 1, 3_600_000, 'milliseconds') ||
    (args.tasks === undefined ? '' : whole('tasks', args.tasks, 1, 1024)) ||
    (Math.floor((args.to - args.from) / args.step) + 1 > 100 ? `--step ${args.step} gives more than 100 steps from ${args.from} to ${args.to}: take a larger step` : '');
  if (why) return { kind: 'usage', why };
  const inArg = launch.args[launch.args.indexOf('--in') + 1];
  const sourceTopic = launch.args.includes('--in') && inArg && p.topics.includes(inArg) ? inArg : p.topics[0]!;
  return {
    kind: 'ok',
    ...(args.tasks !== undefined && { tasks: args.tasks }),
    opts: {
      pipeline: p.name,
      room: args.room,
      job,
      brokers: room.kafka.brokers,
      access: () => kafkaAccessFor(config.kafkaAccess, room.kafka.brokers),
      flinkUrl: room.flink.url,
      launch,
      sourceTopic,
      rates: stepRates(args.from, args.to, args.step),
      warmupMs: args.warmup * 1000,
      holdMs: args.hold * 1000,
      latencyLimitMs: args['latency-limit-ms'],
    },
  };
}

function progress(i: number, n: number, s: StepResult): string {
  const f = (v: number | null, d: number) => (v === null ? '-' : v.toFixed(d));
  return (
    `step ${i}/${n}  ${String(s.ratePerSecond).padStart(6)}/s  latency ${f(s.inputLatencyMs, 0).padStart(5)} ms  back-pressure ${f(s.backpressureRatio, 2)}  ` +
    `CPU ${f(s.cpuRatio, 2)}  results ${s.measured}/${s.expected}  ${s.passed ? 'PASS' : `FAIL: ${s.failures.join('; ')}`}`
  );
}

/** The project's baseline JSON Schema, found beside this file in either src/ or dist/src/. */
function schemaFile(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const f = join(dir, 'schemas', 'baseline.schema.json');
    if (existsSync(f)) return f;
    dir = dirname(dir);
  }
  return undefined;
}

/** Writes the baseline to `<dir>/<pipeline>.<room>.yaml` once loadBaseline accepts it (a temp file is checked, then renamed); returns the path. */
function writeBaseline(dir: string, r: StressResult, by: string, config: LoadedConfig): string {
  const now = new Date();
  const body = baselineOf(r, by, now.toISOString());
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${r.pipeline}.${r.room}.yaml`);
  const schema = schemaFile();
  const steps = r.steps.map((s) => `${s.ratePerSecond}/s ${s.passed ? 'pass' : 'fail'}`).join(', ');
  const text =
    (schema ? `# yaml-language-server: $schema=${relative(dir, schema)}\n` : '') +
    `# Produced by \`switchyard stress\` on ${now.toISOString().slice(0, 10)} (${by}): a shadow copy of ${r.job} at ${r.tasks} tasks in ${r.room};\n` +
    `# steps: ${steps}. Measured, not typed: run the stress test again rather than editing it.\n` +
    stringify(body);
  const tmp = join(dir, `.${r.pipeline}.${r.room}.yaml.tmp`);
  writeFileSync(tmp, text);
  try {
    loadBaseline(tmp, config.topology);
    renameSync(tmp, file);
  } finally {
    rmSync(tmp, { force: true });
  }
  return file;
}

export const stressCommand: CommandModule<object, StressArgs> = {
  command: 'stress <pipeline>',
  describe: 'Stress-test a pipeline\'s job in a room on a shadow copy, and write its baseline from what was measured',
  builder: (y) =>
    y
      .positional('pipeline', { type: 'string', demandOption: true, describe: 'The pipeline whose job is tested' })
      .option('config', { alias: 'c', type: 'string', demandOption: true, describe: 'Topology file (YAML)' })
      .option('room', { type: 'string', demandOption: true, describe: 'The room whose Flink and Kafka run the test' })
      .option('from', { type: 'number', demandOption: true, describe: 'First rate, records/s' })
      .option('to', { type: 'number', demandOption: true, describe: 'Last rate, records/s' })
      .option('step', { type: 'number', demandOption: true, describe: 'Rate added per step, records/s' })
      .option('hold', { type: 'number', default: 10, describe: 'Seconds each rate is held and measured (after the warm-up)' })
      .option('warmup', { type: 'number', default: 5, describe: 'Seconds at each rate before measuring' })
      .option('latency-limit-ms', { type: 'number', default: 1000, describe: 'Input latency limit: a step passes when the source\'s emit lag stays at or below it' })
      .option('tasks', { type: 'number', describe: 'Parallelism of the shadow job and partitions of the shadow topic (default: the running job\'s parallelism)' })
      .option('job', { type: 'string', describe: 'The stream job to copy (default: the chain\'s only job)' })
      .option('write', { type: 'string', describe: 'Write the baseline to DIR/<pipeline>.<room>.yaml when a step passed (no DIR: the topology\'s baselines directory)' })
      .option('operator', { type: 'string', describe: 'Who ran it, for measuredBy (default: $SWITCHYARD_OPERATOR or the OS user)' })
      .option('output', outputOption)
      .example('$0 stress live-dashboard --room room-a --from 1000 --to 10000 --step 1000 -c examples/local-two-rooms.yaml', 'Find the rate room-a\'s job takes; print the steps')
      .example('$0 stress live-dashboard --room room-b --from 2000 --to 20000 --step 2000 --hold 30 --write -c examples/local-two-rooms.yaml', 'Hold each rate 30 s and write baselines/live-dashboard.room-b.yaml')
      .example('$0 stress live-dashboard --room room-a --from 200 --to 1000 --step 400 --tasks 2 -o json -c examples/local-two-rooms.yaml', 'Every step\'s measurements as JSON')
      .epilogue(
        'How it works: the pipeline\'s own records (its topic from the beginning, looped) are replayed into a new topic <topic>-stress-<id> at each rate, split over ' +
          'the tasks (partitions) exactly as a cap is split; a second run of the pipeline\'s job (rooms.<room>.flink.launch.<job>, at --tasks parallelism, its own ' +
          'output topic and group) takes them. The live job, its topics and its group are not touched, but the shadow job shares the room\'s Flink and Kafka: ' +
          'run it when the room has room. A step passes when all four criteria hold: input latency (the source\'s currentEmitEventTimeLag, highest of any ' +
          `subtask over the hold) <= --latency-limit-ms; back-pressure (highest ratio of any vertex, computed during the hold) <= ${BACKPRESSURE_LIMIT}, Flink's "ok"; ` +
          `CPU (the growth of the task managers' Status.JVM.CPU.Time over the hold, over their cores) <= ${CPU_LIMIT}; results: the job wrote exactly one output record per record sent ` +
          '(none missing, none twice). The run stops at the first step that fails, cancels the shadow job and deletes its topics (also on Ctrl-C). The baseline ' +
          'is the last step that passed; the controller caps the source at it times the tier\'s capHeadroom. ' +
          'Exit codes: 0 a step passed, 1 no step passed (refused: nothing written) or the run failed, 2 bad arguments or configuration, 3 Kafka or Flink unreachable.',
      ) as unknown as Argv<StressArgs>,
  handler: async (args) => {
    const config = loadConfig(args.config);
    const checked = check(args, config);
    if (checked.kind === 'usage') return fail(EXIT.USAGE, checked.why);
    const { opts } = checked;
    const log = createPinoLogger(process.env['SWITCHYARD_LOG_LEVEL'] ?? 'error', { cmd: 'stress' });
    const say = (line: string) => (args.output === 'table' ? process.stdout : process.stderr).write(line + '\n');
    const abort = new AbortController();
    const onInt = () => {
      say('interrupted: cancelling the shadow job and deleting its topics ...');
      abort.abort(new Error('interrupted (Ctrl-C)'));
    };
    process.once('SIGINT', onInt);
    process.once('SIGTERM', onInt);
    let result: StressResult;
    try {
      let tasks = checked.tasks;
      if (tasks === undefined) {
        tasks = await jobParallelism(opts.flinkUrl, opts.job, 10_000);
        if (tasks === undefined) return fail(EXIT.USAGE, `--tasks: ${opts.job} is not running in ${opts.room}'s Flink, so its parallelism is unknown: say --tasks`);
      }
      say(`stress ${opts.pipeline} in ${opts.room}: shadow of ${opts.job} at ${tasks} tasks, ${opts.rates.join(' -> ')} records/s, ${args.warmup} s warm-up + ${args.hold} s hold each, input latency limit ${opts.latencyLimitMs} ms`);
      let i = 0;
      result = await runStress({ ...opts, tasks, log, signal: abort.signal, onStep: (s) => say(progress(++i, opts.rates.length, s)) });
    } catch (err) {
      if (err instanceof FlinkUnreachableError || err instanceof KafkaUnreachableError) return fail(EXIT.UNAVAILABLE, err.message);
      const msg = (err as Error).message;
      return fail(EXIT.FAILURE, `stress test stopped: ${msg}${msg.includes('cleanup incomplete') ? '' : '; the shadow job was cancelled and its topics deleted'}`);
    } finally {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onInt);
    }
    for (const p of result.cleanupProblems) process.stderr.write(`switchyard: cleanup incomplete: ${p}\n`);
    const policy = config.topology.policies.get(config.topology.pipelines.get(result.pipeline)!.tier)!;
    let written: string | undefined;
    let notWritten: string | undefined;
    if (result.lastPassing && args.write !== undefined) {
      // A run's results are never lost to a file that cannot be written: they are printed anyway.
      try {
        written = writeBaseline(resolve(args.write === '' ? config.baselinesDir : args.write), result, operatorName(args.operator), config);
      } catch (err) {
        notWritten = err instanceof ConfigError ? err.message : (err as Error).message;
      }
    }
    const cap = result.lastPassing && capOf(result.lastPassing.ratePerSecond, policy.capHeadroom);
    if (!printData(args.output, { ...result, baselineRate: result.lastPassing?.ratePerSecond ?? null, cap: cap ?? null, capPerTask: cap === undefined ? null : splitCap(cap, result.tasks), written: written ?? null })) {
      if (result.lastPassing) {
        say(`baseline: ${result.lastPassing.ratePerSecond}/s at ${result.tasks} tasks (cap at the tier's headroom ${policy.capHeadroom}: ${cap}/s, ${splitCap(cap!, result.tasks).join(' + ')} per task)`);
        say(written ? `wrote ${written}` : notWritten ? `not written: ${notWritten}` : 'not written: add --write [DIR] to save it (default DIR: the topology\'s baselines directory)');
      }
    }
    if (!result.lastPassing) {
      const first = result.steps[0];
      return fail(EXIT.FAILURE, `refused: no step passed${first ? ` (${first.ratePerSecond}/s: ${first.failures.join('; ')})` : ''}; no baseline written`);
    }
    if (notWritten) return fail(EXIT.FAILURE, `the baseline was not written: ${notWritten}`);
    if (result.cleanupProblems.length > 0) process.exitCode = EXIT.FAILURE;
  },
};
