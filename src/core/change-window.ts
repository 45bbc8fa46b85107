// Release (change) windows: the hours of the day, in a named time zone, when planned changes to a
// tier are allowed. The source material's rule: core tasks change only 00:00-08:00, non-core
// 00:00-19:00; 19:00-24:00 is peak. Pure: `now` is an argument; Intl's time-zone data is a table,
// not a clock.

export interface ChangeWindow {
  /** Minutes after local midnight, inclusive. */
  readonly fromMinute: number;
  /** Minutes after local midnight, exclusive; may be below fromMinute for a window across midnight. */
  readonly toMinute: number;
}

export interface ChangeWindows {
  readonly timeZone: string;
  readonly windows: readonly ChangeWindow[];
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    formatters.set(timeZone, f);
  }
  return f;
}

/** Minutes after midnight at `now` in `timeZone`. Throws RangeError for an unknown zone. */
export function localMinuteOfDay(now: number, timeZone: string): number {
  const parts = formatter(timeZone).formatToParts(new Date(now));
  const hour = Number(parts.find((p) => p.type === 'hour')?.value);
  const minute = Number(parts.find((p) => p.type === 'minute')?.value);
  return hour * 60 + minute;
}

export function isValidTimeZone(timeZone: string): boolean {
  try {
    formatter(timeZone);
    return true;
  } catch {
    return false;
  }
}

function contains(w: ChangeWindow, minute: number): boolean {
  return w.fromMinute <= w.toMinute ? minute >= w.fromMinute && minute < w.toMinute : minute >= w.fromMinute || minute < w.toMinute;
}

export function formatMinute(m: number): string {
  return `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
}

/**
 * "00:00-08:00 Asia/Shanghai"; with `now`, and a zone other than UTC, also the same windows in UTC
 * on that day ("00:00-08:00 Asia/Shanghai = 16:00-24:00 UTC"), so an operator elsewhere need not
 * do the arithmetic at 3 a.m.
 */
export function describeWindows(cw: ChangeWindows, now?: number): string {
  if (cw.windows.length === 0) return `never (${cw.timeZone})`;
  const local = `${cw.windows.map((w) => `${formatMinute(w.fromMinute)}-${formatMinute(w.toMinute)}`).join(', ')} ${cw.timeZone}`;
  if (now === undefined || cw.timeZone === 'UTC' || cw.timeZone === 'Etc/UTC') return local;
  const offset = (localMinuteOfDay(now, cw.timeZone) - localMinuteOfDay(now, 'UTC') + 1440) % 1440;
  const utc = (m: number) => ((m - offset) % 1440 + 1440) % 1440;
  if (offset === 0) return `${local} (= UTC)`;
  // A window's end at UTC midnight reads 24:00, as windows are written.
  const shown = (from: number, to: number) => `${formatMinute(utc(from))}-${formatMinute(utc(to) === 0 ? 1440 : utc(to))}`;
  return `${local} = ${cw.windows.map((w) => shown(w.fromMinute, w.toMinute)).join(', ')} UTC`;
}

/** "" when a planned change is allowed at `now`; otherwise why not. */
export function outsideChangeWindow(now: number, cw: ChangeWindows): string {
  const minute = localMinuteOfDay(now, cw.timeZone);
  if (cw.windows.some((w) => contains(w, minute))) return '';
  const utc = cw.timeZone === 'UTC' || cw.timeZone === 'Etc/UTC' ? '' : ` (${formatMinute(localMinuteOfDay(now, 'UTC'))} UTC)`;
  return `it is ${formatMinute(minute)} in ${cw.timeZone}${utc}, outside the change window ${describeWindows(cw, now)}`;
}

/** Parses "HH:MM" into minutes after midnight; "24:00" is allowed as an end. */
export function parseClock(text: string): number | undefined {
  const m = /^([01]\d|2[0-4]):([0-5]\d)$/.exec(text);
  if (!m) return undefined;
  const minutes = Number(m[1]) * 60 + Number(m[2]);
  return minutes > 24 * 60 ? undefined : minutes;
}
