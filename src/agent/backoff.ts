/** Exponential backoff: base, 2x base, 4x base, ... capped. */
export interface BackoffPolicy {
  baseMs: number;
  capMs: number;
}

export function backoffDelay(policy: BackoffPolicy, failures: number): number {
  if (failures <= 0) return 0;
  return Math.min(policy.capMs, policy.baseMs * 2 ** Math.min(failures - 1, 30));
}

/** Up to `fraction` of `ms` added at random, so many hosts do not poll a remote in step. */
export function withJitter(
  ms: number,
  fraction: number,
  random: () => number = Math.random,
): number {
  return Math.round(ms * (1 + fraction * random()));
}
