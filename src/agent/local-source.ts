import nodeFs from 'node:fs';
import path from 'node:path';
import { writeRefAtomic } from '../adapters/git-ref-file.js';
import { openGitSource } from '../adapters/git-source.js';
import { GitdockError, isGitdockError, messageOf } from '../errors.js';
import type { Log } from '../log.js';
import type { BranchSource } from './types.js';

/** How long after refs were packed the branch is looked at once more (see watch()). */
const RECHECK_AFTER_PACK_MS = 1000;

export interface OpenLocalSourceOptions {
  /** A bare repository (what `git push deploy@host:fleet.git` lands in) or a clone. */
  dir: string;
  /** The branch to follow, short name (`main`). */
  branch: string;
  /** Where watcher errors are reported; they also trigger `onChange`. */
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

    async watch(onChange) {
      // One native watcher on the git dir, filtered down to the refs that can
      // move the branch, rather than a watcher on the branch file itself:
      // - git updates a ref by writing `<ref>.lock` and renaming it over the
      //   ref, which replaces the inode a file watcher would be holding;
      // - the branch file may not exist yet (a fresh bare repo before the
      //   first push) or may vanish (`git gc` / `git pack-refs` move it into
      //   `packed-refs` and delete it), and a directory watcher sees it come
      //   and go either way;
      // - `packed-refs` is itself rewritten through `packed-refs.lock`.
      // Native events arrive within milliseconds, so no polling. `atomic` is
      // off because its "unlink then add is a change" smoothing delays every
      // unlink by 100 ms, and any event here means the same thing anyway.
      // No `awaitWriteFinish`: git renames complete files into place, so a
      // ref is never seen half-written.
      // Loaded here: only an agent on a local repository needs chokidar.
      const { watch: watchPaths } = await import('chokidar');
      const watcher = watchPaths(gitdir, {
        ignoreInitial: true,
        atomic: false,
        persistent: true,
        ignored: (p) => !isWatched(p),
      });
      function isWatched(p: string): boolean {
        if (p === gitdir || p === refsDir || p === packedRefs) return true;
        // Every directory on the way to a nested branch (`release/v1`) and the
        // branch file itself; other branches and `.lock` files are skipped.
        return p === headsDir || p === branchFile || branchFile.startsWith(p + path.sep);
      }
      const relevant = (p: string) => p === branchFile || p === packedRefs;
      // When refs are packed, the branch file is deleted; if it is written
      // again within moments (a push right after `git gc`), the watcher can
      // miss the new file: its directory listing looks unchanged. So after
      // such events, look once more a little later (a spurious call is
      // harmless: the caller re-reads the ref).
      let recheck: NodeJS.Timeout | undefined;
      const scheduleRecheck = (reason: string) => {
        clearTimeout(recheck);
        recheck = setTimeout(() => onChange(`recheck after ${reason}`), RECHECK_AFTER_PACK_MS);
        recheck.unref?.();
      };
      watcher.on('all', (event, p) => {
        if (!relevant(p)) return;
        const reason = `${path.relative(gitdir, p).split(path.sep).join('/')} ${event}`;
        onChange(reason);
        if (p === packedRefs || event === 'unlink') scheduleRecheck(reason);
      });
      watcher.on('error', (err) => {
        // A failing watcher may have dropped events: say so, and let the
        // caller look again (it re-reads the ref, so a spurious call is harmless).
        options.log?.warn({ err, gitdir }, 'ref watcher error');
        onChange('ref watcher error');
      });
      await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
      return () => {
        clearTimeout(recheck);
        return watcher.close();
      };
    },
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
    /^refs\/gitdock\/applied\/[a-z0-9][a-z0-9_-]*(\.[a-z0-9_-]+)*$/.test(ref) &&
    !ref.endsWith('.lock');
  if (!valid) {
    throw new GitdockError(
      'GITDOCK_E_GIT_REPORT',
      `refusing to write ${ref}: only refs/gitdock/applied/<host> is ever written`,
      { ref },
    );
  }
}
