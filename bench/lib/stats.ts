// Small statistics for a handful of samples: the median is what a user
// typically waits, the minimum is the least noisy estimate of the cost.

export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function min(values: number[]): number {
  return values.length === 0 ? Number.NaN : Math.min(...values);
}

/** Milliseconds rounded to 0.1 ms, for JSON. */
export function roundMs(ms: number): number {
  return Math.round(ms * 10) / 10;
}

/** A ratio rounded to 0.01. */
export function roundRatio(ratio: number): number {
  return Math.round(ratio * 100) / 100;
}

/** `0.92 s` or `87 ms`. */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`;
}

/** `0`, `20` or `10-11`: the range of a count over runs. */
export function formatRange(values: number[]): string {
  if (values.length === 0) return '-';
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  return lo === hi ? String(lo) : `${lo}-${hi}`;
}
