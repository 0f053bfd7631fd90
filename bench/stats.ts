/**
 * Summaries of repeated measurements: median with min and max, and ratios.
 */

/** Median, min and max of a list of samples. */
export interface Summary {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly samples: readonly number[];
}

/**
 * Summarizes samples; the median of an even count is the mean of the middle two.
 *
 * @example
 * summarize([3, 1, 2]) // → { median: 2, min: 1, max: 3, samples: [3, 1, 2] }
 */
export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) throw new Error('no samples to summarize');
  const sorted = [...samples].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
  return { median, min: sorted[0] as number, max: sorted[sorted.length - 1] as number, samples };
}

/** The value at quantile `q` of sorted values (nearest rank); NaN when there are none. */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number;
}

/** `12,345 (11,900–12,800)` with the given number of decimals. */
export function formatSummary(summary: Summary, decimals = 0): string {
  const f = (value: number) => formatNumber(value, decimals);
  return `${f(summary.median)} (${f(summary.min)}–${f(summary.max)})`;
}

export function formatNumber(value: number, decimals = 0): string {
  return value.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

/** `0.93×` */
export function formatRatio(ratio: number): string {
  return `${ratio.toFixed(2)}×`;
}
