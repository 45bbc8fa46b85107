import { Counter, Gauge, type Registry } from 'prom-client';
import type { SdkMetrics } from '../../ports/sdk-metrics.js';

/** SDK metrics on the application's own prom-client registry. */
export function createPromSdkMetrics(registry: Registry): SdkMetrics {
  const epoch = new Gauge({ name: 'switchyard_sdk_route_epoch', help: 'Newest route epoch this client has seen', labelNames: ['pipeline'], registers: [registry] });
  const unreachable = new Gauge({
    name: 'switchyard_sdk_route_unreachable',
    help: '1 while the route names a room this client cannot reach',
    labelNames: ['pipeline'],
    registers: [registry],
  });
  const dups = new Counter({ name: 'switchyard_sdk_duplicates_dropped_total', help: 'Records dropped as already processed (by producer id and sequence)', labelNames: ['pipeline'], registers: [registry] });
  const watchErrors = new Counter({ name: 'switchyard_sdk_watch_errors_total', help: 'Route watch errors; each is followed by a re-read and a new watch', labelNames: ['pipeline'], registers: [registry] });
  const cap = new Gauge({ name: 'switchyard_sdk_cap_records_per_second', help: 'Source cap this client paces to, over the whole pipeline (absent when uncapped)', labelNames: ['pipeline'], registers: [registry] });
  const capPaused = new Gauge({ name: 'switchyard_sdk_cap_paused', help: '1 while the cap sheds the pipeline: the client reads nothing', labelNames: ['pipeline'], registers: [registry] });
  const pausedPartitions = new Gauge({ name: 'switchyard_sdk_paced_partitions_paused', help: 'Partitions this client holds paused for pacing now', labelNames: ['pipeline'], registers: [registry] });
  const throttled = new Counter({ name: 'switchyard_sdk_throttled_seconds_total', help: 'Time partitions spent paused for pacing, summed over partitions', labelNames: ['pipeline'], registers: [registry] });
  return {
    route(pipeline, e, reachable) {
      epoch.set({ pipeline }, e);
      unreachable.set({ pipeline }, reachable ? 0 : 1);
    },
    duplicateDropped(pipeline) {
      dups.inc({ pipeline });
    },
    watchError(pipeline) {
      watchErrors.inc({ pipeline });
    },
    cap(pipeline, recordsPerSecond, paused) {
      if (recordsPerSecond === null) cap.remove({ pipeline });
      else cap.set({ pipeline }, recordsPerSecond);
      capPaused.set({ pipeline }, paused ? 1 : 0);
    },
    pacedPartitionsPaused(pipeline, partitions) {
      pausedPartitions.set({ pipeline }, partitions);
    },
    throttled(pipeline, ms) {
      throttled.inc({ pipeline }, ms / 1000);
    },
  };
}
