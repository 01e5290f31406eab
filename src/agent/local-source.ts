import nodeFs from 'node:fs';
import path from 'node:path';
import type { FSWatcher } from 'chokidar';
import { readHostReports } from '../adapters/applied-refs.js';
import { writeRefAtomic } from '../adapters/git-ref-file.js';
import { openGitSource } from '../adapters/git-source.js';
import { GitdockError, isGitdockError, messageOf } from '../errors.js';
import type { Log } from '../log.js';
import { type BackoffPolicy, backoffDelay } from './backoff.js';
import type { BranchSource, WatchState } from './types.js';

/** How long after refs were packed the branch is looked at once more (see watchRefs()). */
const RECHECK_AFTER_PACK_MS = 1000;
/** How often a working watch is compared with the disk (two stats; see watchRefs()). */
const CHECK_INTERVAL_MS = 2000;
/** Between attempts to watch again while the repository is away: 250 ms doubling to 5 s. */
const RETRY_BACKOFF: BackoffPolicy = { baseMs: 250, capMs: 5000 };
/** A new watcher not ready by then counts as a failed attempt. */
const READY_TIMEOUT_MS = 10_000;

export interface OpenLocalSourceOptions {
  /** A bare repository (what `git push deploy@host:fleet.git` lands in) or a clone. */
  dir: string;
  /** The branch to follow, short name (`main`). */
  branch: string;
  /** Where a lost and a restored watch are reported (warn, info). */
  log?: Log;
}

/**
 * A {@link BranchSource} over a repository on this host's disk. `update` has
 * nothing to do; `watch` reports ref changes as git makes them.
 *
 * Rejects with GITDOCK_E_GIT_REPO_NOT_FOUND when `dir` is not a repository and
 * GITDOCK_E_USAGE when `branch` is not a valid branch name.
 */
export async function openLocalSource(options: OpenLocalSourceOptions): Promise<BranchSource> {
  const { branch } = options;
  assertBranchName(branch);
  const dir = path.resolve(options.dir);
  const git = await openGitSource({ dir });
  const { gitdir } = git;
  const ref = `refs/heads/${branch}`;
  const branchFile = path.join(gitdir, 'refs', 'heads', ...branch.split('/'));
  const packedRefs = path.join(gitdir, 'packed-refs');
  const refsDir = path.join(gitdir, 'refs');
  const headsDir = path.join(refsDir, 'heads');

  return {
    description: dir,
    branch,
    git,
    remote: false,

    async update() {},

    async head() {
      try {
        return await git.resolveRevision(ref);
      } catch (err) {
        if (!isGitdockError(err, 'GITDOCK_E_GIT_REV_NOT_FOUND')) throw err;
        throw new GitdockError(
          'GITDOCK_E_GIT_REV_NOT_FOUND',
          `branch "${branch}" does not exist in ${dir} (push it, or pick another branch)`,
          { dir, branch },
          { cause: err },
        );
      }
    },

    async reportApplied(refName, commit) {
      assertReportRef(refName);
      try {
        // With git's lock: a `git gc` or a reader never meets a half-written ref.
        await writeRefAtomic(nodeFs, gitdir, refName, commit);
      } catch (err) {
        throw new GitdockError(
          'GITDOCK_E_GIT_REPORT',
          `cannot write ${refName} in ${dir}: ${messageOf(err)}`,
          { dir, ref: refName },
          { cause: err },
        );
      }
    },

    async readReports() {
      return readHostReports(gitdir);
    },

    watch(onChange, onState) {
      return watchRefs(
        { gitdir, refsDir, headsDir, branchFile, packedRefs },
        onChange,
        onState,
        options.log,
      );
    },
  };
}

interface RefPaths {
  gitdir: string;
  refsDir: string;
  headsDir: string;
  branchFile: string;
  packedRefs: string;
}

/** Why a watch is not working: shown in the log and /status. */
interface Problem {
  reason: string;
  err?: unknown;
}

/** `dev:ino` of the directories a watcher was set up on. */
interface Identity {
  gitdir: string;
  refs: string;
}

