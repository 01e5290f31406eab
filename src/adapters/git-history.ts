import nodeFs from 'node:fs';
// Besides git-source.ts, the only import of isomorphic-git: commit metadata
// and incremental tree reads for `gitdock history`, loaded only by that command.
import { readBlob, readCommit, readTree, type TreeEntry } from 'isomorphic-git';
import { isFleetPath, SymlinkBlob } from '../core/fleet.js';
import { type CommitHistory, fleetTreeKey } from '../core/history.js';
import { GitdockError, messageOf } from '../errors.js';

export interface OpenCommitHistoryOptions {
  /** The git directory (`LocalGitSource.gitdir`). */
  gitdir: string;
  /** For messages: the repository as the user named it. */
  dir: string;
  fs?: typeof import('node:fs');
}

// Tree entry mode of a symlink: passed on as a SymlinkBlob, as
// GitSource.readFiles does, so loading that commit reports it.
const MODE_SYMLINK = '120000';

// Blob reads in flight at once: overlaps the file reads of loose objects,
// stays far from EMFILE (as in git-source.ts).
const BLOB_CONCURRENCY = 16;

/**
 * A {@link CommitHistory} over a repository on local disk.
 *
 * Not `git.log`: isomorphic-git's log follows every parent and reads the
 * whole range before returning, where history wants first parents, one at a
 * time, stopping as soon as enough commits are listed.
 *
 * Fleet files are read through caches of tree listings and blobs by object
 * id, which live as long as the returned object: a commit that changes one
 * host's file reads that directory's listing and that blob, and reuses the
 * rest. (GitSource.readFiles reads every fleet blob of every commit: on a
 * repo of 40 hosts and 600 commits that was 70% of the time `history` took.)
 */
export function openCommitHistory(options: OpenCommitHistoryOptions): CommitHistory {
  const fs = options.fs ?? nodeFs;
  // Kept for the walk: parsed pack indexes make every later read of a packed
  // repo cheap (see git-source.ts).
  const repo = { fs, gitdir: options.gitdir, cache: {} };
  // Both keyed by object id, so never stale; they hold each distinct tree
  // listing and fleet blob of the walk once (bounded by --max-scan).
  const trees = new Map<string, Promise<TreeEntry[]>>();
  const blobs = new Map<string, Promise<Uint8Array>>();
  const limit = limiter(BLOB_CONCURRENCY);
  // Root tree by commit, as readCommit found it, so readFleetFiles of a
  // commit just walked does not parse the commit again.
  const roots = new Map<string, string>();

  const fail = (oid: string, err: unknown): GitdockError => {
    if (err instanceof GitdockError) return err;
    const code = (err as { code?: unknown } | null)?.code;
    const reason =
      code === 'NotFoundError'
        ? `commit ${oid} or one of its objects is not in the repository (a shallow clone? fetch the history with git fetch --unshallow)`
        : `reading commit ${oid} failed: ${messageOf(err)}`;
    return new GitdockError(
      'GITDOCK_E_GIT_READ',
      `reading ${options.dir} failed: ${reason}`,
      { dir: options.dir, commit: oid },
      { cause: err },
    );
  };

  // A failed read is not cached: a later call reads again.
  const once = <T>(cache: Map<string, Promise<T>>, oid: string, read: () => Promise<T>) => {
    let value = cache.get(oid);
    if (!value) {
      value = read();
      cache.set(oid, value);
      value.catch(() => cache.delete(oid));
    }
    return value;
  };
  const listTree = (oid: string) =>
    once(trees, oid, async () => (await readTree({ ...repo, oid })).tree);
  const blob = (oid: string) =>
    once(blobs, oid, () => limit(async () => (await readBlob({ ...repo, oid })).blob));

  /** The files under a tree accepted by isFleetPath, by repo path, in tree order. */
  const filesOf = async (treeOid: string, prefix: string): Promise<[string, Uint8Array][]> => {
    const parts = await Promise.all(
      (await listTree(treeOid)).map(async (entry): Promise<[string, Uint8Array][]> => {
        const path = prefix + entry.path;
        if (entry.type === 'tree') {
          return isFleetPath(path, true) ? filesOf(entry.oid, `${path}/`) : [];
        }
        if (entry.type !== 'blob') return [];
        if (entry.mode === MODE_SYMLINK) {
          return isFleetPath(path, false) || isFleetPath(path, true)
            ? [[path, new SymlinkBlob(await blob(entry.oid))]]
            : [];
        }
        return isFleetPath(path, false) ? [[path, await blob(entry.oid)]] : [];
      }),
    );
    return parts.flat();
  };

  return {
    async readCommit(oid) {
      try {
        const { commit } = await readCommit({ ...repo, oid });
        const { tree } = await readTree({ ...repo, oid: commit.tree });
        roots.set(oid, commit.tree);
        return {
          oid,
          parents: commit.parent,
          author: {
            name: commit.author.name,
            email: commit.author.email,
            timestamp: commit.author.timestamp,
            // isomorphic-git stores the offset as Date#getTimezoneOffset does: +0200 is -120.
            offsetMinutes: -commit.author.timezoneOffset || 0,
          },
          message: commit.message,
          fleetKey: fleetTreeKey(tree),
        };
      } catch (err) {
        throw fail(oid, err);
      }
    },

    async readFleetFiles(oid) {
      try {
        const root = roots.get(oid) ?? (await readCommit({ ...repo, oid })).commit.tree;
        return new Map(await filesOf(root, ''));
      } catch (err) {
        throw fail(oid, err);
      }
    },
  };
}

/** Runs at most `n` of the functions given to it at once. */
function limiter(n: number) {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    if (active >= n) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}
