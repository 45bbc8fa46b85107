// The numeric options' bounds, apart from the parser so that checking one loads nothing else.

/**
 * Bounds of every numeric option, whichever command has it: a value outside them (or not a
 * number: yargs turns "abc" into NaN) is a usage error, exit 2, before anything is done.
 */
export const NUMERIC: Readonly<Record<string, { min: number; max: number; integer?: boolean; unit: string }>> = {
  'http-port': { min: 0, max: 65535, integer: true, unit: '(a TCP port)' },
  wait: { min: 0, max: 86_400, unit: 'seconds' },
  timeout: { min: 1, max: 3_600, unit: 'seconds' },
  'probe-timeout': { min: 1, max: 60_000, unit: 'milliseconds' },
  interval: { min: 0.1, max: 3_600, unit: 'seconds' },
};

/** Why a numeric option's value is not acceptable, or "". */
export function numericProblem(name: string, value: unknown): string {
  const b = NUMERIC[name];
  if (!b || value === undefined) return '';
  const n = value as number;
  if (typeof n !== 'number' || !Number.isFinite(n)) return `--${name} must be a number of ${b.unit.replace(/[()]/g, '')}, got ${String(value)}`;
  if (b.integer && !Number.isInteger(n)) return `--${name} must be a whole number, got ${n}`;
  if (n < b.min || n > b.max) return `--${name} must be between ${b.min} and ${b.max} ${b.unit}, got ${n}`;
  return '';
}
