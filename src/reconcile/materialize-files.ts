/**
 * Files from the repo travel with the commit; data stays on the host. This
 * module puts both on the host's disk, under the state dir, and says where
 * each bind of a service finds them:
 *
 * ```
 * <stateDir>/files/<mountSha256>/content      a single-file mount: the bind source is this file
 * <stateDir>/files/<mountSha256>/<path...>    a directory mount: the bind source is the
 *                                             <mountSha256> directory itself
 * <stateDir>/files/.tmp-<sha>-<random>/       being written; renamed into place when complete
 * <stateDir>/projects/<project>/<path>        host data of a relative bind not in the repo
 * ```
 *
 * A content directory is named by the hash of what it holds, written whole
 * into a temporary directory beside it and renamed into place, so a
 * directory that exists is complete and never changes: two commits that
 * mount the same bytes share it, a commit that changes them gets another
 * one, and a container of one commit cannot change the copy another uses
 * (files 0444, 0555 when executable in git; directories 0555). A file
 * mount lives in a directory of its own so its path stays the same for
 * every commit with those bytes.
 *
 * Host data directories are created when missing and never removed.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { chmod, lstat, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ContainerSpec, DesiredService, RepoFile } from '../core/types.js';
import { GitdockError } from '../errors.js';

/** The file name of a single-file mount inside its content directory. */
export const SINGLE_FILE_NAME = 'content';
const TMP_PREFIX = '.tmp-';
/** A temporary directory older than this was left by a writer that died; prune removes it. */
const STALE_TMP_MS = 60 * 60 * 1000;
const SHA256_HEX = /^[0-9a-f]{64}$/;

/** `<stateDir>/files`, where the content directories live. */
export function filesDir(stateDir: string): string {
  return path.join(path.resolve(stateDir), 'files');
}

/**
 * Writes every mount's files into `<stateDir>/files/<mountSha256>/`, one
 * content directory per mount hash. One already there is left as it is.
 * Throws GITDOCK_E_STATE_DIR when the state dir cannot be written, or when a
 * file's path or hash could lead outside its directory.
 */
export async function materializeRepoFiles(
  stateDir: string,
  files: readonly RepoFile[],
): Promise<void> {
  const root = filesDir(stateDir);
  for (const [sha, group] of groupByMount(files)) {
    const target = path.join(root, sha);
    if (await exists(target)) continue; // content-addressed: complete, and the same bytes
    await writeContentDir(root, sha, group);
  }
}

/** Files by mount hash, each group checked: one single file, or paths inside a directory. */
function groupByMount(files: readonly RepoFile[]): Map<string, RepoFile[]> {
  const groups = new Map<string, RepoFile[]>();
  const seen = new Map<string, RepoFile>();
  for (const file of files) {
    if (!SHA256_HEX.test(file.mountSha256)) {
      throw stateDirError(
        `repo file mount hash ${JSON.stringify(file.mountSha256)} is not a sha256 hex digest`,
        { mountSha256: file.mountSha256 },
      );
    }
    if (file.relativePath !== '') checkRelativePath(file.relativePath, 'repo file path');
    const group = groups.get(file.mountSha256) ?? [];
    // One repo directory mounted at two targets (or by two services) lists its files once
    // per mount: the mount hash names the same bytes, so they are written once.
    const key = `${file.mountSha256}/${file.relativePath}`;
    const same = seen.get(key);
    if (same === undefined) {
      seen.set(key, file);
      group.push(file);
    } else if (
      !Buffer.from(same.bytes).equals(Buffer.from(file.bytes)) ||
      same.mode !== file.mode
    ) {
      throw stateDirError(
        `repo file mount ${file.mountSha256} lists ${JSON.stringify(file.relativePath || SINGLE_FILE_NAME)} twice with different content`,
        { mountSha256: file.mountSha256, path: file.relativePath },
      );
    }
    groups.set(file.mountSha256, group);
  }
  for (const [sha, group] of groups) {
    const single = group.filter((f) => f.relativePath === '');
    if (single.length > 0 && group.length > 1) {
      throw stateDirError(
        `repo file mount ${sha} mixes a single file with files inside a directory`,
        { mountSha256: sha },
      );
    }
  }
  return groups;
}

async function writeContentDir(root: string, sha: string, group: RepoFile[]): Promise<void> {
  const tmp = path.join(root, `${TMP_PREFIX}${sha}-${randomBytes(6).toString('hex')}`);
  const target = path.join(root, sha);
  try {
    await mkdir(tmp, { recursive: true });
    const dirs = new Set<string>([tmp]);
    for (const file of group) {
      const relative = file.relativePath === '' ? SINGLE_FILE_NAME : file.relativePath;
      const dest = path.join(tmp, ...relative.split('/'));
      for (let dir = path.dirname(dest); dir !== tmp; dir = path.dirname(dir)) dirs.add(dir);
      await mkdir(path.dirname(dest), { recursive: true });
      // `wx`: two entries for one path in a mount is a bug upstream, not a file to overwrite.
      await writeFile(dest, file.bytes, { flag: 'wx' });
      await chmod(dest, (file.mode & 0o111) !== 0 ? 0o555 : 0o444);
    }
    // Closed once everything inside is written, deepest first: for a user other than root a
    // 0555 directory takes no new entries.
    for (const dir of [...dirs].sort((a, b) => b.length - a.length)) await chmod(dir, 0o555);
  } catch (err) {
    await removeTree(tmp).catch(() => {});
    throw stateDirError(
      `cannot write repo files for mount ${sha} under ${root}: ${(err as Error).message}`,
      { path: tmp, mountSha256: sha },
      err,
    );
  }
  try {
    await rename(tmp, target);
  } catch (err) {
    await removeTree(tmp).catch(() => {});
    // Another writer put the same content in place first: that is the same bytes.
    if (await exists(target)) return;
    throw stateDirError(
      `cannot move repo files for mount ${sha} into ${target}: ${(err as Error).message}`,
      { path: target, mountSha256: sha },
      err,
    );
  }
}

