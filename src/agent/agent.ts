import type { Engine } from '../core/engine.js';
import { resolveHost } from '../core/fleet.js';
import { planHost } from '../core/plan.js';
import type { HostState } from '../core/types.js';
import { isGitdockError, messageOf } from '../errors.js';
import type { Log } from '../log.js';
import type { Clock } from '../reconcile/clock.js';
import { readRevision } from '../reconcile/read-revision.js';
import { type ReconcileResult, reconcileHost } from '../reconcile/reconcile-host.js';
import { type BackoffPolicy, backoffDelay, withJitter } from './backoff.js';
import { FailedSpecs } from './failed-specs.js';
import { containerStatusMap } from './inspect.js';
import { type AgentStatus, describeServices, manifestErrorsToStatus } from './status.js';
import { appliedRef, type BranchSource } from './types.js';

export interface AgentObserver {
  /** After every pass, with the status it produced. */
  onPass?(pass: { status: AgentStatus; durationMs: number; convergedAfterMs?: number }): void;
}

export interface AgentOptions {
  host: string;
  source: BranchSource;
  engine: Engine;
  clock: Clock;
  log: Log;
  /** Periodic resync (and, for a remote, fetch) interval; jittered up to 10%. */
  intervalMs: number;
  /** Backoff of a pass that failed for a reason outside any one spec (engine, git, registry). */
  retry: BackoffPolicy;
  /** Backoff before a spec that failed to come up is tried again. */
  failedSpecRetry: BackoffPolicy;
  /** Quiet time after an engine event before a pass, so a burst of events makes one pass. */
  eventDebounceMs?: number;
  /** Move refs/gitdock/applied/<host> to each commit applied in full (`--report-ref`). */
  reportRef?: boolean;
  observer?: AgentObserver;
}

interface Pending {
  reasons: Set<string>;
  fetch: boolean;
  /** When the oldest unserved trigger arrived: the start of push-to-converged time. */
  since: number;
}

/**
 * The reconcile loop (DESIGN sections 3a and 4). Level-triggered and
 * single-flight: every trigger (ref change, webhook, engine event, timer)
 * only marks work pending; one pass at a time re-reads git and the engine
 * and runs plan + apply. A newer commit preempts a pass still waiting on a
 * new container; failures back off; a spec that failed is held back until
 * its backoff ends or a commit changes it.
 */
export class Agent {
  readonly status: AgentStatus;
  private pending: Pending | undefined;
  private wake: (() => void) | undefined;
  private current: { commit: string; controller: AbortController } | undefined;
  private readonly failedSpecs: FailedSpecs;
  private passFailures = 0;
  private retryAt: number | undefined;
  private nextResyncAt = 0;
  private eventTimer: NodeJS.Timeout | undefined;
  /** The report of the applied commit running in the background (--report-ref), if any. */
  private reporting: Promise<void> | undefined;
  /** The commit to report once the running report is done. */
  private reportWanted: string | undefined;
  /** The desired state at the last valid commit a pass worked on: what drift is healed against under an invalid one. */
  private lastValid: HostState | undefined;

  constructor(private readonly options: AgentOptions) {
    this.failedSpecs = new FailedSpecs(options.failedSpecRetry);
    this.status = {
      host: options.host,
      branch: options.source.branch,
      source: options.source.description,
      desiredCommit: null,
      servicesCommit: null,
      lastAttemptedCommit: null,
      lastAppliedCommit: null,
      lastReconcile: null,
      engine: { reachable: true },
      git: { reachable: true },
      ...(options.reportRef
        ? { appliedRef: { ref: appliedRef(options.host), reportedCommit: null } }
        : {}),
      errors: [],
      services: [],
    };
  }

  /** Marks a pass as needed; `fetch` also updates a remote source first. */
  trigger(reason: string, options: { fetch?: boolean } = {}): void {
    if (this.pending) {
      this.pending.reasons.add(reason);
      this.pending.fetch ||= options.fetch === true;
    } else {
      this.pending = {
        reasons: new Set([reason]),
        fetch: options.fetch === true,
        since: this.options.clock.now(),
      };
    }
    this.wake?.();
  }

