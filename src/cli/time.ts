// Times as operators type them and read them.

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/** "90s", "10m", "2h", "500ms" -> milliseconds; undefined if it is none of those. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+)(ms|s|m|h)$/.exec(text.trim());
  return m ? Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS] : undefined;
}

/** "2026-11-23T01:00:00Z", or relative "+10m", "+30s", "+2h". */
export function parseAt(text: string, now: number): number | undefined {
  if (text.startsWith('+')) {
    const d = parseDuration(text.slice(1));
    return d === undefined ? undefined : now + d;
  }
  const t = Date.parse(text);
  return Number.isNaN(t) ? undefined : t;
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
