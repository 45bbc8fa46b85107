import type { CommandModule } from 'yargs';
import { loadConfig } from '../../config/load.js';
import { buildProbes, buildStore, createLogger } from '../../composition.js';
import type { Observation } from '../../core/health.js';
import type { StoredRoute } from '../../ports/route-store.js';
import { EXIT, table, type OutputFormat } from '../output.js';

interface Args {
  config: string;
  policies?: string;
  output: OutputFormat;
  'probe-timeout': number;
}

function age(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  return `${Math.round(s / 3600)}h`;
}

export const statusCommand: CommandModule<object, Args> = {
  command: 'status',
  describe: 'Show each room\'s health (probed now), the leader, and every pipeline\'s route',
  builder: (y) =>
    y
      .option('config', { alias: 'c', type: 'string', demandOption: true, describe: 'Topology file (YAML)' })
      .option('policies', { type: 'string', describe: 'Tier policy directory or file' })
      .option('output', { alias: 'o', choices: ['table', 'json'] as const, default: 'table' as OutputFormat, describe: 'Output format' })
      .option('probe-timeout', { type: 'number', default: 1500, describe: 'Milliseconds to wait for each room' })
      .example('$0 status -c examples/local-two-rooms.yaml', 'Rooms, leader and routes as tables')
      .example('$0 status -c examples/local-two-rooms.yaml -o json | jq .routes', 'The same as JSON')
      .epilogue('Probes the rooms itself, so it works while no controller runs. Exit codes: 0 all rooms OK, 1 some room not OK, 2 bad configuration, 3 etcd unreachable.'),
  handler: async (args) => {
    const config = loadConfig(args.config, args.policies);
    const log = createLogger('silent');
    const probes = buildProbes(config, 'cli', 'cli', log, args['probe-timeout']);
    const store = buildStore(config);
    const lock = store.lock('cli', log);
    let observations: Observation[] = [];
    let routes = new Map<string, StoredRoute>();
    let leader: string | undefined;
    let storeError: string | undefined;
    try {
      [observations] = await Promise.all([
        Promise.all(probes.map((p) => p.probe())),
        (async () => {
          try {
            [routes, leader] = await Promise.all([store.routes.list(), lock.leader()]);
          } catch (err) {
            storeError = (err as Error).message;
          }
        })(),
      ]);
    } finally {
      await Promise.all(probes.map((p) => p.close()));
      store.etcd.close();
    }
    const now = Date.now();
    const pipelines = [...config.topology.pipelines.values()].map((p) => {
      const r = routes.get(p.name)?.route;
      return { pipeline: p.name, tier: p.tier, chain: r?.chain ?? null, room: r?.room ?? null, epoch: r?.epoch ?? null, since: r ? new Date(r.since).toISOString() : null, reason: r?.reason ?? null };
    });
    if (args.output === 'json') {
      process.stdout.write(
        JSON.stringify({ rooms: observations.map((o) => ({ room: o.room, component: o.component, status: o.status, reason: o.reason, latencyMs: o.latencyMs })), leader: leader ?? null, storeError: storeError ?? null, pipelines }, null, 2) + '\n',
      );
    } else {
      process.stdout.write(table(['ROOM', 'COMPONENT', 'STATUS', 'LATENCY', 'REASON'], observations.map((o) => [o.room, o.component, o.status, `${o.latencyMs ?? 0}ms`, o.reason])) + '\n\n');
      process.stdout.write(`leader: ${storeError ? `unknown (etcd unreachable: ${storeError})` : (leader ?? 'none')}\n\n`);
      process.stdout.write(
        table(
          ['PIPELINE', 'TIER', 'CHAIN', 'ROOM', 'EPOCH', 'SINCE', 'REASON'],
          pipelines.map((p) => {
            const r = routes.get(p.pipeline)?.route;
            return [p.pipeline, p.tier, p.chain ?? '-', p.room ?? '-', p.epoch === null ? '-' : String(p.epoch), r ? `${age(now - r.since)} ago` : '-', p.reason ?? 'no route yet'];
          }),
        ) + '\n',
      );
    }
    if (storeError) process.exitCode = EXIT.UNAVAILABLE;
    else if (observations.some((o) => o.status !== 'OK')) process.exitCode = EXIT.FAILURE;
  },
};
