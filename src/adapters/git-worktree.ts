import nodeFs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  add,
  type GitAuth,
  getConfig,
  commit as gitCommit,
  isDescendent,
  listFiles,
  readCommit,
  readObject,
  readTree,
  remove,
  resolveRef,
  statusMatrix,
  writeObject,
} from 'isomorphic-git';
import type { FileChanges } from '../core/rollback.js';
import { GitdockError, messageOf } from '../errors.js';
import { HttpPushError, pushRefOverHttp, redactSecrets, splitUrlCredentials } from './git-http.js';
import { writeRefAtomic } from './git-ref-file.js';
import { type LocalGitSource, openGitSource } from './git-source.js';

/**
 * The write side of git for `gitdock rollback`: a normal clone's working
 * tree, index and branch, and pushing the branch. isomorphic-git only, so
 * gitdock needs no git binary.
 */

export interface Identity {
  name: string;
  email: string;
}

export interface CommitInfo {
  oid: string;
  message: string;
  parents: string[];
}

export interface PushOptions {
  branch: string;
  /** The remote's name; default: the branch's `branch.<name>.remote`, else `origin`. */
  remote?: string;
  /** Password/token for an http(s) remote (user name from the URL, else `x-access-token`). */
  token?: string;
  timeoutMs?: number;
}

export interface PushResult {
  remote: string;
  /** Credential-free URL, or the path of a local repository. */
  url: string;
  ref: string;
  /** The remote's branch before the push (undefined: it did not exist). */
  old?: string;
  commit: string;
}

export interface Worktree {
  dir: string;
  gitdir: string;
  /** Reads revisions (the object store) like every other command. */
  git: LocalGitSource;
  /** The checked-out branch; GITDOCK_E_ROLLBACK_REFUSED when HEAD is detached. */
  branch(): Promise<string>;
  readCommitInfo(oid: string): Promise<CommitInfo>;
  /** True when `ancestor` is `oid` or one of its ancestors. */
  isAncestor(ancestor: string, oid: string): Promise<boolean>;
  /**
   * Tracked files that differ from HEAD (in the index or the working tree),
   * and untracked files under hosts/ and services/ or gitdock.yaml: what
   * makes a rollback unsafe. Sorted, with a short state.
   */
  dirtyFiles(): Promise<{ file: string; state: string }[]>;
  /** Who commits: GIT_AUTHOR_NAME/EMAIL, the repo's config, then the user's. */
  identity(env: Record<string, string | undefined>): Promise<Identity>;
  /** Writes the files into the working tree and index and commits them on the branch. */
  commitChanges(changes: FileChanges, message: string, author: Identity): Promise<string>;
  push(options: PushOptions): Promise<PushResult>;
}

const FLEET_ROOTS = ['hosts/', 'services/', 'stacks/'];
const TOKEN_USERNAME = 'x-access-token';
const DEFAULT_PUSH_TIMEOUT_MS = 60_000;
const EMPTY_TREE = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';

