import { setMaxListeners } from 'node:events';
import { anySignal, type Clock } from '../reconcile/clock.js';
import { type BackoffPolicy, backoffDelay, withJitter } from './backoff.js';

/** What a pass is asked to do: why, and whether to fetch a remote first. */
export interface PassWork {
  /** Every trigger coalesced into this pass, in arrival order, without repeats. */
  reasons: string[];
  fetch: boolean;
  /** When the oldest of those triggers arrived. */
  since: number;
  /** Aborted by `preempt` (a newer commit). */
  signal: AbortSignal;
}

/** What a pass tells the loop (controller-runtime's `Result`). */
export interface PassOutcome {
  /** Failed for a reason outside any one spec (engine, git): retried with backoff. */
  failed?: boolean;
  /** Fetch again on that retry (the fetch was what failed). */
  fetchOnRetry?: boolean;
  /** Look again after this long, whatever happens (a container being removed). */
  requeueAfterMs?: number;
}

export interface LoopOptions {
  clock: Clock;
  /** Periodic resync; jittered up to 10%. */
  resyncMs: number;
  /** Whether a periodic resync fetches (a remote source). */
  fetchOnResync: boolean;
  /** Backoff of a failed pass. */
  backoff: BackoffPolicy;
  pass(work: PassWork): Promise<PassOutcome>;
  /** The earliest time after `now` something else falls due (a held spec's retry), if any. */
  nextDue?(now: number): number | undefined;
  /** Label of the trigger when `nextDue` fires. */
  dueReason?: string;
  random?: () => number;
}

interface Pending {
  reasons: string[];
  fetch: boolean;
  since: number;
}

/**
 * The generic reconcile loop: level-triggered and single-flight. Triggers
 * only mark work pending (coalesced: a burst of them makes one pass); one
 * pass runs at a time; the next is scheduled from what the pass returned,
 * the periodic resync and `nextDue`. With nothing pending and nothing due,
 * it sleeps: no pass runs without a trigger or a deadline, and no deadline
 * is in the past. It knows nothing of Docker or git.
 */
export class ReconcileLoop {
  private pending: Pending | undefined;
  private wake: AbortController | undefined;
  private current:
    | { controller: AbortController; startedAt: number; reasons: string[] }
    | undefined;
  private failures = 0;
  private retryAt: number | undefined;
  private retryFetch = false;
  private requeueAt: number | undefined;
  private nextResyncAt: number;

  constructor(private readonly options: LoopOptions) {
    this.nextResyncAt = options.clock.now() + this.resyncDelay();
  }

  trigger(reason: string, options: { fetch?: boolean } = {}): void {
    this.pending ??= { reasons: [], fetch: false, since: this.options.clock.now() };
    const p = this.pending;
    if (!p.reasons.includes(reason)) p.reasons.push(reason);
    p.fetch ||= options.fetch === true;
    this.wake?.abort();
  }

  /** Aborts the pass in flight (a newer commit); no-op when idle. */
  preempt(reason: string): void {
    this.current?.controller.abort(reason);
  }

  /** The pass in flight, for /status. */
  running(): { startedAt: number; reasons: string[] } | undefined {
    return this.current && { startedAt: this.current.startedAt, reasons: this.current.reasons };
  }

  /** When the loop will run next on its own (not counting triggers). */
  nextWakeAt(): number {
    const now = this.options.clock.now();
    const due = [this.nextResyncAt, this.retryAt, this.requeueAt, this.options.nextDue?.(now)];
    return Math.min(...due.filter((d): d is number => d !== undefined));
  }

  /** Runs passes until `signal` aborts; returns when the pass in flight has returned. */
  async run(signal: AbortSignal): Promise<void> {
    const { clock } = this.options;
    while (!signal.aborted) {
      if (!this.pending) {
        // Taken before sleeping: a due time is fired once, never chased.
        const due = this.options.nextDue?.(clock.now());
        const delay = this.nextWakeAt() - clock.now();
        if (delay > 0) {
          this.wake = new AbortController();
          const either = anySignal([signal, this.wake.signal]);
          await clock.sleep(delay, either.signal);
          either.dispose();
          this.wake = undefined;
          if (signal.aborted) break;
        }
        if (!this.pending) this.triggerDue(due);
        if (!this.pending) continue;
      }
      const work = this.pending!;
      this.pending = undefined;
      await this.runPass(work);
    }
  }

  /** Turns whichever deadline has come into a trigger. */
  private triggerDue(due: number | undefined): void {
    const now = this.options.clock.now();
    if (now >= this.nextResyncAt)
      this.trigger('periodic resync', { fetch: this.options.fetchOnResync });
    if (this.retryAt !== undefined && now >= this.retryAt)
      this.trigger('retry after failure', { fetch: this.retryFetch });
    if (this.requeueAt !== undefined && now >= this.requeueAt) this.trigger('looking again');
    if (due !== undefined && now >= due) this.trigger(this.options.dueReason ?? 'due');
  }

  private async runPass(work: Pending): Promise<void> {
    const { clock } = this.options;
    const controller = new AbortController();
    // Every service of a pass listens on it at once (a host may run hundreds): no warning at 11.
    setMaxListeners(0, controller.signal);
    const startedAt = clock.now();
    this.current = { controller, startedAt, reasons: work.reasons };
    this.nextResyncAt = startedAt + this.resyncDelay();
    this.retryAt = undefined;
    this.requeueAt = undefined;
    let outcome: PassOutcome;
    try {
      outcome = await this.options.pass({ ...work, signal: controller.signal });
    } catch {
      // A pass reports its own errors; a throw is a bug, retried like a failure.
      outcome = { failed: true };
    } finally {
      this.current = undefined;
    }
    const now = clock.now();
    if (outcome.failed) {
      this.failures++;
      this.retryAt = now + Math.max(1, backoffDelay(this.options.backoff, this.failures));
      this.retryFetch = outcome.fetchOnRetry === true;
    } else {
      this.failures = 0;
    }
    if (outcome.requeueAfterMs !== undefined)
      this.requeueAt = now + Math.max(1, outcome.requeueAfterMs);
  }

  private resyncDelay(): number {
    return withJitter(this.options.resyncMs, 0.1, this.options.random);
  }
}
