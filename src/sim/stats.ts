/** Small summary statistics for reports. */

export interface LatencySummary {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentiles over `values` (ms). Empty input gives zeros. */
export function summarize(values: ArrayLike<number>): LatencySummary {
  const n = values.length;
  if (n === 0) return { count: 0, p50: 0, p99: 0, max: 0 };
  const sorted = Float64Array.from(values).sort();
  return {
    count: n,
    p50: round3(percentileSorted(sorted, 0.5)),
    p99: round3(percentileSorted(sorted, 0.99)),
    max: round3(sorted[n - 1] ?? 0),
  };
}

export function percentileSorted(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1] ?? 0;
}

export function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}
