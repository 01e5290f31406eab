import type { AgentStatus } from '../core/agent-status.js';
import { maskValue, secretsToMask } from '../core/spec-hash.js';
import type { PassWork } from './loop.js';
import type { PassResult } from './reconcile-pass.js';
import { withUnknownHealth } from './status.js';

/** Triggers that only look again: a pass they start that changes nothing is not news. */
const ROUTINE_TRIGGERS = new Set(['periodic resync', 'looking again', 'retry after failure']);

/**
 * The agent's `/status`, kept from the loop's events: a pass started or
 * finished, the engine lost or back, the repository watch lost or back. One
 * writer (the agent), read by the HTTP server at any time.
 */
export class StatusStore {
  readonly status: AgentStatus;

  constructor(init: {
    host: string;
    branch: string;
    source: string;
    appliedRef?: string;
    watched: boolean;
  }) {
    this.status = {
      host: init.host,
      branch: init.branch,
      source: init.source,
      desiredCommit: null,
      servicesCommit: null,
      lastAttemptedCommit: null,
      lastAppliedCommit: null,
      lastReconcile: null,
      running: null,
      nextPassAt: null,
      engine: { reachable: true },
      git: { reachable: true },
      ...(init.watched ? { watch: { watching: false } } : {}),
      ...(init.appliedRef ? { appliedRef: { ref: init.appliedRef, reportedCommit: null } } : {}),
      errors: [],
      services: [],
    };
  }

  passStarted(work: PassWork, now: number): void {
    this.status.running = {
      startedAt: iso(now),
      runningForMs: 0,
      trigger: work.reasons.join(', '),
    };
  }

  /** Refreshes the running pass's age (read at every /status request). */
  tick(now: number, nextPassAt: number | undefined): void {
    const running = this.status.running;
    if (running) running.runningForMs = now - Date.parse(running.startedAt);
    this.status.nextPassAt =
      nextPassAt === undefined || !Number.isFinite(nextPassAt) ? null : iso(nextPassAt);
  }

  /**
   * Records a finished pass. Returns whether it is news: a routine look
   * that found everything as it was (in sync, nothing attempted, the same
   * result) does not replace `lastReconcile`, so it keeps saying what the
   * user last did and how that went.
   */
  passFinished(
    work: PassWork,
    result: PassResult,
    times: { startedAt: number; finishedAt: number },
  ): { news: boolean; convergedAfterMs?: number } {
    const s = this.status;
    s.running = null;
    const previousAttempt = s.lastAttemptedCommit;
    if (result.commit) s.desiredCommit = result.commit;
    if (result.target && result.result !== 'invalid') s.lastAttemptedCommit = result.target.commit;
    if (result.result === 'invalid' && result.commit) s.lastAttemptedCommit = result.commit;
    if (result.git)
      s.git = {
        reachable: result.git.reachable,
        ...(result.git.error ? { error: result.git.error } : {}),
        ...(result.git.fetchedAt
          ? { lastFetchAt: iso(result.git.fetchedAt) }
          : s.git.lastFetchAt
            ? { lastFetchAt: s.git.lastFetchAt }
            : {}),
      };
    this.setEngine(result.engine.reachable, result.engine.error, times.finishedAt);
    // A failure's message quotes the container's last log lines, which may
    // carry a value from the host-local env file: masked like everything else.
    const secrets = secretsToMask(result.target?.services.flatMap((x) => x.secretValues ?? []));
    if (result.services) {
      s.services = maskValue(result.services, secrets);
      s.servicesCommit = result.target?.commit ?? s.servicesCommit;
    }
    s.errors = maskValue(result.errors, secrets);
    if (result.rollout !== undefined) s.rollout = result.rollout;
    let convergedAfterMs: number | undefined;
    if (result.result === 'success' && result.commit) {
      if (result.commit !== s.lastAppliedCommit || previousAttempt !== result.commit)
        convergedAfterMs = times.finishedAt - work.since;
      s.lastAppliedCommit = result.commit;
    }
    const routine = work.reasons.every((r) => ROUTINE_TRIGGERS.has(r));
    const news =
      !routine ||
      result.acted ||
      s.lastReconcile === null ||
      s.lastReconcile.result !== result.result ||
      (result.commit !== null && s.lastReconcile.commit !== result.commit);
    if (news) {
      s.lastReconcile = {
        startedAt: iso(times.startedAt),
        finishedAt: iso(times.finishedAt),
        result: result.result,
        trigger: work.reasons.join(', '),
        commit: result.commit,
      };
    }
    return { news, ...(convergedAfterMs !== undefined ? { convergedAfterMs } : {}) };
  }

  /** The engine's event stream broke or came back. */
  setEngine(reachable: boolean, error: string | undefined, now: number): void {
    const s = this.status;
    if (s.engine.reachable === reachable && (reachable || s.engine.error === error)) return;
    if (!reachable) s.services = withUnknownHealth(s.services, error ?? 'no answer');
    s.engine = { reachable, ...(error && !reachable ? { error } : {}), since: iso(now) };
  }

  setWatch(watching: boolean, error: string | undefined, now: number): void {
    this.status.watch = { watching, ...(error ? { error } : {}), since: iso(now) };
  }

  setAppliedRef(update: { reportedCommit?: string; error?: string }): void {
    const current = this.status.appliedRef;
    if (!current) return;
    this.status.appliedRef = {
      ref: current.ref,
      reportedCommit: update.reportedCommit ?? current.reportedCommit,
      ...(update.error ? { error: update.error } : {}),
    };
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
