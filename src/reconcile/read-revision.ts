import { type Fleet, isFleetPath, loadFleet, resolveHost } from '../core/fleet.js';
import type { GitSource } from '../core/git.js';
import type { HostEnvByProject, HostState, Result } from '../core/types.js';

export interface RevisionOptions {
  git: GitSource;
  rev: string;
}

export interface Revision {
  commit: string;
  /** Every manifest of the commit, validated as a whole. */
  fleet: Result<Fleet>;
}

/** Reads and validates every manifest of one revision, straight from the object store. */
export async function readRevision({ git, rev }: RevisionOptions): Promise<Revision> {
  const commit = await git.resolveRevision(rev);
  const files = await git.readFiles(commit, isFleetPath);
  return { commit, fleet: loadFleet(files) };
}

/**
 * One host's desired state at a revision. Fails (as a value) when any
 * manifest of the revision is invalid, not only this host's: a commit is
 * applied whole or not at all.
 */
export async function readHostState(
  options: RevisionOptions & {
    host: string;
    /**
     * The host's own Compose variables: given on the host (apply, agent),
     * where an unset required variable is an error; absent in CI, where it
     * is a note of what each host must supply.
     */
    hostEnv?: HostEnvByProject;
  },
): Promise<{ commit: string; state: Result<HostState>; knownHosts: string[] }> {
  const { commit, fleet } = await readRevision(options);
  if (!fleet.ok) return { commit, state: fleet, knownHosts: [] };
  return {
    commit,
    state: resolveHost(
      fleet.value,
      options.host,
      commit,
      options.hostEnv ? { hostEnv: options.hostEnv } : {},
    ),
    knownHosts: fleet.value.knownHosts,
  };
}
