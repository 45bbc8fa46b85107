import type { Route } from '../core/model.js';

/** Anything stored per pipeline with an epoch: consumer routes and query routes. */
export interface Routed {
  readonly pipeline: string;
  readonly epoch: number;
}

/** A route as read, with the store's version of it for compare-and-set. */
export interface StoredRoute<T extends Routed = Route> {
  readonly route: T;
  /** Opaque store version (etcd mod revision); a write succeeds only if it still matches. */
  readonly version: string;
}

/**
 * Told about a stored value that is not what it should be (hand-edited, truncated, written by a
 * version that knew another shape): the key (or the pipeline it belongs to) and why. The read
 * goes on without it, so one bad key never fails every pipeline's read.
 */
export type OnMalformed = (key: string, why: string) => void;

/** The outcome of a fenced write. Only 'written' means the store changed. */
export type WriteOutcome =
  | { readonly kind: 'written' }
  /** We are no longer the leader (our election key is gone or was re-created): stop acting. */
  | { readonly kind: 'fenced' }
  /** Someone changed the route since we read it: re-read and decide again. */
  | { readonly kind: 'conflict' };

/** Identifies the leader's right to write: its election key and that key's create revision. */
export interface Fence {
  readonly key: string;
  readonly createRevision: string;
}

/**
 * Routes, one per pipeline.
 *
 * Consistency: reads are linearizable (served by the etcd leader). Every write is one transaction
 * that succeeds only if (a) the fence key still exists with the same create revision, so a deposed
 * leader can never write, and (b) the route is still at the version the caller read (or absent,
 * for a first write). Epochs only grow: a write whose epoch is not exactly previous + 1 is a bug
 * and is refused by the caller before it gets here.
 * Timeouts: each call fails (rejects) after the client's call timeout; a rejected write may or
 * may not have been applied — re-read before retrying.
 */
export interface RouteStore<T extends Routed = Route> {
  /** Every valid route; one that is not (see routeProblem) is left out and told to `onMalformed` with its pipeline. */
  list(onMalformed?: OnMalformed): Promise<Map<string, StoredRoute<T>>>;
  /** Rejects, naming the key and the problem, when the stored value is not a valid route. */
  get(pipeline: string): Promise<StoredRoute<T> | undefined>;
  /** Writes `route` if the fence holds and the stored version is still `expectedVersion` (undefined = absent). */
  put(fence: Fence, route: T, expectedVersion: string | undefined): Promise<WriteOutcome>;
  /**
   * Calls `onRoute` with the current route, then with every later one, in epoch order; routes with
   * an epoch not above the last delivered are dropped, unless a linearizable read proves the key was
   * reset (re-created, or etcd restored from a backup): then `meta.reset` is true.
   * Keeps following through any watch error (re-read, re-watch) and re-reads every `resyncMs`.
   * `onError` only reports; it never means the watch has stopped. Returns a function that stops it.
   */
  watch(pipeline: string, onRoute: (route: T, meta: RouteDelivery) => void, onError: (err: Error) => void, opts?: WatchOptions): Promise<() => Promise<void>>;
}

/** How a route reached a watcher. */
export interface RouteDelivery {
  /** The key was reset (re-created or restored): this route's epoch is below the last delivered. */
  readonly reset: boolean;
  readonly previousEpoch?: number;
}

export interface WatchOptions {
  /** Backstop re-read period (default 5000 ms). */
  readonly resyncMs?: number;
}
