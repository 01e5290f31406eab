import { type BackoffPolicy, backoffDelay } from './backoff.js';

interface FailedSpec {
  specHash: string;
  commit: string;
  failures: number;
  retryAt: number;
  /** The first line of the failure: what happened and what is still running. */
  reason: string;
  lastLogLines?: string[];
}

/**
 * Remembers services whose new spec failed to come up, so the agent does not
 * recreate a broken release on every pass: the same spec is retried only
 * after a backoff that doubles each time (capped). A different spec (a new
 * commit that changes the service, e.g. `git revert`) is tried at once.
 */
export class FailedSpecs {
  private readonly entries = new Map<string, FailedSpec>();

  constructor(private readonly policy: BackoffPolicy) {}

  /** Why the service's spec is held back at `now`, or undefined when it may run. */
  holdReason(service: string, specHash: string, now: number): string | undefined {
    const entry = this.entries.get(service);
    if (!entry || entry.specHash !== specHash || now >= entry.retryAt) return undefined;
    const seconds = Math.ceil((entry.retryAt - now) / 1000);
    return `failed ${entry.failures} time${entry.failures === 1 ? '' : 's'} at ${entry.commit.slice(0, 12)} (${entry.reason}); next try in ${seconds}s or on a new commit`;
  }

  recordFailure(
    service: string,
    specHash: string,
    commit: string,
    reason: string,
    now: number,
    lastLogLines?: readonly string[],
  ): void {
    const previous = this.entries.get(service);
    const failures = previous?.specHash === specHash ? previous.failures + 1 : 1;
    this.entries.set(service, {
      specHash,
      commit,
      failures,
      retryAt: now + backoffDelay(this.policy, failures),
      reason: reason.split('\n')[0]!,
      ...(lastLogLines && lastLogLines.length > 0 ? { lastLogLines: [...lastLogLines] } : {}),
    });
  }

  recordSuccess(service: string): void {
    this.entries.delete(service);
  }

  /** The failure recorded for the service at this spec, if any (for status). */
  get(
    service: string,
    specHash: string,
  ): { reason: string; commit: string; retryAt: number; lastLogLines?: string[] } | undefined {
    const entry = this.entries.get(service);
    return entry?.specHash === specHash ? entry : undefined;
  }

  /** Forget services no longer desired. */
  retain(services: ReadonlySet<string>): void {
    for (const name of this.entries.keys()) if (!services.has(name)) this.entries.delete(name);
  }

  /** The earliest time a held spec may be retried, for scheduling the next pass. */
  nextRetryAt(): number | undefined {
    let next: number | undefined;
    for (const e of this.entries.values())
      if (next === undefined || e.retryAt < next) next = e.retryAt;
    return next;
  }
}