/** Opens a normal clone for writing; a bare repository is refused (it has no working tree). */
export async function openWorktree(options: { dir: string }): Promise<Worktree> {
  const fs = nodeFs;
  const git = await openGitSource({ dir: options.dir });
  const dir = path.resolve(options.dir);
  if (git.bare) {
    throw new GitdockError(
      'GITDOCK_E_ROLLBACK_REFUSED',
      `${dir} is a bare repository: rollback commits in a clone with a working tree (git clone it, run rollback there, and push)`,
      { dir },
    );
  }
  const { gitdir } = git;
  const cache = {};
  const repo = { fs, dir, gitdir, cache };

  async function config(key: string): Promise<string | undefined> {
    const value = await getConfig({ fs, dir, gitdir, path: key });
    return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
  }

  return {
    dir,
    gitdir,
    git,

    async branch() {
      const branch = await git.currentBranch();
      if (!branch) {
        throw new GitdockError(
          'GITDOCK_E_ROLLBACK_REFUSED',
          `HEAD is detached in ${dir}: check out the branch the agents follow (git switch main) and run rollback again`,
          { dir },
        );
      }
      return branch;
    },

    async readCommitInfo(oid) {
      const { commit } = await readCommit({ ...repo, oid });
      return { oid, message: commit.message, parents: commit.parent };
    },

    async isAncestor(ancestor, oid) {
      if (ancestor === oid) return true;
      return isDescendent({ ...repo, oid, ancestor, depth: -1 });
    },

    async dirtyFiles() {
      const rows = await statusMatrix({ ...repo });
      const dirty: { file: string; state: string }[] = [];
      for (const [file, head, workdir, stage] of rows) {
        if (head === 1 && workdir === 1 && stage === 1) continue;
        const untracked = head === 0 && stage === 0;
        if (untracked && !isFleetFile(file)) continue;
        dirty.push({ file, state: describeStatus(head, workdir, stage) });
      }
      return dirty.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
    },

    async identity(env) {
      const name =
        env.GIT_AUTHOR_NAME?.trim() || (await config('user.name')) || globalConfig(env, 'name');
      const email =
        env.GIT_AUTHOR_EMAIL?.trim() || (await config('user.email')) || globalConfig(env, 'email');
      if (!name || !email) {
        const missing = [!name && 'user.name', !email && 'user.email']
          .filter(Boolean)
          .join(' and ');
        throw new GitdockError(
          'GITDOCK_E_GIT_IDENTITY',
          `no commit author: ${missing} not set. Set it for this repository with ` +
            `git -C ${dir} config user.name "Your Name" && git -C ${dir} config user.email you@example.com ` +
            '(or with --global, or GIT_AUTHOR_NAME and GIT_AUTHOR_EMAIL in the environment)',
          { dir },
        );
      }
      return { name, email };
    },

    async commitChanges(changes, message, author) {
      // The dirty check cannot see ignored files: a file git does not track
      // that the rollback would write over or delete (a local env file that
      // .gitignore hides, say) stops it before anything is written.
      const tracked = new Set(await listFiles({ ...repo, ref: 'HEAD' }));
      const inTheWay: string[] = [];
      for (const file of changes.keys()) {
        if (tracked.has(file)) continue;
        const exists = await fs.promises
          .lstat(path.join(dir, ...file.split('/')))
          .then(() => true)
          .catch(() => false);
        if (exists) inTheWay.push(file);
      }
      if (inTheWay.length > 0) {
        throw new GitdockError(
          'GITDOCK_E_DIRTY_WORKTREE',
          `the rollback would overwrite files in ${dir} that git does not track (ignored or untracked); move them away first:\n${inTheWay
            .sort()
            .map((f) => `  ${f}`)
            .join('\n')}`,
          { dir, files: inTheWay },
        );
      }
      try {
        for (const [file, bytes] of changes) {
          const full = path.join(dir, ...file.split('/'));
          if (bytes === null) {
            await fs.promises.rm(full, { force: true });
            await removeEmptyParents(fs, dir, path.dirname(full));
            await remove({ ...repo, filepath: file });
          } else {
            await fs.promises.mkdir(path.dirname(full), { recursive: true });
            await fs.promises.writeFile(full, bytes);
            await add({ ...repo, filepath: file, force: true });
          }
        }
        const when = { timestamp: Math.floor(Date.now() / 1000) };
        return await gitCommit({
          ...repo,
          message,
          author: { ...author, ...when },
          committer: { ...author, ...when },
        });
      } catch (err) {
        throw new GitdockError(
          'GITDOCK_E_GIT_WRITE',
          `committing in ${dir} failed: ${messageOf(err)} (the working tree may hold the rollback's files uncommitted: see git status)`,
          { dir },
          { cause: err },
        );
      }
    },

    async push(options) {
      const { branch } = options;
      const remote = options.remote ?? (await config(`branch.${branch}.remote`)) ?? 'origin';
      const rawUrl =
        (await config(`remote.${remote}.pushurl`)) ?? (await config(`remote.${remote}.url`));
      const ref = `refs/heads/${branch}`;
      if (!rawUrl) {
        throw new GitdockError(
          'GITDOCK_E_GIT_PUSH',
          `no remote "${remote}" in ${dir} (git remote -v lists them; --remote NAME picks one)`,
          { dir, remote },
        );
      }
      const commit = await resolveRef({ fs, gitdir, ref });
      const target = classifyRemote(rawUrl, dir);
      let result: PushResult;
      if (target.kind === 'local') {
        result = await pushToLocal({ fs, gitdir, cache }, target.path, ref, commit, remote);
      } else if (target.kind === 'http') {
        result = await pushToHttp({ ...repo }, target.url, ref, commit, remote, options);
      } else {
        throw new GitdockError(
          'GITDOCK_E_GIT_PUSH',
          `remote "${remote}" is ${target.url}: gitdock pushes over http(s) or to a repository on this machine only; the commit is made, push it with git push ${remote} ${branch}`,
          { dir, remote },
        );
      }
      // Like git: the remote-tracking branch follows what was pushed.
      await writeRefAtomic(fs, gitdir, `refs/remotes/${remote}/${branch}`, commit).catch(() => {});
      return result;
    },
  };
}

type RemoteTarget =
  | { kind: 'local'; path: string }
  | { kind: 'http'; url: string }
  | { kind: 'other'; url: string };

