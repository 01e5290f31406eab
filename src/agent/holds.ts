import type { DesiredService } from '../core/types.js';
import type { ErrorCode } from '../errors.js';
import { type BackoffPolicy, backoffDelay } from './backoff.js';

/**
 * Why a service's spec is held back:
 * - `rollout`: its new container did not come up (or the engine refused to
 *   make it). Trying again means stopping, or at least racing, the healthy
 *   old container, so it is not retried on its own unless the agent was
 *   told to (`--failed-retry`), and then start-first only. A commit that
 *   changes the service, or an explicit retry, tries again.
 * - `transient`: its image could not be pulled. Nothing was touched; it is
 *   tried again after a capped backoff.
 */
export type HoldKind = 'rollout' | 'transient';

export interface Hold {
  service: string;
  specHash: string;
  commit: string;
  kind: HoldKind;
  code: ErrorCode;
  /** The first line of the failure: what happened and what is still running. */
  reason: string;
  lastLogLines?: string[];
  failures: number;
  /** When it is tried again on its own; absent: only on a new commit or an explicit retry. */
  retryAt?: number;
  /** Why it is not retried on its own, when it is not. */
  noRetry?: string;
}

export interface HoldPolicy {
  /** Backoff of a failed pull. */
  transient: BackoffPolicy;
  /** Opt-in: retry a failed rollout on its own, start-first, after this backoff. */
  rollout?: BackoffPolicy;
}

/** What to do with a service whose desired spec is held. */
export type HoldVerdict =
  | { type: 'run' }
  | { type: 'hold'; reason: string }
  /** Tried again now: start-first for an automatic retry of a failed rollout. */
  | { type: 'retry'; startFirst: boolean };

/**
 * The services whose desired spec failed, so the agent does not recreate a
 * broken release on every pass (DESIGN 3a). Pure: times are passed in, and
 * the agent persists `entries()` so a restart, a crash loop or an upgrade of
 * the agent is not a retry. A hold ends when the service's desired spec
 * changes (a new commit, `git revert`), when the service is found in sync,
 * or on an explicit retry; the next automatic try is never in the past.
 */
export class Holds {
  private readonly byService = new Map<string, Hold>();
  private readonly retryAsked = new Set<string>();

  constructor(private readonly policy: HoldPolicy) {}

  /** Takes back the holds saved by an earlier run of the agent. */
  restore(holds: readonly Hold[]): void {
    for (const h of holds) this.byService.set(h.service, { ...h });
  }

  /**
   * Asked before a service is created, recreated or started. A due
   * automatic retry is granted once: its next time is set at once, so a
   * retry that is skipped does not leave a deadline in the past.
   */
  verdict(desired: DesiredService, now: number): HoldVerdict {
    const hold = this.byService.get(desired.name);
    if (!hold || hold.specHash !== desired.specHash) return { type: 'run' };
    if (this.retryAsked.delete(desired.name)) return { type: 'retry', startFirst: false };
    if (hold.retryAt !== undefined && now >= hold.retryAt) {
      hold.retryAt = now + this.backoff(hold);
      return { type: 'retry', startFirst: hold.kind === 'rollout' };
    }
    return { type: 'hold', reason: describeHold(hold, now) };
  }

  recordFailure(
    failure: Omit<Hold, 'failures' | 'retryAt' | 'noRetry'>,
    now: number,
    desired: DesiredService,
  ): void {
    const previous = this.byService.get(failure.service);
    const failures =
      previous?.specHash === failure.specHash && previous.kind === failure.kind
        ? previous.failures + 1
        : 1;
    const hold: Hold = { ...failure, reason: failure.reason.split('\n')[0]!, failures };
    if (hold.lastLogLines?.length === 0) delete hold.lastLogLines;
    const noRetry = this.noAutomaticRetry(hold, desired);
    if (noRetry) hold.noRetry = noRetry;
    else hold.retryAt = now + this.backoff(hold);
    this.byService.set(hold.service, hold);
  }

  /** The service converged, or is in sync at its desired spec: nothing is held. */
  clear(service: string): void {
    this.byService.delete(service);
    this.retryAsked.delete(service);
  }

  /**
   * Forgets holds of specs no longer wanted: a service gone from git, or a
   * commit that changed its spec (that commit is tried at once).
   */
  retain(desired: readonly DesiredService[]): void {
    const wanted = new Map(desired.map((s) => [s.name, s.specHash]));
    for (const [service, hold] of this.byService)
      if (wanted.get(service) !== hold.specHash) this.clear(service);
  }

  /**
   * The engine is back after being away: what failed for a passing reason
   * (a pull, a start refused while it shut down) is tried again at once.
   */
  clearTransient(): void {
    for (const [service, hold] of this.byService)
      if (hold.kind === 'transient') this.clear(service);
  }

  /** An operator asks for one more try of held services (all when none named); returns those found. */
  requestRetry(services?: readonly string[]): string[] {
    const names = services ?? [...this.byService.keys()];
    const found = names.filter((s) => this.byService.has(s));
    for (const s of found) this.retryAsked.add(s);
    return found;
  }

  get(service: string, specHash: string): Hold | undefined {
    const hold = this.byService.get(service);
    return hold?.specHash === specHash ? hold : undefined;
  }

  /**
   * The earliest automatic retry after `now`, for scheduling a pass. One
   * already due is left to the next pass (it is granted there), never
   * returned: a deadline in the past would wake the loop at once, again
   * and again, while nothing can act on it (the engine away).
   */
  nextRetryAt(now: number): number | undefined {
    let next: number | undefined;
    for (const h of this.byService.values()) {
      if (h.retryAt === undefined || h.retryAt <= now) continue;
      if (next === undefined || h.retryAt < next) next = h.retryAt;
    }
    return next;
  }

  /** Whether an explicit retry waits for a pass. */
  retryPending(): boolean {
    return this.retryAsked.size > 0;
  }

  entries(): Hold[] {
    return [...this.byService.values()].map((h) => ({ ...h }));
  }

  private backoff(hold: Hold): number {
    const policy = hold.kind === 'transient' ? this.policy.transient : this.policy.rollout;
    return backoffDelay(policy ?? this.policy.transient, hold.failures);
  }

  private noAutomaticRetry(hold: Hold, desired: DesiredService): string | undefined {
    if (hold.kind === 'transient') return undefined;
    if (!this.policy.rollout) return 'not retried on its own';
    // start-first needs the old and the new container side by side.
    if (desired.spec.ports.some((p) => p.hostPort !== undefined))
      return 'not retried on its own: it publishes fixed host ports, so a retry would stop the running container';
    return undefined;
  }
}

/** The hold as a sentence for /status and the log. */
export function describeHold(hold: Hold, now: number): string {
  const times = `${hold.failures} time${hold.failures === 1 ? '' : 's'}`;
  const next =
    hold.retryAt !== undefined
      ? `next try in ${Math.max(1, Math.ceil((hold.retryAt - now) / 1000))}s, on a new commit, or on an explicit retry`
      : `${hold.noRetry ?? 'not retried on its own'}; push a fix (or git revert), or retry it explicitly`;
  return `${hold.code}: failed ${times} at ${hold.commit.slice(0, 12)} (${hold.reason}); ${next}`;
}