  /**
   * The branch may have moved (a watched ref changed, a webhook arrived):
   * trigger a pass, and if a pass is running at an older commit, preempt it.
   */
  sourceChanged(reason: string, options: { fetch?: boolean } = {}): void {
    this.trigger(reason, options);
    const running = this.current;
    if (!running) return;
    void (async () => {
      try {
        if (options.fetch && this.options.source.remote) await this.options.source.update();
        const head = await this.options.source.head();
        if (head !== running.commit && this.current === running) {
          this.options.log.info(
            { from: running.commit, to: head },
            'newer commit: preempting the pass in progress',
          );
          running.controller.abort('preempted by a newer commit');
        }
      } catch {
        // The next pass reads the source again and reports the error.
      }
    })();
  }

  /** An engine event: drift may have happened. Debounced so a burst makes one pass. */
  engineEvent(reason: string): void {
    clearTimeout(this.eventTimer);
    this.eventTimer = setTimeout(() => this.trigger(reason), this.options.eventDebounceMs ?? 200);
    this.eventTimer.unref?.();
  }

  /** Aborts a pass in progress (a second SIGTERM): its half-done replacement is undone. */
  abortCurrentPass(reason: string): void {
    this.current?.controller.abort(reason);
  }

  /**
   * Runs until `signal` aborts, then returns once the pass in hand has
   * finished the services it had begun (a replacement comes up or is undone)
   * and skipped the rest: a shutdown never leaves a half-made container.
   */
  async run(signal: AbortSignal): Promise<void> {
    const { source, log } = this.options;
    const stopWatching = await source.watch((reason) => this.sourceChanged(`git: ${reason}`));
    const events = this.followEngineEvents(signal);
    this.trigger('startup', { fetch: true });
    try {
      while (!signal.aborted) {
        await this.waitForWork(signal);
        if (signal.aborted) break;
        const now = this.options.clock.now();
        if (!this.pending) {
          if (now >= this.nextResyncAt) this.trigger('periodic resync', { fetch: source.remote });
          else if (this.retryAt !== undefined && now >= this.retryAt)
            // After a failed fetch, the retry is what fetches again.
            this.trigger('retry after failure', {
              fetch: source.remote && !this.status.git.reachable,
            });
          else this.trigger('held spec may be retried');
        }
        const work = this.pending!;
        this.pending = undefined;
        await this.pass(work, signal);
      }
    } finally {
      clearTimeout(this.eventTimer);
      await stopWatching();
      await events;
      // Bounded by the push timeout: the record of what runs is worth finishing.
      await this.reporting;
      log.info({ host: this.options.host }, 'agent stopped');
    }
  }

