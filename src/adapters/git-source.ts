import nodeFs from 'node:fs';
import path from 'node:path';
// The one import of isomorphic-git in the project: the CLI imports this module
// lazily, so commands that never touch git do not pay for loading it.
import {
  expandOid,
  readBlob,
  readCommit,
  currentBranch as readCurrentBranch,
  readTree,
  resolveRef,
} from 'isomorphic-git';
import { SymlinkBlob } from '../core/fleet.js';
import type { GitSource } from '../core/git.js';
import { GitdockError, messageOf } from '../errors.js';

export interface OpenGitSourceOptions {
  /** A normal clone (its working tree is ignored) or a bare repository. */
  dir: string;
  /** Defaults to `node:fs`; tests may pass another implementation. */
  fs?: typeof import('node:fs');
}

/** A {@link GitSource} over a repository on local disk. */
export interface LocalGitSource extends GitSource {
  /** Absolute path of the git directory (`<dir>/.git`, or `dir` when bare). */
  readonly gitdir: string;
  readonly bare: boolean;
  /** The branch HEAD points at (short name), or undefined when HEAD is detached. */
  currentBranch(): Promise<string | undefined>;
}

// How many blobs readFiles reads at once: enough to overlap the file reads of
// loose objects, few enough never to run into EMFILE on a big tree.
const BLOB_CONCURRENCY = 16;

// Tree entry mode of a symlink: its blob is the link target, not file
// content. readFiles passes it on as a SymlinkBlob (offered to `include` as a
// file and as a directory, since it may stand for either), so the loader
// refuses it by name: leaving it out made the plan remove the service it
// stood for. Submodules (a commit of another repository) are left out.
const MODE_SYMLINK = '120000';

/**
 * Open the repository at `dir` for reading at any revision. isomorphic-git has
 * no file:// transport, and gitdock never needs a working tree, so this reads
 * the object store directly: it works the same on a bare repo (what a push
 * lands in) and on a clone, and never checks anything out.
 *
 * Rejects with GITDOCK_E_GIT_REPO_NOT_FOUND when `dir` is not a repository.
 */
