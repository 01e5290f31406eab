import nodeFs from 'node:fs';
// isomorphic-git again (see git-source.ts): listing refs and reading a commit's
// date, loaded only by `gitdock status`.
import { listRefs, readCommit, resolveRef } from 'isomorphic-git';
import type { AppliedRef } from '../core/fleet-status.js';
import { isValidName } from '../core/names.js';
import { type HostReports, reportsOf } from '../core/rollout.js';
import { GitdockError, messageOf } from '../errors.js';

const APPLIED_PREFIX = 'refs/gitdock/applied';
const GITDOCK_PREFIX = 'refs/gitdock';

/**
 * Every host's report in a local repository (`refs/gitdock/applied/<host>`
 * and `refs/gitdock/failed/<host>`, loose and packed), reading no object:
 * what waves need to know of the other hosts, cheaply, on every pass that
 * waits.
 */
export async function readHostReports(
  gitdir: string,
  fs: typeof import('node:fs') = nodeFs,
): Promise<HostReports> {
  const out = new Map<string, string>();
  for (const kind of ['applied', 'failed']) {
    const prefix = `${GITDOCK_PREFIX}/${kind}`;
    const names = await listRefs({ fs, gitdir, filepath: prefix });
    for (const name of names.filter(isReportName)) {
      const ref = `${prefix}/${name}`;
      const oid = await resolveRef({ fs, gitdir, ref }).catch(ignoreVanished);
      if (oid !== undefined) out.set(ref, oid);
    }
  }
  return reportsOf(out);
}

export interface ReadAppliedRefsOptions {
  /** The git directory (`LocalGitSource.gitdir`). */
  gitdir: string;
  /** For messages: the repository as the user named it. */
  dir: string;
  fs?: typeof import('node:fs');
}

/**
 * Every `refs/gitdock/applied/<host>` of the local repository (loose and
 * packed), by host, with the commit's committer date.
 *
 * Only the repository's own refs: a clone does not fetch these refs by
 * default, and `refs/remotes/...` would hold them only under a refspec we
 * cannot guess, so the docs say to fetch them with
 * `git fetch origin '+refs/gitdock/applied/*:refs/gitdock/applied/*'`.
 * A ref whose name is not a valid host name is left out (gitdock never
 * writes one); one that names a missing commit is reported in `error`.
 */
export async function readAppliedRefs(
  options: ReadAppliedRefsOptions,
): Promise<Map<string, AppliedRef>> {
  const fs = options.fs ?? nodeFs;
  const repo = { fs, gitdir: options.gitdir, cache: {} };
  let names: string[];
  try {
    names = await listRefs({ fs, gitdir: options.gitdir, filepath: APPLIED_PREFIX });
  } catch (err) {
    throw new GitdockError(
      'GITDOCK_E_GIT_READ',
      `reading ${APPLIED_PREFIX}/* in ${options.dir} failed: ${messageOf(err)}`,
      { dir: options.dir },
      { cause: err },
    );
  }
  const out = new Map<string, AppliedRef>();
  for (const host of names.filter(isReportName)) {
    const ref = `${APPLIED_PREFIX}/${host}`;
    try {
      const oid = await resolveRef({ fs, gitdir: options.gitdir, ref }).catch(ignoreVanished);
      if (oid === undefined) continue;
      try {
        const { commit } = await readCommit({ ...repo, oid });
        out.set(host, { ref, commit: oid, committedAt: commit.committer.timestamp * 1000 });
      } catch (err) {
        out.set(host, { ref, commit: oid, committedAt: null, error: messageOf(err) });
      }
    } catch (err) {
      throw new GitdockError(
        'GITDOCK_E_GIT_READ',
        `reading ${ref} in ${options.dir} failed: ${messageOf(err)}`,
        { dir: options.dir, ref },
        { cause: err },
      );
    }
  }
  return out;
}

/**
 * A host's report ref, not the lock file git (or a push being received)
 * holds beside it for a moment: `web-1.lock` is a valid host name too.
 */
function isReportName(name: string): boolean {
  return isValidName(name) && !name.endsWith('.lock');
}

/** A ref listed a moment ago and gone now (a push replaced it): absent, not an error. */
function ignoreVanished(err: unknown): undefined {
  if ((err as { code?: unknown }).code === 'NotFoundError') return undefined;
  throw err;
}
