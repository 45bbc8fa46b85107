/** Percentile by nearest rank over a copy of `xs`; NaN for an empty list. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export const median = (xs: readonly number[]) => percentile(xs, 50);

export function flag(argv: readonly string[], name: string, fallback: number): number {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(argv[i + 1]);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} needs a positive number, got ${argv[i + 1]}`);
  return v;
}

/** Fewer samples than this and a p95 says nothing: report the max instead, and say so. */
export const MIN_SAMPLES_FOR_P95 = 20;

/**
 * `{ <name>_p95 }` with at least 20 samples, else `{ <name>_max }`; prints (to stderr) which, so
 * that a reader of the table knows what the tail figure is.
 */
export function tail(name: string, xs: readonly number[]): Record<string, number> {
  if (xs.length >= MIN_SAMPLES_FOR_P95) return { [`${name}_p95`]: percentile(xs, 95) };
  process.stderr.write(`${name}: ${xs.length} sample(s), fewer than ${MIN_SAMPLES_FOR_P95}: reporting the max, not a p95\n`);
  return { [`${name}_max`]: xs.length === 0 ? Number.NaN : Math.max(...xs) };
}
