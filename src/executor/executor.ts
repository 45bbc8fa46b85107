import type { Action } from '../core/decide.js';
import type { Logger } from '../ports/logger.js';
import type { ControllerMetrics } from '../ports/metrics.js';
import type { Fence, RouteStore, StoredRoute, WriteOutcome } from '../ports/route-store.js';
import type { Clock } from '../ports/clock.js';
import { queryRouteOf, type QueryRoute } from '../core/model.js';

type InitAction = Extract<Action, { kind: 'init-route' }>;

export type ApplyResult =
  | { readonly kind: 'applied'; readonly action: Action; readonly writeMs: number }
  /** The fence no longer holds: we are not the leader. The caller must stop acting now. */
  | { readonly kind: 'fenced'; readonly action: Action }
  /** The route moved under us, or the store failed: decide again on the next tick. */
  | { readonly kind: 'retry'; readonly action: Action; readonly why: string };

/**
 * Applies the core's non-switch action, a pipeline's first route (switches go through the
 * journaled SwitchRunner). The write is fenced by the leader's election key and succeeds only if
 * no route exists yet, so a deposed leader's or a repeated write never lands.
 */
export class Executor {
  constructor(
    private readonly routes: RouteStore,
    private readonly queryRoutes: RouteStore<QueryRoute>,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly metrics: ControllerMetrics,
  ) {}

  async apply(fence: Fence, action: InitAction, read: ReadonlyMap<string, StoredRoute>): Promise<ApplyResult> {
    const pipeline = action.route.pipeline;
    const stored = read.get(pipeline);
    if (stored) return { kind: 'retry', action, why: 'route already exists' };
    const started = this.clock.now();
    let outcome: WriteOutcome;
    try {
      outcome = await this.routes.put(fence, action.route, undefined);
    } catch (err) {
      this.metrics.writeRejected('error');
      return { kind: 'retry', action, why: `route write failed: ${(err as Error).message}` };
    }
    const writeMs = this.clock.now() - started;
    if (outcome.kind === 'written') {
      // The first query route goes with the first route. If it fails, the next tick's init finds
      // the route present and leaves it; the query route is then written by the next switch.
      const q = queryRouteOf(action.route, this.clock.now());
      if (q) {
        const r = await this.queryRoutes
          .get(q.pipeline)
          .then((stored) => this.queryRoutes.put(fence, q, stored?.version))
          .catch((err: Error) => ({ kind: 'error', why: err.message }));
        if (r.kind !== 'written') this.log.warn('first query route not written; the next switch writes it', { pipeline, outcome: r.kind });
      }
    }
    switch (outcome.kind) {
      case 'written':
        this.log.info('route written', {
          pipeline,
          kind: action.kind,
          chain: action.route.chain,
          room: action.route.room,
          epoch: action.route.epoch,
          writeMs,
          reason: action.reason,
        });
        return { kind: 'applied', action, writeMs };
      case 'fenced':
        this.metrics.writeRejected('fenced');
        this.log.warn('route write fenced off: not the leader any more', { pipeline, epoch: action.route.epoch });
        return { kind: 'fenced', action };
      case 'conflict':
        this.metrics.writeRejected('conflict');
        return { kind: 'retry', action, why: 'route changed since it was read' };
    }
  }
}
