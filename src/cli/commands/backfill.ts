import type { CommandModule } from 'yargs';
import { loadConfig } from '../../config/load.js';
import { buildStore, createLogger, operatorName, operatorZone } from '../../composition.js';
import { EtcdJournalStore } from '../../adapters/etcd/journal-store.js';
import { EtcdBackfillStore } from '../../adapters/etcd/backfill-store.js';
import { KafkaRecordCopier } from '../../adapters/kafka/record-copier.js';
import { BackfillRunner } from '../../executor/backfill.js';
import type { BackfillState } from '../../ports/backfill-store.js';
import { stamp } from '../time.js';
import { EXIT, fail, outputOption, printData, table, unknownPipeline, type OutputFormat } from '../output.js';

interface Args {
  config: string;
  pipeline: string;
  'dry-run': boolean;
  operator?: string;
  output: OutputFormat;
}

const rowsOf = (s: BackfillState) =>
  s.partitions.map((p) => [`${p.topic}/${p.partition}`, `${p.startOffset}..${p.endOffset}`, String(p.endOffset - p.startOffset), String(p.estimated), String(p.copied), p.nextOffset >= p.endOffset ? 'done' : `at ${p.nextOffset}`]);

export const backfillCommand: CommandModule<object, Args> = {
  command: 'backfill <pipeline>',
  describe: 'Copy the records a switch left behind in the room it left (now back) into the room the pipeline reads',
  builder: (y) =>
    y
      .positional('pipeline', { type: 'string', demandOption: true, describe: 'The pipeline whose switches left a gap' })
      .option('config', { alias: 'c', type: 'string', demandOption: true, describe: 'Topology file (YAML)' })
      .option('dry-run', { type: 'boolean', default: false, describe: 'Show each gap: its range in the source room, the records there and what the estimate said; copy nothing' })
      .option('operator', { type: 'string', describe: 'Who (default: $SWITCHYARD_OPERATOR or the OS user)' })
      .option('output', outputOption)
      .example('$0 backfill live-dashboard -c examples/local-two-rooms.yaml --dry-run', 'What would be copied, per partition')
      .example('$0 backfill live-dashboard -c examples/local-two-rooms.yaml', 'Copy it; run again to resume an interrupted backfill')
      .epilogue(
        'A switch whose data estimate said records would be lost records that gap (per partition, the time range only the old room held). ' +
          'Once that room answers again, this copies those records, with their timestamps, keys and headers, to the end of the same partitions in the room the pipeline reads now; ' +
          'SDK consumers process them there, and drop the ones they had processed already (by producer id and sequence). Progress is saved after every batch: running it again resumes. ' +
          'Exit codes: 0 done (or nothing to do), 1 the source room does not answer or the copy failed, 2 bad arguments, 3 etcd unreachable.',
      ),
  handler: async (args) => {
    const config = loadConfig(args.config);
    const pipeline = config.topology.pipelines.get(args.pipeline);
    if (!pipeline) return fail(EXIT.USAGE, unknownPipeline(args.pipeline, config.topology.pipelines.keys()));
    const store = buildStore(config);
    const copier = new KafkaRecordCopier(new Map([...config.topology.rooms.values()].map((r) => [r.name, r.kafka.brokers])), createLogger('silent'), undefined, config.kafkaAccess);
    const backfills = new EtcdBackfillStore(store.etcd, config.etcd.prefix);
    const runner = new BackfillRunner({ copier, store: backfills, log: createLogger('silent') });
    const results: BackfillState[] = [];
    try {
      let history;
      let route;
      try {
        [history, route] = await Promise.all([new EtcdJournalStore(store.etcd, config.etcd.prefix).history(pipeline.name), store.routes.get(pipeline.name)]);
      } catch (err) {
        return fail(EXIT.UNAVAILABLE, `etcd unreachable: ${(err as Error).message}`);
      }
      const withGap = history.filter((r) => r.gap);
      const pending = [];
      for (const r of withGap) {
        const st = await backfills.get(pipeline.name, r.id);
        if (st?.state.status === 'done') results.push(st.state);
        else pending.push(r);
      }
      if (pending.length === 0) {
        if (!printData(args.output, { pipeline: pipeline.name, backfills: results })) process.stdout.write(`nothing to backfill for ${pipeline.name}: ${withGap.length === 0 ? 'no switch left a gap' : 'every gap is copied'}\n`);
        return;
      }
      const target = route?.route.room;
      if (!target) return fail(EXIT.FAILURE, `${pipeline.name} has no route`);
      for (const record of pending) {
        if (record.gap!.sourceRoom === target) {
          process.stdout.write(`${record.id}: nothing to copy, ${pipeline.name} reads ${target} again, where these records are\n`);
          continue;
        }
        let planned;
        try {
          planned = await runner.plan(record, target, operatorName(args.operator));
        } catch (err) {
          return fail(EXIT.FAILURE, `${record.id}: ${record.gap!.sourceRoom} does not answer, so its gap cannot be read yet (${(err as Error).message}); run this again once it is back`);
        }
        const head = `${record.id}: ${record.gap!.sourceRoom} -> ${target}, switched ${stamp(record.decidedAt, operatorZone())}`;
        if (args['dry-run']) {
          results.push(planned.state);
          if (args.output === 'table') process.stdout.write(`${head} (dry run: nothing copied)\n${table(['PARTITION', 'OFFSETS', 'RECORDS', 'ESTIMATED', 'COPIED', 'STATE'], rowsOf(planned.state))}\n`);
          continue;
        }
        if (args.output === 'table') process.stdout.write(`${head}\n`);
        try {
          const done = await runner.run(planned, (s) => {
            if (args.output === 'table' && process.stdout.isTTY) process.stdout.write(`\r  copied ${s.partitions.reduce((n, p) => n + p.copied, 0)} record(s)`);
          });
          results.push(done);
          if (args.output === 'table') process.stdout.write(`${process.stdout.isTTY ? '\n' : ''}${table(['PARTITION', 'OFFSETS', 'RECORDS', 'ESTIMATED', 'COPIED', 'STATE'], rowsOf(done))}\n`);
        } catch (err) {
          return fail(EXIT.FAILURE, `${record.id}: backfill stopped: ${(err as Error).message}; its progress is saved, run this again to resume`);
        }
      }
      printData(args.output, { pipeline: pipeline.name, backfills: results });
    } finally {
      await copier.close();
      store.etcd.close();
    }
  },
};