export async function openGitSource(options: OpenGitSourceOptions): Promise<LocalGitSource> {
  const fs = options.fs ?? nodeFs;
  const dir = path.resolve(options.dir);
  const { gitdir, bare } = await findGitdir(fs, dir);
  // Kept for the source's lifetime: isomorphic-git stores parsed packfile
  // indexes and inflated packs in it, which makes repeated reads of a packed
  // repo (every repo after `git gc`, every clone) many times faster. Pack file
  // names are content hashes, so entries never go stale; packs deleted by a
  // later gc just stay in memory until the source is dropped.
  const cache = {};
  const repo = { fs, gitdir, cache };

  async function readCommitOrThrow(oid: string, rev: string) {
    try {
      return await readCommit({ ...repo, oid });
    } catch (err) {
      if (codeOf(err) === 'ObjectTypeError') {
        throw new GitdockError(
          'GITDOCK_E_GIT_REV_NOT_FOUND',
          `revision "${rev}" in ${dir} names ${oid}, which is not a commit`,
          { rev, dir, oid },
        );
      }
      if (codeOf(err) === 'NotFoundError') throw revNotFound(rev, dir);
      throw readError(err, dir, { rev, oid });
    }
  }

  async function resolveBase(base: string, rev: string): Promise<string> {
    if (base === '@') base = 'HEAD';
    if (isValidRefName(base)) {
      try {
        // Tries, in git's order: <base>, refs/<base>, refs/tags/<base>,
        // refs/heads/<base>, refs/remotes/<base>, refs/remotes/<base>/HEAD,
        // loose and in packed-refs. A full sha comes back as is, unchecked.
        return await resolveRef({ fs, gitdir, ref: base });
      } catch (err) {
        if (codeOf(err) !== 'NotFoundError') throw readError(err, dir, { rev });
      }
    }
    // Like git, a ref wins over an abbreviated sha that spells the same name.
    if (/^[0-9a-fA-F]{4,40}$/.test(base)) {
      try {
        return await expandOid({ ...repo, oid: base.toLowerCase() });
      } catch (err) {
        if (codeOf(err) === 'AmbiguousError') {
          throw new GitdockError(
            'GITDOCK_E_GIT_REV_NOT_FOUND',
            `abbreviated sha "${base}" is ambiguous in ${dir} (give more characters)`,
            { rev, dir },
          );
        }
        if (codeOf(err) !== 'NotFoundError') throw readError(err, dir, { rev });
      }
    }
    throw revNotFound(rev, dir);
  }

  return {
    gitdir,
    bare,

    async resolveRevision(rev) {
      const parsed = parseRevision(rev);
      if (!parsed) throw revNotFound(rev, dir);
      let { oid, commit } = await readCommitOrThrow(await resolveBase(parsed.base, rev), rev);
      for (const step of parsed.steps) {
        // `~N` follows first parents N times; `^N` takes the Nth parent once
        // (`^0` is the commit itself).
        const hops = step.op === '~' ? step.n : Math.min(step.n, 1);
        const index = step.op === '~' ? 0 : step.n - 1;
        for (let i = 0; i < hops; i++) {
          const parent = commit.parent[index];
          if (parent === undefined) throw revNotFound(rev, dir);
          ({ oid, commit } = await readCommitOrThrow(parent, rev));
        }
      }
      return oid;
    },

    async readFiles(commitOid, include) {
      const { commit } = await readCommitOrThrow(commitOid, commitOid);
      // First collect the blobs to read, walking only the trees `include`
      // accepts; then read the blobs a few at a time.
      const wanted: { path: string; oid: string; symlink: boolean }[] = [];
      const walkTree = async (treeOid: string, prefix: string): Promise<void> => {
        const { tree } = await readTree({ ...repo, oid: treeOid });
        for (const entry of tree) {
          const entryPath = prefix + entry.path;
          if (entry.type === 'tree') {
            if (include(entryPath, true)) await walkTree(entry.oid, entryPath + '/');
          } else if (entry.type === 'blob' && entry.mode === MODE_SYMLINK) {
            if (include(entryPath, false) || include(entryPath, true)) {
              wanted.push({ path: entryPath, oid: entry.oid, symlink: true });
            }
          } else if (entry.type === 'blob') {
            if (include(entryPath, false)) {
              wanted.push({ path: entryPath, oid: entry.oid, symlink: false });
            }
          }
        }
      };
      const files = new Map<string, Uint8Array>();
      try {
        await walkTree(commit.tree, '');
        let next = 0;
        const worker = async () => {
          while (next < wanted.length) {
            const item = wanted[next++]!;
            const { blob } = await readBlob({ ...repo, oid: item.oid });
            files.set(item.path, item.symlink ? new SymlinkBlob(blob) : blob);
          }
        };
        await Promise.all(Array.from({ length: BLOB_CONCURRENCY }, worker));
      } catch (err) {
        throw readError(err, dir, { commit: commitOid });
      }
      // Tree order (git sorts entries by name), whatever order reads finished in.
      return new Map(wanted.map((w) => [w.path, files.get(w.path)!]));
    },

    async currentBranch() {
      try {
        return (await readCurrentBranch({ fs, gitdir })) ?? undefined;
      } catch (err) {
        throw readError(err, dir, {});
      }
    },
  };
}

