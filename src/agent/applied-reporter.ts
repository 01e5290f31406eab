import { messageOf } from '../errors.js';
import type { Log } from '../log.js';
import type { StatusStore } from './status-store.js';
import type { BranchSource } from './types.js';

/**
 * With --report-ref: moves refs/gitdock/applied/<host> to each commit
 * applied in full, in the background, outside the pass, so a slow or
 * unreachable git server never holds up drift healing, a newer commit or a
 * shutdown. One report at a time; while one runs, only the latest commit
 * asked for waits its turn.
 */
export class AppliedReporter {
  private running: Promise<void> | undefined;
  private wanted: string | undefined;

  constructor(private readonly options: { source: BranchSource; log: Log; store: StatusStore }) {}

  schedule(commit: string): void {
    if (!this.options.store.status.appliedRef) return;
    this.wanted = commit;
    if (this.running) return;
    this.running = (async () => {
      for (let next = this.wanted; next !== undefined; next = this.wanted) {
        this.wanted = undefined;
        await this.report(next);
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
    // Only the branch tip is reported: a remote whose branch has moved past
    // `commit` would make the push walk all of history to find a common
    // commit. The newer commit is reported once applied.
    if (source.remote && (await source.head().catch(() => commit)) !== commit) return;
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
}
