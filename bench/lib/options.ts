// What every bench parses and guards the same way: `--runs N` bounded, a
// whole-run deadline, and ctrl-C turned into an error the bench's `finally`
// blocks see (so whatever it started is torn down).

export class UsageError extends Error {}

/** `--runs`: a whole number from 1 to `max`; `fallback` when not given. */
export function parseRuns(value: string | undefined, fallback: number, max: number): number {
  const runs = value === undefined ? fallback : Number(value);
  if (!Number.isInteger(runs) || runs < 1 || runs > max) {
    throw new UsageError(`--runs must be a whole number from 1 to ${max}, not "${value}"`);
  }
  return runs;
}

/** A whole number option within [min, max]. */
export function parseWhole(
  name: string,
  value: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  const n = value === undefined ? fallback : Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, not "${value}"`);
  }
  return n;
}

export interface RunGuard {
  /** Throws when the run passed its deadline or was interrupted. */
  check(): void;
  /** Whether starting one more repetition, as long as the average so far, would pass 80 % of the deadline. */
  roomFor(repetitionsDone: number): boolean;
  readonly startedAt: number;
  readonly interrupted: boolean;
  /** Removes the signal handlers. */
  dispose(): void;
}

/**
 * A deadline for the whole run and SIGINT/SIGTERM caught: the bench stops at
 * its next `check()` and its cleanup runs, instead of the process dying with
 * engines and registries left behind.
 */
export function guardRun(deadlineMs: number, onSignal?: (signal: string) => void): RunGuard {
  const startedAt = Date.now();
  let interrupted = false;
  const handler = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    onSignal?.(signal);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    startedAt,
    get interrupted() {
      return interrupted;
    },
    check() {
      if (interrupted) throw new Error('interrupted');
      if (Date.now() - startedAt > deadlineMs) {
        throw new Error(`the bench ran longer than ${deadlineMs / 60_000} minutes; stopped`);
      }
    },
    roomFor(done) {
      if (done === 0) return true;
      const elapsed = Date.now() - startedAt;
      return elapsed + elapsed / done <= deadlineMs * 0.8;
    },
    dispose() {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}