  private waitForWork(signal: AbortSignal): Promise<void> {
    if (this.pending) return Promise.resolve();
    const now = this.options.clock.now();
    const deadlines = [this.nextResyncAt, this.retryAt, this.failedSpecs.nextRetryAt()].filter(
      (d): d is number => d !== undefined,
    );
    const delay = Math.max(0, Math.min(...deadlines) - now);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, delay);
      signal.addEventListener('abort', done, { once: true });
      this.wake = done;
    });
  }

  /** One level-triggered pass: fetch (if asked), read the branch, validate, reconcile, report. */
  private async pass(work: Pending, stopping: AbortSignal): Promise<void> {
    const { source, engine, clock, log, host } = this.options;
    const startedAt = clock.now();
    const trigger = [...work.reasons].join(', ');
    this.status.lastReconcile = {
      startedAt: iso(startedAt),
      finishedAt: null,
      result: 'running',
      trigger,
    };
    this.nextResyncAt = startedAt + withJitter(this.options.intervalMs, 0.1);
    this.retryAt = undefined;
    const errors: AgentStatus['errors'] = [];

    let result: 'success' | 'failure' | 'refused' | 'invalid' = 'failure';
    let transientFailure = false;
    let fetchFailed = false;
    let convergedAfterMs: number | undefined;
    try {
      if (work.fetch && source.remote) {
        try {
          await source.update();
          this.status.git = { reachable: true, lastFetchAt: iso(clock.now()) };
        } catch (err) {
          // Keep healing drift against the commit already fetched; report git as away.
          this.status.git = { ...this.status.git, reachable: false, error: messageOf(err) };
          errors.push({ message: messageOf(err) });
          log.warn(
            { err: messageOf(err) },
            'fetch failed; going on with the commit already fetched',
          );
          transientFailure = true;
          fetchFailed = true;
        }
      }
      const commit = await source.head();
      const previousAttempt = this.status.lastAttemptedCommit;
      this.status.desiredCommit = commit;
      const { fleet } = await readRevision({ git: source.git, rev: commit });
      const desired = fleet.ok ? resolveHost(fleet.value, host, commit) : fleet;
      let target: HostState;
      if (desired.ok) {
        target = desired.value;
        this.lastValid = desired.value;
      } else {
        // A bad commit is never applied: everything keeps running as it is.
        this.status.lastAttemptedCommit = commit;
        errors.push(...manifestErrorsToStatus(desired.errors));
        result = 'invalid';
        log.error(
          { commit, errors: desired.errors.length },
          'revision is invalid; nothing applied',
        );
        for (const e of desired.errors)
          log.error({ commit, file: e.file, line: e.line, column: e.column }, e.message);
        // Drift is still healed, against the last valid commit this agent
        // worked on: a container stopped by hand while a fix is on its way
        // is started again. (None yet after a restart: then nothing is done.)
        if (!this.lastValid) return;
        target = this.lastValid;
      }

      const controller = new AbortController();
      this.current = { commit, controller };
      let outcome: ReconcileResult;
      try {
        outcome = await reconcileHost({
          engine,
          desired: target,
          clock,
          log,
          signal: controller.signal,
          stopping,
          hold: (action) =>
            'desired' in action
              ? this.failedSpecs.holdReason(action.service, action.desired.specHash, clock.now())
              : undefined,
        });
      } finally {
        this.current = undefined;
      }
      this.status.engine = { reachable: true };
      this.status.lastAttemptedCommit = commit;
      // Skipped services (held, or not begun because the agent is stopping) are
      // never recorded as failures; neither is what a preempted pass undid.
      const preempted = controller.signal.aborted;
      for (const o of outcome.outcomes) {
        if (o.ok && o.action !== 'in-sync') this.failedSpecs.recordSuccess(o.service);
        const action = outcome.plan.actions.find(
          (a) => a.service === o.service && a.type === o.action,
        );
        if (
          !o.ok &&
          !o.skipped &&
          !o.pullFailed &&
          action &&
          'desired' in action &&
          o.action !== 'conflict' &&
          !preempted
        ) {
          this.failedSpecs.recordFailure(
            o.service,
            action.desired.specHash,
            target.commit,
            o.error ?? 'failed',
            clock.now(),
            o.lastLogLines,
          );
        }
        if (!o.ok && !o.skipped) errors.push({ message: `${o.service}: ${o.error ?? 'failed'}` });
        if (o.pullFailed) transientFailure = true;
      }
      this.failedSpecs.retain(new Set(target.services.map((s) => s.name)));
      if (!desired.ok) {
        // Healing only: the result stays `invalid`, nothing new was applied.
      } else if (outcome.plan.refused) {
        errors.push({ message: outcome.plan.refused });
        result = 'refused';
      } else if (outcome.ok && !preempted) {
        result = 'success';
        this.status.lastAppliedCommit = commit;
        if (commit !== previousAttempt || previousAttempt === null)
          convergedAfterMs = clock.now() - work.since;
      }
      await this.refreshServices(target);
      if (result === 'success') this.scheduleReport(commit);
    } catch (err) {
      transientFailure = true;
      if (
        isGitdockError(err, 'GITDOCK_E_ENGINE_UNREACHABLE') ||
        isGitdockError(err, 'GITDOCK_E_ENGINE_REQUEST')
      ) {
        this.status.engine = { reachable: false, error: messageOf(err) };
      }
      errors.push({ message: messageOf(err) });
      log.error({ err: messageOf(err) }, 'reconcile failed');
    } finally {
      // An invalid commit is not retried (only a new commit changes it), but a
      // failed fetch is: it may be what brings the fix.
      if (fetchFailed || (transientFailure && result !== 'invalid')) {
        this.passFailures++;
        this.retryAt = clock.now() + backoffDelay(this.options.retry, this.passFailures);
        if (result === 'success') result = 'failure';
      } else {
        this.passFailures = 0;
      }
      const finishedAt = clock.now();
      this.status.errors = errors;
      this.status.lastReconcile = {
        startedAt: iso(startedAt),
        finishedAt: iso(finishedAt),
        result,
        trigger,
      };
      log.info(
        {
          result,
          commit: this.status.desiredCommit,
          trigger,
          durationMs: finishedAt - startedAt,
          ...(this.retryAt ? { retryInMs: this.retryAt - finishedAt } : {}),
        },
        'reconcile finished',
      );
      this.options.observer?.onPass?.({
        status: this.status,
        durationMs: finishedAt - startedAt,
        ...(convergedAfterMs !== undefined ? { convergedAfterMs } : {}),
      });
    }
  }

  /**
   * With --report-ref: records `commit` in the background, outside the pass,
   * so a slow or unreachable git server never holds up drift healing, a newer
   * commit or a shutdown. One report at a time; while one runs, only the
   * latest commit asked for waits its turn.
   */
  private scheduleReport(commit: string): void {
    if (!this.status.appliedRef) return;
    this.reportWanted = commit;
    if (this.reporting) return;
    this.reporting = (async () => {
      for (let next = this.reportWanted; next !== undefined; next = this.reportWanted) {
        this.reportWanted = undefined;
        await this.reportApplied(next);
      }
    })().finally(() => {
      this.reporting = undefined;
    });
  }

  /**
   * Moves refs/gitdock/applied/<host> to the commit applied, once per commit.
   * A failure does not fail anything (the host did converge); it is shown in
   * /status and tried again after the next successful pass.
   */
  private async reportApplied(commit: string): Promise<void> {
    const report = this.status.appliedRef;
    if (!report || report.reportedCommit === commit) return;
    // Only the branch tip is reported: a remote whose branch has moved past
    // `commit` would make the push walk all of history to find a common
    // commit. The newer commit is reported once applied.
    if (
      this.options.source.remote &&
      (await this.options.source.head().catch(() => commit)) !== commit
    )
      return;
    try {
      await this.options.source.reportApplied(report.ref, commit);
      this.status.appliedRef = { ref: report.ref, reportedCommit: commit };
      this.options.log.info({ ref: report.ref, commit }, 'applied commit recorded');
    } catch (err) {
      this.status.appliedRef = { ...report, error: messageOf(err) };
      this.options.log.warn(
        { ref: report.ref, commit, err: messageOf(err) },
        'recording the applied commit failed',
      );
    }
  }

  /** Per-service sync and health, from a fresh look at the engine after the pass. */
  private async refreshServices(desired: HostState): Promise<void> {
    const { engine, clock } = this.options;
    const actual = await engine.listContainers();
    const plan = planHost({ desired, actual });
    const inspected = await containerStatusMap(engine, plan);
    this.status.servicesCommit = desired.commit;
    this.status.services = describeServices(plan, inspected, (service, specHash) => {
      const failure = this.failedSpecs.get(service, specHash);
      if (!failure) return undefined;
      const wait = Math.max(0, Math.ceil((failure.retryAt - clock.now()) / 1000));
      return {
        reason: `failed at ${failure.commit.slice(0, 12)}: ${failure.reason} (next try in ${wait}s, or on a new commit)`,
        ...(failure.lastLogLines ? { lastLogLines: failure.lastLogLines } : {}),
      };
    });
  }

  /** Follows the engine's event stream for this host, reconnecting with backoff. */
  private async followEngineEvents(signal: AbortSignal): Promise<void> {
    const { engine, host, log, clock } = this.options;
    let failures = 0;
    while (!signal.aborted) {
      const opened = clock.now();
      try {
        await engine.watchEvents({
          host,
          signal,
          onEvent: (e) =>
            this.engineEvent(`engine: ${e.action} ${e.name ?? e.containerId.slice(0, 12)}`),
        });
        // The stream ended: the engine restarted or the connection was cut.
        failures = clock.now() - opened > 10_000 ? 0 : failures + 1;
      } catch (err) {
        failures++;
        this.status.engine = { reachable: false, error: messageOf(err) };
      }
      if (signal.aborted) break;
      log.warn({ failures }, 'engine event stream ended; reconnecting');
      await sleep(backoffDelay(this.options.retry, failures), signal);
      // Whatever happened while the stream was down is found by a full pass.
      if (!signal.aborted) this.trigger('engine event stream reconnected');
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
