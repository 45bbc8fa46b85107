import { ConfigError, loadConfig, type LoadedConfig } from '../config/load.js';
import { buildStore } from '../composition.js';
import { EXIT, fail, unknownPipeline } from './output.js';
import { StoredRunbookError } from '../adapters/etcd/runbook-store.js';

/**
 * Loads the topology (a bad one: exit 2), checks the pipeline named (if any: unknown is exit 2),
 * and runs `body` with the store, mapping a failed store call to exit 3 (etcd unreachable). A
 * ConfigError raised inside (a bad file met on the way) stays the user's mistake: exit 2.
 */
export async function withStore(configFile: string, pipeline: string | undefined, body: (config: LoadedConfig, store: ReturnType<typeof buildStore>) => Promise<void>): Promise<void> {
  const config = loadConfig(configFile);
  if (pipeline && !config.topology.pipelines.has(pipeline)) return fail(EXIT.USAGE, unknownPipeline(pipeline, config.topology.pipelines.keys()));
  const store = buildStore(config);
  try {
    await body(config, store);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof UsageError || err instanceof StoredRunbookError) throw err;
    fail(EXIT.UNAVAILABLE, `etcd unreachable: ${(err as Error).message}`);
  } finally {
    store.etcd.close();
  }
}

/** A mistake in what the user asked (an unknown event or step): exit 2, nothing done. */
export class UsageError extends Error {}
