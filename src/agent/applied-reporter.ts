import { messageOf } from '../errors.js';
import type { Log } from '../log.js';
import type { StatusStore } from './status-store.js';
import { type BranchSource, failedRef } from './types.js';

type ReportKind = 'applied' | 'failed';

/**
 * With --report-ref: moves refs/gitdock/applied/<host> to each commit
 * applied in full, and refs/gitdock/failed/<host> to each commit whose
 * release failed here (what waves halt on), in the background, outside the
 * pass, so a slow or unreachable git server never holds up drift healing, a
 * newer commit or a shutdown. One report at a time; while one runs, only the
 * latest commit asked for of each kind waits its turn.
 */
export class AppliedReporter {
  private running: Promise<void> | undefined;
  private readonly wanted = new Map<ReportKind, string>();
  private failedReported: string | undefined;

  constructor(
    private readonly options: { host: string; source: BranchSource; log: Log; store: StatusStore },
  ) {}

  schedule(commit: string): void {
    this.enqueue('applied', commit);
  }

  /** The release of `commit` failed on this host: later waves halt on it. */
  scheduleFailed(commit: string): void {
    if (this.failedReported !== commit) this.enqueue('failed', commit);
  }

  private enqueue(kind: ReportKind, commit: string): void {
    if (!this.options.store.status.appliedRef) return;
    this.wanted.set(kind, commit);
    if (this.running) return;
    this.running = (async () => {
      for (;;) {
        const next = this.wanted.entries().next();
        if (next.done) break;
        const [nextKind, nextCommit] = next.value;
        this.wanted.delete(nextKind);
        await (nextKind === 'applied' ? this.report(nextCommit) : this.reportFailed(nextCommit));
      }
    })().finally(() => {
      this.running = undefined;
    });
  }

  /** Resolves when the report under way (bounded by the push timeout) is done. */
  async settled(): Promise<void> {
    await this.running;
  }

  /**
   * Moves the ref to the commit applied, once per commit. A failure does not
   * fail anything (the host did converge); it is shown in /status and tried
   * again after the next successful pass.
   */
  private async report(commit: string): Promise<void> {
    const { source, log, store } = this.options;
    const ref = store.status.appliedRef;
    if (!ref || ref.reportedCommit === commit) return;
    if (!(await this.isTip(commit))) return;
    try {
      await source.reportApplied(ref.ref, commit);
      store.setAppliedRef({ reportedCommit: commit });
      log.info({ ref: ref.ref, commit }, 'applied commit recorded');
    } catch (err) {
      store.setAppliedRef({ error: messageOf(err) });
      log.warn(
        { ref: ref.ref, commit, err: messageOf(err) },
        'recording the applied commit failed',
      );
    }
  }

  /** Moves refs/gitdock/failed/<host> to the commit; a failure to do so is logged and tried on the next failed pass. */
  private async reportFailed(commit: string): Promise<void> {
    const { source, log, host } = this.options;
    const ref = failedRef(host);
    if (!(await this.isTip(commit))) return;
    try {
      await source.reportApplied(ref, commit);
      this.failedReported = commit;
      log.info({ ref, commit }, 'failed release recorded: later waves halt');
    } catch (err) {
      log.warn({ ref, commit, err: messageOf(err) }, 'recording the failed release failed');
    }
  }

  /**
   * Only the branch tip is reported: a remote whose branch has moved past
   * `commit` would make the push walk all of history to find a common
   * commit. The newer commit is reported once applied.
   */
  private async isTip(commit: string): Promise<boolean> {
    const { source } = this.options;
    return !source.remote || (await source.head().catch(() => commit)) === commit;
  }
}