/**
 * The host path of each bind of `desired` whose source gitdock provides, by
 * index in `spec.volumes`: a repo file's content (the file, or the directory)
 * under `<stateDir>/files/`, host data under `<stateDir>/projects/<project>/`
 * (or the absolute source the host set for the project). Host data
 * directories are created when missing (never for `create_host_path:
 * false`, whose point is that the engine refuses a missing source).
 * Throws GITDOCK_E_STATE_DIR for a path that would leave its directory or
 * a directory that cannot be created.
 */
export function bindSourcesFor(
  desired: DesiredService,
  opts: { stateDir: string },
): Map<number, string> {
  const sources = new Map<number, string>();
  const state = path.resolve(opts.stateDir);
  desired.spec.volumes.forEach((mount, index) => {
    if (mount.type !== 'bind') return;
    if (mount.repoFile !== undefined) {
      const { sha256, kind } = mount.repoFile;
      if (!SHA256_HEX.test(sha256)) {
        throw stateDirError(
          `repo file ${mount.repoFile.path} of ${desired.name} has no valid sha256 (${JSON.stringify(sha256)})`,
          { service: desired.name, volumeIndex: index },
        );
      }
      const dir = path.join(state, 'files', sha256);
      sources.set(index, kind === 'file' ? path.join(dir, SINGLE_FILE_NAME) : dir);
      return;
    }
    if (mount.hostData === undefined) return;
    const hostPath =
      mount.source !== undefined && path.isAbsolute(mount.source)
        ? mount.source
        : hostDataPath(state, mount.hostData.project, mount.hostData.path);
    if (mount.noCreateHostPath !== true) {
      try {
        mkdirSync(hostPath, { recursive: true });
      } catch (err) {
        throw stateDirError(
          `cannot create the host data directory ${hostPath} of ${desired.name}: ${(err as Error).message}`,
          { service: desired.name, path: hostPath },
          err,
        );
      }
    }
    sources.set(index, hostPath);
  });
  return sources;
}

/** `<stateDir>/projects/<project>/<relative>`, refusing anything that would leave it. */
function hostDataPath(state: string, project: string, relative: string): string {
  if (project === '' || project.includes('/') || project === '.' || project === '..') {
    throw stateDirError(`project name ${JSON.stringify(project)} cannot name a directory`, {
      project,
    });
  }
  const base = path.join(state, 'projects', project);
  const normal = relative.replace(/^(\.\/)+/, '');
  if (normal === '' || normal === '.') return base;
  checkRelativePath(normal, `host data path of project ${project}`);
  return path.join(base, ...normal.split('/'));
}

/** A posix path relative to its directory with no `..`, `.`, empty or absolute part. */
function checkRelativePath(relative: string, what: string): void {
  const parts = relative.split('/');
  if (
    relative.startsWith('/') ||
    relative.includes('\0') ||
    parts.some((p) => p === '' || p === '.' || p === '..')
  ) {
    throw stateDirError(`${what} ${JSON.stringify(relative)} would leave its directory`, {
      path: relative,
    });
  }
}

/** The repo file mount hashes a set of specs uses: what `pruneRepoFiles` must keep. */
export function repoFileHashes(specs: readonly ContainerSpec[]): Set<string> {
  const keep = new Set<string>();
  for (const spec of specs) {
    for (const mount of spec.volumes) {
      if (mount.repoFile !== undefined) keep.add(mount.repoFile.sha256);
    }
  }
  return keep;
}

/**
 * Removes the content directories whose hash is not in `keep` (what current
 * containers and the desired state use), and temporary directories left
 * by a writer that died more than an hour ago. Host data is never touched.
 * Returns the hashes removed.
 */
export async function pruneRepoFiles(stateDir: string, keep: Set<string>): Promise<string[]> {
  const root = filesDir(stateDir);
  let entries: string[];
  try {
    entries = await readdir(root);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw stateDirError(`cannot read ${root}: ${(err as Error).message}`, { path: root }, err);
  }
  const removed: string[] = [];
  const now = Date.now();
  for (const entry of entries) {
    const full = path.join(root, entry);
    if (entry.startsWith(TMP_PREFIX)) {
      const info = await lstat(full).catch(() => undefined);
      if (info !== undefined && now - info.mtimeMs > STALE_TMP_MS) await removeTree(full);
      continue;
    }
    if (!SHA256_HEX.test(entry) || keep.has(entry)) continue;
    try {
      await removeTree(full);
    } catch (err) {
      throw stateDirError(`cannot remove ${full}: ${(err as Error).message}`, { path: full }, err);
    }
    removed.push(entry);
  }
  return removed;
}

/** `rm -rf` of a read-only tree: its directories are made writable first (root needs not, others do). */
async function removeTree(dir: string): Promise<void> {
  const info = await lstat(dir).catch(() => undefined);
  if (info === undefined) return;
  if (info.isDirectory()) {
    await chmod(dir, 0o755);
    for (const entry of await readdir(dir)) {
      const child = path.join(dir, entry);
      const childInfo = await lstat(child);
      if (childInfo.isDirectory()) await removeTree(child);
    }
  }
  await rm(dir, { recursive: true, force: true });
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

function stateDirError(
  message: string,
  data: Record<string, unknown>,
  cause?: unknown,
): GitdockError {
  return new GitdockError(
    'GITDOCK_E_STATE_DIR',
    `Cannot use the state directory: ${message}.`,
    data,
    cause === undefined ? undefined : { cause },
  );
}
