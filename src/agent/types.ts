import type { GitSource } from '../core/git.js';
import type { HostReports } from '../core/rollout.js';

/**
 * Where the agent reads the fleet repo from, and how it learns that the
 * watched branch may have moved. Two implementations: a local repository
 * (bare or not) watched with chokidar, and an http(s) remote fetched into a
 * bare cache in the state dir.
 */
export interface BranchSource {
  /** For logs and /status: the path, or the URL with credentials stripped. */
  readonly description: string;
  readonly branch: string;
  /** Reads revisions; for a remote, the local bare cache. */
  readonly git: GitSource;
  /**
   * Brings the local view up to date: a no-op for a local repository, a
   * fetch of the branch for a remote (bounded by a timeout; rejects with a
   * GitdockError naming the URL, never its credentials).
   */
  update(signal?: AbortSignal): Promise<void>;
  /** The commit the branch points at now, from the local view (no network). */
  head(): Promise<string>;
  /**
   * Starts watching for changes that need no network (a push into a local
   * repository). Calls `onChange` (possibly more than once per change:
   * callers coalesce). Resolves to a function that stops watching (calling
   * it again is harmless).
   *
   * A watch that breaks (the repository directory moved away, deleted and
   * recreated, a watcher error) is re-established by the source itself;
   * `onState` hears `{ watching: false, error }` when it is lost and
   * `{ watching: true }` when it is back, and `onChange` is called then,
   * since the branch may have moved meanwhile. `onState` is called only on
   * such changes: when `watch` resolves the source is watching, unless
   * `onState` has already heard `watching: false` (the repository could not
   * be watched yet; it keeps trying).
   * A remote source has nothing to watch and returns a no-op stopper.
   */
  watch(
    onChange: (reason: string) => void,
    onState?: (state: WatchState) => void,
  ): Promise<() => Promise<void>>;
  /** Whether `update` talks to the network (and so is driven by the interval and the webhook). */
  readonly remote: boolean;
  /**
   * Points `ref` (`refs/gitdock/applied/<host>`) at `commit` where everyone
   * reads the fleet repo: in a local repository directly, on a remote by a
   * push (which needs push rights). Never touches a branch. Rejects with
   * GITDOCK_E_GIT_REPORT.
   */
  reportApplied(ref: string, commit: string): Promise<void>;
  /**
   * What every host has reported (`refs/gitdock/applied/*` and
   * `refs/gitdock/failed/*`) where everyone reads the fleet repo: the
   * repository's own refs, or the remote's, listed without fetching any
   * object. Waves read it; sources that cannot say leave it out.
   */
  readReports?(signal?: AbortSignal): Promise<HostReports>;
}

/** Whether a {@link BranchSource.watch} currently sees changes as they happen. */
export interface WatchState {
  watching: boolean;
  /** Why it is not watching (only with `watching: false`). */
  error?: string;
}

/** The ref the agent moves to the commit a host runs, with `--report-ref`. */
export function appliedRef(host: string): string {
  return `refs/gitdock/applied/${host}`;
}

/** The ref the agent moves to a commit whose release failed on its host, with `--report-ref`. */
export function failedRef(host: string): string {
  return `refs/gitdock/failed/${host}`;
}
