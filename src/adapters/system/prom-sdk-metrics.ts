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
  };
}