/**
 * `BranchSource.watch` of a local repository: a chokidar watcher on the git
 * dir that is replaced whenever it stops seeing the repository.
 *
 * chokidar follows what happens inside the directory it was given, but not
 * to that directory itself: once the repository is moved away (or deleted),
 * it drops its native watchers for good, and nothing is seen when the
 * directory comes back. So the watch is checked
 * - at once when chokidar reports an error, the removal of the git dir,
 *   `refs` or `refs/heads`, or the unlink of the branch file or `packed-refs`;
 * - every CHECK_INTERVAL_MS otherwise: `dev:ino` of the git dir and of
 *   `refs` against those the watcher was set up on (a directory moved away
 *   and back keeps its inode; one deleted and recreated does not), and that
 *   chokidar still tracks `refs`;
 * and when it fails, the watcher is closed, the loss reported (warn,
 * `onState`), and a new one set up, retried with backoff while the
 * directory is away; once it watches, that is reported (info, `onState`)
 * and `onChange` called: the branch may have moved meanwhile.
 */
async function watchRefs(
  paths: RefPaths,
  onChange: (reason: string) => void,
  onState: ((state: WatchState) => void) | undefined,
  log: Log | undefined,
): Promise<() => Promise<void>> {
  const { gitdir, refsDir, headsDir, branchFile, packedRefs } = paths;
  // Loaded here: only an agent on a local repository needs chokidar.
  const { watch: watchPaths } = await import('chokidar');

  let stopped = false;
  const stopping = new AbortController();
  /** The watcher in use; events of any other (closed) one are ignored. */
  let current: FSWatcher | undefined;
  /** What `current` was set up on. */
  let identity: Identity | undefined;
  /** A sign from `current` itself that it broke (an error, a watched dir removed). */
  let suspect: Problem | undefined;
  /** Something was unlinked: check without waiting for the interval. */
  let checkSoon = false;
  /** What `onState` last heard; undefined before the first attempt. */
  let watching: boolean | undefined;
  let lostAt = 0;
  /** Losses and failed attempts since the watch last passed a check. */
  let failures = 0;
  let recheck: NodeJS.Timeout | undefined;
  let wakeUp: (() => void) | undefined;

  /** Calls a caller's callback; a throwing one must not kill the watch. */
  function call<T>(fn: ((arg: T) => void) | undefined, arg: T): void {
    try {
      fn?.(arg);
    } catch (err) {
      log?.error({ err, gitdir }, 'ref watcher callback failed');
    }
  }

  /** Waits `ms`, or less when woken (a suspect, stop). */
  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (stopped) return resolve();
      const timer = setTimeout(done, ms);
      timer.unref();
      wakeUp = done;
      function done() {
        clearTimeout(timer);
        wakeUp = undefined;
        resolve();
      }
    });
  }
  const wake = () => wakeUp?.();

  async function statDir(dir: string): Promise<string> {
    let stats: nodeFs.Stats;
    try {
      stats = await nodeFs.promises.stat(dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') throw new Error(`${dir} is missing`);
      throw err;
    }
    if (!stats.isDirectory()) throw new Error(`${dir} is not a directory`);
    return `${stats.dev}:${stats.ino}`;
  }

  async function identify(): Promise<Identity> {
    return { gitdir: await statDir(gitdir), refs: await statDir(refsDir) };
  }

  // When refs are packed, the branch file is deleted; if it is written
  // again within moments (a push right after `git gc`), the watcher can
  // miss the new file: its directory listing looks unchanged. So after
  // such events, look once more a little later (a spurious call is
  // harmless: the caller re-reads the ref).
  function scheduleRecheck(reason: string) {
    clearTimeout(recheck);
    recheck = setTimeout(() => {
      if (!stopped) call(onChange, `recheck after ${reason}`);
    }, RECHECK_AFTER_PACK_MS);
    recheck.unref();
  }

  function onEvent(event: string, p: string) {
    if (event === 'unlinkDir' && (p === gitdir || p === refsDir || p === headsDir)) {
      // chokidar has closed its watchers below `p`; if `p` is the git dir
      // it will not watch it again even when it comes back.
      suspect ??= { reason: `${p} was moved away or removed` };
      wake();
      return;
    }
    if (p !== branchFile && p !== packedRefs) return;
    const reason = `${path.relative(gitdir, p).split(path.sep).join('/')} ${event}`;
    call(onChange, reason);
    if (p === packedRefs || event === 'unlink') scheduleRecheck(reason);
    if (event === 'unlink') {
      // Usually git packing refs, but the repository may be going away.
      checkSoon = true;
      wake();
    }
  }

  function ready(watcher: FSWatcher): Promise<boolean> {
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        stopping.signal.removeEventListener('abort', onAbort);
        resolve(ok);
      };
      const onAbort = () => done(false);
      const timer = setTimeout(() => done(false), READY_TIMEOUT_MS);
      timer.unref();
      stopping.signal.addEventListener('abort', onAbort);
      watcher.once('ready', () => done(true));
    });
  }

  /** Sets up a new watcher; the problem when it cannot watch (yet). */
  async function attempt(): Promise<Problem | undefined> {
    let before: Identity;
    try {
      before = await identify();
    } catch (err) {
      return { reason: messageOf(err) };
    }
    if (stopped) return undefined;
    suspect = undefined;
    checkSoon = false;
    // One native watcher on the git dir, filtered down to the refs that can
    // move the branch, rather than a watcher on the branch file itself:
    // - git updates a ref by writing `<ref>.lock` and renaming it over the
    //   ref, which replaces the inode a file watcher would be holding;
    // - the branch file may not exist yet (a fresh bare repo before the
    //   first push) or may vanish (`git gc` / `git pack-refs` move it into
    //   `packed-refs` and delete it), and a directory watcher sees it come
    //   and go either way;
    // - `packed-refs` is itself rewritten through `packed-refs.lock`.
    // Native events arrive within milliseconds, so refs are not polled.
    // `atomic` is off because its "unlink then add is a change" smoothing
    // delays every unlink by 100 ms, and any event here means the same thing.
    // No `awaitWriteFinish`: git renames complete files into place, so a
    // ref is never seen half-written.
    let watcher: FSWatcher;
    try {
      watcher = watchPaths(gitdir, {
        ignoreInitial: true,
        atomic: false,
        persistent: true,
        // Every directory on the way to a nested branch (`release/v1`) and
        // the branch file itself; other branches and `.lock` files are skipped.
        ignored: (p) =>
          !(
            p === gitdir ||
            p === refsDir ||
            p === packedRefs ||
            p === headsDir ||
            p === branchFile ||
            branchFile.startsWith(p + path.sep)
          ),
      });
    } catch (err) {
      return { reason: `watcher error: ${messageOf(err)}`, err };
    }
    current = watcher;
    identity = before;
    watcher.on('all', (event, p) => {
      if (watcher === current && !stopped) onEvent(event, p);
    });
    watcher.on('error', (err) => {
      if (watcher !== current) return;
      // A failing watcher may have dropped events: replace it (the new one
      // calls onChange, so the caller looks again).
      suspect ??= { reason: `watcher error: ${messageOf(err)}`, err };
      wake();
    });
    if (!(await ready(watcher))) {
      return stopped
        ? undefined
        : { reason: `the watcher was not ready within ${READY_TIMEOUT_MS / 1000} s` };
    }
    return check();
  }

  /** Whether `current` still watches the repository at `gitdir`. */
  async function check(): Promise<Problem | undefined> {
    let now: Identity;
    try {
      now = await identify();
    } catch (err) {
      // Before any suspect: "<gitdir> is missing" says more than the
      // removal of `refs/heads` that chokidar reported first.
      return { reason: messageOf(err) };
    }
    if (suspect) return suspect;
    if (!current || !identity) return { reason: 'no watcher' };
    if (now.gitdir !== identity.gitdir) return { reason: `${gitdir} was replaced` };
    if (now.refs !== identity.refs) return { reason: `${refsDir} was replaced` };
    if (!current.getWatched()[gitdir]?.includes('refs')) {
      return { reason: `the watcher no longer covers ${refsDir}` };
    }
    return undefined;
  }

  async function closeCurrent(): Promise<void> {
    const watcher = current;
    current = undefined;
    identity = undefined;
    if (!watcher) return;
    const closing = watcher.close();
    // close() drops every listener; a late error must not go unhandled.
    watcher.on('error', () => {});
    try {
      await closing;
    } catch (err) {
      log?.debug({ err, gitdir }, 'ref watcher close failed');
    }
  }

  async function lost(problem: Problem): Promise<void> {
    await closeCurrent();
    failures++;
    if (watching === false) {
      log?.debug({ gitdir, reason: problem.reason, failures }, 'ref watcher still lost');
      return;
    }
    watching = false;
    lostAt = Date.now();
    log?.warn(
      { gitdir, reason: problem.reason, ...(problem.err !== undefined && { err: problem.err }) },
      'ref watcher lost',
    );
    call(onState, { watching: false, error: problem.reason });
  }

  function restored(): void {
    const was = watching;
    watching = true;
    if (was !== false) return;
    log?.info({ gitdir, lostForMs: Date.now() - lostAt, failures }, 'ref watcher restored');
    call(onState, { watching: true });
    call(onChange, 'ref watcher restored');
  }

  let firstAttemptDone!: () => void;
  const firstAttempt = new Promise<void>((resolve) => {
    firstAttemptDone = resolve;
  });
  const loop = (async () => {
    try {
      while (!stopped) {
        if (!current) {
          const problem = await attempt();
          if (stopped) break;
          if (problem) await lost(problem);
          else restored();
          firstAttemptDone();
          if (problem) await sleep(backoffDelay(RETRY_BACKOFF, failures));
          continue;
        }
        if (!suspect && !checkSoon) await sleep(CHECK_INTERVAL_MS);
        if (stopped) break;
        checkSoon = false;
        const problem = await check();
        if (stopped) break;
        if (!problem) {
          failures = 0;
          continue;
        }
        await lost(problem);
        // A quick move away and back is over by now; a watcher failing
        // over and over is retried ever less often.
        await sleep(backoffDelay(RETRY_BACKOFF, failures));
      }
    } catch (err) {
      // Not expected (every step above handles its errors); say so rather
      // than stop watching silently.
      log?.error({ err, gitdir }, 'ref watcher failed');
      if (watching !== false) call(onState, { watching: false, error: messageOf(err) });
    } finally {
      firstAttemptDone();
      await closeCurrent();
    }
  })();
  await firstAttempt;

  let whenStopped: Promise<void> | undefined;
  return () => {
    whenStopped ??= (async () => {
      stopped = true;
      stopping.abort();
      clearTimeout(recheck);
      wake();
      await loop;
    })();
    return whenStopped;
  };
}

