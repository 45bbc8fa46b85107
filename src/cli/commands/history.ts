import type { CommandModule } from 'yargs';
import { loadConfig } from '../../config/load.js';
import { buildStore, operatorZone } from '../../composition.js';
import { EtcdJournalStore } from '../../adapters/etcd/journal-store.js';
import { EtcdBackfillStore } from '../../adapters/etcd/backfill-store.js';
import { EtcdCapStore } from '../../adapters/etcd/cap-store.js';
import { EXIT, fail, outputOption, printData, table, unknownPipeline, type OutputFormat } from '../output.js';
import { ms, stamp } from '../time.js';

interface Args {
  config: string;
  pipeline?: string;
  output: OutputFormat;
  caps: boolean;
}

export const historyCommand: CommandModule<object, Args> = {
  command: 'history [pipeline]',
  describe: 'Past switches: when, from where to where, who and why, detection, flip and RTO, outcome',
  builder: (y) =>
    y
      .positional('pipeline', { type: 'string', describe: 'Only this pipeline' })
      .option('config', { alias: 'c', type: 'string', demandOption: true, describe: 'Topology file (YAML)' })
      .option('output', outputOption)
      .option('caps', { type: 'boolean', default: false, describe: 'Show the changes of source caps instead (shed, resumed, overridden, new baselines), with their reasons' })
      .example('$0 history live-dashboard -c examples/local-two-rooms.yaml', 'One pipeline\'s switches, oldest first')
      .example('$0 history -c examples/local-two-rooms.yaml -o json', 'Every switch as JSON (with each one\'s full reason)')
      .example('$0 history --caps -c examples/local-two-rooms.yaml', 'Every change of a source cap: who shed what, when, and why')
      .epilogue(
        'RTO is first failed probe to first record processed in the new chain, for switches a consumer verified. ' +
          'DATA: for a switch whose estimate said records would be lost, the estimate made before it and what the backfill found in the old room and copied after it. ' +
          'Exit codes: 0, 2 unknown pipeline, 3 etcd unreachable.',
      ),
  handler: async (args) => {
    const config = loadConfig(args.config);
    if (args.pipeline && !config.topology.pipelines.has(args.pipeline)) return fail(EXIT.USAGE, unknownPipeline(args.pipeline, config.topology.pipelines.keys()));
    const store = buildStore(config);
    try {
      if (args.caps) {
        const events = await new EtcdCapStore(store.etcd, config.etcd.prefix).history(args.pipeline);
        if (printData(args.output, events)) return;
        if (events.length === 0) {
          process.stdout.write('no cap changes recorded\n');
          return;
        }
        const zone = operatorZone();
        const rate = (x: number | undefined, origin: string) => (x === undefined ? 'uncapped' : origin === 'shed' ? 'shed (0)' : `${x}/s`);
        process.stdout.write(
          table(
            ['AT', 'PIPELINE', 'ROOM', 'BEFORE', 'AFTER', 'ORIGIN', 'REASON'],
            events.map((e) => [stamp(e.at, zone), e.pipeline, e.room, e.before === undefined ? 'uncapped' : `${e.before}/s`, rate(e.after, e.origin), e.origin, e.reason]),
          ) + '\n',
        );
        return;
      }
      const found = await new EtcdJournalStore(store.etcd, config.etcd.prefix).history(args.pipeline);
      found.sort((a, b) => a.decidedAt - b.decidedAt);
      // For a switch that left a gap: what the estimate said before it, and what the backfill found
      // in the old room and copied after it (the measured side).
      const backfills = new EtcdBackfillStore(store.etcd, config.etcd.prefix);
      const records = await Promise.all(
        found.map(async (r) => {
          if (!r.gap) return { ...r, data: null };
          const b = (await backfills.get(r.pipeline, r.id))?.state;
          const estimated = r.gap.partitions.reduce((n, p) => n + p.records, 0);
          return {
            ...r,
            data: {
              estimatedLoss: estimated,
              backfill: b ? { status: b.status, foundInOldRoom: b.partitions.reduce((n, p) => n + (p.endOffset - p.startOffset), 0), copied: b.partitions.reduce((n, p) => n + p.copied, 0) } : null,
            },
          };
        }),
      );
      if (printData(args.output, records)) return;
      if (records.length === 0) {
        process.stdout.write('no switches recorded\n');
        return;
      }
      const zone = operatorZone();
      process.stdout.write(
        table(
          ['DECIDED', 'PIPELINE', 'KIND', 'FROM', 'TO', 'EPOCH', 'DETECT', 'FLIP', 'RTO', 'OUTCOME', 'DATA', 'BY', 'REASON'],
          records.map((r) => [
            stamp(r.decidedAt, zone),
            r.pipeline,
            r.kind,
            `${r.fromChain}@${r.fromRoom}`,
            `${r.toChain}@${r.toRoom}`,
            String(r.epoch),
            r.kind === 'failover' || r.kind === 'failback' ? ms(r.detectedAfterMs) : '-',
            ms(r.flipMs),
            ms(r.rtoMs),
            r.outcome,
            !r.data ? '-' : `est. ${r.data.estimatedLoss} lost${r.data.backfill ? `; backfill ${r.data.backfill.status}: ${r.data.backfill.copied} copied` : '; not backfilled'}`,
            `${r.requestedBy} (${r.leaders.join(',')})`,
            r.reason.length > 100 ? `${r.reason.slice(0, 97)}...` : r.reason,
          ]),
        ) + '\n',
      );
    } catch (err) {
      fail(EXIT.UNAVAILABLE, `etcd unreachable: ${(err as Error).message}`);
    } finally {
      store.etcd.close();
    }
  },
};
