import type { CommandModule } from 'yargs';
import { buildController } from '../../composition.js';
import { startHttpServer } from '../../controller/http-server.js';
import { WatchedFile } from '../../adapters/system/secret-file.js';
import { getHeapStatistics } from 'node:v8';

/** The exit code after a restart for rotated etcd certificates: "temporary failure, run me again" (sysexits EX_TEMPFAIL). */
export const EXIT_RESTART_FOR_CERTIFICATES = 75;

/**
 * Calls `onChange` once, when any of `files` is replaced or rewritten (checked every `everyMs`).
 * etcd3 builds its gRPC credentials once, so a rotated etcd client certificate or CA can only
 * be loaded by a new process.
 */
function watchFiles(files: readonly string[], everyMs: number, onChange: (file: string) => void): () => void {
  const watched = files.map((f) => ({ file: new WatchedFile(f), bytes: undefined as Buffer | undefined }));
  for (const w of watched) w.bytes = w.file.read();
  const timer = setInterval(() => {
    for (const w of watched) {
      let changed: boolean;
      try {
        const now = w.file.readFresh();
        // By content: a Secret update rewrites every file of the Secret (new inodes), also those
        // that did not change, such as the certificate beside a rotated password.
        changed = now.changed && !now.bytes.equals(w.bytes!);
      } catch {
        continue; // mid-rotation (a Secret's files are swapped by renaming a directory): next check
      }
      if (changed) {
        clearInterval(timer);
        onChange(w.file.path);
        return;
      }
    }
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

interface Args {
  config: string;
  policies?: string;
  observer?: string;
  room?: string;
  'http-port'?: number;
  'http-host'?: string;
  'log-level'?: string;
  'insecure-kube'?: boolean;
  'http-token-file'?: string;
}

export const controllerCommand: CommandModule<object, Args> = {
  command: 'controller',
  describe: 'Run the controller: probe every room, elect a leader, fail pipelines over',
  builder: (y) =>
    y
      .option('config', { alias: 'c', type: 'string', demandOption: true, describe: 'Topology file (YAML)' })
      .option('policies', { type: 'string', describe: 'Tier policy directory or file (default: the topology file\'s "policies")' })
      .option('observer', { type: 'string', describe: 'This replica\'s name (default: $SWITCHYARD_OBSERVER or host-pid)' })
      .option('room', { type: 'string', describe: 'The room (or witness site) this replica runs in; observers in one room vote once (default: $SWITCHYARD_ROOM or controller.room)' })
      .option('http-port', { type: 'number', describe: 'Port for /healthz, /readyz, /metrics, /status (0 = any free port)' })
      .option('http-host', { type: 'string', describe: 'Address to listen on (default: $SWITCHYARD_HTTP_HOST or 127.0.0.1; in a Pod: 0.0.0.0, so that probes and Prometheus reach it)' })
      .option('http-token-file', { type: 'string', describe: 'A file holding the bearer token that /metrics and /status require (default: $SWITCHYARD_HTTP_TOKEN_FILE; none: open). Re-read when it changes; /healthz and /readyz stay open' })
      .option('log-level', { type: 'string', describe: 'trace|debug|info|warn|error (default: $SWITCHYARD_LOG_LEVEL or info)' })
      .option('insecure-kube', { type: 'boolean', default: false, describe: 'Accept an http:// Kubernetes API server (controller.kubernetes.server): the token travels in clear. Test API servers only' })
      .example('$0 controller --config examples/local-two-rooms.yaml', 'Run against the local two-room stack')
      .epilogue(
        'Logs are JSON lines on stderr. Stops on SIGINT/SIGTERM, resigning leadership at once so another replica takes over. ' +
          'A changed etcd TLS file (a rotated certificate) makes it stop the same way, after up to 15 s ($SWITCHYARD_CERT_RESTART_JITTER_MS), so that its supervisor starts it with the new one. ' +
          'Exit codes: 0 stopped cleanly, 1 runtime failure, 2 bad configuration (file, field and reason are printed), 75 stopped to load a rotated etcd certificate (run it again).',
      ),
  handler: async (args) => {
    const built = buildController({
      config: args.config,
      ...(args.policies !== undefined && { policies: args.policies }),
      ...(args.observer !== undefined && { observer: args.observer }),
      ...(args.room !== undefined && { room: args.room }),
      ...(args['http-port'] !== undefined && { httpPort: args['http-port'] }),
      ...(args['http-host'] !== undefined && { httpHost: args['http-host'] }),
      ...(args['log-level'] !== undefined && { logLevel: args['log-level'] }),
      insecureKube: args['insecure-kube'] === true,
      ...(args['http-token-file'] !== undefined && { httpTokenFile: args['http-token-file'] }),
    });
    const server = await startHttpServer(built.controller, built.metrics.registry, { port: built.httpPort, host: built.httpHost, ...(built.httpToken && { token: built.httpToken }) });
    const address = server.address();
    built.log.info('http listening', { port: typeof address === 'object' && address ? address.port : built.httpPort, host: built.httpHost, token: built.httpToken ? 'required for /metrics and /status' : 'none' });
    if (!built.httpToken && !['127.0.0.1', '::1', 'localhost'].includes(built.httpHost)) {
      built.log.warn('/metrics and /status are open to anyone who reaches this address: set --http-token-file', { host: built.httpHost });
    }
    // Node sizes its heap from the machine, not from a container, and collects lazily: with no
    // limit a 1,000-pipeline controller held about 240 MB where 160 MB serves (docs/perf/scale.md).
    const heapLimitMb = Math.round(getHeapStatistics().heap_size_limit / 1048576);
    if (![...process.execArgv, ...(process.env['NODE_OPTIONS'] ?? '').split(/\s+/)].some((a) => /^--max-old-space-size(=|$)/.test(a))) {
      built.log.warn('no heap limit set: Node sized it from the machine and collects lazily; set NODE_OPTIONS=--max-old-space-size=160 (the Helm chart\'s heapMb does)', { heapLimitMb });
    }
    const stop = new AbortController();
    const onSignal = (sig: string) => {
      built.log.info('signal received; stopping', { signal: sig });
      stop.abort();
    };
    process.once('SIGINT', () => onSignal('SIGINT'));
    process.once('SIGTERM', () => onSignal('SIGTERM'));
    // A rotated etcd certificate: stop (resigning leadership), after a random delay so that the
    // replicas, whose Secrets change at about the same time, do not all restart at once.
    const unwatch = watchFiles(built.config.etcd.tlsFiles ?? [], 5000, (file) => {
      const delay = Math.round(Math.random() * built.certRestartJitterMs);
      built.log.warn('etcd TLS file changed: stopping so that a restart loads it (exit 75; leadership is handed over)', { file, inMs: delay });
      setTimeout(() => {
        process.exitCode = EXIT_RESTART_FOR_CERTIFICATES;
        stop.abort();
      }, delay).unref();
    });
    try {
      await built.controller.run(stop.signal);
    } finally {
      unwatch();
      server.close();
      built.close();
      // Stopped: leave even if a client library keeps a handle open (a gRPC channel winding down).
      setTimeout(() => process.exit(), 2000).unref();
    }
  },
};
