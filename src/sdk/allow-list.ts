// Defence in depth against a forged etcd write: routes carry endpoints (ADR 0001), so whoever can
// write a route key could send every SDK client to brokers or an OLAP server of their choosing.
// A client that names the rooms it may be sent to, and their endpoints, refuses any other route.

import type { QueryRoute, Route } from '../core/model.js';

/** Per room, the endpoints this client may be routed to. A room not listed is refused. */
export type AllowedRooms = Readonly<Record<string, { readonly brokers?: readonly string[]; readonly olap?: string }>>;

/** Why a consumer route is refused, or undefined when the allow-list has it (or there is none). */
export function consumerRouteRefusal(route: Route, allowed: AllowedRooms | undefined): string | undefined {
  if (!allowed) return undefined;
  const room = allowed[route.room];
  if (!room) return `route epoch ${route.epoch} names room '${route.room}', which is not in this client's allowed rooms (${Object.keys(allowed).join(', ')})`;
  const stray = route.kafka.brokers.filter((b) => !(room.brokers ?? []).includes(b));
  if (stray.length > 0) return `route epoch ${route.epoch} names broker(s) ${stray.join(', ')} for room '${route.room}', which this client does not allow there (${(room.brokers ?? []).join(', ') || 'none'})`;
  return undefined;
}

/** Why a query route is refused, or undefined. */
export function queryRouteRefusal(route: QueryRoute, allowed: AllowedRooms | undefined): string | undefined {
  if (!allowed) return undefined;
  const room = allowed[route.room];
  if (!room) return `query route epoch ${route.epoch} names room '${route.room}', which is not in this client's allowed rooms (${Object.keys(allowed).join(', ')})`;
  if (stripSlash(route.url) !== stripSlash(room.olap ?? '')) return `query route epoch ${route.epoch} names ${route.url} for room '${route.room}', which this client does not allow there (${room.olap ?? 'none'})`;
  return undefined;
}

function stripSlash(url: string): string {
  return url.replace(/\/+$/, '');
}
