import type { Clock } from '../reconcile/clock.js';

/**
 * Holds triggers back until things are quiet: the first one opens a wait
 * (on the given clock); every one that comes meanwhile pushes its end back
 * by `quietMs`, but never past `maxWaitMs` from the first; then they are
 * all let through at once, so a burst makes one pass.
 */
export class QuietTrigger {
  private reasons = new Set<string>();
  private fetch = false;
  private lastAt = Number.NEGATIVE_INFINITY;
  private waiting = false;

  constructor(
    private readonly options: {
      clock: Clock;
      quietMs: number;
      maxWaitMs: number;
      /** Aborted: the waits end, and nothing is let through. */
      signal: AbortSignal;
      release(reasons: string[], fetch: boolean): void;
    },
  ) {}

  /** When the last trigger came. */
  get lastTriggerAt(): number {
    return this.lastAt;
  }

  add(reason: string, fetch = false): void {
    this.lastAt = this.options.clock.now();
    this.reasons.add(reason);
    this.fetch ||= fetch;
    if (this.waiting) return;
    this.waiting = true;
    void this.waitForQuiet(this.lastAt);
  }

  private async waitForQuiet(startedAt: number): Promise<void> {
    const { clock, quietMs, maxWaitMs, signal } = this.options;
    for (;;) {
      const left = Math.min(
        quietMs - (clock.now() - this.lastAt),
        startedAt + maxWaitMs - clock.now(),
      );
      if (left <= 0 || signal.aborted) break;
      await clock.sleep(left, signal);
    }
    const reasons = [...this.reasons];
    const fetch = this.fetch;
    this.reasons = new Set();
    this.fetch = false;
    this.waiting = false;
    if (!signal.aborted) this.options.release(reasons, fetch);
  }
}