/** What git would make of a remote URL: http(s), a path on this machine, or something else (ssh, git://). */
export function classifyRemote(url: string, dir: string): RemoteTarget {
  if (/^https?:\/\//i.test(url)) return { kind: 'http', url };
  if (/^file:\/\//i.test(url)) return { kind: 'local', path: fileURLToPath(url) };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) return { kind: 'other', url: stripUserinfo(url) };
  // scp-like `user@host:path`: a colon before the first slash.
  const colon = url.indexOf(':');
  const slash = url.indexOf('/');
  if (colon > 0 && (slash === -1 || colon < slash)) return { kind: 'other', url };
  return { kind: 'local', path: path.resolve(dir, url) };
}

/**
 * Pushing to a repository on this machine. isomorphic-git speaks only the
 * smart-HTTP protocol, so this does what `git push` to a path does, by hand:
 * copy the objects the remote lacks (children before parents, so an object
 * that exists there always has everything it points to), then move the
 * branch under git's own lock (`<ref>.lock`, renamed into place) after
 * checking that the push fast-forwards. The remote's hooks do not run.
 */
async function pushToLocal(
  src: { fs: typeof nodeFs; gitdir: string; cache: object },
  remotePath: string,
  ref: string,
  commit: string,
  remote: string,
): Promise<PushResult> {
  const { fs } = src;
  const fail = (reason: string, cause?: unknown) =>
    new GitdockError(
      'GITDOCK_E_GIT_PUSH',
      `pushing ${ref} to ${remotePath} failed: ${reason}`,
      { remote, url: remotePath, ref },
      cause === undefined ? undefined : { cause },
    );
  let dest: string;
  try {
    const target = await openGitSource({ dir: remotePath });
    if (!target.bare) {
      throw fail(
        'it is not a bare repository (pushing into a checked-out branch would leave its working tree stale)',
      );
    }
    dest = target.gitdir;
  } catch (err) {
    if (err instanceof GitdockError && err.code === 'GITDOCK_E_GIT_PUSH') throw err;
    throw fail(messageOf(err), err);
  }
  const destRepo = { fs, gitdir: dest, cache: {} };
  const has = async (oid: string) => {
    try {
      await readObject({ ...destRepo, oid, format: 'deflated' });
      return true;
    } catch {
      return false;
    }
  };
  const copy = async (oid: string) => {
    const { type, object } = await readObject({ ...src, oid, format: 'content' });
    await writeObject({
      ...destRepo,
      type: type as 'blob' | 'tree' | 'commit' | 'tag',
      object: object as Uint8Array,
      format: 'content',
    });
  };
  const copyTree = async (oid: string): Promise<void> => {
    // isomorphic-git answers for the empty tree without reading it: write it anyway.
    if (oid !== EMPTY_TREE && (await has(oid))) return;
    const { tree } = await readTree({ ...src, oid });
    for (const entry of tree) {
      if (entry.type === 'tree') await copyTree(entry.oid);
      else if (entry.type === 'blob' && !(await has(entry.oid))) await copy(entry.oid);
      // 'commit' entries are submodules: their objects live in another repository.
    }
    await copy(oid);
  };

  let old: string | undefined;
  try {
    old = await resolveRef({ fs, gitdir: dest, ref }).catch(() => undefined);
    // Commits the remote lacks, newest first, found by walking back until
    // the remote has one; then written oldest first.
    const missing: string[] = [];
    const seen = new Set<string>();
    const queue = [commit];
    while (queue.length > 0) {
      const oid = queue.shift()!;
      if (seen.has(oid)) continue;
      seen.add(oid);
      if (await has(oid)) continue;
      missing.push(oid);
      const { commit: c } = await readCommit({ ...src, oid });
      queue.push(...c.parent);
    }
    for (const oid of missing.reverse()) {
      const { commit: c } = await readCommit({ ...src, oid });
      await copyTree(c.tree);
      await copy(oid);
    }
  } catch (err) {
    throw fail(`copying objects: ${messageOf(err)}`, err);
  }

  const lock = path.join(dest, ...ref.split('/')) + '.lock';
  await fs.promises.mkdir(path.dirname(lock), { recursive: true });
  let handle: nodeFs.promises.FileHandle;
  try {
    handle = await fs.promises.open(lock, 'wx');
  } catch (err) {
    throw fail(
      `${lock} exists: another push is under way (or one crashed: remove the file if no git process runs)`,
      err,
    );
  }
  try {
    // Read again under the lock: a push that landed meanwhile must not be lost.
    old = await resolveRef({ fs, gitdir: dest, ref }).catch(() => undefined);
    if (old !== undefined && old !== commit) {
      const fastForward = await isDescendent({
        ...destRepo,
        oid: commit,
        ancestor: old,
        depth: -1,
      });
      if (!fastForward) {
        throw fail(
          `the remote's ${ref} is at ${old.slice(0, 12)}, which this branch does not contain: someone pushed meanwhile. Pull, then run rollback again (the local commit is made)`,
        );
      }
    }
    await handle.writeFile(`${commit}\n`);
    await handle.sync();
    await handle.close();
    await fs.promises.rename(lock, path.join(dest, ...ref.split('/')));
  } catch (err) {
    await handle.close().catch(() => {});
    await fs.promises.rm(lock, { force: true });
    if (err instanceof GitdockError) throw err;
    throw fail(messageOf(err), err);
  }
  return { remote, url: remotePath, ref, commit, ...(old ? { old } : {}) };
}

/** `git push` over smart HTTP, as the agent's --report-ref does; never forced. */
async function pushToHttp(
  repo: { fs: typeof nodeFs; dir: string; gitdir: string; cache: object },
  rawUrl: string,
  ref: string,
  commit: string,
  remote: string,
  options: PushOptions,
): Promise<PushResult> {
  const { url, userinfo } = splitUrlCredentials(rawUrl);
  const redact = (text: string) =>
    redactSecrets(
      text,
      [userinfo.password, options.token].filter((s): s is string => !!s),
    );
  const auth: GitAuth | undefined = options.token
    ? { username: userinfo.username || TOKEN_USERNAME, password: options.token }
    : userinfo.username || userinfo.password
      ? userinfo
      : undefined;
  const timeoutMs = options.timeoutMs ?? DEFAULT_PUSH_TIMEOUT_MS;
  const fail = (reason: string) =>
    new GitdockError('GITDOCK_E_GIT_PUSH', redact(`pushing ${ref} to ${url} failed: ${reason}`), {
      remote,
      url,
      ref,
    });
  try {
    // Never forced: a branch that moved on the remote is not overwritten.
    await pushRefOverHttp({ ...repo, url, ref, ...(auth ? { auth } : {}), timeoutMs });
    return { remote, url, ref, commit };
  } catch (err) {
    if (!(err instanceof HttpPushError)) throw fail(messageOf(err));
    switch (err.kind) {
      case 'rejected':
        throw fail(
          'the remote branch has commits this one does not: someone pushed meanwhile. Pull, then run rollback again (the local commit is made)',
        );
      case 'auth':
        throw fail(
          `${err.message}: ${auth ? 'the server refused the credentials' : 'the server wants credentials (GITDOCK_GIT_TOKEN, --token-file, or user:token in the remote URL)'}`,
        );
      default:
        throw fail(err.message);
    }
  }
}

function stripUserinfo(url: string): string {
  try {
    return splitUrlCredentials(url).url;
  } catch {
    return url;
  }
}

function isFleetFile(file: string): boolean {
  return file === 'gitdock.yaml' || FLEET_ROOTS.some((root) => file.startsWith(root));
}

/** statusMatrix's numbers in `git status --short` words. */
function describeStatus(head: number, workdir: number, stage: number): string {
  if (head === 0 && stage === 0) return 'untracked';
  if (head === 0) return 'added';
  if (workdir === 0) return stage === 0 ? 'deleted' : 'deleted, not staged';
  if (stage === 0) return 'deleted from the index';
  if (stage !== 1 && workdir === stage) return 'modified, staged';
  return 'modified';
}

async function removeEmptyParents(fs: typeof nodeFs, root: string, dir: string) {
  while (dir.startsWith(root + path.sep) && dir !== root) {
    try {
      await fs.promises.rmdir(dir);
    } catch {
      return;
    }
    dir = path.dirname(dir);
  }
}

/** user.name / user.email from the user's git config: GIT_CONFIG_GLOBAL, XDG, ~/.gitconfig. */
function globalConfig(
  env: Record<string, string | undefined>,
  key: 'name' | 'email',
): string | undefined {
  const home = env.HOME ?? os.homedir();
  const files = env.GIT_CONFIG_GLOBAL
    ? [env.GIT_CONFIG_GLOBAL]
    : [
        path.join(env.XDG_CONFIG_HOME || path.join(home, '.config'), 'git', 'config'),
        path.join(home, '.gitconfig'),
      ];
  let found: string | undefined;
  for (const file of files) {
    let text: string;
    try {
      text = nodeFs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    // The later file wins, as in git. Only plain `[user]` sections: enough for an identity.
    let inUser = false;
    for (const line of text.split(/\r?\n/)) {
      const section = /^\s*\[([^\]]+)\]/.exec(line);
      if (section) inUser = section[1]!.trim().toLowerCase() === 'user';
      else if (inUser) {
        const m = /^\s*(\w+)\s*=\s*(.*?)\s*$/.exec(line);
        if (m && m[1]!.toLowerCase() === key && m[2]) found = m[2].replace(/^"(.*)"$/, '$1');
      }
    }
  }
  return found;
}
