// Times as operators type them and read them.

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/** The longest duration or lead time the CLI takes (a week): anything longer is a typo. */
export const MAX_AHEAD_MS = 7 * 24 * 3_600_000;

/** "90s", "10m", "2h", "500ms" -> milliseconds, at most `maxMs`; undefined if it is none of those. */
export function parseDuration(text: string, maxMs = MAX_AHEAD_MS): number | undefined {
  const m = /^(\d{1,9})(ms|s|m|h)$/.exec(text.trim());
  if (!m) return undefined;
  const v = Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
  return v <= maxMs ? v : undefined;
}

/** ISO 8601 with a date, a time and an explicit offset ("Z" or "+08:00"). */
const ISO_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * "2026-11-23T01:00:00Z" (an offset is required), or relative "+10m", "+30s", "+2h"; within a
 * week from now and not more than a minute in the past. Anything else (a bare number, "March 5")
 * is refused rather than read as some past date that would run at once.
 */
export function parseAt(text: string, now: number): number | undefined {
  if (text.startsWith('+')) {
    const d = parseDuration(text.slice(1));
    return d === undefined ? undefined : now + d;
  }
  if (!ISO_WITH_OFFSET.test(text.trim())) return undefined;
  const t = Date.parse(text);
  if (Number.isNaN(t) || t < now - 60_000 || t > now + MAX_AHEAD_MS) return undefined;
  return t;
}

/** A short age: "42s", "17m", "5h", "3d". */
export function age(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86_400)}d`;
}

/** Milliseconds for a report column; "-" when not known. */
export const ms = (x: number | undefined): string => (x === undefined ? '-' : `${x}ms`);

/** "ctl-a, leading for 5m, lease ends in 4s unless renewed". */
export function describeLeader(l: { readonly id: string; readonly ageMs?: number | null; readonly leaseRemainingMs?: number | null }): string {
  const parts = [l.id];
  if (l.ageMs !== undefined && l.ageMs !== null) parts.push(`leading for ${age(l.ageMs)}`);
  if (l.leaseRemainingMs !== undefined && l.leaseRemainingMs !== null) parts.push(`lease ends in ${age(l.leaseRemainingMs)} unless renewed`);
  return parts.join(', ');
}

/**
 * A time for people, in UTC (one zone everywhere, so tables line up and logs match), followed by
 * the operator's own zone when that is not UTC: "2026-11-26 03:00:05 UTC (11:00 Asia/Shanghai)".
 */
export function stamp(ms: number, zone: string): string {
  if (!Number.isFinite(ms)) return '-';
  const utc = `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
  if (zone === 'UTC' || zone === 'Etc/UTC') return utc;
  const local = new Intl.DateTimeFormat('en-GB', { timeZone: zone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23', day: '2-digit', month: 'short' }).format(new Date(ms));
  return `${utc} (${local} ${zone})`;
}