/**
 * Throws GITDOCK_E_USAGE unless `branch` is a usable branch name: the parts of
 * `git check-ref-format --branch` that keep the name inside `refs/heads/`
 * (git itself refuses the rest when the branch is pushed).
 */
export function assertBranchName(branch: string): void {
  const bad =
    branch === '' ||
    branch === 'HEAD' ||
    /[\s\x00-\x1f\x7f~^:?*[\\]|\.\.|@\{|\/\/|^\/|\/$|\.$|\.lock$/.test(branch) ||
    branch.split('/').some((part) => part.startsWith('.'));
  if (bad) {
    throw new GitdockError('GITDOCK_E_USAGE', `"${branch}" is not a valid branch name`, {
      branch,
    });
  }
}

/**
 * The agent only ever writes below `refs/gitdock/`: a guard, so that no bug
 * elsewhere can make it move a branch.
 */
export function assertReportRef(ref: string): void {
  const valid =
    /^refs\/gitdock\/(applied|failed)\/[a-z0-9][a-z0-9_-]*(\.[a-z0-9_-]+)*$/.test(ref) &&
    !ref.endsWith('.lock');
  if (!valid) {
    throw new GitdockError(
      'GITDOCK_E_GIT_REPORT',
      `refusing to write ${ref}: only refs/gitdock/applied/<host> and refs/gitdock/failed/<host> are ever written`,
      { ref },
    );
  }
}
