/**
 * A bound on how many tasks run at once (a counting semaphore), for
 * gitdock.yaml `max_parallel`. Waiting tasks start in the order they asked
 * (first in, first out), so a task never waits behind one that asked later.
 *
 * A dozen lines, so not a dependency: p-limit does the same, but is ESM with
 * a dependency of its own (yocto-queue) for what a plain array does here at
 * a host's few dozen services.
 */
export interface Limit {
  /** Runs `task` once fewer than `max` tasks run; its place is given back when it settles. */
  <T>(task: () => Promise<T>): Promise<T>;
  /** Tasks running now. */
  readonly active: number;
  /** Tasks waiting for a place. */
  readonly pending: number;
}

/** A limit of `max` tasks at once: a positive integer, or Infinity for no bound. */
export function createLimit(max: number): Limit {
  if (!(max >= 1) || (!Number.isInteger(max) && max !== Number.POSITIVE_INFINITY)) {
    // The schema only lets positive integers through: anything else is a bug.
    throw new RangeError(`limit must be a positive integer, got ${max}`);
  }
  let active = 0;
  const waiting: (() => void)[] = [];
  const acquire = (): Promise<void> => {
    if (active < max) {
      active++;
      return Promise.resolve();
    }
    return new Promise((resolve) => waiting.push(resolve));
  };
  const release = () => {
    const next = waiting.shift();
    // The place passes straight to the next in line (`active` unchanged), so
    // a task asking in between cannot take it out of turn.
    if (next) next();
    else active--;
  };
  const limit = async <T>(task: () => Promise<T>): Promise<T> => {
    await acquire();
    try {
      return await task();
    } finally {
      release();
    }
  };
  return Object.defineProperties(limit, {
    active: { get: () => active },
    pending: { get: () => waiting.length },
  }) as Limit;
}