/** `dir/.git` (a directory, or a `gitdir:` file as in submodules), else `dir` itself when bare. */
async function findGitdir(
  fs: typeof nodeFs,
  dir: string,
): Promise<{ gitdir: string; bare: boolean }> {
  const dotGit = path.join(dir, '.git');
  const stat = await statOrUndefined(fs, dotGit);
  if (stat?.isDirectory()) return { gitdir: dotGit, bare: false };
  if (stat?.isFile()) {
    const text = await fs.promises.readFile(dotGit, 'utf8');
    const match = /^gitdir:\s*(.+?)\s*$/m.exec(text);
    if (!match) {
      throw new GitdockError(
        'GITDOCK_E_GIT_REPO_NOT_FOUND',
        `${dotGit} is a file but has no "gitdir:" line; point gitdock at the repository itself`,
        { dir },
      );
    }
    const gitdir = path.resolve(dir, match[1]!);
    // A linked worktree keeps its objects and refs in the main repository
    // (named by `commondir`), which isomorphic-git does not follow.
    if (await statOrUndefined(fs, path.join(gitdir, 'commondir'))) {
      throw new GitdockError(
        'GITDOCK_E_GIT_REPO_NOT_FOUND',
        `${dir} is a linked git worktree, which gitdock cannot read; point it at the main clone or a bare repository`,
        { dir, gitdir },
      );
    }
    return { gitdir, bare: false };
  }
  const [head, objects] = await Promise.all([
    statOrUndefined(fs, path.join(dir, 'HEAD')),
    statOrUndefined(fs, path.join(dir, 'objects')),
  ]);
  if (head?.isFile() && objects?.isDirectory()) return { gitdir: dir, bare: true };
  const exists = await statOrUndefined(fs, dir);
  throw new GitdockError(
    'GITDOCK_E_GIT_REPO_NOT_FOUND',
    exists
      ? `${dir} is not a git repository (no .git directory, and not a bare repo with HEAD and objects/); point gitdock at a clone or a bare repository`
      : `${dir} does not exist; point gitdock at a clone or a bare repository`,
    { dir },
  );
}

interface ParsedRevision {
  base: string;
  steps: { op: '~' | '^'; n: number }[];
}

/**
 * Split `main~2^2` into its base name and suffix steps. `^{}` and `^{commit}`
 * are accepted and do nothing, since every revision is peeled to a commit
 * anyway. Undefined for anything else (`:path`, `@{1}`, ranges).
 */
function parseRevision(rev: string): ParsedRevision | undefined {
  const cut = rev.search(/[~^]/);
  const base = cut === -1 ? rev : rev.slice(0, cut);
  const rest = cut === -1 ? '' : rev.slice(cut);
  if (base === '') return undefined;
  const steps: ParsedRevision['steps'] = [];
  const stepPattern = /\^\{(?:commit)?\}|([~^])(\d*)/y;
  while (stepPattern.lastIndex < rest.length) {
    const match = stepPattern.exec(rest);
    if (!match) return undefined;
    if (match[1] === undefined) continue;
    steps.push({
      op: match[1] as '~' | '^',
      n: match[2] === '' ? 1 : Number.parseInt(match[2]!, 10),
    });
  }
  return { base, steps };
}

/**
 * The parts of `git check-ref-format` that matter here: isomorphic-git joins
 * the name onto the gitdir, so `..` or an absolute path would read files
 * outside the refs.
 */
function isValidRefName(name: string): boolean {
  if (/[\s\x00-\x1f\x7f~^:?*[\\]|\.\.|@\{|\/\/|^\/|\/$|\.$|\.lock$/.test(name)) return false;
  return !name.split('/').some((part) => part.startsWith('.'));
}

async function statOrUndefined(fs: typeof nodeFs, p: string): Promise<nodeFs.Stats | undefined> {
  try {
    return await fs.promises.stat(p);
  } catch {
    return undefined;
  }
}

function codeOf(err: unknown): unknown {
  return typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
}

function revNotFound(rev: string, dir: string): GitdockError {
  return new GitdockError(
    'GITDOCK_E_GIT_REV_NOT_FOUND',
    `revision "${rev}" not found in ${dir} (try a branch, tag or commit sha)`,
    { rev, dir },
  );
}

function readError(err: unknown, dir: string, data: Record<string, unknown>): GitdockError {
  if (err instanceof GitdockError) return err;
  const reason = messageOf(err);
  return new GitdockError(
    'GITDOCK_E_GIT_READ',
    `reading ${dir} failed: ${reason}`,
    { dir, ...data },
    { cause: err },
  );
}
